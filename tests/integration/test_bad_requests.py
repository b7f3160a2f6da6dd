"""The unit table of malformed requests, replayed over real sockets to real servers.

The test client skips the HTTP layer, where real servers differ (werkzeug vs gunicorn's
parser, how a 413 cuts a body short): every case must still be a 4xx JSON naming the
problem, and the same worker must keep serving afterwards.
"""

from __future__ import annotations

import pytest
import requests

from probe.servers.pool import launch
from probe.servers.spec import ServerSpec
from probe.sizes import parse_size
from tests.unit.test_app import GOOD, MALFORMED, MAX_N

TOKEN = "s3cret-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
# The unit table's limits, so its exact messages hold on a real server too.
ENV = {"APP_MAX_N": str(MAX_N), "APP_DEFAULT_N": "1000", "APP_TOKEN": TOKEN}


def send(url: str, kwargs: dict, headers: dict | None = None) -> requests.Response:
    """Translate a Flask test-client request (json= or data= + content_type=) to requests."""
    headers = dict(AUTH if headers is None else headers)
    if "json" in kwargs:
        return requests.post(f"{url}/predict", json=kwargs["json"], headers=headers, timeout=10)
    if kwargs.get("content_type"):
        headers["Content-Type"] = kwargs["content_type"]
    data = kwargs["data"]
    return requests.post(
        f"{url}/predict",
        data=data.encode() if isinstance(data, str) else data,
        headers=headers,
        timeout=10,
    )


@pytest.mark.parametrize("server", ["flask", "gunicorn"])
def test_every_malformed_request_is_a_json_4xx_and_the_server_keeps_serving(server, no_leftovers):
    """All rows of tests/unit/test_app.py's table (not JSON, wrong content type, missing
    fields, wrong types, bools, NaN, zero, negatives, huge numbers, unknown fn), plus an
    oversized body and a missing or wrong token, sent with a valid token where auth is
    not the point. Then the good request must be priced by the same process."""
    spec = ServerSpec(server=server, limit_bytes=parse_size("512M"), env=ENV)
    with launch(spec) as srv:
        no_leftovers.extend(srv.pids())
        workers = srv.worker_pids()
        failures = []
        cases = [(name, kw, status, {"error": msg, "field": field}, None)
                 for name, kw, status, field, msg in MALFORMED]  # fmt: skip
        cases += [
            ("oversized", {"json": {**GOOD, "pad": "x" * 5000}}, 413, None, None),
            ("no-token", {"json": GOOD}, 401, None, {}),
            ("wrong-token", {"json": GOOD}, 401, None, {"Authorization": f"Bearer {TOKEN}x"}),
        ]
        for name, kwargs, status, want, headers in cases:
            resp = send(srv.url, kwargs, headers)
            got = resp.json() if resp.headers.get("Content-Type") == "application/json" else None
            if resp.status_code != status or got is None or (want and got != want):
                failures.append((name, resp.status_code, resp.text[:200]))
            elif want is None:
                assert set(got) == {"error", "field"} and got["error"], (name, got)
        assert not failures, failures
        assert len(cases) >= 20
        ok = requests.post(f"{srv.url}/predict", json=GOOD, headers=AUTH, timeout=10)
        assert ok.status_code == 200 and ok.json()["price"] == 24_975
        assert ok.json()["pid"] in workers and srv.worker_pids() == workers
        assert "Traceback" not in srv.log_text()
