"""A plain WSGI app that hangs above some n, as a service stuck on a lock or a slow
backend does: memory is not what fails.

``GET /sleep?s=N`` answers ``slept N`` at once for N <= 150000 and sleeps for a minute
(far past any client timeout a test uses) above; nothing is allocated.

    cd tests/apps && gunicorn --bind 127.0.0.1:0 slow_app:app
"""

from __future__ import annotations

import time
from urllib.parse import parse_qs

HANG_ABOVE = 150_000  # n above this hangs (between the search's first two probes)
HANG_S = 60.0


def app(environ, start_response):
    """GET /sleep?s=N -> 'slept N' (at once up to HANG_ABOVE, else after HANG_S)."""
    if environ.get("PATH_INFO", "/") != "/sleep":
        return _text(start_response, "404 Not Found", "endpoint: GET /sleep?s=N\n")
    values = parse_qs(environ.get("QUERY_STRING", "")).get("s", [])
    if len(values) != 1 or not values[0].isdigit():
        return _text(start_response, "400 Bad Request", "s must be one integer >= 0\n")
    n = int(values[0])
    if n > HANG_ABOVE:
        time.sleep(HANG_S)
    return _text(start_response, "200 OK", f"slept {n}\n")


def _text(start_response, status: str, text: str) -> list[bytes]:
    body = text.encode()
    start_response(
        status, [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(body)))]
    )
    return [body]
