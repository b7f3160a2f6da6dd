"""A Flask app that reads an uploaded CSV into rows of floats, as a pandas endpoint would.

Unlike app/ and the other apps here: n is the number of rows of a real CSV file in a
multipart upload (`POST /rows`, field `file`), not a number in the request. Werkzeug
spools a large upload to a temporary file; the app then holds every row as a list of
floats, which is what grows with n. It answers ``rows=N cols=C``; a file that is not a
CSV of numbers is a 422; a MemoryError escapes (a bare 500).

    cd tests/apps && gunicorn --bind 127.0.0.1:0 csv_app:app
"""

from __future__ import annotations

import csv
import io

from flask import Flask, request

app = Flask(__name__)


@app.post("/rows")
def rows():
    upload = request.files.get("file")
    if upload is None:
        return "send a CSV file in form field 'file'\n", 400
    reader = csv.reader(io.TextIOWrapper(upload.stream, encoding="utf-8", newline=""))
    header = next(reader, None)
    try:
        table = [[float(x) for x in row] for row in reader]  # MemoryError escapes
    except ValueError as exc:
        return f"not a CSV of numbers: {exc}\n", 422
    cols = len(header) if header else 0
    return f"rows={len(table)} cols={cols}\n"
