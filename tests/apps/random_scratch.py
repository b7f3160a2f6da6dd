"""A WSGI app whose memory per request is random: the boundary moves from server to server.

Unlike the other apps here: each request builds a list of n ints beside a scratch buffer
of a random size up to SCRATCH_MAX_MIB (default 6) MiB, as a cache, a pool or a race whose
size differs from run to run would. The sizes come from a generator seeded at import by
SCRATCH_SEED (a test sets it per server start, so it knows each server's truth), else
from the OS: near its boundary the same n succeeds on one fresh server and fails on the
next. ``GET /ints/N`` answers ``ints=N scratch=BYTES``; a MemoryError escapes (a bare 500).

    cd tests/apps && SCRATCH_SEED=1 gunicorn --bind 127.0.0.1:0 random_scratch:app
"""

from __future__ import annotations

import os
import random

_rng = random.Random(int(os.environ["SCRATCH_SEED"]) if "SCRATCH_SEED" in os.environ else None)
_MAX = int(float(os.environ.get("SCRATCH_MAX_MIB", "6")) * (1 << 20))


def app(environ, start_response):
    """GET /ints/N -> ints=N scratch=BYTES; anything else 404."""
    head, _, tail = environ.get("PATH_INFO", "/").rpartition("/")
    if head != "/ints" or not tail.isdigit():
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return [b"GET /ints/N\n"]
    n = int(tail)
    scratch = bytearray(_rng.randrange(_MAX + 1))  # touched: it counts as RSS too
    data = list(range(n))  # the allocation that is measured; MemoryError escapes
    body = f"ints={len(data)} scratch={len(scratch)}\n".encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
