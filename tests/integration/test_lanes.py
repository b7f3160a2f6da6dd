"""`probe max-n --lanes 2` on real servers: two capped processes probed side by side.

Cold (the default): each lane is a pool of fresh servers, one per probe. The answer
must hold on both lanes (and on a fresh server), every probe must say which lane and
which process answered it, the confirmation must cross to the other lane, and nothing
may be left running.
"""

from __future__ import annotations

import signal

import psutil
import pytest
from click.testing import CliRunner

from probe.cli.app import main
from probe.search.critical import SearchConfig
from probe.servers.spec import ServerSpec
from probe.studies import maxn, question
from tests.integration.test_interrupts import (
    MiB,
    assert_clean_exit,
    assert_results_keep_reported_probes,
    reap_leftovers,  # noqa: F401 - the fixture kills what a failing Run left behind
)
from tests.integration.test_interrupts import max_n as max_n_run
from tests.integration.test_maxn import CAP, assert_holds_on_a_fresh_server, no_servers_left  # noqa: F401


def two_lane_search(fn: str, out) -> dict:
    """Cold, max-n's default: each lane a pool of fresh servers, one per probe. The
    library's confirm default ("both") re-probes both ends of the answer."""
    cfg = question.for_fn(
        fn,
        ServerSpec(server="gunicorn", limit_bytes=CAP),
        search=SearchConfig(limit_bytes=CAP, lanes=2),
        request_timeout_s=10.0,
        check=False,  # the re-check is tested in test_verdict.py
    )
    return maxn.run(cfg, out, log=lambda line: None)


def ok_lanes(doc: dict, n: int) -> set[int]:
    return {p["lane"] for p in doc["probes"] if p["n"] == n and p["outcome"] == "ok"}


@pytest.mark.parametrize("fn", ["cpu_multithread", "cpu_bounded"])
def test_two_lanes_find_a_boundary_that_holds_on_both_processes(fn, tmp_path):
    doc = two_lane_search(fn, tmp_path / "doc.json")
    # Restated for cold servers: a lane is no longer one process but a pool of fresh
    # ones, so there is one server start per probe (not one per lane), and each probe
    # names the lane and the one worker that answered it, a different worker each time.
    assert doc["lanes"] == 2 and doc["fresh"] is True
    assert doc["server_starts"] == len(doc["probes"])
    assert {p["lane"] for p in doc["probes"]} == {0, 1}
    workers = [p["serving_pids"] for p in doc["probes"]]
    assert all(len(w) == 1 for w in workers)
    assert len({w[0] for w in workers}) == len(workers)
    # The critical n succeeded on both lanes; no lane's latest probe of it failed.
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
        # A --port is kept only by warm servers (cold ones need free ports, refused
        # before lanes are looked at), so two lanes on one port are a --no-fresh matter.
        (["--port", "8765", "--no-fresh"], "cannot share --port 8765"),
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
    servers (and the spares booting behind them) gone, every reported probe in the file.
    Cold servers print no "started" line any more; the two busy workers are the moment."""
    run, out = max_n_run(tmp_path, "--lanes", "2")
    run.wait_line(r"a fresh server per probe, 2 lanes; app app\.wsgi:app$")

    def busy() -> list[int]:
        return [pid for pid in run.servers() if worker_rss_of(run, pid) > 200 * MiB]

    run.wait_until(lambda: len(busy()) >= 2, what="two workers past 200 MiB")
    both = busy()
    run.proc.send_signal(signal.SIGINT)
    assert_clean_exit(run, signal.SIGINT)
    assert len(both) >= 2 and len(run.servers()) >= 4  # two arbiters and two workers
    assert_results_keep_reported_probes(out, run, signal.SIGINT)


def worker_rss_of(run, pid: int) -> int:
    try:
        return run.procs[pid].memory_info().rss
    except (KeyError, psutil.Error):
        return 0
