"""Unit tests for probe.workload: templates, validation, judging, records, workload files."""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path

import pytest
from werkzeug.test import Client

from app import pricing
from app.predictors import PREDICTORS
from probe.outcome import Kind, Outcome
from probe.workload.builtins import BUILTINS, builtin, is_builtin
from probe.workload.files import find_workloads_file, load_workloads
from probe.workload.model import HttpRequest, Workload, WorkloadError, parse_header
from probe.workload.seminar import BUILTIN_APP, BUILTIN_FNS

APPS = Path(__file__).resolve().parents[1] / "apps"
SECRET = "tok-5f0c1e-not-for-records"


def user(**fields) -> Workload:
    """A user workload with n in the query string, overridden by `fields`."""
    return Workload(
        **{"name": "alloc", "app": "query_alloc:app", "request": "GET /a?n={n}"} | fields
    )


def exact_price(area: float, n: int) -> int:
    """The seminar's oracle as written in its README: int(area * (n-1)/2)."""
    return int(area * (n - 1) / 2)


# -- built-ins ----------------------------------------------------------------------------
def test_builtins_are_the_three_predictors():
    """The names must be the app's own, so a predictor added there is not silently unprobed."""
    assert set(BUILTIN_FNS) == set(pricing.FNS) == set(PREDICTORS) == set(BUILTINS)
    assert all(w.app == BUILTIN_APP and w.fn == name for name, w in BUILTINS.items())
    assert all(is_builtin(w) for w in BUILTINS.values())
    assert not is_builtin(user())


def test_builtin_renders_the_seminar_request():
    """n=1000 and the probe's area 10: the body the seminar's client sent, key for key."""
    req = builtin("cpu_bounded").render(1000)
    assert (req.method, req.path, req.n, req.area) == ("POST", "/predict", 1000, 10.0)
    assert json.loads(req.body) == {"area": 10, "fn": "cpu_bounded", "n": 1000}
    assert req.headers == (("Content-Type", "application/json"),)


def test_io_bounded_takes_no_n():
    """io_bounded's answer does not depend on n: nothing to place, nothing sent."""
    w = builtin("io_bounded")
    assert (w.takes_n, w.n_placement, w.server_env(None)) == (False, "none", {})
    req = w.render(None, area=20)
    assert (req.n, json.loads(req.body)) == (None, {"area": 20, "fn": "io_bounded"})


@pytest.mark.parametrize("area", [10, 20, 55, 100])
@pytest.mark.parametrize("n", [1, 2, 1000, 1001, 5_000_000, 251_695_452])
@pytest.mark.parametrize("fn", ["cpu_bounded", "cpu_multithread"])
def test_judge_accepts_exactly_the_oracle_price(fn, n, area):
    """Seminar areas; n=1 and 2 are the mean's edges, odd/even n, and numpy's rounding case."""
    w = BUILTINS[fn]
    want = exact_price(area, n)
    assert pricing.expected_price(fn, area, n) == want
    assert w.judge(200, "", {"price": want}, n, area) == Outcome(Kind.OK, 200)
    assert w.judge(200, "", {"price": want + 2}, n, area) == Outcome(
        Kind.HTTP_ERROR, 200, f"wrong price {want + 2}, want {want}"
    )


@pytest.mark.parametrize(
    ("fn", "price", "kind"),
    [
        ("cpu_multithread", 1258477254, Kind.OK),
        ("cpu_bounded", 1258477254, Kind.HTTP_ERROR),
        ("cpu_multithread", 1258477256, Kind.OK),
        ("cpu_multithread", 1258477253, Kind.HTTP_ERROR),
    ],
)
def test_judge_allows_numpys_one_unit_only(fn, price, kind):
    """n = 251,695,452 at area 10: numpy answered 1258477254 for 1258477255 (seen here)."""
    assert BUILTINS[fn].judge(200, "", {"price": price}, 251_695_452, 10).kind is kind


@pytest.mark.parametrize("price", [True, 4995.0, "4995", None])
def test_judge_wants_an_int_price(price):
    """n=1000 at area 10 is 4995: a float, string, null or JSON true is not that price."""
    outcome = BUILTINS["cpu_bounded"].judge(200, "", {"price": price}, 1000, 10)
    assert outcome == Outcome(Kind.HTTP_ERROR, 200, f"wrong price {price}, want 4995")


def test_judge_io_bounded_price():
    """io_bounded answers area * 200_000 whatever n is; bools are still not ints (1 == True)."""
    w = BUILTINS["io_bounded"]
    assert w.judge(200, "", {"price": 2_000_000}, None, 10).ok
    assert pricing.price_matches(True, 1 / 200_000, None, "io_bounded") is False


@pytest.mark.parametrize(
    ("status", "body", "outcome"),
    [
        (507, {"error": "memory_error", "detail": "MemoryError"},
         Outcome(Kind.MEMORY_ERROR, 507, "MemoryError")),
        (507, {"error": "memory_error", "detail": "Unable to allocate 7.45 GiB"},
         Outcome(Kind.MEMORY_ERROR, 507, "MemoryError: Unable to allocate 7.45 GiB")),
        (500, None, Outcome(Kind.HTTP_ERROR, 500, "HTTP 500")),
        (400, {"error": "n must be between 1 and 10", "field": "n"},
         Outcome(Kind.HTTP_ERROR, 400, "HTTP 400: n must be between 1 and 10")),
        (None, None, Outcome(Kind.CONNECTION_ERROR, None, "no HTTP answer")),
    ],
)  # fmt: skip
def test_judge_failed_answers(status, body, outcome):
    """The seminar app's 507 (list: bare MemoryError, numpy: a message), a bare 500, a 400."""
    assert BUILTINS["cpu_bounded"].judge(status, "", body, 1000, 10) == outcome
    assert user().judge(status, "", body, 1000, None) == outcome


# -- templates ----------------------------------------------------------------------------
def test_json_braces_are_literal():
    """Nested objects, an empty object and a brace inside a string: only {n} is replaced."""
    w = user(request="POST /p", json='{"area": 50, "n": {n}, "o": {"a": [{}]}, "s": "{ x }"}')
    req = w.render(12)
    assert json.loads(req.body) == {"area": 50, "n": 12, "o": {"a": [{}]}, "s": "{ x }"}
    assert req.headers == (("Content-Type", "application/json"),)
    assert user(request="GET /x?n={n}}").render(3).path == "/x?n=3}"


def test_area_is_filled_as_a_json_number():
    """The seminar's load sends 10, 20, ...; a fractional area must stay a JSON number."""
    w = user(request="POST /p", json='{"a": {area}, "n": {n}}')
    assert json.loads(w.render(1, area=20).body) == {"a": 20, "n": 1}
    assert json.loads(w.render(1, area=12.5).body) == {"a": 12.5, "n": 1}
    assert w.render(1).area == 10.0
    assert user().render(1).area is None  # no {area}: the record has no area


def test_env_is_read_at_render(monkeypatch):
    """The workload is built before the variable exists; each render reads its current value."""
    w = user(headers=(("Authorization", "Bearer {env:APP_TOKEN}"),))
    monkeypatch.setenv("APP_TOKEN", "first")
    assert w.render(5).headers == (("Authorization", "Bearer first"),)
    monkeypatch.setenv("APP_TOKEN", "second")
    assert w.render(5).headers == (("Authorization", "Bearer second"),)


def test_missing_env_var_message(monkeypatch):
    """The message names the variable, the workload and where the placeholder is."""
    monkeypatch.delenv("APP_TOKEN", raising=False)
    w = user(headers=(("Authorization", "Bearer {env:APP_TOKEN}"),))
    with pytest.raises(WorkloadError) as excinfo:
        w.render(5)
    assert str(excinfo.value) == (
        "set APP_TOKEN in probe's environment: workload 'alloc' uses {env:APP_TOKEN} "
        "in its header Authorization"
    )


def test_values_are_not_expanded_twice(monkeypatch):
    """A value that itself contains {n} is sent as is: one pass, no injection."""
    monkeypatch.setenv("PREFIX", "{n}")
    assert user(request="GET /{env:PREFIX}/a?n={n}").render(7).path == "/{n}/a?n=7"


@pytest.mark.parametrize(
    ("value", "fields", "message"),
    [
        ("a\r\nX-Evil: 1", {"headers": (("X-V", "{env:V}"),)},
         "header X-V of workload 'alloc' contains a line break or a control character once "
         "filled; fix the environment variable"),
        ("two words", {"request": "GET /a?n={n}&v={env:V}"},
         "request path of workload 'alloc' contains whitespace or a control character once "
         "filled; percent-encode it in the environment variable"),
        ('say "hi"', {"request": "POST /a", "json": '{"n": {n}, "v": "{env:V}"}'},
         "json body of workload 'alloc' is not valid JSON once filled (Expecting ',' delimiter: "
         "line 1 column 21 (char 20)); check its {env:NAME} values: a quote or backslash breaks a "
         "JSON string"),
    ],
)  # fmt: skip
def test_filled_value_must_not_break_the_request(monkeypatch, value, fields, message):
    """CR LF would inject a header, a space split the request line, a quote end a JSON string."""
    monkeypatch.setenv("V", value)
    with pytest.raises(WorkloadError) as excinfo:
        user(**fields).render(1)
    assert str(excinfo.value) == message


def test_n_placement_and_server_env(monkeypatch):
    """n in a header counts as the request; n_env puts n (and only it) in the server's env."""
    assert user(request="GET /", headers=(("X-N", "{n}"),)).n_placement == "request"
    w = user(request="GET /lookup?i=7", n_env="TABLE_N", env=(("MODE", "{env:MODE}"),))
    monkeypatch.setenv("MODE", "fast")
    assert (w.n_placement, w.server_env(100)) == ("env", {"MODE": "fast", "TABLE_N": "100"})
    assert w.render(100) == HttpRequest("GET", "/lookup?i=7", None, (), 100, None)


def test_render_needs_n():
    """A workload that takes n cannot be rendered without one (bool is not a size either)."""
    for n in (None, True):
        with pytest.raises(WorkloadError) as excinfo:
            user().render(n)
        assert str(excinfo.value) == (
            f"workload 'alloc' needs n, a non-negative integer, got {n!r}"
        )


# -- validation ---------------------------------------------------------------------------
ALLOWED = "allowed: {n}, {area}, {env:NAME}"
BAD = [
    ("app-no-colon", {"app": "query_alloc"},
     "app must be 'module:attr' as for gunicorn, e.g. 'app.wsgi:app', got 'query_alloc'"),
    ("app-file-path", {"app": "tests/apps/query_alloc.py:app"},
     "app must be 'module:attr' as for gunicorn, e.g. 'app.wsgi:app', "
     "got 'tests/apps/query_alloc.py:app'"),
    ("app-factory-call", {"app": "app:create_app()"},
     "app must be 'module:attr' as for gunicorn, e.g. 'app.wsgi:app', got 'app:create_app()'"),
    ("no-path", {"request": "GET"},
     'request must be "METHOD /path?query", e.g. "GET /alloc?size={n}", got \'GET\''),
    ("two-spaces", {"request": "GET  /a?n={n}"},
     'request must be "METHOD /path?query", e.g. "GET /alloc?size={n}", got \'GET  /a?n={n}\''),
    ("method-not-token", {"request": "G(E)T /a?n={n}"},
     "request method must be an HTTP token such as GET or POST, got 'G(E)T'"),
    ("relative-path", {"request": "GET a?n={n}"},
     "request path must start with '/', got 'a?n={n}'"),
    ("full-url", {"request": "GET http://h/a?n={n}"},
     "request path must start with '/', got 'http://h/a?n={n}'"),
    ("unknown-placeholder", {"request": "GET /a?n={size}"},
     f"unknown placeholder {{size}} in request; {ALLOWED}"),
    ("capital-n", {"request": "GET /a?n={N}"}, f"unknown placeholder {{N}} in request; {ALLOWED}"),
    ("format-spec", {"request": "GET /a?n={n:d}"},
     f"unknown placeholder {{n:d}} in request; {ALLOWED}"),
    ("env-without-name", {"headers": (("X-T", "{env:}"),)},
     f"unknown placeholder {{env:}} in header X-T; {ALLOWED}"),
    ("bad-env-name", {"expect": "{env:A-B}"},
     f"unknown placeholder {{env:A-B}} in expect; {ALLOWED}"),
    ("json-invalid", {"request": "POST /a", "json": '{"n": {n},}'},
     "json is not valid JSON once {n} is a number: '{\"n\": 1,}' (Expecting property name "
     "enclosed in double quotes: line 1 column 9 (char 8)); write e.g. '{\"size\": {n}}'"),
    ("n-nowhere", {"request": "GET /a"},
     "n goes nowhere: put {n} in the request, the json body or a header, or name the "
     "environment variable that carries it with n_env"),
    ("n-only-in-expect", {"request": "GET /a", "expect": "size={n}"},
     "n goes nowhere: put {n} in the request, the json body or a header, or name the "
     "environment variable that carries it with n_env"),
    ("n-twice", {"n_env": "TABLE_N"},
     "n goes in two places: {n} in the request and n_env TABLE_N; keep one"),
    ("n-env-name", {"request": "GET /a", "n_env": "TABLE-N"},
     "n_env must be an environment variable name such as TABLE_N, got 'TABLE-N'"),
    ("n-env-in-env", {"request": "GET /a", "n_env": "T", "env": (("T", "1"),)},
     "T is both n_env and in env; drop it from env"),
    ("n-in-env", {"request": "GET /a", "n_env": "T", "env": (("U", "{n}"),)},
     "env U may use only {env:NAME}; to pass n at start-up use n_env"),
    ("header-name", {"headers": (("X Size", "1"),)},
     "header name must be an HTTP token such as X-Size, got 'X Size'"),
    ("header-twice", {"headers": (("X-A", "1"), ("x-a", "2"))},
     "header x-a is given twice; keep one"),
    ("header-newline", {"headers": (("X-A", "1\r\nX-B: 2"),)},
     "header X-A must not contain line breaks or control characters"),
    ("empty-expect", {"expect": ""}, "expect must not be empty: every answer contains ''"),
    ("bad-name", {"name": "my workload"},
     "workload name must be letters, digits, '_', '.' or '-' (it names result files), "
     "got 'my workload'"),
    ("unknown-fn", {"fn": "gpu_bounded"},
     "fn must be one of cpu_bounded, cpu_multithread, io_bounded, got 'gpu_bounded'"),
    ("io-with-n", {"fn": "io_bounded"}, "io_bounded takes no n: remove {n} and n_env"),
]  # fmt: skip


@pytest.mark.parametrize(("fields", "message"), [pytest.param(*c[1:], id=c[0]) for c in BAD])
def test_invalid_workload(fields, message):
    """Each case is one way to get a workload wrong; the message says how to fix it."""
    with pytest.raises(WorkloadError) as excinfo:
        user(**fields)
    assert str(excinfo.value) == message


def test_placeholder_looking_text_in_a_json_string_can_be_escaped():
    """JSON's own escape writes a literal {name} that is not a placeholder."""
    w = user(request="POST /a", json='{"n": {n}, "s": "\\u007bsize}"}')
    assert json.loads(w.render(1).body) == {"n": 1, "s": "{size}"}


@pytest.mark.parametrize(
    ("text", "pair"),
    [
        ("X-Size: {n}", ("X-Size", "{n}")),
        ("Authorization:Bearer {env:APP_TOKEN}", ("Authorization", "Bearer {env:APP_TOKEN}")),
        ("X-Url: http://h:80/", ("X-Url", "http://h:80/")),
        ("X-Empty:", ("X-Empty", "")),
    ],
)
def test_parse_header(text, pair):
    """curl -H style: no space after the colon, a colon in the value, an empty value."""
    assert parse_header(text) == pair


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("Authorization Bearer x", 'header must be "Name: value", e.g. '
         '"Authorization: Bearer {env:APP_TOKEN}", got \'Authorization Bearer x\''),
        (": v", 'header must be "Name: value", e.g. "Authorization: Bearer {env:APP_TOKEN}", '
         "got ': v'"),
        ("X Size: 1", "header name must be an HTTP token such as X-Size, got 'X Size'"),
    ],
)  # fmt: skip
def test_parse_header_errors(text, message):
    """A forgotten colon, a missing name, a space in the name."""
    with pytest.raises(WorkloadError) as excinfo:
        parse_header(text)
    assert str(excinfo.value) == message


# -- expect -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("body", "outcome"),
    [
        ("size=100 sum=4950\n", Outcome(Kind.OK, 200)),
        ("size=1000 sum=499500\n", Outcome(Kind.HTTP_ERROR, 200, "answer lacks 'size=100 sum='")),
        ("SIZE=100 SUM=4950\n", Outcome(Kind.HTTP_ERROR, 200, "answer lacks 'size=100 sum='")),
    ],
)
def test_expect_is_a_substring_after_filling_n(body, outcome):
    """n=100: the answer for 1000 starts with 'size=100' too, hence the ' sum=' in expect."""
    w = user(request="GET /alloc?size={n}", expect="size={n} sum=")
    assert w.judge(200, body, None, 100, None) == outcome


def test_expect_does_not_excuse_a_failed_status():
    """A 500 page may well contain the text; the status decides first."""
    w = user(expect="Error")
    assert w.judge(500, "Internal Server Error", None, 1, None).kind is Kind.HTTP_ERROR


# -- records ------------------------------------------------------------------------------
def secret_workload() -> Workload:
    """The token in every template that can carry one: header, body, env."""
    return user(
        request="POST /a?t={env:APP_TOKEN}",
        json='{"n": {n}, "token": "{env:APP_TOKEN}"}',
        headers=(("Authorization", "Bearer {env:APP_TOKEN}"),),
        env=(("APP_TOKEN", "{env:APP_TOKEN}"),),
        n_env=None,
    )


def test_records_never_hold_a_secret(monkeypatch):
    """The token is sent (first check) but neither to_dict nor identity holds or depends on it."""
    monkeypatch.setenv("APP_TOKEN", SECRET)
    w = secret_workload()
    req = w.render(3)
    assert (
        SECRET in req.path
        and SECRET in req.body.decode()
        and SECRET in dict(req.headers)["Authorization"]
    )
    assert w.server_env(3) == {"APP_TOKEN": SECRET}
    record = json.dumps(w.to_dict())
    assert SECRET not in record and SECRET not in w.identity()
    assert "Bearer {env:APP_TOKEN}" in record
    before = w.identity()
    monkeypatch.setenv("APP_TOKEN", "another-token")
    assert secret_workload().identity() == before


def test_to_dict_keeps_templates_as_written():
    """The results document's workload keys, each template verbatim."""
    w = user(headers=(("X-N", "{n}"),), expect="size={n} sum=", chdir="/srv/app")
    assert w.to_dict() == {
        "name": "alloc",
        "app": "query_alloc:app",
        "chdir": "/srv/app",
        "request": "GET /a?n={n}",
        "json": None,
        "headers": {"X-N": "{n}"},
        "n_env": None,
        "expect": "size={n} sum=",
        "fn": None,
        "env": {},
        "cmd": None,
        "body_bytes": False,
        "upload": None,
        "n_param": None,
        "json_separators": None,
        "content": None,
        "filename": None,
        "content_type": None,
        "n_unit": None,
        "body_fn": None,
    }


def test_identity_is_stable_and_tells_requests_apart():
    """Pinned for cpu_bounded (result file names must not drift); name and chdir do not count."""
    assert builtin("cpu_bounded").identity() == "2488d658"
    assert len({w.identity() for w in BUILTINS.values()}) == 3
    w = user()
    assert w.identity() == user(name="renamed", chdir="/elsewhere").identity()
    assert w.identity() != user(request="GET /b?n={n}").identity()
    assert w.identity() != user(request="POST /a?n={n}").identity()
    assert w.identity() != user(expect="ok").identity()


# -- workload files -----------------------------------------------------------------------
PROBE_TOML = """
[workloads.alloc]
app = "query_alloc:app"
chdir = "svc"
request = "GET /alloc?size={n}"
headers = ["Authorization: Bearer {env:APP_TOKEN}"]
expect = "size={n} sum="

[workloads.lookup]
app = "env_table:app"
request = "GET /lookup?i=7"
n_env = "TABLE_N"
headers = { X-Trace = "probe" }
env = { MODE = "fast" }
"""


def test_load_probe_toml(tmp_path):
    """Headers as a list and as a table; chdir relative to the file; no chdir stays None."""
    (tmp_path / "svc").mkdir()
    path = tmp_path / "probe.toml"
    path.write_text(PROBE_TOML)
    got = load_workloads(path)
    assert got == {
        "alloc": Workload(
            name="alloc",
            app="query_alloc:app",
            chdir=str((tmp_path / "svc").resolve()),
            request="GET /alloc?size={n}",
            headers=(("Authorization", "Bearer {env:APP_TOKEN}"),),
            expect="size={n} sum=",
        ),
        "lookup": Workload(
            name="lookup",
            app="env_table:app",
            request="GET /lookup?i=7",
            n_env="TABLE_N",
            headers=(("X-Trace", "probe"),),
            env=(("MODE", "fast"),),
        ),
    }
    assert find_workloads_file(tmp_path) == path


def test_load_pyproject_toml(tmp_path):
    """The same tables under [tool.probe]; the project's own tables are left alone."""
    (tmp_path / "svc").mkdir()
    text = '[project]\nname = "svc"\n' + PROBE_TOML.replace("[workloads.", "[tool.probe.workloads.")
    path = tmp_path / "pyproject.toml"
    path.write_text(text)
    assert find_workloads_file(tmp_path) == path
    assert set(load_workloads(path)) == {"alloc", "lookup"}
    (tmp_path / "probe.toml").write_text("")
    assert find_workloads_file(tmp_path) == tmp_path / "probe.toml"  # probe.toml wins


def test_pyproject_without_tool_probe_is_not_a_workloads_file(tmp_path):
    """Most projects have a pyproject.toml; only one with [tool.probe] speaks to probe."""
    (tmp_path / "pyproject.toml").write_text("[tool.ruff]\nline-length = 100\n")
    assert find_workloads_file(tmp_path) is None


@pytest.mark.parametrize(
    ("name", "table", "message"),
    [
        ("probe.toml", '[workloads.a]\napp = "m:app"\nreqest = "GET /{n}"\n',
         "{path}: workloads.a: unknown key 'reqest'; allowed: app, cmd, chdir, request, json, "
         "headers, n_env, expect, env, body_bytes, upload, n_param, json_separators, content, "
         "filename, content_type, n_unit, body_fn"),
        ("pyproject.toml", '[tool.probe.workloads.a]\napp = "m:app"\nfn = "cpu_bounded"\n',
         "{path}: tool.probe.workloads.a: unknown key 'fn'; allowed: app, cmd, chdir, request, "
         "json, headers, n_env, expect, env, body_bytes, upload, n_param, json_separators, "
         "content, filename, content_type, n_unit, body_fn"),
        ("probe.toml", '[workloads.a]\nrequest = "GET /{n}"\n',
         "{path}: workloads.a: app or cmd is required, e.g. app = 'myservice:app' or "
         "cmd = 'gunicorn --bind 127.0.0.1:{port} myservice:app'"),
        ("probe.toml", '[workloads.a]\napp = "m:app"\nrequest = "GET /{size}"\n',
         "{path}: workloads.a: unknown placeholder {size} in request; "
         "allowed: {n}, {area}, {env:NAME}"),
        ("probe.toml", '[workloads.a]\napp = "m:app"\nrequest = "GET /{n}"\nchdir = "nope"\n',
         "{path}: workloads.a: chdir 'nope' is not a folder (it is relative to the file's)"),
        ("probe.toml", '[workloads.a]\napp = "m:app"\nrequest = "GET /{n}"\nheaders = "X: 1"\n',
         "{path}: workloads.a: headers must be a table of strings, e.g. "
         "headers = { NAME = 'value' }"),
        ("probe.toml", '[workloads.cpu_bounded]\napp = "m:app"\nrequest = "GET /{n}"\n',
         "{path}: workloads.cpu_bounded: cpu_bounded is a built-in workload; rename it"),
        ("probe.toml", '[workloads.a]\napp = 1\n', "{path}: workloads.a: app must be a string"),
        ("probe.toml", "[workloads.a\n",
         "{path}: not valid TOML (Expected ']' at the end of a table declaration "
         "(at line 1, column 13))"),
    ],
)  # fmt: skip
def test_workload_file_errors(tmp_path, name, table, message):
    """A typo'd key, fn (built-ins only), no app, a bad template, a bad chdir, bad TOML."""
    path = tmp_path / name
    path.write_text(table)
    with pytest.raises(WorkloadError) as excinfo:
        load_workloads(path)
    assert str(excinfo.value) == message.replace("{path}", str(path))


# -- the test apps ------------------------------------------------------------------------
def test_test_apps_file():
    """tests/apps/probe.toml: one workload per way of taking n, both importing from there."""
    got = load_workloads(APPS / "probe.toml")
    assert {name: (w.chdir, w.n_placement) for name, w in got.items()} == {
        "alloc": (str(APPS), "request"),
        "lookup": (str(APPS), "env"),
    }


@pytest.fixture
def apps_module(monkeypatch):
    """Import a module from tests/apps, fresh each time (env_table reads TABLE_N at import)."""
    monkeypatch.syspath_prepend(str(APPS))

    def load(name: str):
        monkeypatch.delitem(sys.modules, name, raising=False)
        return importlib.import_module(name)

    yield load
    for name in ("query_alloc", "env_table"):
        sys.modules.pop(name, None)


def send(app, req: HttpRequest):
    """Send a rendered request to a WSGI app in-process; (status, text, json or None)."""
    resp = Client(app).open(req.path, method=req.method, data=req.body, headers=req.headers)
    try:
        body = json.loads(resp.get_data(as_text=True))
    except ValueError:
        body = None
    return resp.status_code, resp.get_data(as_text=True), body


def test_alloc_workload_against_its_app(apps_module):
    """n=1000: the answer echoes size and sum 499500; a bad size is a 400 the judge names."""
    w = load_workloads(APPS / "probe.toml")["alloc"]
    app = apps_module("query_alloc").app
    status, text, body = send(app, w.render(1000))
    assert (status, text) == (200, "size=1000 sum=499500\n")
    assert w.judge(status, text, body, 1000, None).ok
    status, text, body = send(app, HttpRequest("GET", "/alloc?size=-1", None, (), None))
    assert w.judge(status, text, body, 1000, None) == Outcome(Kind.HTTP_ERROR, 400, "HTTP 400")


def test_alloc_app_lets_memory_error_escape(apps_module, monkeypatch):
    """No handler: the MemoryError reaches the server, which answers a bare 500 and logs it."""
    mod = apps_module("query_alloc")

    def no_memory(*args):
        raise MemoryError

    monkeypatch.setattr(mod, "list", no_memory, raising=False)
    with pytest.raises(MemoryError):
        Client(mod.app).get("/alloc?size=10")


def test_lookup_workload_against_its_app(apps_module, monkeypatch):
    """TABLE_N=100 from server_env; i=7 -> 49; the closing brace in expect rules out 1000."""
    w = load_workloads(APPS / "probe.toml")["lookup"]
    for name, value in w.server_env(100).items():
        monkeypatch.setenv(name, value)
    status, text, body = send(apps_module("env_table").app, w.render(100))
    assert body == {"i": 7, "value": 49, "entries": 100}
    assert w.judge(status, text, body, 100, None).ok
    assert not w.judge(status, text.replace("100", "1000"), body, 100, None).ok


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (None, "set TABLE_N to the number of table entries, e.g. TABLE_N=1000"),
        ("abc", "TABLE_N must be an integer >= 1, e.g. TABLE_N=1000, got 'abc'"),
        ("0", "TABLE_N must be an integer >= 1, e.g. TABLE_N=1000, got '0'"),
    ],
)
def test_lookup_app_fails_at_import(apps_module, monkeypatch, value, message):
    """Missing, not a number, and an empty table: the import fails, so the server never boots."""
    if value is None:
        monkeypatch.delenv("TABLE_N", raising=False)
    else:
        monkeypatch.setenv("TABLE_N", value)
    with pytest.raises(ValueError) as excinfo:
        apps_module("env_table")
    assert str(excinfo.value) == message
