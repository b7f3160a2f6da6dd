"""A Flask app whose input is the request itself: an upload and a batch.

Unlike the other apps here, n is the body. ``POST /upload`` reads the file in form
field ``file`` whole into memory (werkzeug spools it, then ``.read()`` holds it all) and
answers ``size=N``. ``POST /batch`` parses a JSON body ``{"instances": [[...], ...]}``
into Python lists and answers ``rows=N``. ``POST /echo`` answers the body itself. A
MemoryError escapes (a bare 500, the traceback in the log). With ``UPLOAD_LIMIT=BYTES``
in its environment the app refuses larger bodies itself, by Flask's MAX_CONTENT_LENGTH
(413).

    cd tests/apps && gunicorn --bind 127.0.0.1:8000 upload_app:app
    head -c 1000000 /dev/zero | tr '\\0' x | curl -F file=@- localhost:8000/upload
"""

from __future__ import annotations

import os

from flask import Flask, request

app = Flask(__name__)
if os.environ.get("UPLOAD_LIMIT"):
    app.config["MAX_CONTENT_LENGTH"] = int(os.environ["UPLOAD_LIMIT"])


@app.post("/upload")
def upload():
    data = request.files["file"].read()  # the whole file in memory
    return f"size={len(data)}\n"


@app.post("/echo")
def echo():
    return request.get_data()  # the body, read whole, sent back whole (as httpbin's echo)


@app.post("/batch")
def batch():
    rows = request.get_json()["instances"]  # n rows as Python lists
    return f"rows={len(rows)} width={len(rows[0]) if rows else 0}\n"
