"""A WSGI app that builds 64 MiB of read-only data when it is imported, and a list of n
ints per request: with gunicorn --preload its workers share the data (copy-on-write
pages, never written), without it each worker builds its own.

    cd tests/apps && gunicorn -w 2 --preload --bind 127.0.0.1:8000 shared_table:app
"""

from __future__ import annotations

import os
from urllib.parse import parse_qs

SHARED = b"\x01" * (int(os.environ.get("SHARED_MIB", "64")) << 20)  # resident, never written


def app(environ, start_response):
    values = parse_qs(environ.get("QUERY_STRING", "")).get("size", ["0"])
    size = int(values[0]) if values[0].isdigit() else 0
    data = list(range(size))
    body = f"size={size} sum={sum(data)} shared={len(SHARED)}\n".encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
