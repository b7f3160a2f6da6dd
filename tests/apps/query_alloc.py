"""A plain WSGI app that takes n in the query string and lets MemoryError escape.

Unlike app/: no Flask, no JSON, no error handler. ``GET /alloc?size=N`` builds a
pure-Python list of N ints and answers ``size=N sum=S`` as text. A MemoryError is
not caught, so the server answers a bare 500 and logs the traceback, which is what
most apps written without a memory cap in mind do.

    cd tests/apps && gunicorn --bind 127.0.0.1:0 query_alloc:app
"""

from __future__ import annotations

from urllib.parse import parse_qs


def app(environ, start_response):
    """GET / -> ok; GET /alloc?size=N -> size=N sum=S; anything else 4xx."""
    path = environ.get("PATH_INFO", "/")
    if environ["REQUEST_METHOD"] != "GET":
        return _text(start_response, "405 Method Not Allowed", "use GET\n", [("Allow", "GET")])
    if path == "/":
        return _text(start_response, "200 OK", "ok\n")
    if path != "/alloc":
        return _text(start_response, "404 Not Found", "endpoints: GET /, GET /alloc?size=N\n")
    values = parse_qs(environ.get("QUERY_STRING", "")).get("size", [])
    if len(values) != 1 or not values[0].isdigit():
        return _text(start_response, "400 Bad Request", "size must be one integer >= 0\n")
    size = int(values[0])
    data = list(range(size))  # the allocation that is measured; MemoryError escapes
    return _text(start_response, "200 OK", f"size={size} sum={sum(data)}\n")


def _text(start_response, status: str, text: str, headers: list | None = None) -> list[bytes]:
    body = text.encode()
    start_response(
        status,
        [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(body)))]
        + (headers or []),
    )
    return [body]
