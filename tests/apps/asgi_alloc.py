"""An ASGI app (Starlette) that takes n in the query string and lets MemoryError escape.

Unlike the WSGI apps here: async, served by uvicorn (or gunicorn's uvicorn workers).
``GET /alloc?size=N`` builds a pure-Python list of N ints in a sync endpoint (Starlette
runs it in its thread pool) and answers ``size=N sum=S``. A MemoryError is not caught:
Starlette answers a bare 500 and uvicorn logs the traceback.

    cd tests/apps && uvicorn --port 8000 asgi_alloc:app
"""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route


def alloc(request):
    raw = request.query_params.get("size", "")
    if not raw.isdigit():
        return PlainTextResponse("size must be one integer >= 0\n", status_code=400)
    size = int(raw)
    data = list(range(size))  # the allocation that is measured; MemoryError escapes
    return PlainTextResponse(f"size={size} sum={sum(data)}\n")


def index(request):
    return PlainTextResponse("ok\n")


app = Starlette(routes=[Route("/", index), Route("/alloc", alloc)])
