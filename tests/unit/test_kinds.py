"""Server kinds (probe.servers.kinds) and the cap wrapper (probe.servers.capexec) without
processes: the argv each kind runs, a user's command read as its kind, which processes
serve, readiness's reading of /proc's tables, and capexec's own parsing.

Nothing here starts a process: argv are built and compared, logs are strings, the
process tree is fake objects with a pid and a ppid, and capexec.main runs with its
exec, rlimit and layout calls replaced.
"""

from __future__ import annotations

import sys

import pytest

from probe.servers import capexec, command, process, readiness
from probe.servers.kinds import KINDS, SERVERS, Command, DevServer, Gunicorn, Uvicorn
from probe.servers.process import Server
from probe.servers.spec import ServerError, ServerSpec, from_command, pinned_env

APP = "tests_app.service:application"  # any MODULE:ATTR: the kinds pass it through


def value_after(argv: list[str], flag: str) -> str:
    return argv[argv.index(flag) + 1]


# -- gunicorn -----------------------------------------------------------------------------
def test_gunicorn_argv_is_the_users_command_and_ends_with_the_app():
    """No probe config, no probe module: gunicorn's own script (beside this Python) and
    its flags, APP_MODULE last. The default spec also shows that --preload is absent
    unless asked for; the folder is the process's working directory, not a flag."""
    spec = ServerSpec(server="gunicorn", app=APP)
    argv = Gunicorn().argv(spec, 8123)
    assert argv[0].endswith("gunicorn") and "probe" not in " ".join(argv)
    assert "--config" not in argv and "--chdir" not in argv
    assert value_after(argv, "--bind") == "127.0.0.1:8123"
    assert argv[-1] == APP
    assert "--preload" not in argv


def test_gunicorn_argv_carries_every_field_of_the_spec():
    """Non-default values in every field (2 gthread workers x 4 threads, timeout 60,
    preload, a folder), so a field that went missing from the argv would show."""
    spec = ServerSpec(
        server="gunicorn", app=APP, chdir="/srv/app", workers=2, worker_class="gthread",
        threads=4, worker_timeout_s=60, preload=True,
    )  # fmt: skip
    argv = Gunicorn().argv(spec, 9000)
    assert value_after(argv, "--workers") == "2"
    assert value_after(argv, "--worker-class") == "gthread"
    assert value_after(argv, "--threads") == "4"
    assert value_after(argv, "--timeout") == "60"
    assert "--preload" in argv
    srv = Server(spec)
    try:
        assert srv.cwd == "/srv/app"  # gunicorn imports from its working directory
    finally:
        srv.close()
    assert argv[-1] == APP  # options first: gunicorn would take one after the app as an arg


def test_gunicorn_binds_an_ipv6_host_in_brackets():
    """::1 is loopback too; without brackets gunicorn would read '::1:8000' wrongly."""
    argv = Gunicorn().argv(ServerSpec(server="gunicorn", host="::1"), 8000)
    assert value_after(argv, "--bind") == "[::1]:8000"


@pytest.mark.parametrize(
    ("worker_class", "threads", "threaded"),
    [
        ("sync", 1, False),  # one request at a time per worker: no threads race
        ("gthread", 1, True),  # gthread's own thread pool, even of one thread
        ("sync", 4, True),  # gunicorn turns sync with --threads > 1 into gthread
        ("gthread", 4, True),
    ],
)
def test_gunicorn_is_threaded_for_gthread_or_more_than_one_thread(worker_class, threads, threaded):
    """The four corners of worker class x thread count: only plain sync with one thread
    serves one request at a time in a process."""
    spec = ServerSpec(server="gunicorn", worker_class=worker_class, threads=threads)
    assert Gunicorn().threaded(spec) is threaded
    assert spec.threaded is threaded  # what the rest of probe asks


def test_gunicorn_describes_its_configuration():
    assert Gunicorn().describe(ServerSpec()) == "gunicorn, 1 sync worker(s)"
    spec = ServerSpec(workers=2, worker_class="gthread", threads=4, preload=True)
    assert Gunicorn().describe(spec) == "gunicorn, 2 gthread worker(s) x 4 threads, --preload"


class FakeProc:
    """A psutil.Process as the kinds use it: a pid and a parent pid."""

    def __init__(self, pid: int, ppid: int):
        self.pid, self._ppid = pid, ppid

    def ppid(self) -> int:
        return self._ppid


def test_gunicorn_serving_processes_are_the_arbiters_children_only():
    """The arbiter (10) serves nothing; its workers (11, 12) do; a process a worker
    started (13, a grandchild) is no worker. Listed out of pid order on purpose."""
    tree = [FakeProc(10, 1), FakeProc(12, 10), FakeProc(13, 12), FakeProc(11, 10)]
    assert Gunicorn().serving(tree) == [11, 12]
    assert Gunicorn().serving([]) == []
    assert Gunicorn().expected_workers(ServerSpec(workers=3)) == 3


def test_gunicorn_reads_worker_events_from_its_log():
    log = "[t] [1] [ERROR] Worker (pid:7) was sent SIGKILL! Perhaps out of memory?\n"
    [event] = Gunicorn().events(log)
    assert (event.pid, event.kind) == (7, "signaled")


# -- the dev server -----------------------------------------------------------------------
def test_dev_server_argv_is_what_app_run_runs():
    """Flask's `app.run()` is werkzeug's run_simple(threaded=True); probe runs the same
    for any WSGI app in a `python -c` line, no probe module in it."""
    spec = ServerSpec(server="flask", app=APP, host="127.0.0.2")
    argv = DevServer().argv(spec, 5001)
    assert argv[:2] == [sys.executable, "-c"] and "probe" not in argv[2]
    assert argv[2] == ("from tests_app.service import application as app; from "
                       "werkzeug.serving import run_simple; run_simple('127.0.0.2', 5001, app, "
                       "threaded=True)")  # fmt: skip


def test_dev_server_is_one_threaded_process_whatever_the_worker_fields_say():
    """workers=4, gthread: gunicorn's fields do not apply to the dev server; its one
    process serves every request in threads (with --reload, the reloader's child)."""
    spec = ServerSpec(server="flask", workers=4, worker_class="gthread", threads=8)
    kind = DevServer()
    assert kind.threaded(spec) and kind.expected_workers(spec) == 1
    assert kind.serving([FakeProc(20, 1)]) == [20]
    assert kind.serving([FakeProc(20, 1), FakeProc(21, 20)]) == [21]  # the reloader's child
    assert kind.events("[t] [1] [ERROR] Worker (pid:21) exited with code 1.\n") == []
    assert spec.config() == {
        "server": "flask", "cmd": None, "oom_group": None, "role": "threads", "workers": None,
        "worker_class": None,
        "threads": None, "worker_timeout_s": None, "preload": None,
    }  # fmt: skip


def test_the_kinds_are_entries_named_by_their_keys():
    """probe builds commands for two kinds; the other two come from a user's command."""
    assert SERVERS == ("flask", "gunicorn")
    assert tuple(KINDS) == ("flask", "gunicorn", "uvicorn", "command")
    assert all(KINDS[name].name == name for name in KINDS)
    assert (KINDS["flask"].role, KINDS["gunicorn"].role) == ("threads", "prefork")
    with pytest.raises(ServerError, match="uvicorn runs a user's command only; pass --cmd"):
        ServerSpec(server="uvicorn")


# -- a user's command -----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("cmd", "server", "fields"),
    [
        ("gunicorn -w 2 -k gthread --threads 4 --bind 127.0.0.1:{port} m:app", "gunicorn",
         {"workers": 2, "worker_class": "gthread", "threads": 4, "preload": False}),
        ("python3 -m gunicorn --preload --bind {host}:{port} m:app", "gunicorn",
         {"workers": 1, "worker_class": "sync", "threads": 1, "preload": True}),
        ("gunicorn -k uvicorn_worker.UvicornWorker -b 127.0.0.1:{port} m:app", "gunicorn",
         {"worker_class": "UvicornWorker"}),
        ("uvicorn --port {port} --workers 3 main:app", "uvicorn", {"workers": 3}),
        ("/venv/bin/flask --app m:app run --port {port}", "flask", {}),
        ("python app.py --port={port}", "command", {}),
    ],
)  # fmt: skip
def test_a_command_is_read_as_the_kind_it_starts_with_its_options(cmd, server, fields,
                                                                 monkeypatch):  # fmt: skip
    """The program names the kind (through `python -m` too); gunicorn's own parser reads
    its options, so a -k or -w is understood as gunicorn understands it."""
    monkeypatch.delenv("WEB_CONCURRENCY", raising=False)
    spec = from_command(cmd, limit_bytes=1 << 29)
    assert (spec.server, spec.cmd) == (server, cmd)
    assert {k: getattr(spec, k) for k in fields} == fields
    assert spec.config()["cmd"] == cmd and pinned_env(spec) == {}  # no variable added
    argv = spec.argv(8123)
    assert "{port}" not in " ".join(argv) and "8123" in " ".join(argv)


def test_a_command_is_split_as_a_shell_would_and_filled_in_every_word():
    cmd = 'sh -c \'exec gunicorn --bind {host}:{port} "my app:app"\' --name="x y"'
    assert command.fill(cmd, 9, "::1") == [
        "sh", "-c", 'exec gunicorn --bind ::1:9 "my app:app"', "--name=x y"]  # fmt: skip
    assert command.fixes_port("python app.py") and not command.fixes_port("x --port {port}")
    with pytest.raises(command.CommandError, match="No closing quotation"):
        command.split("gunicorn 'app:app")
    with pytest.raises(command.CommandError, match="the command is empty"):
        command.split("   ")


def test_a_command_that_names_no_port_needs_the_port_it_uses():
    """probe cannot know where `python app.py` listens: the user says, with --port."""
    with pytest.raises(ServerError, match=r"names no \{port\}.*pass --port"):
        from_command("python app.py")
    assert from_command("python app.py", port=5000).argv(0) == ["python", "app.py"]


def test_workers_come_from_web_concurrency_when_the_command_does_not_say(monkeypatch):
    """gunicorn and uvicorn both default --workers to $WEB_CONCURRENCY."""
    monkeypatch.setenv("WEB_CONCURRENCY", "3")
    assert from_command("gunicorn -b 127.0.0.1:{port} m:app").workers == 3
    assert from_command("uvicorn --port {port} m:app").workers == 3


def test_other_commands_serve_with_their_leaf_processes():
    """A command probe does not know: the processes without a child serve (a supervisor
    above them does not), as many as are up; uvicorn: its process, or its workers."""
    tree = [FakeProc(30, 1), FakeProc(31, 30), FakeProc(32, 30), FakeProc(33, 31)]
    assert Command().serving(tree) == [32, 33]
    assert Command().expected_workers(ServerSpec()) == 0
    assert Uvicorn().serving([FakeProc(40, 1)]) == [40]
    assert Uvicorn().threaded(ServerSpec()) and Command().threaded(ServerSpec())


# -- readiness ----------------------------------------------------------------------------
def test_listening_sockets_are_read_from_procs_tcp_table(tmp_path, monkeypatch):
    """/proc/net/tcp's columns: local address (hex port), state (0A = LISTEN), inode.
    A listening socket on another port and a connected one on ours do not count."""
    table = tmp_path / "tcp"
    table.write_text(
        "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  "
        "timeout inode\n"
        "   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000 0 0 111\n"
        "   1: 0100007F:1F91 00000000:0000 0A 00000000:00000000 00:00000000 00000000 0 0 222\n"
        "   2: 0100007F:1F90 0100007F:D431 01 00000000:00000000 00:00000000 00000000 0 0 333\n"
    )
    rows = readiness._listeners(str(table))
    assert rows[0] == ("0100007F:1F90", "0A", "111") and len(rows) == 3
    assert readiness._listeners(str(tmp_path / "missing")) == []


def test_the_wait_syscalls_are_those_idle_servers_sit_in():
    """The calls measured on idle servers (module docstring) are all in the table."""
    names = set(readiness.WAIT_SYSCALLS.values())
    assert {"poll", "epoll_wait", "pselect6"} <= names or {"ppoll", "epoll_pwait"} <= names


# -- the spec and the wrapper ---------------------------------------------------------------
def test_an_unknown_server_or_layout_is_refused_with_the_choices():
    with pytest.raises(ServerError, match="unknown server 'uwsgi'; choose one of flask, gunic"):
        ServerSpec(server="uwsgi")
    with pytest.raises(ServerError, match="unknown layout 'aslr'; choose one of fixed, random"):
        ServerSpec(layout="aslr")


@pytest.mark.parametrize("tools", [True, False], ids=["prlimit-setarch", "capexec"])
def test_a_servers_command_carries_its_cap_and_layout(tools, monkeypatch):
    """With util-linux's prlimit and setarch, probe execs exactly the command it prints;
    without them, probe.servers.capexec does the same. The spec's layout reaches either;
    its default is fixed. A Server object only makes its log file until spawn(), so
    nothing starts here."""
    monkeypatch.setattr(process, "_system_tools", lambda: tools)
    for layout in ("fixed", "random"):
        srv = Server(ServerSpec(limit_bytes=1 << 30, layout=layout), {})
        try:
            argv = srv.argv()
            command = srv.command()
        finally:
            srv.close()
        if tools:
            assert argv == process.plain_command(1 << 30, command, layout)
            assert argv[:2] == ["prlimit", f"--as={1 << 30}"]
            assert (argv[2:4] == ["setarch", "-R"]) is (layout == "fixed")
        else:
            assert argv[3:6] == [str(1 << 30), "--layout", layout]
            assert argv[6] == "--parent" and argv[8] == "--" and argv[9:] == command
    assert ServerSpec().layout == "fixed"


# -- probe.servers.capexec ------------------------------------------------------------
@pytest.mark.parametrize(
    "argv",
    [
        ["1073741824", "--layout", "sideways", "--", "gunicorn"],  # not a layout
        ["1073741824", "--layout", "--", "gunicorn"],  # the layout left out
        ["1073741824", "--layout", "fixed", "gunicorn"],  # no `--` before the command
        ["none", "--"],  # no command
    ],
)
def test_capexec_refuses_a_bad_command_line_with_its_usage(argv, monkeypatch):
    """Each mistake stops before anything takes effect: the rlimit, the layout and the
    exec are replaced by failures, so reaching one of them fails the test."""

    def must_not_run(*args):
        raise AssertionError(f"capexec went on despite a bad command line: {args}")

    for name in ("die_with_parent", "apply_layout"):
        monkeypatch.setattr(capexec, name, must_not_run)
    monkeypatch.setattr(capexec.resource, "setrlimit", must_not_run)
    monkeypatch.setattr(capexec.os, "execvp", must_not_run)
    with pytest.raises(SystemExit) as exc:
        capexec.main(argv)
    assert str(exc.value.code).startswith("usage: python -m probe.servers.capexec LIMIT_BYTES|none")
    assert "[--parent PID]" in str(exc.value.code)
    assert "[--layout fixed|random]" in str(exc.value.code)


@pytest.mark.parametrize(
    ("argv", "layout", "rlimit", "command"),
    [
        (["1048576", "--layout", "fixed", "--", "prog", "a"], "fixed", 1048576, ["prog", "a"]),
        (["none", "--layout", "random", "--", "prog"], "random", None, ["prog"]),
        (["4096", "--", "prog", "--layout"], "random", 4096, ["prog", "--layout"]),
        (["none", "--parent", "7", "--layout", "fixed", "--", "prog"], "fixed", None, ["prog"]),
    ],
)
def test_capexec_sets_the_cap_and_layout_then_execs_the_rest(argv, layout, rlimit, command,
                                                            monkeypatch, capsys):  # fmt: skip
    """A size caps RLIMIT_AS, `none` sets no cap; without --layout the kernel's layout is
    kept; everything after `--` is the command, even a `--layout` of its own. The calls
    are recorded instead of made (exec would replace the test process)."""
    calls = []
    monkeypatch.setattr(capexec, "die_with_parent", lambda parent: calls.append("pdeathsig"))
    monkeypatch.setattr(capexec, "apply_layout", lambda want: calls.append(want) or "layout x")
    monkeypatch.setattr(capexec.resource, "setrlimit", lambda what, lim: calls.append((what, lim)))
    monkeypatch.setattr(capexec.os, "execvp", lambda prog, args: calls.append((prog, args)))
    capexec.main(argv)
    caps = [] if rlimit is None else [(capexec.resource.RLIMIT_AS, (rlimit, rlimit))]
    assert calls == ["pdeathsig", layout, *caps, (command[0], command)]
    assert capsys.readouterr().err == "probe.servers.capexec: layout x\n"


def test_apply_layout_random_says_what_the_machine_gives(tmp_path, monkeypatch):
    """random keeps the kernel's layout, which is randomized unless the machine turned
    randomization off (randomize_va_space 0); a missing file counts as randomized.
    The file is a stand-in, so the test does not depend on this machine's setting."""
    setting = tmp_path / "randomize_va_space"
    monkeypatch.setattr(capexec, "RANDOMIZE_VA_SPACE", str(setting))
    assert capexec.apply_layout("random") == "layout random"  # no such file
    setting.write_text("2\n")
    assert capexec.apply_layout("random") == "layout random"
    setting.write_text("0\n")
    assert capexec.apply_layout("random") == f"layout fixed (the machine's {setting} is 0)"


def test_apply_layout_fixed_reports_a_refusal(monkeypatch):
    """fix_layout is replaced (the real one would change this test process's personality):
    taking effect gives 'layout fixed'; a refusal gives random with the reason."""
    monkeypatch.setattr(capexec, "fix_layout", lambda: None)
    assert capexec.apply_layout("fixed") == "layout fixed"
    monkeypatch.setattr(capexec, "fix_layout", lambda: "personality(2) is not available")
    assert capexec.apply_layout("fixed") == (
        "layout random (personality(2) is not available; the kernel's randomized layout is used)"
    )


def test_each_prefork_setting_is_one_definition_read_everywhere():
    """probe.servers.settings: the option, the spec field, the document key, the file
    name's tag, the refusal with --cmd and the plan's axes come from one entry each."""
    from probe.cli.options import BUILT_SERVER_ONLY
    from probe.servers import settings
    from probe.servers.spec import PREFORK_OPTIONS, ServerSpec
    from probe.studies import question
    from probe.studies.plan import BUILT_AXES

    assert tuple(x.field for x in settings.PREFORK) == PREFORK_OPTIONS
    assert {f for _, f, _ in BUILT_SERVER_ONLY} >= {x.param for x in settings.PREFORK}
    assert BUILT_AXES == ("workers", "worker_class", "threads")
    spec = ServerSpec(workers=2, worker_class="gthread", threads=4, worker_timeout_s=60,
                      preload=True)  # fmt: skip
    assert question.config_tag(spec) == "-w2-gthread-t4-timeout60-preload"
    assert settings.typed("workers", "3") == 3 and settings.typed("worker_class", "sync") == "sync"
