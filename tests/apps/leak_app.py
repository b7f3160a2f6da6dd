"""A plain WSGI app that leaks a little on every request, as a cache that is never trimmed.

Unlike the other apps here: memory grows with the number of requests served, not only
with n. ``GET /work?size=N`` builds a list of N ints, answers ``size=N``, and keeps
LEAK_BYTES (default 200 KB) of it in a module-level list forever. Under a sustained run
its workers' memory climbs request after request, which `probe plan`'s confirmation
must see as a trend and answer with a --max-requests.

    cd tests/apps && gunicorn --bind 127.0.0.1:0 leak_app:app
"""

from __future__ import annotations

import os
from urllib.parse import parse_qs

LEAK_BYTES = int(os.environ.get("LEAK_BYTES", "200000"))
_kept: list[bytes] = []  # never trimmed


def app(environ, start_response):
    values = parse_qs(environ.get("QUERY_STRING", "")).get("size", [])
    if environ.get("PATH_INFO") != "/work" or len(values) != 1 or not values[0].isdigit():
        start_response("400 Bad Request", [("Content-Type", "text/plain")])
        return [b"GET /work?size=N\n"]
    size = int(values[0])
    data = list(range(size))  # MemoryError escapes: a bare 500
    _kept.append(bytes(LEAK_BYTES))
    body = f"size={size} kept={len(_kept)}\n".encode()
    del data
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
