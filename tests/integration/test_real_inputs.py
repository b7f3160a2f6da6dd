"""Real inputs sized by n: a CSV of n rows from a --content template, an image of n x n
pixels from a --body-fn generator. Each boundary is checked as a user checks it, without
probe: the plain command under prlimit and setarch -R, a real file (written by the csv
module, by Pillow) uploaded by requests as the first request.
"""

from __future__ import annotations

import csv
import io
import json
import shlex
import sys

import pytest

from probe.sizes import parse_size
from tests.integration.outside import first_answer
from tests.integration.test_own_service import APPS, probe_cli

pytestmark = pytest.mark.usefixtures("no_children_left")

CAP = "128M"


def gunicorn(app: str) -> str:
    """The plain start command of a tests/apps app, as a user writes it."""
    return f"{shlex.quote(sys.executable)} -m gunicorn --bind 127.0.0.1:{{port}} {app}"


def upload_by_hand(cmd: str, path: str, field: str, name: str, data: bytes, ctype: str):
    """The first answer of the plain command to a real file uploaded by requests."""
    return first_answer(shlex.split(cmd), path, parse_size(CAP), cwd=str(APPS), method="POST",
                        files={field: (name, data, ctype)})  # fmt: skip


def test_a_csv_of_n_rows_is_probed_in_rows_and_holds_with_a_real_csv(tmp_path, no_leftovers):
    """--upload with a --content template (a header and n rows of three floats) against
    tests/apps/csv_app (Flask: the rows become lists of floats): the answer is in rows,
    the body's bytes are recorded, and by hand a CSV file of the critical n rows, written
    by the csv module and uploaded by requests, answers 200; one of the first failing n
    rows fails."""
    cmd = gunicorn("csv_app:app")
    out = tmp_path / "doc.json"
    result = probe_cli(
        "max-n", "--cold-only", "--no-check", "--cmd", cmd, "--chdir", str(APPS),
        "--request", "POST /rows", "--upload", "file", "--content", r"a,b,c\n{n*1.5,2.5,3.5\n}",
        "--filename", "data.csv", "--content-type", "text/csv", "--n-unit", "rows",
        "--expect", "rows={n} cols=3", "--limit", CAP, "--precision", "0.1",
        "--out", str(out), pids=no_leftovers,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    doc = json.loads(out.read_text())
    critical, failing = doc["critical_n"], doc["first_failing_n"]
    assert f"critical n              {critical:,} rows" in result.output
    assert doc["workload"]["content"] == r"a,b,c\n{n*1.5,2.5,3.5\n}"  # as written
    assert doc["body_bytes_at_critical_n"] > 12 * critical  # "1.5,2.5,3.5\n" a row

    def upload(rows: int):
        text = io.StringIO()
        writer = csv.writer(text, lineterminator="\n")
        writer.writerow(["a", "b", "c"])
        writer.writerows([[1.5, 2.5, 3.5]] * rows)
        return upload_by_hand(cmd, "/rows", "file", "data.csv", text.getvalue().encode(),
                              "text/csv")  # fmt: skip

    ok = upload(critical)
    assert ok is not None and ok.text == f"rows={critical} cols=3\n", ok
    bad = upload(failing)
    assert bad is not None and bad.status_code == 500, bad


def test_an_image_of_n_by_n_pixels_from_a_body_function_holds_with_a_pillow_png(
    tmp_path, no_leftovers
):
    """README's image example with no --n-start: --body-fn bodies:png_held (a PNG of n x
    n pixels made by Pillow, held whole, in probe's body builder) uploaded to
    tests/apps/image_app (Pillow decodes and resizes it). The first sizes are learned
    from the body at small n (the default n_start, 100,000, is a 30 GB image); the
    answer is in pixels per side; by hand, a PNG of the critical n made by Pillow and
    uploaded by requests is resized (200), one of the first failing n fails (500)."""
    from PIL import Image

    cmd = gunicorn("image_app:app")
    out = tmp_path / "doc.json"
    result = probe_cli(
        "max-n", "--cold-only", "--no-check", "--cmd", cmd, "--chdir", str(APPS),
        "--request", "POST /resize", "--upload", "image", "--body-fn", "bodies:png_held",
        "--n-unit", "pixels per side", "--expect", "from {n}x{n}",
        "--limit", CAP, "--precision", "0.1", "--out", str(out), pids=no_leftovers,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    doc = json.loads(out.read_text())
    critical, failing = doc["critical_n"], doc["first_failing_n"]
    assert 1000 < critical < failing and f"{critical:,} pixels per side" in result.output
    assert 16 <= doc["first_sizes"]["n_start"] < critical / 4, doc["first_sizes"]
    assert doc["own_peak_rss_bytes"]["body_builder"] < doc["body_fn_cap_bytes"]
    assert "probe's own memory" in result.output

    def upload(n: int):
        png = io.BytesIO()
        Image.new("RGB", (n, n)).save(png, "PNG")
        return upload_by_hand(cmd, "/resize", "image", "image.png", png.getvalue(), "image/png")

    ok = upload(critical)
    assert ok is not None and ok.text == f"resized 64x64 from {critical}x{critical}\n", ok
    bad = upload(failing)
    assert bad is not None and bad.status_code == 500, bad


FASTAPI_ROW = {"area": 10.0, "rooms": 3}


def test_a_fastapi_batch_of_n_rows_is_probed_in_rows_and_holds_with_requests_json(
    tmp_path, no_leftovers
):
    """--json with a batch of n rows against tests/apps/fastapi_batch (pydantic validates
    every row) under uvicorn: the answer in rows; by hand, requests' json= of the critical
    n rows answers 200 on the plain command, of the first failing n a 500. The same app
    under gunicorn's uvicorn workers holds half that n, as a CI gate says in rows."""
    cmd = f"{shlex.quote(sys.executable)} -m uvicorn --port {{port}} fastapi_batch:app"
    template = '{"rows": {n*{"area": 10.0, "rooms": 3}}}'
    request = ["--request", "POST /predict", "--json", template, "--n-unit", "rows",
               "--expect", '"count":{n},', "--limit", CAP]  # fmt: skip
    out = tmp_path / "doc.json"
    result = probe_cli(
        "max-n", "--cold-only", "--no-check", "--cmd", cmd, "--chdir", str(APPS), *request,
        "--precision", "0.1", "--out", str(out), pids=no_leftovers,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    doc = json.loads(out.read_text())
    critical, failing = doc["critical_n"], doc["first_failing_n"]
    assert f"critical n              {critical:,} rows" in result.output
    assert "a batch of n rows" in result.output and "bytes per row" in result.output

    def post(rows: int):
        return first_answer(shlex.split(cmd), "/predict", parse_size(CAP), cwd=str(APPS),
                            method="POST", json={"rows": [FASTAPI_ROW] * rows})  # fmt: skip

    ok = post(critical)
    assert ok is not None and ok.json() == {"count": critical, "mean_area": 10.0}, ok
    bad = post(failing)
    assert bad is not None and bad.status_code == 500, bad

    workers = (f"{shlex.quote(sys.executable)} -m gunicorn -k uvicorn_worker.UvicornWorker "
               "--bind 127.0.0.1:{port} fastapi_batch:app")  # fmt: skip
    gate = probe_cli("max-n", "--cold-only", "--cmd", workers, "--chdir", str(APPS), *request,
                     "--require-n", str(critical // 2), pids=no_leftovers)  # fmt: skip
    assert gate.exit_code == 0, gate.output
    assert f"ok: n={critical // 2:,} rows succeeds" in gate.output, gate.output
