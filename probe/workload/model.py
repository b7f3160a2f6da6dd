"""What is probed: an app, where n goes, how one request is sent and how its answer is judged.

A workload names a WSGI app the way gunicorn does (``module:attr``, imported from
``chdir``) and puts n in exactly one place: a request template containing ``{n}``
(the request line, the JSON body or a header value), or an environment variable
(``n_env``) set when the server starts, for apps that build their data at import.
The seminar's three predictors are built-in workloads of the same shape; only they
(``fn`` set) have their answer checked against the exact price (app.pricing).

Templates are kept as written and filled per request (as hyperfine keeps ``{param}``
in its commands), so a result records what was run and never a secret's value.

Placeholders are exactly three forms, matched by a regular expression, not str.format:

    {n}          the size being probed, as a decimal integer
    {area}       the request's area (a probe sends 10; the seminar's load 10, 20, ...)
    {env:NAME}   os.environ["NAME"], read when the request is rendered

Every other ``{`` is literal, so JSON bodies need no escaping:
``{"area": 50, "n": {n}}``. A brace pair that looks like a placeholder (``{`` then a
name, optionally ``:`` and more, then ``}``, with no space or quote inside) but is
none of the three is rejected, so a typo such as ``{size}`` or ``{N}`` fails at once
instead of being sent verbatim (inside a JSON string, write a literal ``{`` as
``\\u007b``). Values are inserted verbatim in one pass (a value
containing ``{n}`` is not expanded again).

Judging an answer (``judge``): a 2xx status is required; a non-2xx JSON answer
``{"error": "memory_error"}`` (the seminar app's 507) is a memory error. Then:

- built-ins: the JSON ``price`` must be the exact price (numpy's one unit aside);
- ``expect`` (user workloads, ``--expect``): the decoded answer body must contain the
  expect text, after its placeholders are filled (``{n}`` the probed n), as a plain
  case-sensitive substring. Write enough context to rule out prefixes: for n=10,
  ``size={n}`` also matches ``size=100``; ``size={n} sum=`` does not.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from probe.errors import ProbeError
from probe.outcome import Kind, Outcome, failed_answer
from probe.servers.command import CommandError, split
from probe.workload import bodies, bodyfn, nparam, seminar
from probe.workload.seminar import BUILTIN_FNS, IO_FNS, PROBE_AREA

ALLOWED = "{n}, {area}, {env:NAME}"
_NAME = r"[A-Za-z_][A-Za-z0-9_]*"
# Anything shaped like a placeholder; the group is checked against the three forms.
_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*(?::[^{}\s\"']*)?)\}")
_ENV_NAME = re.compile(_NAME)
_APP = re.compile(rf"{_NAME}(?:\.{_NAME})*:{_NAME}")
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")  # RFC 9110 token: methods, header names
_WORKLOAD_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
_BAD_IN_LINE = re.compile(r"[\x00-\x20\x7f]")  # no whitespace or controls in the request line
_BAD_IN_HEADER = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")  # tab is allowed in header values


class WorkloadError(ProbeError, ValueError):
    """A workload that cannot be probed; the message says how to fix it."""


@dataclass(frozen=True)
class HttpRequest:
    """One request as load.py sends it: templates filled for one n and area."""

    method: str
    path: str  # path and query, e.g. "/alloc?size=1000"
    body: bytes | bodies.Body | None  # a Body is generated as it is sent (n long)
    headers: tuple[tuple[str, str], ...]
    n: int | None  # the n this request probes (also when n went into the server's env)
    area: float | None = None  # set when the workload uses {area} or checks a price
    expect: str | None = None  # the text the answer must hold, filled for this n


@dataclass(frozen=True)
class Workload:
    """What is probed; see the module docstring for templates and judging."""

    name: str
    app: str | None = None  # "module:attr", as gunicorn's APP_MODULE (None: cmd names it)
    chdir: str | None = None  # folder to import the app from (None: where probe runs)
    request: str = "GET /"  # "METHOD /path?query", may contain placeholders
    json: str | None = None  # body template, sent with Content-Type: application/json
    headers: tuple[tuple[str, str], ...] = ()  # (name, value template)
    n_env: str | None = None  # environment variable that carries n at server start-up
    expect: str | None = None  # text the answer body must contain
    fn: str | None = None  # built-ins only: the predictor, enables the exact price check
    env: tuple[tuple[str, str], ...] = ()  # fixed server environment (values: templates)
    cmd: str | None = None  # the user's start command ({port}, {host}), as written
    body_bytes: bool = False  # the body is n bytes (probe.workload.bodies.raw)
    upload: str | None = None  # the body is multipart with a file of n bytes in this field
    n_param: str | None = None  # MODULE:FUNCTION.PARAM or MODULE:NAME set to n at start-up
    # how a json body is written: "spaced" as json.dumps and requests write it, "compact"
    json_separators: str = bodies.DEFAULT_SEPARATORS
    content: str | None = None  # the body's (or upload's file's) template: {n*PIECE}
    filename: str | None = None  # the upload's file name
    content_type: str | None = None  # the body's (or upload's file's) content type
    n_unit: str | None = None  # what n counts, in the user's words (rows, pixels per side)
    body_fn: str | None = None  # MODULE:FUNCTION making the body (or upload's file) at n

    def __post_init__(self) -> None:
        object.__setattr__(self, "headers", _pairs(self.headers))
        object.__setattr__(self, "env", _pairs(self.env))
        _check_identity(self)
        method, _, path = self.request.partition(" ")
        _check_request(self.request, method, path)
        for field, text in self._templates():
            _check_placeholders(field, text)
        _check_headers(self.headers)
        if self.json is not None:
            _check_json(self.json)
        if self.json_separators not in bodies.SEPARATORS:
            raise WorkloadError(
                f"json_separators must be one of {', '.join(bodies.SEPARATORS)}, not "
                f"{self.json_separators!r}"
            )
        _check_body(self)
        _check_env(self)
        _check_n_placement(self)

    # -- where n goes ---------------------------------------------------------------
    @property
    def takes_n(self) -> bool:
        """False only for io_bounded, the built-in whose answer does not depend on n."""
        return self.fn not in IO_FNS

    @property
    def sized_body(self) -> str | None:
        """'raw', 'upload' or 'batch' if the body itself is n long (None: it is not)."""
        if self.upload is not None:
            return "upload"
        if self.body_bytes or self.content is not None or self.body_fn is not None:
            return "raw"
        return "batch" if self.json is not None and bodies.split_batch(self.json) else None

    @property
    def n_placement(self) -> str:
        """'request' ({n} in the request line, body or a header, or a body n long), 'env'
        (n_env) or 'none'."""
        if self.n_env is not None or self.n_param is not None:
            return "env"
        sized = self.sized_body is not None
        return "request" if sized or _uses(self._request_templates(), "n") else "none"

    def fixed_env(self) -> dict[str, str]:
        """The fixed environment the workload adds to every server, templates filled."""
        return {name: self._fill(f"env {name}", value, None, None) for name, value in self.env}

    def server_env(self, n: int | None) -> dict[str, str]:
        """Environment to add to the server's at start-up: the fixed env, and n if n_env
        or n_param."""
        out = self.fixed_env()
        if self.n_env is not None:
            out[self.n_env] = str(_check_n(n, self.name))
        if self.n_param is not None:
            out.update(nparam.server_env(self.n_param, _check_n(n, self.name)))
        return out

    @property
    def n_at_start(self) -> str | None:
        """What carries n into the server at start-up, in words (None: the request)."""
        if self.n_env is not None:
            return self.n_env
        return f"--n-param {self.n_param}" if self.n_param is not None else None

    # -- one request ----------------------------------------------------------------
    def render(self, n: int | None, area: float = PROBE_AREA) -> HttpRequest:
        """The request for size n (None only for a workload that takes no n)."""
        n = _check_n(n, self.name) if self.takes_n else None
        method, _, target = self.request.partition(" ")
        path = self._fill("request", target, n, area)
        if _BAD_IN_LINE.search(path):
            raise WorkloadError(
                f"request path of workload {self.name!r} contains whitespace or a control "
                "character once filled; percent-encode it in the environment variable"
            )
        headers = []
        for name, template in self.headers:
            value = self._fill(f"header {name}", template, n, area)
            if _BAD_IN_HEADER.search(value):
                raise WorkloadError(
                    f"header {name} of workload {self.name!r} contains a line break or a "
                    "control character once filled; fix the environment variable"
                )
            headers.append((name, value))
        body = None
        sized = self.sized_body
        if sized is not None:
            body = self._sized(sized, n, area)
            if not any(name.lower() == "content-type" for name, _ in headers):
                headers.append(("Content-Type", body.content_type))
        elif self.json is not None:
            text = self._fill("json", self.json, n, area)
            try:
                text = bodies.dumps(text, self.json_separators)
            except ValueError as exc:
                raise WorkloadError(
                    f"json body of workload {self.name!r} is not valid JSON once filled "
                    f"({exc}); check its {{env:NAME}} values: a quote or backslash breaks a "
                    "JSON string"
                ) from None
            body = text.encode()
            if not any(name.lower() == "content-type" for name, _ in headers):
                headers.append(("Content-Type", "application/json"))
        uses_area = self.fn is not None or _uses(self._request_templates(), "area")
        expect = self._fill("expect", self.expect, n, area) if self.expect is not None else None
        return HttpRequest(
            method, path, body, tuple(headers), n, float(area) if uses_area else None, expect
        )

    def _sized(self, kind: str, n: int, area: float | None) -> bodies.Body:
        """The body n long: n bytes, an upload of n bytes, or a batch of n items."""
        made = None
        if self.body_fn is not None:
            made = bodyfn.make(self.body_fn, self.chdir, n)
        ctype = (made and made.content_type) or self.content_type
        if kind == "raw":
            return bodies.raw(n, self.content, ctype, made)
        if kind == "upload":
            name = (made and made.filename) or self.filename
            return bodies.upload(self.upload, n, name, self.content, ctype, made)
        before, item, after = bodies.split_batch(self.json)
        return bodies.batch(self._fill("json", before, n, area), item,
                            self._fill("json", after, n, area), n,
                            self.json_separators)  # fmt: skip

    def judge(
        self,
        status: int | None,
        body_text: str,
        body_json: object,
        n: int | None,
        area: float | None = PROBE_AREA,
        found: bool | None = None,
    ) -> Outcome:
        """The outcome of one answer: status, the built-ins' exact price, or `expect`
        (`found`: whether a streamed answer longer than body_text held it)."""
        if status is None:
            return Outcome(Kind.CONNECTION_ERROR, None, "no HTTP answer")
        if not 200 <= status < 300:
            return failed_answer(status, body_json)
        if self.fn is not None:
            prices = seminar.pricing()
            price = body_json.get("price") if isinstance(body_json, dict) else None
            if not prices.price_matches(price, area, n, self.fn):
                want = prices.expected_price(self.fn, area, n)
                return Outcome(Kind.HTTP_ERROR, status, f"wrong price {price}, want {want}")
        if self.expect is not None:
            want = self._fill("expect", self.expect, n, area)
            if not (found if found is not None else want in body_text):
                return Outcome(Kind.HTTP_ERROR, status, f"answer lacks {want!r}")
        return Outcome(Kind.OK, status)

    # -- records ----------------------------------------------------------------------
    def to_dict(self) -> dict:
        """The workload for a results document: templates as written, never their values."""
        return {
            "name": self.name,
            "app": self.app,
            "chdir": self.chdir,
            "request": self.request,
            "json": self.json,
            "headers": dict(self.headers),
            "n_env": self.n_env,
            "expect": self.expect,
            "fn": self.fn,
            "env": dict(self.env),
            "cmd": self.cmd,
            "body_bytes": self.body_bytes,
            "upload": self.upload,
            "n_param": self.n_param,
            "json_separators": self.json_separators if self.json is not None else None,
            "content": self.content,
            "filename": self.filename,
            "content_type": self.content_type,
            "n_unit": self.n_unit,
            "body_fn": self.body_fn,
        }

    def identity(self) -> str:
        """8 hex digits naming what is probed, for result file names.

        The name is left out (file names carry it beside the hash) and so is chdir:
        the same app checked out in another folder, as on CI, is the same workload.
        """
        d = self.to_dict()
        del d["name"], d["chdir"]
        for key, unset in (("cmd", None), ("body_bytes", False), ("upload", None),
                           ("n_param", None)):  # fmt: skip
            if d[key] == unset:  # keys added later: older names still match
                del d[key]
        if self.sized_body != "batch":  # a few bytes more or less: the same workload
            del d["json_separators"]
        for key in ("content", "filename", "content_type", "n_unit", "body_fn"):
            if d[key] is None:  # keys added later: older names still match
                del d[key]
        d.pop("n_unit", None)  # a label: the same probe
        text = json.dumps(d, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()[:8]

    # -- helpers ----------------------------------------------------------------------
    def _request_templates(self) -> list[tuple[str, str]]:
        out = [("request", self.request)]
        if self.json is not None:
            out.append(("json", self.json))
        out += [(f"header {name}", value) for name, value in self.headers]
        return out

    def _templates(self) -> list[tuple[str, str]]:
        out = self._request_templates()
        if self.expect is not None:
            out.append(("expect", self.expect))
        return out + [(f"env {name}", value) for name, value in self.env]

    def _fill(self, field: str, template: str, n: int | None, area: float | None) -> str:
        def one(match: re.Match) -> str:
            key = match.group(1)
            if key == "n":
                return str(n)
            if key == "area":
                return _number(area)
            var = key[len("env:") :]
            try:
                return os.environ[var]
            except KeyError:
                raise WorkloadError(
                    f"set {var} in probe's environment: workload {self.name!r} uses "
                    f"{{env:{var}}} in its {field}"
                ) from None

        return _PLACEHOLDER.sub(one, template)


# -- validation ---------------------------------------------------------------------------
def _pairs(value: Iterable | Mapping) -> tuple[tuple[str, str], ...]:
    items = value.items() if isinstance(value, Mapping) else value
    return tuple((str(k), str(v)) for k, v in items)


def _check_identity(w: Workload) -> None:
    if not _WORKLOAD_NAME.fullmatch(w.name):
        raise WorkloadError(
            f"workload name must be letters, digits, '_', '.' or '-' (it names result "
            f"files), got {w.name!r}"
        )
    if w.cmd is not None:
        try:
            split(w.cmd)
        except CommandError as exc:
            raise WorkloadError(str(exc)) from None
    if (w.cmd is None or w.app is not None) and not _APP.fullmatch(w.app or ""):
        raise WorkloadError(
            f"app must be 'module:attr' as for gunicorn, e.g. 'app.wsgi:app', got {w.app!r}"
        )
    if w.chdir == "":
        raise WorkloadError("chdir must be a folder; leave it out to import from here")
    if w.fn is not None and w.fn not in BUILTIN_FNS:
        raise WorkloadError(f"fn must be one of {', '.join(BUILTIN_FNS)}, got {w.fn!r}")
    if w.expect == "":
        raise WorkloadError("expect must not be empty: every answer contains ''")


def _check_request(request: str, method: str, path: str) -> None:
    if not path or " " in path:
        raise WorkloadError(
            f'request must be "METHOD /path?query", e.g. "GET /alloc?size={{n}}", got {request!r}'
        )
    if not _TOKEN.fullmatch(method):
        raise WorkloadError(
            f"request method must be an HTTP token such as GET or POST, got {method!r}"
        )
    if not path.startswith("/"):
        raise WorkloadError(f"request path must start with '/', got {path!r}")
    if _BAD_IN_LINE.search(path):
        raise WorkloadError(
            f"request path must not contain whitespace or control characters, got {path!r}"
        )


def _check_placeholders(field: str, text: str) -> None:
    for match in _PLACEHOLDER.finditer(text):
        key = match.group(1)
        if key in ("n", "area"):
            continue
        if key.startswith("env:") and _ENV_NAME.fullmatch(key[len("env:") :]):
            continue
        raise WorkloadError(f"unknown placeholder {match.group(0)} in {field}; allowed: {ALLOWED}")


def _check_headers(headers: tuple[tuple[str, str], ...]) -> None:
    seen: set[str] = set()
    for name, value in headers:
        if not _TOKEN.fullmatch(name):
            raise WorkloadError(f"header name must be an HTTP token such as X-Size, got {name!r}")
        if name.lower() in seen:
            raise WorkloadError(f"header {name} is given twice; keep one")
        seen.add(name.lower())
        if _BAD_IN_HEADER.search(value):
            raise WorkloadError(f"header {name} must not contain line breaks or control characters")


def _check_json(template: str) -> None:
    try:
        batch = bodies.split_batch(template)
        if batch is not None:
            bodies.check_item(batch[1])
            template = f"{batch[0]}[{batch[1]}]{batch[2]}"
    except bodies.BodyError as exc:
        raise WorkloadError(str(exc)) from None
    sample = _PLACEHOLDER.sub("1", template)  # numbers for {n}/{area}; "1" inside strings
    try:
        json.loads(sample)
    except ValueError as exc:
        raise WorkloadError(
            f"json is not valid JSON once {{n}} is a number: {sample!r} ({exc}); "
            "write e.g. '{\"size\": {n}}'"
        ) from None


def _check_body(w: Workload) -> None:
    """At most one body n long, and a body only where a request has one."""
    given = [x for x in (w.body_bytes and "body_bytes", w.upload is not None and "upload",
                         w.json is not None and "json") if x]  # fmt: skip
    if len(given) > 1:
        raise WorkloadError(f"{' and '.join(given)} both give the body; keep one")
    if w.body_fn is not None and (w.body_bytes or w.content is not None or w.json is not None):
        raise WorkloadError("--body-fn makes the body itself; drop --body-bytes, --content "
                            "and --json")  # fmt: skip
    if w.body_bytes and w.content is not None:
        raise WorkloadError("--content gives the body itself; drop --body-bytes")
    if w.content is not None and w.json is not None:
        raise WorkloadError("json and content both give the body; keep one")
    if w.content is not None:
        try:
            bodies.split_repeat(w.content)
        except bodies.BodyError as exc:
            raise WorkloadError(str(exc)) from None
    if w.filename is not None and w.upload is None:
        raise WorkloadError("filename names an upload's file: pass --upload FIELD, or drop it")
    if w.content_type is not None and w.sized_body not in ("raw", "upload"):
        raise WorkloadError("content_type is for --content, --body-bytes or --upload; "
                            "for other bodies send a Content-Type --header")  # fmt: skip
    if w.upload is not None and not _TOKEN.fullmatch(w.upload):
        raise WorkloadError(f"upload must be a form field name such as file, got {w.upload!r}")
    if w.sized_body is not None and not w.takes_n:
        raise WorkloadError(f"{w.fn} takes no n: its body cannot be n long")


def _check_env(w: Workload) -> None:
    if w.n_env is not None and not _ENV_NAME.fullmatch(w.n_env):
        raise WorkloadError(
            f"n_env must be an environment variable name such as TABLE_N, got {w.n_env!r}"
        )
    for name, value in w.env:
        if not _ENV_NAME.fullmatch(name):
            raise WorkloadError(f"env names must be variable names such as DEBUG, got {name!r}")
        if name == w.n_env:
            raise WorkloadError(f"{name} is both n_env and in env; drop it from env")
        if _uses([(name, value)], "n") or _uses([(name, value)], "area"):
            raise WorkloadError(
                f"env {name} may use only {{env:NAME}}; to pass n at start-up use n_env"
            )


def _check_n_placement(w: Workload) -> None:
    if w.n_param is not None:
        try:
            nparam.check(w.n_param)
        except nparam.NParamError as exc:
            raise WorkloadError(str(exc)) from None
        if w.n_env is not None:
            raise WorkloadError(f"n goes in two places: n_env {w.n_env} and n_param; keep one")
    in_templates = [field for field, text in w._request_templates() if _uses([(field, text)], "n")]
    if w.sized_body is not None:
        in_templates.insert(0, f"{w.sized_body} body")
    if not w.takes_n:
        if in_templates or w.n_env is not None:
            raise WorkloadError(f"{w.fn} takes no n: remove {{n}} and n_env")
        return
    if in_templates and (w.n_env is not None or w.n_param is not None):
        raise WorkloadError(
            f"n goes in two places: {{n}} in the {in_templates[0]} and "
            f"{'n_env ' + w.n_env if w.n_env else 'n_param ' + str(w.n_param)}; keep one"
        )
    if not in_templates and w.n_env is None and w.n_param is None:
        raise WorkloadError(
            "n goes nowhere: put {n} in the request, the json body or a header, "
            "or name the environment variable that carries it with n_env"
        )


def _uses(templates: Iterable[tuple[str, str]], key: str) -> bool:
    return any(m.group(1) == key for _, text in templates for m in _PLACEHOLDER.finditer(text))


def _check_n(n: object, name: str) -> int:
    if isinstance(n, bool) or not isinstance(n, int) or n < 0:
        raise WorkloadError(f"workload {name!r} needs n, a non-negative integer, got {n!r}")
    return n


def _number(value: float | None) -> str:
    """10 -> '10', 10.0 -> '10', 12.5 -> '12.5': what json.dumps writes, minus the '.0'."""
    if value is None:
        raise WorkloadError("this request needs an area: pass area=")
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return json.dumps(value)


def parse_header(text: str) -> tuple[str, str]:
    """'Name: value template' -> (name, value template), as curl -H writes a header."""
    name, sep, value = text.partition(":")
    name = name.strip()
    if not sep or not name:
        raise WorkloadError(
            f'header must be "Name: value", e.g. "Authorization: Bearer {{env:APP_TOKEN}}", '
            f"got {text!r}"
        )
    if not _TOKEN.fullmatch(name):
        raise WorkloadError(f"header name must be an HTTP token such as X-Size, got {name!r}")
    return name, value.strip()
