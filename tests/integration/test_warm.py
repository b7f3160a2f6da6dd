"""The warm phase (probe.studies.warm) on a real server: a server that has served other
requests (tests/apps/query_alloc on gunicorn) takes less than a fresh one; the warm
answer is reported, and it holds on the plain command fed the same requests by hand.
"""

from __future__ import annotations

import json
import shlex
import sys

import pytest

from probe.defaults import WARM_REQUESTS
from probe.sizes import parse_size
from probe.studies.warm import fractions
from tests.integration.outside import statuses_in_turn
from tests.integration.test_own_service import APPS, probe_cli

pytestmark = pytest.mark.usefixtures("no_children_left")

PY = shlex.quote(sys.executable)
CAP = "128M"


def test_a_warm_server_takes_less_and_the_warm_answer_holds_by_hand(tmp_path, no_leftovers):
    """The default warm-up (20 requests, most of 5-25 % of n, one in five of 5-100 %)
    before the probe (bench/warm.py: 4 % below the cold answer at 160M; the test runs at
    128M). By hand, a plain server fed the same 20 sizes then n answers 200 at the warm
    critical n, and fails at the warm first failing n (or on the way)."""
    cmd = f"{PY} -m gunicorn --bind 127.0.0.1:{{port}} query_alloc:app"
    out = tmp_path / "doc.json"
    result = probe_cli(
        "max-n", "--cmd", cmd, "--chdir", str(APPS), "--request", "GET /alloc?size={n}",
        "--expect", "size={n} sum=", "--limit", CAP, "--precision", "0.02", "--no-check",
        "--out", str(out), pids=no_leftovers,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    doc = json.loads(out.read_text())
    warm = doc["warm"]
    assert warm["lower"] and doc["critical_n"] == warm["critical_n"], warm
    assert doc["critical_n"] < doc["cold_critical_n"], doc
    assert "the critical n above is the warm one" in result.output
    argv, cap = shlex.split(cmd), parse_size(CAP)

    def in_turn(n: int) -> list[int | None]:
        warmup = fractions(WARM_REQUESTS)
        paths = [f"/alloc?size={max(1, int(n * f))}" for f in warmup] + [f"/alloc?size={n}"]
        return statuses_in_turn(argv, paths, cap, cwd=str(APPS))

    assert in_turn(warm["critical_n"]) == [200] * (WARM_REQUESTS + 1)
    failing = in_turn(warm["first_failing_n"])
    assert failing[-1] == 500 and len(failing) <= WARM_REQUESTS + 1, failing
