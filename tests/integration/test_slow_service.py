"""A service that computes for a long time while it starts, and answers one line per row
(tests/apps/slow_model.py): waited for while it works, refused only when idle, and its
growing answer is no "same answer at every n"."""

from __future__ import annotations

import json
import os
import shlex
import sys
import time

import pytest

from probe.servers.process import Server, ServerStartError
from probe.servers.spec import from_command
from tests.integration.test_own_service import APPS, error_lines, probe_cli

pytestmark = pytest.mark.usefixtures("no_children_left")

PY = shlex.quote(sys.executable)
CMD = f"{PY} -m gunicorn --bind 127.0.0.1:{{port}} slow_model:app"


def test_a_start_that_computes_past_the_start_timeout_is_waited_for(no_leftovers):
    """IMPORT_S=3 of CPU at import against --start-timeout 1: the timeout counts idle
    time, so the server starts (after about 3 s); one that sleeps is refused after 1 s
    idle, naming --start-timeout."""
    spec = from_command(CMD, limit_bytes=256 << 20, chdir=str(APPS), ready_timeout_s=1.0)
    server = Server(spec, {"IMPORT_S": "3"})
    t0 = time.monotonic()
    try:
        server.start()
        no_leftovers += server.pids()
        assert time.monotonic() - t0 > 2.5
    finally:
        server.close()
    sleeper = from_command(f"{PY} -c 'import time; time.sleep(60)' {{port}}",
                           chdir=str(APPS), ready_timeout_s=1.0)  # fmt: skip
    t0 = time.monotonic()
    with pytest.raises(ServerStartError) as excinfo:
        Server(sleeper, {}).start()
    assert time.monotonic() - t0 < 10
    assert "without using CPU" in str(excinfo.value)
    assert "raise --start-timeout" in str(excinfo.value)


def test_an_answer_of_one_line_per_row_is_not_a_same_answer_refusal(tmp_path, no_leftovers):
    """The model's answer begins alike at every n ('{"predictions": [5.0,' ...) and no
    --expect names n; whole answers differ in length, so the run answers (before, only
    the first 300 characters were compared, and an MLflow model was refused so)."""
    out = tmp_path / "doc.json"
    env = {"IMPORT_S": "0", "SECONDS_PER_MROW": "0", "PREDICT_LINES": "1"}
    result = probe_cli(
        "max-n", "--cold-only", "--no-check", "--cmd", CMD, "--chdir", str(APPS),
        "--request", "POST /predict", "--json", '{"rows": {n*[1.0, 2.0, 3.0, 4.0]}}',
        "--n-unit", "rows", "--limit", "160M", "--precision", "0.1", "--out", str(out),
        pids=no_leftovers, env={**os.environ, **env},
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert not error_lines(result.output)
    doc = json.loads(out.read_text())
    assert 10_000 < doc["critical_n"] < doc["first_failing_n"], doc["critical_n"]
