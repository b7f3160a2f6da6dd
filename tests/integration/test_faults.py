"""Faults a real run meets: killed workers, hanging requests, taken ports, tiny caps.

The oracle is driven directly against real servers so each fault can be injected at a
known moment; io_bounded with a short APP_IO_SLEEP_S is the "long request": it holds a
worker for a known time without using memory, so a kill or timeout lands mid-request.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator

from app.pricing import IO_PRICE_PER_AREA
from probe.measure.oracle import OracleConfig, ServerOracle
from probe.outcome import Kind
from probe.servers.pool import launch
from probe.servers.process import Server
from probe.servers.spec import ServerSpec
from probe.sizes import parse_size
from probe.workload.builtins import builtin
from probe.workload.seminar import PROBE_AREA

CAP = parse_size("512M")
PRICE = PROBE_AREA * IO_PRICE_PER_AREA


@contextlib.contextmanager
def io_oracle(srv: Server, timeout_s: float = 10.0) -> Iterator[ServerOracle]:
    """A warm oracle on the one running server `srv` (it restarts or waits for respawns
    as before); its own memory monitor is stopped at the end, the server by launch()."""
    ocfg = OracleConfig(builtin("io_bounded"), request_timeout_s=timeout_s)
    oracle = ServerOracle(ocfg, server=srv)
    try:
        yield oracle
    finally:
        oracle.monitor.stop()


def kill_later(pid: int, delay_s: float = 0.3) -> threading.Timer:
    """SIGKILL `pid` from another thread while the main thread waits on a request."""
    timer = threading.Timer(delay_s, os.kill, (pid, signal.SIGKILL))
    timer.start()
    return timer


def test_gunicorn_worker_killed_mid_request_is_killed_respawned_and_search_goes_on(
    no_leftovers,
):
    """A 1 s request gives a SIGKILL sent at 0.3 s a request to land in. The arbiter alone sees
    the death ("was sent SIGKILL! Perhaps out of memory?"), so the outcome must come
    from its log, name SIGKILL, and record the respawned worker, which must then
    answer the next probe; probe itself must not relaunch anything (restarts 0)."""
    spec = ServerSpec(server="gunicorn", limit_bytes=CAP, env={"APP_IO_SLEEP_S": "1"})
    with launch(spec) as srv, io_oracle(srv) as oracle:
        no_leftovers.extend(srv.pids())
        (victim,) = srv.worker_pids()
        kill_later(victim)  # fires during the request below
        probe = oracle(1)
        no_leftovers.extend(srv.pids())
        assert probe.outcome.kind is Kind.KILLED, probe
        assert probe.outcome.signal == signal.SIGKILL
        assert f"worker {victim} was sent SIGKILL" in probe.outcome.detail
        assert f"Worker (pid:{victim}) was sent SIGKILL! Perhaps out of memory?" in srv.log_text()
        assert probe.restarts == 0
        (new,) = probe.new_worker_pids
        assert new != victim and srv.worker_pids() == [new]
        again = oracle(1)
        assert again.ok, again
        assert oracle.last_records[0].body["pid"] == new
        assert oracle.last_records[0].body["price"] == PRICE


def test_flask_killed_mid_request_is_relaunched_recorded_and_search_goes_on(no_leftovers):
    """The dev server is one process: killing it kills the service, so probe must see
    the exit status itself (SIGKILL), relaunch it on the same port (restarts 1, a
    second start) and the next probe must be answered by the new process."""
    spec = ServerSpec(server="flask", limit_bytes=CAP, env={"APP_IO_SLEEP_S": "1"})
    with launch(spec) as srv, io_oracle(srv) as oracle:
        no_leftovers.extend(srv.pids())
        url, (victim,) = srv.url, srv.worker_pids()
        kill_later(victim)
        probe = oracle(1)
        no_leftovers.extend(srv.pids())
        assert probe.outcome.kind is Kind.KILLED, probe
        assert probe.outcome.signal == signal.SIGKILL
        assert f"flask pid {victim} killed by SIGKILL" in probe.outcome.detail
        assert probe.restarts == 1 and srv.starts == 2 and srv.url == url
        (new,) = probe.new_worker_pids
        assert new != victim
        again = oracle(1)
        assert again.ok and again.restarts == 0, again
        assert oracle.last_records[0].body["pid"] == new


def test_gunicorn_worker_timeout_is_a_timeout_not_a_memory_kill(no_leftovers):
    """--timeout 1 against a 5 s request: gunicorn 27 logs WORKER TIMEOUT, aborts the
    worker (SIGABRT; its handler answers 500 and exits) and boots another. A bare
    client view says http_error or connection_error, and gunicorn's SIGKILL stage would
    read like an OOM kill: the oracle must call it a timeout with SIGABRT."""
    spec = ServerSpec(server="gunicorn", limit_bytes=CAP, worker_timeout_s=1,
                      env={"APP_IO_SLEEP_S": "5"})  # fmt: skip
    with launch(spec) as srv, io_oracle(srv) as oracle:
        no_leftovers.extend(srv.pids())
        (victim,) = srv.worker_pids()
        probe = oracle(1)
        no_leftovers.extend(srv.pids())
        assert f"WORKER TIMEOUT (pid:{victim})" in srv.log_text()
        assert probe.outcome.kind is Kind.TIMEOUT, probe
        assert probe.outcome.signal == signal.SIGABRT
        assert "gunicorn worker timeout" in probe.outcome.detail
        assert probe.elapsed_s < 4  # gunicorn cut it, not the 5 s sleep or the client
        assert probe.new_worker_pids and victim not in probe.new_worker_pids


def test_client_side_timeout_is_a_timeout_and_the_server_stays(no_leftovers):
    """A 0.3 s client timeout against a 1.5 s request: nothing dies on the server side,
    so the outcome is the client's timeout (no signal), no restart, no new process."""
    spec = ServerSpec(server="flask", limit_bytes=CAP, env={"APP_IO_SLEEP_S": "1.5"})
    with launch(spec) as srv, io_oracle(srv, timeout_s=0.3) as oracle:
        no_leftovers.extend(srv.pids())
        before = srv.worker_pids()
        probe = oracle(1)
        assert probe.outcome.kind is Kind.TIMEOUT, probe
        assert probe.outcome.signal is None
        assert probe.outcome.detail == "no answer within 0.3 s"
        assert probe.restarts == 0 and probe.new_worker_pids == []
        assert srv.alive() and srv.worker_pids() == before


def run_cli(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "probe.cli", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


# The one line max-n logs as it begins (what it runs, or the --url it probes): a run now
# says so before it starts anything, so an error that follows is the line after it.
START_LINE = re.compile(r"^((gunicorn|flask), .*; app app\.wsgi:app|probing http\S+ \(.*\))$")


def error_lines(stderr: str) -> list[str]:
    """stderr without max-n's start line, which may come first (and only first)."""
    lines = stderr.splitlines()
    if lines and START_LINE.match(lines[0]):
        lines = lines[1:]
    assert not any(START_LINE.match(line) for line in lines), stderr
    return lines


def test_port_in_use_is_one_line_telling_to_pass_port_0(tmp_path):
    """A socket this test holds open makes the port busy for certain; probe must say so
    in one line with the fix, exit 3, and start nothing: with fresh servers (started one
    after another on that port, as for a command that fixes its own) and with one kept
    server (--no-fresh)."""
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        args = ("max-n", "--cold-only", "--recheck-tries", "2",
                "--fn", "cpu_bounded", "--limit", "512M", "--port", str(port),
                "--out", str(tmp_path / "r.json"))  # fmt: skip
        cold = run_cli(*args)
        warm = run_cli(*args, "--no-fresh")
    for run in (cold, warm):
        assert run.returncode == 3, run.stderr
        assert error_lines(run.stderr) == [
            f"Error: port {port} on 127.0.0.1 is in use; pass --port 0 to pick a free one"
        ], run.stderr


def test_server_that_cannot_start_under_the_cap_is_one_line_and_exit_3(tmp_path):
    """64M cannot hold Python + Flask + numpy: the one line must name the cap, how the
    server ended, the log's telling line and the fix; the log itself (with a traceback
    in it) only comes with --verbose, after that line."""
    args = ("max-n", "--fn", "cpu_bounded", "--limit", "64M", "--out", str(tmp_path / "r.json"))
    res = run_cli(*args)
    assert res.returncode == 3  # could not probe
    lines = error_lines(res.stderr)
    assert len(lines) == 1, res.stderr
    assert lines[0].startswith("Error: gunicorn failed to start under the 64M cap (exited with")
    assert lines[0].endswith(
        "; raise --limit: Python, Flask and numpy alone take about 120M of address space"
    )
    assert "Traceback" not in res.stderr + res.stdout
    verbose = run_cli("--verbose", *args)
    assert verbose.returncode == 3
    assert error_lines(verbose.stderr)[0] == lines[0]
    assert "server log (last lines):" in verbose.stderr


def test_unreachable_url_is_one_line_and_exit_3(tmp_path):
    """A port just released by this test has nothing listening: connection refused."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    res = run_cli("max-n", "--cold-only", "--fn", "cpu_bounded", "--url", f"http://127.0.0.1:{port}",
                  "--out", str(tmp_path / "r.json"))  # fmt: skip
    assert res.returncode == 3  # could not probe
    assert error_lines(res.stderr) == [
        f"Error: cannot reach http://127.0.0.1:{port}/health (ConnectionRefusedError: "
        "[Errno 111] Connection refused); start the server first or fix --url"
    ], res.stderr
