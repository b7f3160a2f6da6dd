"""Start Flask's dev server or gunicorn under a memory cap, watch it, stop the whole tree.

Each server runs in its own session (process group) with RLIMIT_AS set in the child
before exec, so gunicorn's arbiter and every worker inherit the cap. Stopping sends
SIGTERM to the group, waits a grace period, then SIGKILLs whatever is left (found with
psutil, so a process that left the group is not missed) and reaps it, as gunicorn's
arbiter does for its workers.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

import psutil
import requests

from probe import interrupt
from probe.limits import format_size
from probe.outcome import signal_name

SERVERS = ("flask", "gunicorn")
LOOPBACK = ("127.0.0.1", "localhost", "::1")


def is_loopback(host: str) -> bool:
    """True if `host` is reachable from this machine only (127.0.0.0/8, ::1, localhost)."""
    if host in LOOPBACK:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # a name other than localhost may resolve anywhere
        return False


# Pinned for the server unless overridden: the cap counts address space, and each
# OpenBLAS thread buffer and each glibc malloc arena reserves some (design.md).
# A fixed mmap threshold (glibc's initial 128 KiB) turns off its dynamic raise: freeing
# a 1-32 MiB list array would otherwise move later arrays onto the brk heap, which then
# keeps up to 2x that much freed address space that pymalloc's arenas cannot reuse, so
# the critical n would depend on which n were probed before (-7 % at 384M, measured).
DEFAULT_SERVER_ENV = {
    "OPENBLAS_NUM_THREADS": "1",
    "OMP_NUM_THREADS": "1",
    "MALLOC_ARENA_MAX": "2",
    "MALLOC_MMAP_THRESHOLD_": "131072",
    "PYTHONUNBUFFERED": "1",
}

_GUNICORN_EVENT_RE = re.compile(
    r"Worker \(pid:(?P<pid>\d+)\) was sent (?P<sig>SIG\w+|signal \d+)!"
    r"|Worker \(pid:(?P<pid2>\d+)\) exited with code (?P<code>\d+)"
    r"|WORKER TIMEOUT \(pid:(?P<pid3>\d+)\)"
    r"|Booting worker with pid: (?P<pid4>\d+)"
)


def _gunicorn_flags() -> tuple[str, ...]:
    """gunicorn 27 opens a control socket at one fixed path per user; several servers
    at once would fight over it, and probe does not use it."""
    try:
        import gunicorn

        return ("--no-control-socket",) if gunicorn.version_info >= (27,) else ()
    except ImportError:  # pragma: no cover - gunicorn is a dependency
        return ()


_NO_CONTROL_SOCKET = _gunicorn_flags()


class ServerError(Exception):
    """The server could not be started or used; the message says what to do."""


class ServerStartError(ServerError):
    """The server died or never answered /health before its deadline.

    The message is one line (what happened, the server's last telling log line, what to
    do); the server's log tail is kept apart, since it may hold a Python traceback that
    would read as probe's own crash.
    """

    def __init__(self, message: str, log_tail: str = ""):
        super().__init__(message)
        self.log_tail = log_tail


@dataclass(frozen=True)
class ServerSpec:
    """What to run: which server, under which cap, with which options."""

    server: str = "gunicorn"
    limit_bytes: int | None = None
    limit_kind: str = "as"  # "as": RLIMIT_AS in every process; "rss": enforced by a watchdog
    host: str = "127.0.0.1"
    port: int = 0  # 0: pick a free port
    workers: int = 1
    worker_class: str = "sync"
    threads: int = 1
    timeout_s: int = 30  # gunicorn's worker timeout
    ready_timeout_s: float = 30.0
    grace_s: float = 3.0
    env: Mapping[str, str] = field(default_factory=dict)  # overrides DEFAULT_SERVER_ENV

    @property
    def rlimit_as_bytes(self) -> int | None:
        """The RLIMIT_AS to set, if the cap is of that kind."""
        return self.limit_bytes if self.limit_kind == "as" else None

    @property
    def watchdog_bytes(self) -> int | None:
        """The RSS the watchdog enforces, if the cap is of that kind."""
        return self.limit_bytes if self.limit_kind == "rss" else None

    def describe(self) -> str:
        how = "RLIMIT_AS" if self.limit_kind == "as" else "RSS watchdog"
        opts = f"{self.server}, cap {format_size(self.limit_bytes)} ({how})"
        if self.server == "gunicorn":
            opts += f", {self.workers} {self.worker_class} worker(s)"
            if self.threads > 1:
                opts += f" x {self.threads} threads"
        return opts


@dataclass(frozen=True)
class WorkerEvent:
    """A worker's fate as gunicorn's arbiter logged it (it alone can waitpid a worker)."""

    pid: int
    kind: str  # "signaled" | "exited" | "timeout" | "booted"
    signal: int | None = None
    exit_code: int | None = None

    def describe(self) -> str:
        if self.kind == "signaled":
            return f"worker {self.pid} was sent {signal_name(self.signal)}"
        if self.kind == "exited":
            return f"worker {self.pid} exited with code {self.exit_code}"
        if self.kind == "timeout":
            return f"worker {self.pid} passed gunicorn's --timeout (SIGABRT; SIGKILL if stuck)"
        return f"worker {self.pid} booted"


def decode_status(returncode: int | None) -> str:
    """Describe a Popen returncode the way gunicorn's arbiter describes a waitpid status."""
    if returncode is None:
        return "running"
    if returncode < 0:
        return f"killed by {signal_name(-returncode)}"
    return f"exited with code {returncode}"


def port_is_free(host: str, port: int) -> bool:
    """True if nothing listens on host:port (we can bind it)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def free_port(host: str = "127.0.0.1") -> int:
    """A port that was free a moment ago (the kernel's choice for port 0)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def build_command(spec: ServerSpec, port: int) -> list[str]:
    """The argv that runs the server (no shell anywhere)."""
    if spec.server == "flask":
        return [sys.executable, "-m", "app", "--host", spec.host, "--port", str(port)]
    if spec.server == "gunicorn":
        bind = f"[{spec.host}]:{port}" if ":" in spec.host else f"{spec.host}:{port}"
        return [
            sys.executable, "-m", "gunicorn",
            "--bind", bind,
            "--workers", str(spec.workers),
            "--worker-class", spec.worker_class,
            "--threads", str(spec.threads),
            "--timeout", str(spec.timeout_s),
            "--graceful-timeout", str(max(1, int(spec.grace_s))),
            *_NO_CONTROL_SOCKET,
            "--config", "python:probe.gunicorn_conf",  # workers die with their arbiter
            "app.wsgi:app",
        ]  # fmt: skip
    raise ServerError(f"unknown server {spec.server!r}; choose one of {', '.join(SERVERS)}")


def capped_command(limit_bytes: int | None, argv: list[str]) -> list[str]:
    """Wrap argv so RLIMIT_AS is set in the child before it execs the server."""
    cap = "none" if limit_bytes is None else str(limit_bytes)
    return [sys.executable, "-m", "probe.capexec", cap, "--", *argv]


def pinned_env(spec: ServerSpec) -> dict[str, str]:
    """The variables probe pins for the server, after the spec's overrides."""
    return {**DEFAULT_SERVER_ENV, **spec.env}


def server_env(spec: ServerSpec) -> dict[str, str]:
    env = dict(os.environ)
    env.update(DEFAULT_SERVER_ENV)
    env.update(spec.env)
    # The app package must be importable by the server wherever probe runs from.
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH", "")) if p)
    env["PROBE_PARENT_PID"] = str(os.getpid())  # probe.capexec: die with probe
    return env


class Server:
    """A running server: its URL, its processes, its log, its fate."""

    def __init__(self, spec: ServerSpec):
        self.spec = spec
        self.proc: subprocess.Popen | None = None
        self.port: int = spec.port
        self.starts = 0
        self.exits: list[str] = []  # how each previous top process ended
        # The server's combined stdout/stderr: a file, not a pipe, so it never blocks.
        fd, self.log_path = tempfile.mkstemp(prefix="probe-server-", suffix=".log")
        self._log = os.fdopen(fd, "wb")
        self._events_offset = 0

    # -- lifecycle ---------------------------------------------------------------
    @property
    def url(self) -> str:
        host = f"[{self.spec.host}]" if ":" in self.spec.host else self.spec.host
        return f"http://{host}:{self.port}"

    def claim_port(self) -> None:
        """The spec's port if it is free (else ServerError with the fix), or a free one."""
        if self.spec.port and not port_is_free(self.spec.host, self.spec.port):
            raise ServerError(
                f"port {self.spec.port} on {self.spec.host} is in use; "
                "pass --port 0 to pick a free one"
            )
        self.port = self.spec.port or free_port(self.spec.host)

    def _spawn(self) -> None:
        self._log.seek(0, os.SEEK_END)
        self.proc = subprocess.Popen(
            capped_command(self.spec.rlimit_as_bytes, build_command(self.spec, self.port)),
            env=server_env(self.spec),
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            close_fds=True,
        )
        self.starts += 1

    def wait_ready(self, timeout_s: float | None = None) -> None:
        """Poll /health against a monotonic deadline; all workers must be up."""
        wait_s = timeout_s or self.spec.ready_timeout_s
        deadline = time.monotonic() + wait_s
        log_offset = len(self.log_text())
        while True:
            if self.proc is None or self.proc.poll() is not None:
                raise self._start_failure(
                    decode_status(self.proc.returncode if self.proc else None)
                )
            if self._healthy() and len(self.worker_pids()) >= self._expected_workers():
                return
            if self._crash_looping(log_offset):
                failure = self._start_failure("its workers keep dying while they boot")
                self.stop()
                raise failure
            if time.monotonic() > deadline:
                failure = self._start_failure(f"no answer on {self.url}/health within {wait_s:g} s")
                self.stop()
                raise failure
            interrupt.sleep(0.05)

    def _crash_looping(self, log_offset: int) -> bool:
        """gunicorn respawns a worker that dies while booting, forever: give up early."""
        if self.spec.server != "gunicorn":
            return False
        events = parse_worker_events(self.log_text()[log_offset:])
        deaths = sum(e.kind in ("exited", "signaled") for e in events)
        return deaths >= max(3, 2 * self.spec.workers)

    def _expected_workers(self) -> int:
        return self.spec.workers if self.spec.server == "gunicorn" else 1

    def _healthy(self) -> bool:
        try:
            return requests.get(f"{self.url}/health", timeout=1.0).status_code == 200
        except requests.RequestException:
            return False

    def _start_failure(self, how: str) -> ServerStartError:
        """One line: what happened, the log's last telling line, and what to do."""
        cause = last_cause(self.log_text())
        what = f"{self.spec.server} failed to start"
        if self.spec.limit_bytes is not None:
            what += f" under the {format_size(self.spec.limit_bytes)} cap"
        what += f" ({how}{': ' + cause if cause else ''})"
        if self.spec.rlimit_as_bytes is not None:
            todo = "raise --limit: Python, Flask and numpy alone take about 120M of address space"
        else:
            todo = "probe --verbose ... shows the server's log"
        return ServerStartError(f"{what}; {todo}", self.log_tail())

    def restart(self) -> None:
        """Stop whatever is left and start again on the same port."""
        self.stop()
        self._spawn()
        self.wait_ready()

    def stop(self) -> None:
        """SIGTERM the process group, wait the grace period, SIGKILL what is left, reap."""
        if self.proc is None:
            return
        procs = self.processes()
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGTERM)
        _, alive = psutil.wait_procs(procs, timeout=self.spec.grace_s)
        for p in alive:
            with contextlib.suppress(psutil.NoSuchProcess):
                p.kill()
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        psutil.wait_procs(alive, timeout=self.spec.grace_s)
        try:
            self.proc.wait(timeout=self.spec.grace_s)
        except subprocess.TimeoutExpired:  # pragma: no cover - SIGKILL cannot be ignored
            self.proc.kill()
            self.proc.wait()
        self.exits.append(decode_status(self.proc.returncode))
        self.proc = None

    def close(self) -> None:
        self.stop()
        self._log.close()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.log_path)

    # -- inspection --------------------------------------------------------------
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def processes(self) -> list[psutil.Process]:
        """The top process and all its descendants (empty if it is gone)."""
        proc = self.proc  # read once: the sampler thread calls this during restarts
        if proc is None:
            return []
        try:
            top = psutil.Process(proc.pid)
            return [top, *top.children(recursive=True)]
        except psutil.NoSuchProcess:
            return []

    def pids(self) -> list[int]:
        return [p.pid for p in self.processes()]

    def worker_pids(self) -> list[int]:
        """Processes that serve requests: gunicorn's workers, or Flask's one process."""
        procs = self.processes()
        if self.spec.server == "gunicorn" and procs:
            return sorted(p.pid for p in procs[1:] if _is_child_of(p, procs[0].pid))
        return [p.pid for p in procs[:1]]

    def log_text(self) -> str:
        with open(self.log_path, encoding="utf-8", errors="replace") as fh:
            return fh.read()

    def log_tail(self, lines: int = 15) -> str:
        tail = self.log_text().splitlines()[-lines:]
        return "server log (last lines):\n  " + "\n  ".join(tail) if tail else "(server log empty)"

    def new_events(self) -> list[WorkerEvent]:
        """Worker events gunicorn logged since the last call (empty for flask)."""
        text = self.log_text()
        chunk, self._events_offset = text[self._events_offset :], len(text)
        return parse_worker_events(chunk)


def _is_child_of(p: psutil.Process, ppid: int) -> bool:
    try:
        return p.ppid() == ppid
    except psutil.NoSuchProcess:
        return False


def last_cause(log: str, width: int = 120) -> str:
    """The last line of a server log that says why it died, cut to `width` characters.

    gunicorn's own bracketed lines ("[INFO] Shutting down") and traceback frames say
    where, not why; the exception line after them ("MemoryError", "OpenBLAS error: ...")
    is what a user needs to see.
    """
    for line in reversed(log.splitlines()):
        text = line.strip()
        if not text or text.startswith(("[", "Traceback", "File ", "^", "~")):
            continue
        return text if len(text) <= width else text[: width - 3] + "..."
    return ""


def parse_worker_events(text: str) -> list[WorkerEvent]:
    """Worker deaths, timeouts and boots from gunicorn's error log, in order."""
    events = []
    for m in _GUNICORN_EVENT_RE.finditer(text):
        if m.group("pid"):
            sig = m.group("sig")
            signum = (
                int(sig.split()[1]) if sig.startswith("signal ") else getattr(signal, sig, None)
            )
            events.append(WorkerEvent(int(m.group("pid")), "signaled", signal=int(signum)))
        elif m.group("pid2"):
            events.append(
                WorkerEvent(int(m.group("pid2")), "exited", exit_code=int(m.group("code")))
            )
        elif m.group("pid3"):
            events.append(WorkerEvent(int(m.group("pid3")), "timeout"))
        else:
            events.append(WorkerEvent(int(m.group("pid4")), "booted"))
    return events


@contextlib.contextmanager
def launch(spec: ServerSpec) -> Iterator[Server]:
    """Start a server under its cap; on exit (also Ctrl-C, exceptions) stop the whole tree."""
    with launch_many(spec, 1) as (server,):
        yield server


@contextlib.contextmanager
def launch_many(spec: ServerSpec, count: int) -> Iterator[list[Server]]:
    """Start `count` servers of one spec (each on its own free port, under its own cap)
    side by side: all spawn first, then each is waited for; on exit stop them all."""
    if count > 1 and spec.port:
        raise ServerError(f"{count} servers cannot share port {spec.port}; pass --port 0")
    servers = [Server(spec) for _ in range(count)]
    try:
        for server in servers:
            server.claim_port()
            server._spawn()
        for server in servers:
            server.wait_ready()
        yield servers
    finally:
        for server in servers:
            server.close()
