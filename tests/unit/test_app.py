"""Unit tests for the Flask app through its test client: shapes, validation, failures, auth."""

from __future__ import annotations

import os
import threading
from types import SimpleNamespace

import pytest

from app import create_app
from app.predictors import PREDICTORS, predict_cpu_bounded

MAX_N = 10**6
GOOD = {"area": 50, "fn": "cpu_bounded", "n": 1000}
FN_MSG = "fn must be one of cpu_bounded, cpu_multithread, io_bounded, got"
EXAMPLE = 'send e.g. {"area": 50, "fn": "cpu_bounded", "n": 1000}'


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    """Keep the developer's APP_* variables out of the defaults under test."""
    for name in list(os.environ):
        if name.startswith("APP_"):
            monkeypatch.delenv(name)


def make_client(**config):
    """Return a test client for an app with a short io sleep and small limits."""
    base = {"TESTING": True, "IO_SLEEP_S": 0.01, "DEFAULT_N": 1000, "MAX_N": MAX_N}
    return create_app({**base, **config}).test_client()


@pytest.fixture
def client():
    """A client for the default test app (no token)."""
    return make_client()


def assert_good_request_succeeds(client, headers=None):
    """The canonical request is still priced after whatever came before."""
    response = client.post("/predict", json=GOOD, headers=headers)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.get_json()["price"] == 24_975


@pytest.mark.parametrize(
    ("fn", "n", "price", "n_out"),
    [("cpu_bounded", 1000, 24_975, 1000), ("cpu_multithread", 2, 25, 2)]
    + [("io_bounded", 1000, 10_000_000, None)],
)
def test_predict_answers_full_shape(client, fn, n, price, n_out):
    """Area 50 for each predictor; io_bounded ignores n and says so with null."""
    response = client.post("/predict", json={"area": 50, "fn": fn, "n": n})
    assert response.status_code == 200
    body = response.get_json()
    elapsed = body.pop("elapsed_s")
    assert isinstance(elapsed, float) and elapsed >= 0
    thread = threading.current_thread()  # the test client runs the view in this thread
    assert body == {
        "price": price,
        "fn": fn,
        "n": n_out,
        "pid": os.getpid(),
        "thread": thread.name,
        "thread_id": thread.ident,
    }


def test_io_bounded_sleeps_the_configured_time(client):
    """IO_SLEEP_S=0.01 in the test config: elapsed is at least that, and far from 1 s."""
    body = client.post("/predict", json={"area": 1, "fn": "io_bounded"}).get_json()
    assert 0.01 <= body["elapsed_s"] < 0.5
    assert body["price"] == 200_000


def test_seminar_body_uses_configured_defaults():
    """The seminar sent only {"area": 50}; fn and n come from DEFAULT_FN and DEFAULT_N."""
    client = make_client(DEFAULT_FN="cpu_multithread", DEFAULT_N=11)
    body = client.post("/predict", json={"area": 50}).get_json()
    assert (body["fn"], body["n"], body["price"]) == ("cpu_multithread", 11, 250)


def test_null_fn_and_n_mean_defaults(client):
    """JSON clients often send null for optional fields."""
    body = client.post("/predict", json={"area": 50, "fn": None, "n": None}).get_json()
    assert (body["fn"], body["n"]) == ("cpu_bounded", 1000)


def test_defaults_come_from_environment(monkeypatch):
    """Servers are started by probe with APP_* variables, not with a config dict."""
    monkeypatch.setenv("APP_DEFAULT_FN", "io_bounded")
    monkeypatch.setenv("APP_DEFAULT_N", "7")
    monkeypatch.setenv("APP_MAX_N", "99")
    monkeypatch.setenv("APP_IO_SLEEP_S", "0.25")
    monkeypatch.setenv("APP_TOKEN", "s3cret")
    config = create_app().config
    got = {key: config[key] for key in ("DEFAULT_FN", "DEFAULT_N", "MAX_N", "IO_SLEEP_S")}
    assert got == {"DEFAULT_FN": "io_bounded", "DEFAULT_N": 7, "MAX_N": 99, "IO_SLEEP_S": 0.25}
    assert config["APP_TOKEN"] == "s3cret"


def test_builtin_defaults():
    """The seminar's n, a limit far above any machine's memory, a 4 kB body cap, no token."""
    config = create_app().config
    assert (config["DEFAULT_FN"], config["DEFAULT_N"], config["MAX_N"]) == (
        "cpu_bounded",
        5_000_000,
        10**10,
    )
    assert (config["MAX_CONTENT_LENGTH"], config["APP_TOKEN"], config["IO_SLEEP_S"]) == (
        4096,
        None,
        1.0,
    )


@pytest.mark.parametrize(
    ("env", "value", "message"),
    [
        ("APP_DEFAULT_FN", "gpu", "DEFAULT_FN must be one of cpu_bounded, cpu_multithread, "
         "io_bounded, got 'gpu'"),
        ("APP_DEFAULT_N", "lots", "APP_DEFAULT_N must be int, got 'lots'"),
        ("APP_DEFAULT_N", "0", "DEFAULT_N must be between 1 and MAX_N=10000000000"),
        ("APP_IO_SLEEP_S", "soon", "APP_IO_SLEEP_S must be float, got 'soon'"),
    ],
)  # fmt: skip
def test_bad_environment_fails_at_start(monkeypatch, env, value, message):
    """A typo in a variable must stop the server at start, naming the variable."""
    monkeypatch.setenv(env, value)
    with pytest.raises(ValueError) as excinfo:
        create_app()
    assert str(excinfo.value) == message


def raw(text: str | bytes, content_type: str | None = "application/json") -> dict:
    """Request kwargs for a body sent verbatim (Python's json would refuse to write some)."""
    return {"data": text, "content_type": content_type}


def body(**fields) -> dict:
    """Request kwargs for a JSON object body."""
    return {"json": fields}


AREA_TYPE = "area must be a number > 0, got"
N_TYPE = f"n must be an integer between 1 and {MAX_N}, got"
N_RANGE = f"n must be between 1 and {MAX_N}, got"
HUGE = "1" + "0" * 400

MALFORMED = [
    ("no-content-type", raw('{"area": 50}', None), 415, None,
     f"Content-Type must be application/json, got none; {EXAMPLE}"),
    ("text-plain", raw('{"area": 50}', "text/plain"), 415, None,
     f"Content-Type must be application/json, got text/plain; {EXAMPLE}"),
    ("form-body", raw("area=50"), 400, None,
     f"body is not valid JSON (Expecting value: line 1 column 1 (char 0)); {EXAMPLE}"),
    ("empty-body", raw(""), 400, None,
     f"body is not valid JSON (Expecting value: line 1 column 1 (char 0)); {EXAMPLE}"),
    ("truncated-json", raw('{"area": '), 400, None,
     f"body is not valid JSON (Expecting value: line 1 column 10 (char 9)); {EXAMPLE}"),
    ("bad-utf8", raw(b'{"area": "\xff"}'), 400, None,
     "body is not valid JSON ('utf-8' codec can't decode byte 0xff in position 10: "
     f"invalid start byte); {EXAMPLE}"),
    ("array-body", raw("[50]"), 400, None, f"body must be a JSON object, got array; {EXAMPLE}"),
    ("number-body", raw("50"), 400, None, f"body must be a JSON object, got number; {EXAMPLE}"),
    ("null-body", raw("null"), 400, None, f"body must be a JSON object, got null; {EXAMPLE}"),
    ("missing-area", body(fn="cpu_bounded"), 400, "area", "area is required: a number > 0"),
    ("null-area", body(area=None), 400, "area", "area is required: a number > 0"),
    ("string-area", body(area="50"), 400, "area", f'{AREA_TYPE} "50" (string)'),
    ("true-area", body(area=True), 400, "area", f"{AREA_TYPE} true (boolean)"),
    ("false-area", body(area=False), 400, "area", f"{AREA_TYPE} false (boolean)"),
    ("list-area", body(area=[50]), 400, "area", f"{AREA_TYPE} [50] (array)"),
    ("zero-area", body(area=0), 400, "area", "area must be > 0, got 0"),
    ("negative-area", body(area=-1.5), 400, "area", "area must be > 0, got -1.5"),
    ("nan-area", raw('{"area": NaN}'), 400, "area", "area must be a finite number > 0, got NaN"),
    ("inf-area", raw('{"area": Infinity}'), 400, "area",
     "area must be a finite number > 0, got Infinity"),
    ("minus-inf-area", raw('{"area": -Infinity}'), 400, "area",
     "area must be a finite number > 0, got -Infinity"),
    ("overflowing-float-area", raw('{"area": 1e400}'), 400, "area",
     "area must be a finite number > 0, got Infinity"),
    ("huge-int-area", raw('{"area": ' + HUGE + "}"), 400, "area",
     f"area must be at most 1e+12, got {HUGE[:37]}..."),
    ("too-large-area", body(area=2e12), 400, "area",
     "area must be at most 1e+12, got 2000000000000.0"),
    ("float-n", body(area=50, n=1.5), 400, "n", f"{N_TYPE} 1.5 (number)"),
    ("integral-float-n", body(area=50, n=10.0), 400, "n", f"{N_TYPE} 10.0 (number)"),
    ("string-n", body(area=50, n="10"), 400, "n", f'{N_TYPE} "10" (string)'),
    ("true-n", body(area=50, n=True), 400, "n", f"{N_TYPE} true (boolean)"),
    ("nan-n", raw('{"area": 50, "n": NaN}'), 400, "n", f"{N_TYPE} NaN (number)"),
    ("zero-n", body(area=50, n=0), 400, "n", f"{N_RANGE} 0"),
    ("negative-n", body(area=50, n=-5), 400, "n", f"{N_RANGE} -5"),
    ("n-over-max", body(area=50, n=MAX_N + 1), 400, "n", f"{N_RANGE} {MAX_N + 1}"),
    ("bad-n-with-io", body(area=50, fn="io_bounded", n="x"), 400, "n", f'{N_TYPE} "x" (string)'),
    ("unknown-fn", body(area=50, fn="gpu_bounded"), 400, "fn", f'{FN_MSG} "gpu_bounded" (string)'),
    ("fn-wrong-case", body(area=50, fn="CPU_BOUNDED"), 400, "fn",
     f'{FN_MSG} "CPU_BOUNDED" (string)'),
    ("empty-fn", body(area=50, fn=""), 400, "fn", f'{FN_MSG} "" (string)'),
    ("numeric-fn", body(area=50, fn=1), 400, "fn", f"{FN_MSG} 1 (number)"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("kwargs", "status", "field", "message"),
    [pytest.param(*case[1:], id=case[0]) for case in MALFORMED],
)
def test_malformed_request_is_a_json_4xx(client, kwargs, status, field, message):
    """Each case is one way a client can get a request wrong; none may cost a 500 or HTML."""
    response = client.post("/predict", **kwargs)
    assert response.status_code == status
    assert response.mimetype == "application/json"
    assert response.get_json() == {"error": message, "field": field}
    assert_good_request_succeeds(client)


def test_unknown_keys_are_ignored(client):
    """Clients may send extra context; only area, fn and n are read."""
    response = client.post("/predict", json={**GOOD, "rooms": 3, "area_unit": "m2"})
    assert response.get_json()["price"] == 24_975


def test_oversized_body_is_413_json(client):
    """A 5 kB body is over the 4096-byte default cap, whatever it contains."""
    response = client.post("/predict", json={**GOOD, "pad": "x" * 5000})
    assert response.status_code == 413
    assert response.mimetype == "application/json"
    payload = response.get_json()
    assert payload["field"] is None
    assert payload["error"].startswith("413 Request Entity Too Large: ")
    assert payload["error"].endswith(" The limit is 4096 bytes.")
    assert_good_request_succeeds(client)


def test_wrong_method_is_405_json_with_allow(client):
    """GET on /predict: the Allow header survives the JSON rewrite and is named in the error."""
    response = client.get("/predict")
    assert response.status_code == 405
    assert response.mimetype == "application/json"
    assert "POST" in response.headers["Allow"]
    payload = response.get_json()
    assert payload["field"] is None
    assert payload["error"].startswith("405 Method Not Allowed: ")
    assert "Allowed: " in payload["error"] and "POST" in payload["error"]


def test_unknown_path_is_404_json(client):
    """The seminar's clients sometimes hit /predict/ or /api/predict."""
    response = client.post("/api/predict", json=GOOD)
    assert response.status_code == 404
    assert response.mimetype == "application/json"
    payload = response.get_json()
    assert payload["field"] is None
    assert payload["error"].startswith("404 Not Found: ")
    assert payload["error"].endswith(" Endpoints: POST /predict, GET /health.")


ALLOC_ERROR = "Unable to allocate 7.45 GiB for an array with shape (1000000000,)"


def raising(exc: BaseException):
    """A stand-in predictor that fails the way a real one can under a memory cap."""

    def predict(*args, **kwargs):
        raise exc

    return predict


@pytest.mark.parametrize(
    ("exc", "detail"),
    [
        (MemoryError(ALLOC_ERROR), ALLOC_ERROR),
        (MemoryError(), "MemoryError"),
    ],
)
def test_memory_error_is_507_and_server_keeps_serving(client, monkeypatch, exc, detail):
    """numpy's MemoryError carries a message, the list comprehension's has none."""
    monkeypatch.setitem(PREDICTORS, "cpu_bounded", raising(exc))
    response = client.post("/predict", json=GOOD)
    assert response.status_code == 507
    assert response.mimetype == "application/json"
    assert response.get_json() == {
        "error": "memory_error",
        "field": None,
        "detail": detail,
        "fn": "cpu_bounded",
        "n": 1000,
        "pid": os.getpid(),
        "thread": "MainThread",
    }
    monkeypatch.setitem(PREDICTORS, "cpu_bounded", predict_cpu_bounded)
    assert_good_request_succeeds(client)


def test_unexpected_exception_is_500_json(monkeypatch):
    """PROPAGATE_EXCEPTIONS=False is how the app runs under a real server."""
    client = make_client(PROPAGATE_EXCEPTIONS=False)
    monkeypatch.setitem(PREDICTORS, "cpu_multithread", raising(RuntimeError("boom")))
    response = client.post("/predict", json={"area": 50, "fn": "cpu_multithread", "n": 5})
    assert response.status_code == 500
    assert response.mimetype == "application/json"
    assert response.get_json() == {
        "error": "internal_error",
        "field": None,
        "detail": "RuntimeError: boom",
        "fn": "cpu_multithread",
        "n": 5,
        "pid": os.getpid(),
        "thread": "MainThread",
    }
    assert_good_request_succeeds(client)


def test_memory_error_outside_predictor_is_still_507(monkeypatch):
    """Near the cap, even building the answer can fail: here the call after the predictor."""
    client = make_client(PROPAGATE_EXCEPTIONS=False)
    calls = []

    def current_thread():
        """The first call (on entry) works; the one after the predictor runs out of memory."""
        calls.append(1)
        if len(calls) > 1:
            raise MemoryError()
        return threading.current_thread()

    monkeypatch.setattr("app.threading", SimpleNamespace(current_thread=current_thread))
    response = client.post("/predict", json=GOOD)
    assert response.status_code == 507
    assert response.get_json() == {
        "error": "memory_error",
        "field": None,
        "detail": "MemoryError",
        "fn": "cpu_bounded",
        "n": 1000,
        "pid": os.getpid(),
        "thread": "MainThread",
    }


TOKEN = "s3cret-token"


@pytest.mark.parametrize(
    ("headers", "message"),
    [
        pytest.param({}, "missing Authorization header", id="missing"),
        pytest.param({"Authorization": f"Bearer {TOKEN}x"}, "invalid bearer token", id="wrong"),
        pytest.param({"Authorization": "Bearer "}, "invalid bearer token", id="empty"),
        pytest.param({"Authorization": TOKEN}, "Authorization must use the Bearer scheme",
                     id="no-scheme"),
        pytest.param({"Authorization": f"Basic {TOKEN}"},
                     "Authorization must use the Bearer scheme", id="basic"),
    ],
)  # fmt: skip
def test_token_required_when_configured(headers, message):
    """A token one character longer, an empty one, and the right one without its scheme."""
    client = make_client(APP_TOKEN=TOKEN)
    response = client.post("/predict", json=GOOD, headers=headers)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert response.get_json() == {
        "error": f"{message}; send Authorization: Bearer <APP_TOKEN>",
        "field": "Authorization",
    }


def test_right_token_is_accepted_and_scheme_is_case_insensitive():
    """RFC 7235: the auth scheme name is case-insensitive."""
    client = make_client(APP_TOKEN=TOKEN)
    assert_good_request_succeeds(client, {"Authorization": f"Bearer {TOKEN}"})
    assert_good_request_succeeds(client, {"Authorization": f"bearer {TOKEN}"})


def test_auth_is_checked_before_the_body(client):
    """An unauthenticated client learns nothing about validation."""
    client = make_client(APP_TOKEN=TOKEN)
    response = client.post("/predict", json={"area": "bad"})
    assert response.status_code == 401


@pytest.mark.parametrize("token", [None, TOKEN])
def test_health_is_open(token):
    """Readiness checks carry no token, whether or not one is configured."""
    response = make_client(APP_TOKEN=token).get("/health")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok", "pid": os.getpid()}


def test_no_token_configured_means_no_auth(client):
    """Without APP_TOKEN any Authorization header, even a bogus one, is ignored."""
    assert_good_request_succeeds(client, {"Authorization": "Bearer whatever"})
