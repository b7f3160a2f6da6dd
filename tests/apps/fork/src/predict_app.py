"""The fork's Flask app: imports its predictor `from utils import ...`, as the students'
src/predict_app.py does; n is nowhere in the request.

    cd tests/apps/fork/src && gunicorn --bind 127.0.0.1:8000 predict_app:app
"""

from __future__ import annotations

import inspect

from flask import Flask, request
from utils import predict_cpu_bounded

app = Flask(__name__)


@app.get("/predict")
def predict():
    area = float(request.args.get("area", 50))
    n = inspect.signature(predict_cpu_bounded).parameters["n"].default
    return f"price={predict_cpu_bounded(area)} n={n}\n"
