"""A plain WSGI app that takes n from the environment at import: TABLE_N entries.

Unlike app/: the size is fixed when the server starts, not per request. The table is
built while the module is imported, so under a memory cap the failure happens while
the server boots (a MemoryError escapes the import), not in a request.
``GET /lookup?i=K`` answers JSON ``{"i": K, "value": K' * K', "entries": TABLE_N}``
with ``K' = K % TABLE_N``.

    cd tests/apps && TABLE_N=1000 gunicorn --bind 127.0.0.1:0 env_table:app
"""

from __future__ import annotations

import json
import os
from urllib.parse import parse_qs


def _table_size() -> int:
    raw = os.environ.get("TABLE_N")
    if raw is None:
        raise ValueError("set TABLE_N to the number of table entries, e.g. TABLE_N=1000")
    try:
        size = int(raw)
    except ValueError:
        size = 0
    if size < 1:
        raise ValueError(f"TABLE_N must be an integer >= 1, e.g. TABLE_N=1000, got {raw!r}")
    return size


TABLE_N = _table_size()
TABLE = [i * i for i in range(TABLE_N)]  # built at import; a MemoryError here escapes


def app(environ, start_response):
    """GET /lookup?i=K -> {"i", "value", "entries"}; GET / -> ok; anything else 4xx."""
    path = environ.get("PATH_INFO", "/")
    if environ["REQUEST_METHOD"] != "GET":
        return _json(start_response, "405 Method Not Allowed", {"error": "use GET"})
    if path == "/":
        return _json(start_response, "200 OK", {"status": "ok", "entries": TABLE_N})
    if path != "/lookup":
        return _json(start_response, "404 Not Found", {"error": "endpoint: GET /lookup?i=K"})
    values = parse_qs(environ.get("QUERY_STRING", "")).get("i", [])
    try:
        (i,) = (int(v) for v in values)
    except ValueError:
        return _json(start_response, "400 Bad Request", {"error": "i must be one integer"})
    answer = {"i": i, "value": TABLE[i % TABLE_N], "entries": TABLE_N}
    return _json(start_response, "200 OK", answer)


def _json(start_response, status: str, payload: dict) -> list[bytes]:
    body = json.dumps(payload).encode()
    start_response(
        status, [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
    )
    return [body]
