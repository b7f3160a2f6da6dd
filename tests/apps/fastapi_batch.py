"""A FastAPI batch endpoint: n is the number of rows in a JSON body, validated by pydantic.

Unlike app/ and the other apps here: n is the length of a list in the body
(`POST /predict`, ``{"rows": [{"area": 10.0, "rooms": 3}, ...]}``), parsed and validated
into n pydantic models, the way a batch-prediction service takes its input. It answers
``{"count": N, "mean_area": A}``. A MemoryError during parsing or validation is not
caught: FastAPI (Starlette's error middleware) answers a bare 500 and uvicorn logs it.

    cd tests/apps && uvicorn --port 8000 fastapi_batch:app
    cd tests/apps && gunicorn -k uvicorn_worker.UvicornWorker -b 127.0.0.1:8000 fastapi_batch:app
"""

from __future__ import annotations

from fastapi import FastAPI
from pydantic import BaseModel


class House(BaseModel):
    area: float
    rooms: int


class Batch(BaseModel):
    rows: list[House]


app = FastAPI()


@app.post("/predict")
def predict(batch: Batch) -> dict:
    count = len(batch.rows)
    mean = sum(h.area for h in batch.rows) / count if count else 0.0
    return {"count": count, "mean_area": mean}
