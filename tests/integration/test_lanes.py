"""`probe max-n --lanes 2` on real servers: two capped processes probed side by side.

The answer must hold on both processes (and on a fresh one), every probe must say
which process answered it, the confirmation must cross to the other process, and
nothing may be left running.
"""

from __future__ import annotations

import signal

import psutil
import pytest
from click.testing import CliRunner

from probe import maxn
from probe.cli import main
from probe.search import SearchConfig
from probe.server import ServerSpec
from tests.integration.test_interrupts import (
    MiB,
    assert_clean_exit,
    assert_results_keep_reported_probes,
    reap_leftovers,  # noqa: F401 - the fixture kills what a failing Run left behind
)
from tests.integration.test_interrupts import max_n as max_n_run
from tests.integration.test_maxn import CAP, assert_holds_on_a_fresh_server, no_servers_left  # noqa: F401


def two_lane_search(fn: str, out) -> dict:
    cfg = maxn.MaxNConfig(
        fn=fn,
        spec=ServerSpec(server="gunicorn", limit_bytes=CAP),
        search=SearchConfig(limit_bytes=CAP, lanes=2),
        timeout_s=10.0,
    )
    return maxn.run(cfg, out, log=lambda line: None)


def ok_lanes(doc: dict, n: int) -> set[int]:
    return {p["lane"] for p in doc["probes"] if p["n"] == n and p["outcome"] == "ok"}


@pytest.mark.parametrize("fn", ["cpu_multithread", "cpu_bounded"])
def test_two_lanes_find_a_boundary_that_holds_on_both_processes(fn, tmp_path):
    doc = two_lane_search(fn, tmp_path / "doc.json")
    assert doc["lanes"] == 2 and doc["server_starts"] == 2
    assert {p["lane"] for p in doc["probes"]} == {0, 1}
    # The critical n succeeded on both processes; no process's latest probe of it failed.
    assert ok_lanes(doc, doc["critical_n"]) == {0, 1}
    for lane in (0, 1):
        mine = [p for p in doc["probes"] if p["n"] == doc["critical_n"] and p["lane"] == lane]
        assert mine[-1]["outcome"] == "ok"
    fails = [p for p in doc["probes"] if p["n"] == doc["first_failing_n"]]
    assert sum(p["outcome"] == "memory_error" for p in fails) >= 2
    # numpy repeats to the element on every server; the list to about 1 % (test_maxn).
    assert_holds_on_a_fresh_server(fn, doc, jitter=0.0 if fn == "cpu_multithread" else 0.01)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--url", "http://127.0.0.1:9"], "a --url server is one server"),
        (["--port", "8765"], "cannot share --port 8765"),
    ],
)
def test_lanes_that_cannot_work_are_refused_with_the_fix(extra, message):
    res = CliRunner().invoke(
        main, ["max-n", "--fn", "cpu_bounded", "--limit", "256M", "--lanes", "2", *extra]
    )
    assert res.exit_code == 2, res.output
    assert message in res.output and "Traceback" not in res.output


def test_ctrl_c_while_both_lanes_build_lists_stops_both_servers(tmp_path):
    """SIGINT once both workers are past 200 MiB (both lanes mid-request): exit 130, both
    servers gone, every reported probe in the file."""
    run, out = max_n_run(tmp_path, "--lanes", "2")
    run.wait_line(r"^started .* \(lane 1\)$")

    def both_busy() -> bool:
        return len([pid for pid in run.servers() if worker_rss_of(run, pid) > 200 * MiB]) >= 2

    run.wait_until(both_busy, what="two workers past 200 MiB")
    run.proc.send_signal(signal.SIGINT)
    assert_clean_exit(run, signal.SIGINT)
    assert len(run.servers()) >= 4  # two arbiters and two workers were seen
    assert_results_keep_reported_probes(out, run, signal.SIGINT)


def worker_rss_of(run, pid: int) -> int:
    try:
        return run.procs[pid].memory_info().rss
    except (KeyError, psutil.Error):
        return 0
