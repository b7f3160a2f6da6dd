"""When n is the request itself: an upload, a batch, an app's own size limit.

tests/apps/upload_app.py (Flask on gunicorn): `POST /upload` reads a multipart file whole
into memory, `POST /batch` parses n JSON rows into Python lists, and with UPLOAD_LIMIT
set the app refuses larger bodies itself (MAX_CONTENT_LENGTH, 413). At 96M the upload
boundary is about 58M bytes, the batch's about 0.2M rows. Each boundary is checked as
a user checks it, without probe: the command `probe serve` prints, under prlimit and
setarch -R, the body built by requests (not by probe) as its first request.
"""

from __future__ import annotations

import json

import pytest

from probe.servers.spec import ServerSpec
from probe.sizes import parse_size
from tests.integration.outside import first_answer, printed_command
from tests.integration.test_own_service import APPS, probe_cli

pytestmark = pytest.mark.usefixtures("no_children_left")

CAP = parse_size("96M")
ROW = [5.1, 3.5, 1.4, 0.2]


def search(tmp_path, pids, *args: str, env: dict | None = None) -> tuple[dict, str]:
    out = tmp_path / "doc.json"
    result = probe_cli(
        "max-n", "--app", "upload_app:app", "--chdir", "tests/apps", *args, "--limit", "96M",
        "--precision", "0.1", "--out", str(out), pids=pids, env=env,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    return json.loads(out.read_text()), result.output


def plain(path: str, **send):
    argv, env = printed_command(ServerSpec(app="upload_app:app"))
    return first_answer(argv, path, CAP, cwd=str(APPS), env=env, method="POST", **send)


def test_an_upload_held_in_memory_has_a_boundary_that_holds(tmp_path, no_leftovers):
    doc, _ = search(tmp_path, no_leftovers, "--upload", "file", "--request", "POST /upload",
                    "--expect", "size={n}\n")  # fmt: skip
    assert doc["workload"]["upload"] == "file" and doc["failure"]["kind"] == "memory_error"
    critical, failing = doc["critical_n"], doc["first_failing_n"]
    assert 10_000_000 < critical < failing, (critical, failing)
    ok = plain("/upload", files={"file": ("u.bin", b"x" * critical)})
    assert ok is not None and ok.text == f"size={critical}\n", ok
    bad = plain("/upload", files={"file": ("u.bin", b"x" * failing)})
    assert bad is not None and bad.status_code == 500, bad


def test_a_batch_of_n_rows_has_a_boundary_that_holds(tmp_path, no_leftovers):
    doc, _ = search(tmp_path, no_leftovers, "--json", '{"instances": {n*[5.1, 3.5, 1.4, 0.2]}}',
                    "--request", "POST /batch", "--expect", "rows={n} ")  # fmt: skip
    assert doc["workload"]["json"] == '{"instances": {n*[5.1, 3.5, 1.4, 0.2]}}'  # as written
    critical, failing = doc["critical_n"], doc["first_failing_n"]
    assert 50_000 < critical < failing, (critical, failing)
    ok = plain("/batch", json={"instances": [ROW] * critical})
    assert ok is not None and ok.text.startswith(f"rows={critical} "), ok
    bad = plain("/batch", json={"instances": [ROW] * failing})
    assert bad is not None and bad.status_code == 500, bad


def test_an_apps_own_limit_is_rejected_not_memory(tmp_path, no_leftovers):
    """UPLOAD_LIMIT=5000000: the app answers 413 before reading the body (probe reads
    that early answer); the search ends at the app's limit and says so in one line."""
    doc, out = search(tmp_path, no_leftovers, "--upload", "file", "--request", "POST /upload",
                      env={"UPLOAD_LIMIT": "5000000"})  # fmt: skip
    assert (doc["stop_reason"], doc["failure"]["kind"], doc["failure"]["status"]) == (
        "rejected", "rejected", 413)  # fmt: skip
    assert doc["critical_n"] < 5_000_000 <= doc["first_failing_n"] + 300  # multipart's overhead
    assert "app's own limit" in out and "memory did not run out below it" in out
