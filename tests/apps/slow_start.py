"""A WSGI app that is still setting itself up after its server's port accepts.

Unlike app/ and query_alloc: its boundary depends on when the first request comes, as
a worker's start-up shares the address space with an early request (gunicorn's uvicorn
workers and gthread servers did this by a few tenths of a percent). At import it holds
a start-up buffer of HOLD_MIB (default 24) MiB and lets it go a moment later
(RELEASE_S, default 0.5 s), as a cache warmed at start and then trimmed would. A request
of n ints sent as soon as the port accepts therefore fails at a smaller n than one sent
a second later. n is the path's last segment: ``GET /ints/N`` answers ``ints=N sum=S``.
A MemoryError escapes (a bare 500).

    cd tests/apps && gunicorn --bind 127.0.0.1:0 slow_start:app
"""

from __future__ import annotations

import os
import threading

_held = [bytearray(int(os.environ.get("HOLD_MIB", "24")) << 20)]
threading.Timer(float(os.environ.get("RELEASE_S", "0.5")), _held.clear).start()


def app(environ, start_response):
    """GET /ints/N -> ints=N sum=S; anything else 404."""
    head, _, tail = environ.get("PATH_INFO", "/").rpartition("/")
    if head != "/ints" or not tail.isdigit():
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return [b"GET /ints/N\n"]
    n = int(tail)
    data = list(range(n))  # the allocation that is measured; MemoryError escapes
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [f"ints={n} sum={sum(data)}\n".encode()]
