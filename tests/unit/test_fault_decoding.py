"""Process-free fault decoding: gunicorn's timeout vs a kill, start-failure causes, crash loops."""

from __future__ import annotations

import signal

import pytest

from app.predictors import IO_PRICE_PER_AREA, predict_io_bounded
from app.pricing import expected_price, price_matches
from probe.outcome import Kind, Outcome
from probe.servers.kinds import outcome_from_events, parse_worker_events
from probe.servers.logs import last_cause
from probe.servers.process import Server
from probe.servers.spec import ServerSpec

CLIENT = Outcome(Kind.CONNECTION_ERROR, None, "RemoteDisconnected")

# A worker stuck in C code ignores SIGABRT until gunicorn's next pass SIGKILLs it; that
# line is word for word the one an OOM kill leaves (gunicorn 27, arbiter.murder_workers).
TIMEOUT_THEN_SIGKILL = """\
[2026-11-26 00:53:28 +0000] [22365] [CRITICAL] WORKER TIMEOUT (pid:22366)
[2026-11-26 00:53:29 +0000] [22365] [ERROR] Worker (pid:22366) was sent SIGKILL! Perhaps out of memory?
[2026-11-26 00:53:29 +0000] [22373] [INFO] Booting worker with pid: 22373
"""  # noqa: E501
OOM_KILL = """\
[2026-11-26 00:53:37 +0000] [22485] [ERROR] Worker (pid:22488) was sent SIGKILL! Perhaps out of memory?
[2026-11-26 00:53:37 +0000] [22496] [INFO] Booting worker with pid: 22496
"""  # noqa: E501


def test_a_timeout_line_makes_the_following_sigkill_a_timeout():
    """Same SIGKILL line in both logs: only the WORKER TIMEOUT before it tells them apart."""
    timeout = outcome_from_events(parse_worker_events(TIMEOUT_THEN_SIGKILL), CLIENT)
    assert timeout.kind is Kind.TIMEOUT and timeout.signal == signal.SIGABRT
    assert "worker 22366 passed gunicorn's --timeout" in timeout.detail
    kill = outcome_from_events(parse_worker_events(OOM_KILL), CLIENT)
    assert kill.kind is Kind.KILLED and kill.signal == signal.SIGKILL
    assert kill.detail == "worker 22488 was sent SIGKILL; client saw: RemoteDisconnected"


def test_boots_alone_say_nothing_and_an_exit_code_is_a_connection_error():
    """A respawn without a logged death leaves the client's view; exit code 1 is no signal."""
    boot = "[x] [1] [INFO] Booting worker with pid: 5\n"
    assert outcome_from_events(parse_worker_events(boot), CLIENT) is None
    exited = outcome_from_events(
        parse_worker_events("[x] [1] [ERROR] Worker (pid:5) exited with code 1.\n"), CLIENT
    )
    assert exited.kind is Kind.CONNECTION_ERROR and exited.signal is None


@pytest.mark.parametrize(
    ("log", "cause"),
    [
        # numpy's import error under a 64M cap: the traceback ends in the shared object
        ("Traceback (most recent call last):\n  File \"x.py\", line 1\nImportError: boom\n\n"
         "Original error was: libopenblas.so: failed to map segment from shared object\n\n"
         "[t] [1] [INFO] Worker exiting (pid: 2)\n[t] [1] [ERROR] Reason: Worker failed to boot.\n",
         "Original error was: libopenblas.so: failed to map segment from shared object"),
        ("OpenBLAS error: Memory allocation still failed after 10 retries, giving up.\n"
         "[t] [1] [ERROR] Worker (pid:3) exited with code 1.\n",
         "OpenBLAS error: Memory allocation still failed after 10 retries, giving up."),
        ("[t] [1] [INFO] only gunicorn's own lines\n", ""),
        ("x" * 300 + "\n", "x" * 117 + "..."),
    ],
)  # fmt: skip
def test_last_cause_is_the_last_line_that_says_why(log, cause):
    """Real shapes of start failures: the line a user needs is after the traceback and
    before gunicorn's bracketed shutdown lines; a huge line is cut to 120 characters."""
    assert last_cause(log) == cause


class _NotAProcess:
    """What `Server.spawn` gets instead of a Popen: no process starts."""

    def __init__(self, argv, **kwargs):
        self.argv = argv
        self.pid = None


class _NoReaper:
    """No process to watch, so no reaper to start."""

    def watch(self, pgid) -> None:
        pass

    def forget(self, pgid) -> None:
        pass


def test_gunicorn_crash_loop_is_detected_after_repeated_worker_deaths(monkeypatch):
    """gunicorn respawns a worker that dies after booting forever (seen at a 100M cap);
    three deaths since the spawn mean it will not come up, and deaths an earlier run of
    the same Server logged (a restart appends to one log) do not count. Popen is
    replaced (and the reaper with it), so `spawn` records where the log stood without
    starting anything; three
    deaths before the spawn first show the detector does fire on them."""
    monkeypatch.setattr("probe.servers.process.subprocess.Popen", _NotAProcess)
    monkeypatch.setattr("probe.servers.process.REAPER", _NoReaper())
    srv = Server(ServerSpec(server="gunicorn", limit_bytes=100 << 20))
    try:
        death = "[t] [1] [ERROR] Worker (pid:{}) exited with code 1.\n"
        with open(srv.log_path, "a") as fh:
            fh.write(death.format(1) + death.format(2) + death.format(3))
        assert srv._crash_looping()  # no spawn yet: the whole log is this run's
        srv.spawn()
        assert not srv._crash_looping()  # three deaths, all before the spawn
        with open(srv.log_path, "a") as fh:
            fh.write(death.format(4) + death.format(5))
        assert not srv._crash_looping()  # five in the log, two since the spawn
        with open(srv.log_path, "a") as fh:
            fh.write(death.format(6))
        assert srv._crash_looping()
    finally:
        srv.proc = None  # nothing to stop: no process was started
        srv.close()


def test_io_bounded_price_check_matches_the_app():
    """The price check and the predictor are separate code: they must agree."""
    assert expected_price("io_bounded", 10, 1) == predict_io_bounded(10, sleep_s=0)
    assert expected_price("io_bounded", 10, 1) == 10 * IO_PRICE_PER_AREA
    assert expected_price("cpu_bounded", 10, 100_001) == 500_000


@pytest.mark.parametrize(
    ("fn", "price", "ok"),
    [
        ("cpu_bounded", 1_258_477_255, True),
        ("cpu_bounded", 1_258_477_254, False),  # the list's sum is exact: no slack
        ("cpu_multithread", 1_258_477_254, True),  # what numpy really answered at this n
        ("cpu_multithread", 1_258_477_256, True),
        ("cpu_multithread", 1_258_477_253, False),  # two units off is a wrong answer
        ("cpu_multithread", True, False),  # a bool is not a price
        ("cpu_multithread", None, False),
    ],
)
def test_price_check_allows_numpy_one_rounding_step_and_nothing_else(fn, price, ok):
    """n = 251,695,452 at area 10: numpy's float64 mean came out 125847725.49999999, so
    int() gave 1 less than the exact 1258477255 and a correct answer was called wrong."""
    assert price_matches(price, 10, 251_695_452, fn) is ok
