"""Process-free parts of the harness: results files, outcomes, gunicorn log decoding."""

from __future__ import annotations

import json
import signal

import pytest

from probe.documents import store
from probe.outcome import Kind, Outcome, worst
from probe.servers.kinds import parse_worker_events
from probe.servers.process import capped_command, decode_status, plain_command
from probe.servers.spec import ServerSpec

GUNICORN_LOG = """\
[2026-11-26 00:43:46 +0000] [7346] [INFO] Booting worker with pid: 7347
[2026-11-26 00:43:50] [7346] [ERROR] Worker (pid:7347) was sent SIGKILL! Perhaps out of memory?
[2026-11-26 00:43:50 +0000] [7346] [INFO] Booting worker with pid: 7400
[2026-11-26 00:44:10 +0000] [7346] [CRITICAL] WORKER TIMEOUT (pid:7400)
[2026-11-26 00:44:10 +0000] [7346] [WARNING] Worker (pid:7400) was sent SIGABRT!
[2026-11-26 00:44:11 +0000] [7346] [ERROR] Worker (pid:7401) exited with code 3.
"""


def test_gunicorn_log_decodes_into_worker_events():
    """Lines copied from gunicorn 27's arbiter: a boot, an OOM-style kill, a respawn, a
    timeout followed by its SIGABRT, a boot failure; the order must survive."""
    events = parse_worker_events(GUNICORN_LOG)
    assert [(e.pid, e.kind) for e in events] == [
        (7347, "booted"),
        (7347, "signaled"),
        (7400, "booted"),
        (7400, "timeout"),
        (7400, "signaled"),
        (7401, "exited"),
    ]
    assert events[1].signal == signal.SIGKILL
    assert events[4].signal == signal.SIGABRT
    assert events[5].exit_code == 3
    assert "SIGKILL" in events[1].describe()


@pytest.mark.parametrize(
    ("code", "text"),
    [(None, "running"), (0, "exited with code 0"), (3, "exited with code 3"),
     (-9, "killed by SIGKILL"), (-6, "killed by SIGABRT")],
)  # fmt: skip
def test_decode_status_reads_popen_returncodes_like_waitpid(code, text):
    """Popen encodes 'killed by signal s' as -s; both kinds and 'still running' appear."""
    assert decode_status(code) == text


def test_commands_bind_loopback_and_wrap_the_cap_without_a_shell():
    """The cap and the layout go through probe.servers.capexec (argv, no shell), the server's argv
    after its `--`; the fixed layout is the default; the rss kind sets no rlimit. The same
    start by hand is prlimit and setarch -R around the same argv."""
    spec = ServerSpec(server="gunicorn", limit_bytes=1 << 30, workers=3)
    inner = spec.argv(8123)
    argv = capped_command(spec.rlimit_as_bytes, inner)
    assert argv[1:6] == ["-m", "probe.servers.capexec", str(1 << 30), "--layout", "fixed"]
    assert argv[argv.index("--") + 1 :] == inner
    assert "127.0.0.1:8123" in argv and argv[argv.index("--workers") + 1] == "3"
    assert capped_command(None, inner, "random")[3:6] == ["none", "--layout", "random"]
    rss = ServerSpec(server="flask", limit_bytes=1 << 30, limit_kind="rss")
    assert capped_command(rss.rlimit_as_bytes, rss.argv(1))[3] == "none"
    assert plain_command(1 << 30, inner) == ["prlimit", f"--as={1 << 30}", "setarch", "-R", *inner]
    assert plain_command(None, inner, "random") == inner
    assert rss.watchdog_bytes == 1 << 30


def test_worst_outcome_prefers_the_most_telling_kind():
    """One killed request among ten memory errors and an ok: the kill explains the probe."""
    outs = [Outcome(Kind.OK), Outcome(Kind.MEMORY_ERROR, 507), Outcome(Kind.KILLED, None, "", 9)]
    assert worst(outs).kind is Kind.KILLED
    assert worst([Outcome(Kind.OK)]).ok
    assert Outcome.from_dict(outs[2].to_dict()) == outs[2]


def test_results_round_trip_and_atomic_write(tmp_path):
    """A written document loads back equal; no temp file is left beside it."""
    doc = store.new_document("max-n", critical_n=123)
    path = store.write_atomic(tmp_path / "sub" / "doc.json", doc)
    assert store.load(path, kind="max-n") == doc
    assert [p.name for p in path.parent.iterdir()] == ["doc.json"]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "not valid JSON"),
        ("[1, 2]", "not a probe results document"),
        (json.dumps({"schema_version": 99, "kind": "max-n"}), "schema_version 99 is newer"),
        (json.dumps({"schema_version": 99}), "not a probe results document"),
    ],
)
def test_results_loader_refuses_corrupt_and_future_files(tmp_path, content, message):
    """Truncated JSON, a foreign document and a newer schema each get a message that
    names the file and the fix, never a traceback from json."""
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(store.ResultsError, match=message):
        store.load(path)


@pytest.mark.parametrize(("state", "want"), [("S", True), ("R", False), (None, None)])
def test_readiness_without_proc_syscall_reads_the_process_state(monkeypatch, state, want):
    """A kernel without /proc/PID/syscall (user-mode Linux, gVisor: every server was
    'still busy after 30 s' there): a process asleep counts as waiting, one running does
    not, one gone is gone."""
    import builtins

    from probe.servers import readiness

    real_open = builtins.open

    def no_syscall(path, *args, **kwargs):
        if str(path).endswith("/syscall"):
            raise FileNotFoundError(path)
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", no_syscall)
    monkeypatch.setattr(readiness, "_state", lambda pid: state)
    assert readiness.waiting(12345) is want
