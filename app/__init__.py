"""The service under test: a Flask app that prices a house with a chosen predictor.

Endpoints:
    POST /predict  JSON {"area": number > 0, "fn": name (optional), "n": int >= 1 (optional)}
                   -> {"price", "fn", "n" (null for io_bounded), "pid", "thread", "thread_id",
                       "elapsed_s"}
    GET  /health   -> {"status": "ok", "pid"}; never needs a token.

Status codes (every error body is JSON {"error": message, "field": name or null, ...}):
    200  priced
    400  malformed body or a field out of range (field names the culprit)
    401  APP_TOKEN is set and the Authorization: Bearer header is missing or wrong
    404  unknown path;  405  wrong method;  413  body over MAX_CONTENT_LENGTH
    415  Content-Type is not application/json
    500  unexpected exception: {"error": "internal_error", "detail", "fn", "n", "pid",
         "thread"}
    507  MemoryError while predicting: {"error": "memory_error", "detail", "fn", "n", "pid",
         "thread"};
         the server keeps serving.
"""

from __future__ import annotations

import hmac
import json
import math
import os
import threading
import time
from typing import Any

from flask import Flask, Response, current_app, g, jsonify, request
from werkzeug.exceptions import HTTPException, InternalServerError

from app import predictors
from app.predictors import IO_PREDICTORS, PREDICTORS

EXAMPLE = 'send e.g. {"area": 50, "fn": "cpu_bounded", "n": 1000}'
FN_CHOICES = ", ".join(sorted(PREDICTORS))
AUTH_HINT = "send Authorization: Bearer <APP_TOKEN>"


class ApiError(Exception):
    """A client error answered as JSON {"error": message, "field": field}."""

    def __init__(self, status: int, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.field = field


def _env_number(name: str, default: float, kind: type = int) -> Any:
    """Read a numeric environment variable, naming it if it does not parse."""
    raw = os.environ.get(name)
    if raw is None:
        return default
    try:
        return kind(raw)
    except ValueError:
        raise ValueError(f"{name} must be {kind.__name__}, got {raw!r}") from None


def default_config() -> dict[str, Any]:
    """Return the config defaults, read from APP_* environment variables now."""
    return {
        "DEFAULT_FN": os.environ.get("APP_DEFAULT_FN", "cpu_bounded"),
        "DEFAULT_N": _env_number("APP_DEFAULT_N", predictors.DEFAULT_N),
        "MAX_N": _env_number("APP_MAX_N", 10**10),
        "MAX_AREA": 1e12,
        "APP_TOKEN": os.environ.get("APP_TOKEN") or None,
        "IO_SLEEP_S": _env_number("APP_IO_SLEEP_S", predictors.IO_SLEEP_S, float),
        "MAX_CONTENT_LENGTH": 4096,
    }


def create_app(config: dict[str, Any] | None = None) -> Flask:
    """Build the app; `config` overrides the environment-derived defaults."""
    app = Flask(__name__)
    app.json.sort_keys = False  # answers read price first, as the seminar's did
    app.config.update(default_config())
    app.config.update(config or {})
    _check_config(app.config)
    app.register_error_handler(ApiError, _api_error)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(InternalServerError, _internal_error)
    app.add_url_rule("/predict", view_func=predict, methods=["POST"])
    app.add_url_rule("/health", view_func=health, methods=["GET"])
    return app


def _check_config(cfg: dict[str, Any]) -> None:
    """Fail at start-up, not at the first request, on a bad default."""
    if cfg["DEFAULT_FN"] not in PREDICTORS:
        raise ValueError(f"DEFAULT_FN must be one of {FN_CHOICES}, got {cfg['DEFAULT_FN']!r}")
    if not 1 <= cfg["DEFAULT_N"] <= cfg["MAX_N"]:
        raise ValueError(f"DEFAULT_N must be between 1 and MAX_N={cfg['MAX_N']}")


def health() -> Response:
    """Answer liveness probes; open even when a token is required."""
    return jsonify(status="ok", pid=os.getpid())


def predict() -> Response | tuple[Response, int]:
    """Validate the request, run the chosen predictor, report who served it and how long."""
    _check_token()
    g.thread = threading.current_thread().name  # recorded on entry, for error answers
    area, fn, n = _parse_request()
    g.fn, g.n = fn, n
    start = time.perf_counter()
    try:
        price = _run(fn, area, n)
    except MemoryError as exc:
        detail = str(exc) or "MemoryError"
        current_app.logger.warning("MemoryError in %s n=%s: %s", fn, n, detail)
        return _failure(507, "memory_error", detail)
    thread = threading.current_thread()  # again: the answer says who finished it
    return jsonify(
        price=price,
        fn=fn,
        n=n,
        pid=os.getpid(),
        thread=thread.name,
        thread_id=thread.ident,
        elapsed_s=round(time.perf_counter() - start, 6),
    )


def _run(fn: str, area: float, n: int | None) -> int:
    """Call the predictor, looked up now so tests can swap one in PREDICTORS."""
    if fn in IO_PREDICTORS:
        return PREDICTORS[fn](area, sleep_s=current_app.config["IO_SLEEP_S"])
    return PREDICTORS[fn](area, n)


def _check_token() -> None:
    """Require Authorization: Bearer <APP_TOKEN> when a token is configured."""
    token = current_app.config["APP_TOKEN"]
    if not token:
        return
    header = request.headers.get("Authorization")
    if header is None:
        raise ApiError(401, f"missing Authorization header; {AUTH_HINT}", "Authorization")
    scheme, _, given = header.partition(" ")
    if scheme.lower() != "bearer":
        raise ApiError(
            401, f"Authorization must use the Bearer scheme; {AUTH_HINT}", "Authorization"
        )
    if not hmac.compare_digest(given.strip().encode(), token.encode()):
        raise ApiError(401, f"invalid bearer token; {AUTH_HINT}", "Authorization")


def _parse_request() -> tuple[float, str, int | None]:
    """Return (area, fn, n) from the JSON body, or raise ApiError naming the bad field."""
    if not request.is_json:
        got = request.mimetype or "none"
        raise ApiError(415, f"Content-Type must be application/json, got {got}; {EXAMPLE}")
    try:
        body = json.loads(request.get_data())
    except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError
        raise ApiError(400, f"body is not valid JSON ({exc}); {EXAMPLE}") from None
    if not isinstance(body, dict):
        raise ApiError(400, f"body must be a JSON object, got {_json_type(body)}; {EXAMPLE}")
    cfg = current_app.config
    area = _parse_area(body.get("area"), cfg["MAX_AREA"])
    fn = _parse_fn(body.get("fn"), cfg["DEFAULT_FN"])
    n = _parse_n(body.get("n"), cfg["DEFAULT_N"], cfg["MAX_N"])
    return area, fn, None if fn in IO_PREDICTORS else n


def _parse_area(value: Any, max_area: float) -> float:
    """Accept a finite JSON number in (0, max_area]."""
    if value is None:
        raise ApiError(400, "area is required: a number > 0", "area")
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ApiError(400, f"area must be a number > 0, got {_got(value)}", "area")
    # Python's json accepts NaN and Infinity, and 1e400 parses as inf.
    if isinstance(value, float) and not math.isfinite(value):
        raise ApiError(400, f"area must be a finite number > 0, got {_show(value)}", "area")
    if value <= 0:
        raise ApiError(400, f"area must be > 0, got {_show(value)}", "area")
    if value > max_area:  # int/float comparison is exact, so a huge int cannot overflow here
        raise ApiError(400, f"area must be at most {max_area:g}, got {_show(value)}", "area")
    return float(value)


def _parse_fn(value: Any, default: str) -> str:
    """Accept a predictor name; absent or null means the configured default."""
    if value is None:
        return default
    if not isinstance(value, str) or value not in PREDICTORS:
        raise ApiError(400, f"fn must be one of {FN_CHOICES}, got {_got(value)}", "fn")
    return value


def _parse_n(value: Any, default: int, max_n: int) -> int:
    """Accept a JSON integer in [1, max_n]; absent or null means the configured default."""
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int):
        raise ApiError(400, f"n must be an integer between 1 and {max_n}, got {_got(value)}", "n")
    if not 1 <= value <= max_n:
        raise ApiError(400, f"n must be between 1 and {max_n}, got {_show(value)}", "n")
    return value


def _json_type(value: Any) -> str:
    """Name a parsed JSON value's type the way JSON does."""
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    names = {str: "string", list: "array", dict: "object", type(None): "null"}
    return names.get(type(value), type(value).__name__)


def _show(value: Any) -> str:
    """Render a value as JSON text, cut short so a huge input cannot bloat the error."""
    text = json.dumps(value)
    return text if len(text) <= 40 else f"{text[:37]}..."


def _got(value: Any) -> str:
    """Render a value with its JSON type, for type errors."""
    return f"{_show(value)} ({_json_type(value)})"


def _failure(status: int, error: str, detail: str) -> tuple[Response, int]:
    """Build the body for a server-side failure, with what was being computed."""
    body = {
        "error": error,
        "field": None,
        "detail": detail,
        "pid": os.getpid(),
        "thread": g.get("thread"),
    }
    body.update(fn=g.get("fn"), n=g.get("n"))
    return jsonify(body), status


def _api_error(exc: ApiError) -> Response:
    """Turn the app's own validation error into JSON."""
    response = jsonify(error=exc.message, field=exc.field)
    response.status_code = exc.status
    if exc.status == 401:
        response.headers["WWW-Authenticate"] = "Bearer"
    return response


def _http_error(exc: HTTPException) -> Response:
    """Turn any werkzeug HTTP error (404, 405, 413, ...) into JSON, keeping its headers."""
    response = exc.get_response()
    message = f"{exc.code} {exc.name}: {exc.description}"
    if exc.code == 405:
        message += f" Allowed: {response.headers.get('Allow', '')}."
    elif exc.code == 413:
        message += f" The limit is {current_app.config['MAX_CONTENT_LENGTH']} bytes."
    elif exc.code == 404:
        message += " Endpoints: POST /predict, GET /health."
    response.set_data(jsonify(error=message, field=None).get_data())
    response.mimetype = "application/json"
    return response


def _internal_error(exc: InternalServerError) -> tuple[Response, int]:
    """Answer an unhandled exception with JSON; a MemoryError outside a predictor is still 507."""
    original = exc.original_exception
    if isinstance(original, MemoryError):
        return _failure(507, "memory_error", str(original) or "MemoryError")
    detail = f"{type(original).__name__}: {original}" if original else exc.description
    return _failure(500, "internal_error", detail)
