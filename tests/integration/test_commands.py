"""The user's own start command (--cmd), WSGI and ASGI, and no probe code in the server.

Each boundary probe finds is checked as a user checks it, without probe
(tests/integration/outside.py): the plain command under prlimit and setarch -R, the
critical n as its first request (it must succeed), the first failing n on another
fresh server (it must fail). The apps are tests/apps/query_alloc (plain WSGI) and
asgi_alloc (Starlette): both build a list of n ints per request and let MemoryError
escape as a bare 500, so only the server's log says what happened.
"""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
import requests

from probe.servers.process import Server
from probe.servers.spec import ServerSpec, from_command
from probe.sizes import parse_size
from tests.integration.outside import first_request, free_port, listens
from tests.integration.test_own_service import APPS, error_lines, probe_cli

pytestmark = pytest.mark.usefixtures("no_children_left")

CAP = parse_size("160M")
PY = shlex.quote(sys.executable)  # the servers of this environment, whatever PATH says
# gunicorn's own --cmd with 2 sync workers is searched in test_tree_budget.py
COMMANDS = {
    "uvicorn": (f"{PY} -m uvicorn --port {{port}} asgi_alloc:app", "uvicorn"),
}  # fmt: skip
UVICORN_WORKER = (f"{PY} -m gunicorn -k uvicorn_worker.UvicornWorker "
                  "--bind 127.0.0.1:{port} asgi_alloc:app")  # fmt: skip


@pytest.mark.parametrize("name", list(COMMANDS))
def test_a_users_command_gives_a_boundary_that_holds_on_their_plain_server(
    name, tmp_path, no_leftovers
):
    """max-n on the command as written: recorded as written, no variable added, the
    failure read from the server's log; then the boundary, checked without probe."""
    cmd, server = COMMANDS[name]
    out = tmp_path / "doc.json"
    result = probe_cli(
        "max-n", "--cold-only", "--recheck-tries", "2",
        "--cmd", cmd, "--chdir", "tests/apps", "--request", "GET /alloc?size={n}",
        "--expect", "size={n} sum=", "--limit", "160M", "--precision", "0.1",
        "--out", str(out), pids=no_leftovers,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    doc = json.loads(out.read_text())
    assert (doc["server"], doc["cmd"], doc["server_env"]) == (server, cmd, {})
    assert doc["workload"]["cmd"] == cmd
    critical, failing = doc["critical_n"], doc["first_failing_n"]
    assert 1_000_000 < critical < failing, (critical, failing)
    assert doc["failure"]["kind"] == "memory_error", doc["failure"]
    assert doc["recheck"]["agrees"] is True, doc["recheck"]  # both ends, both timings
    argv = shlex.split(cmd)
    for settle in (0.0, 1.0):  # the first request as the port accepts, and a second later
        ok = first_request(argv, f"/alloc?size={critical}", CAP, cwd=str(APPS), settle_s=settle)
        bad = first_request(argv, f"/alloc?size={failing}", CAP, cwd=str(APPS), settle_s=settle)
        assert (ok, bad) == (200, 500), (settle, ok, bad)


def test_gunicorn_with_uvicorn_workers_is_probed_through_its_command(no_leftovers):
    """ASGI under gunicorn's uvicorn workers: a probe the app answers, and one whose
    MemoryError only the server's log tells (a bare 500), read as memory_error; one
    cold probe each (--require-n), the search being the same as for uvicorn above."""
    args = ["max-n", "--cold-only", "--cmd", UVICORN_WORKER, "--chdir", "tests/apps", "--request",
            "GET /alloc?size={n}", "--expect", "size={n} sum=", "--limit", "160M"]  # fmt: skip
    ok = probe_cli(*args, "--require-n", "1000000", pids=no_leftovers)
    assert ok.exit_code == 0, ok.output
    bad = probe_cli(*args, "--require-n", "20000000", pids=no_leftovers)
    assert bad.exit_code == 1, bad.output
    [line] = error_lines(bad.output)
    assert "memory_error (HTTP 500): MemoryError in the server's log" in line, line
    assert "gunicorn, 1 UvicornWorker worker(s)" in line, line


def test_flask_run_is_started_and_known_ready_without_a_request():
    """`flask --app app.wsgi:app run`, the way Flask's docs start it, under probe: up
    (its one process waiting in poll on a listening port), and its first request is ours."""
    flask_run = f"{PY} -m flask --app app.wsgi:app run --port {{port}}"
    spec = from_command(flask_run, limit_bytes=parse_size("512M"))  # Flask, numpy, a thread
    assert spec.server == "flask"
    srv = Server(spec)
    try:
        srv.start()
        assert srv.port in srv.listening()
        assert "GET /" not in srv.log_text()  # werkzeug logs each request: none yet
        assert requests.get(f"{srv.url}/health", timeout=10).status_code == 200
    finally:
        srv.close()


@pytest.mark.parametrize(
    ("cmd", "says"),
    [
        (f"{PY} -c 'import sys; sys.exit(3)' {{port}}", "exited with code 3"),
        (f"{PY} -c 'import time; time.sleep(60)' {{port}}", "nothing listens on port"),
        (f"{PY} -m http.server --bind 127.0.0.1 0", "put {port} in the command"),
    ],
    ids=["exits-at-once", "never-listens", "listens-elsewhere"],
)
def test_a_wrong_command_is_one_clear_line_not_a_hang(cmd, says, tmp_path, no_leftovers):
    """A command that exits at once, one that never listens (within --start-timeout),
    one that listens on a port of its own choosing (though told --port): exit 3 (could
    not probe), one line, in seconds."""
    t0 = time.monotonic()
    port = [] if "{port}" in cmd else ["--port", str(free_port())]
    result = probe_cli(
        "max-n", "--cold-only", "--recheck-tries", "2",
        "--cmd", cmd, "--request", "GET /?n={n}", "--limit", "256M",
        "--start-timeout", "1.5", *port, "--out", str(tmp_path / "doc.json"),
        pids=no_leftovers,
    )  # fmt: skip
    assert result.exit_code == 3, result.output
    [line] = error_lines(result.output)
    assert says in line and "Traceback" not in result.output, result.output
    assert time.monotonic() - t0 < 15


def _mapped(pid: int) -> tuple[set[str], int]:
    """The files a process maps, and its address space in bytes."""
    files = set()
    with open(f"/proc/{pid}/maps", encoding="ascii", errors="replace") as fh:
        for line in fh:
            parts = line.split()
            if len(parts) > 5 and parts[5].startswith("/"):
                files.add(parts[5])
    return files, psutil.Process(pid).memory_info().vms


def _plain_worker(srv: Server, log: Path) -> tuple[subprocess.Popen, int]:
    """The command `probe serve` prints for `srv`, started by hand on another port (of
    as many digits), with the same environment and its output to a file too; its
    serving process, once the port listens and a second has passed."""
    port = free_port_like(srv.port)
    argv = [w.replace(str(srv.port), str(port)) for w in srv.command()]
    proc = subprocess.Popen(
        ["prlimit", f"--as={CAP}", "setarch", "-R", *argv], env=srv.env(), cwd=srv.cwd,
        stdout=log.open("wb"), stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    deadline = time.monotonic() + 20
    while not listens(port):
        assert time.monotonic() < deadline and proc.poll() is None, log.read_text()
        time.sleep(0.05)
    time.sleep(1.0)  # the app imported, the worker idle
    tree = [psutil.Process(proc.pid), *psutil.Process(proc.pid).children(recursive=True)]
    return proc, [p for p in tree if not p.children()][-1].pid


def free_port_like(port: int) -> int:
    while True:
        candidate = free_port()
        if len(str(candidate)) == len(str(port)) and candidate != port:
            return candidate


@pytest.mark.parametrize("server", ["gunicorn", "flask"])
def test_an_idle_worker_maps_what_its_plain_command_maps(server, tmp_path):
    """No probe module in the server: the idle serving process maps the same files as
    the same command started by hand (prlimit, setarch -R, same variables), and its
    address space is equal within a page. probe's gunicorn config used to add libffi,
    _ctypes and resource to every worker (+380 KiB)."""
    srv = Server(ServerSpec(server=server, limit_bytes=CAP))  # the idle server fits in it
    proc = None
    try:
        srv.start()
        proc, plain = _plain_worker(srv, tmp_path / "plain.log")
        files, vms = _mapped(srv.worker_pids()[0])
        plain_files, plain_vms = _mapped(plain)
        assert not any("probe" in f for f in files), files
        assert files == plain_files, files ^ plain_files
        assert abs(vms - plain_vms) <= 4096, (vms, plain_vms)
    finally:
        srv.close()
        if proc is not None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def test_uvicorn_with_spawned_workers_is_ready_without_its_resource_tracker(no_leftovers):
    """`uvicorn --workers 2` spawns its workers with multiprocessing, which starts a
    resource tracker beside them: it serves nothing and never waits on a socket, so it
    is not a worker, and the server is up once both workers wait (it once timed out)."""
    cmd = f"{PY} -m uvicorn --workers 2 --port {{port}} asgi_alloc:app"
    ok = probe_cli("max-n", "--cold-only", "--cmd", cmd, "--chdir", "tests/apps", "--request",
                   "GET /alloc?size={n}", "--expect", "size={n} sum=", "--limit", "384M",
                   "--require-n", "100000", pids=no_leftovers)  # fmt: skip
    assert ok.exit_code == 0, ok.output
    assert "uvicorn, 2 process(es)" in ok.output
