"""A WSGI model server that computes for a long time at import and per request.

Unlike the other apps here: it stands for a model server (an MLflow or scikit-learn
model loaded at import). At import it "loads its model" for IMPORT_S seconds of CPU
(default 20: a loop, not a sleep, as an import is work). `POST /predict` takes a JSON
batch ``{"rows": [[a, b, c, d], ...]}``, keeps the rows as Python lists of floats and
spends SECONDS_PER_MROW seconds of CPU per million rows (default 4) "predicting"; it
answers one prediction per row, ``{"predictions": [...]}``, so the answer grows with n
(one line per row: ``PREDICT_LINES=1`` writes each on its own line). A MemoryError
escapes (a bare 500).

    cd tests/apps && IMPORT_S=20 gunicorn --bind 127.0.0.1:0 slow_model:app
"""

from __future__ import annotations

import json
import os
import time


def _burn(seconds: float) -> None:
    end = time.process_time() + seconds
    x = 0
    while time.process_time() < end:
        x += 1


_burn(float(os.environ.get("IMPORT_S", "20")))  # the model's load
_PER_ROW_S = float(os.environ.get("SECONDS_PER_MROW", "4")) / 1e6
_SEP = "\n" if os.environ.get("PREDICT_LINES") else " "


def app(environ, start_response):
    """POST /predict with {"rows": [...]} -> {"predictions": [...]}; anything else 404."""
    if environ.get("PATH_INFO") != "/predict" or environ["REQUEST_METHOD"] != "POST":
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return [b"POST /predict\n"]
    size = int(environ.get("CONTENT_LENGTH") or 0)
    rows = json.loads(environ["wsgi.input"].read(size))["rows"]
    _burn(len(rows) * _PER_ROW_S)
    predictions = [round(sum(r) * 0.5, 3) for r in rows]
    body = ('{"predictions": [' + ("," + _SEP).join(map(str, predictions)) + "]}").encode()
    start_response("200 OK", [("Content-Type", "application/json"),
                              ("Content-Length", str(len(body)))])  # fmt: skip
    return [body]
