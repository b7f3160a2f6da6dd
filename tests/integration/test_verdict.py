"""Answers that are checked, not assumed (probe.search.verdict), on real servers.

- An app still setting itself up after the port accepts (tests/apps/slow_start: it
  holds 24 MiB for 0.5 s after import) answers a first request differently by when it
  comes: the re-check sees the outcome move, the failure rate over the two timings is
  estimated (probe.search.rate), and the n at which at most 5 % fail, reported as the
  critical n, holds on the plain command started by hand whichever way the first
  request comes; the first failing n above it fails as the port opens.
- A request the app refuses (a wrong path) stops the search at once with exit 3; n
  that never reaches the app stops it with exit 3 too, never a critical n.
(The warm phase: test_warm.py; real inputs, a CSV and an image: test_real_inputs.py.)
"""

from __future__ import annotations

import json
import shlex
import sys

import pytest

from probe.sizes import parse_size
from tests.integration.outside import first_request
from tests.integration.test_own_service import APPS, error_lines, probe_cli

pytestmark = pytest.mark.usefixtures("no_children_left")

PY = shlex.quote(sys.executable)
SLOW = f"{PY} -m gunicorn --bind 127.0.0.1:{{port}} slow_start:app"
CAP = "128M"


def test_an_outcome_that_moves_with_the_first_requests_timing_gives_a_rate_that_holds(
    tmp_path, no_leftovers
):
    out = tmp_path / "doc.json"
    result = probe_cli(
        "max-n", "--cold-only", "--cmd", SLOW, "--chdir", str(APPS), "--request", "GET /ints/{n}",
        "--expect", "ints={n} sum=", "--limit", CAP, "--precision", "0.1",
        "--out", str(out), pids=no_leftovers,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    doc = json.loads(out.read_text())
    assert doc["recheck"]["agrees"] is False, doc["recheck"]
    assert "not a fact for this server" in result.output
    r = doc["rate"]
    critical, failing = r["n_risk_lower"], doc["first_failing_n"]
    assert doc["critical_n"] == critical < failing and r["failures"] > 0
    assert {p["timing_s"] for p in r["probes"]} == {0.0, 1.0}
    argv, cap = shlex.split(SLOW), parse_size(CAP)
    for settle in (0.0, 1.0):  # as the port accepts, and a second later
        assert first_request(argv, f"/ints/{critical}", cap, cwd=str(APPS),
                             settle_s=settle) == 200, settle  # fmt: skip
    assert first_request(argv, f"/ints/{failing}", cap, cwd=str(APPS)) == 500


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--request", "GET /nowhere/{n}"], "the app refused the request at n="),
        (["--request", "GET /ints/7", "--n-env", "UNUSED_N"], "the app answered the same"),
        (
            ["--request", "GET /ints/7", "--n-env", "UNUSED_N", "--same-answer-ok"],
            "n never reached the app",
        ),
        (
            ["--app", "asgi_alloc:app", "--request", "GET /alloc?size={n}"],
            "an ASGI app cannot run as a WSGI --app: pass --cmd 'uvicorn --port {port} "
            "asgi_alloc:app'",
        ),
    ],
    ids=["wrong-path", "same-answer", "n-never-reaches-the-app", "asgi-as-wsgi-app"],
)
def test_an_answer_that_cannot_be_right_is_not_given(args, says, tmp_path, no_leftovers):
    """A 404 stops at the first round (HTTP 404 and the answer's text in the line), and
    so does an ASGI app given as a WSGI --app (its TypeError in the log: the hint); n
    in a variable the app never reads stops at the third success (the same answer at
    every n), or, the answer being declared right, once the successes span 64x with the
    server's memory flat. Exit 3 (could not probe), one line, no critical n."""
    out = tmp_path / "doc.json"
    server = [] if "--app" in args else ["--cmd", SLOW]
    result = probe_cli("max-n", "--cold-only", *server, "--chdir", str(APPS), *args,
                       "--limit", CAP, "--out", str(out), pids=no_leftovers)  # fmt: skip
    assert result.exit_code == 3, result.output
    [line] = error_lines(result.output)
    assert says in line and "Traceback" not in result.output, result.output
    doc = json.loads(out.read_text())
    if "refused" in says:
        assert "HTTP 404" in line and "GET /ints/N" in line, line
        assert len(doc["probes"]) <= 2  # one round
    assert doc["status"] != "complete"
