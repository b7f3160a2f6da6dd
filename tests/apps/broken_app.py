"""A WSGI app that cannot boot: its import raises, whatever n is.

It stands for a user's service with a missing dependency or a bad setting, so every
server probe starts dies while importing it. ``GET /work?size=N`` would answer if the
module ever imported.

    cd tests/apps && gunicorn --bind 127.0.0.1:0 broken_app:app   # fails at import
"""

from __future__ import annotations

raise RuntimeError("broken_app: the model file models/price.bin is missing")


def app(environ, start_response):  # pragma: no cover - never reached
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"ok\n"]
