"""One server's process tree: start it under its cap, know when it is ready, read its log,
stop the whole tree.

Each server runs its command as written, in its own session (process group), under
`prlimit --as=BYTES setarch -R` (or probe.servers.capexec, which does the same, where
those tools are missing), so gunicorn's arbiter and every worker inherit the cap.
Nothing of probe runs in it: readiness is read from /proc (probe.servers.readiness),
and if probe dies, probe.servers.reaper kills the group. Stopping sends SIGTERM to the
main process, waits a grace period, then SIGKILLs whatever is left (found with psutil,
so a process that left the group is not missed) and reaps it.
"""

from __future__ import annotations

import contextlib
import functools
import ipaddress
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Mapping

import psutil

from probe import interrupt
from probe.outcome import signal_name
from probe.servers import cgroup
from probe.servers.capexec import fixed_layout_refused, kernel_randomizes
from probe.servers.command import fixes_port
from probe.servers.kinds import WorkerEvent
from probe.servers.logs import last_cause, short_of_room
from probe.servers.readiness import cpu_seconds, listening_ports, port_listens, tree, waiting
from probe.servers.readiness import signal as readiness_signal
from probe.servers.reaper import REAPER
from probe.servers.spec import ServerError, ServerSpec, pinned_env
from probe.sizes import format_size

LOOPBACK = ("127.0.0.1", "localhost", "::1")


def is_loopback(host: str) -> bool:
    """True if `host` is reachable from this machine only (127.0.0.0/8, ::1, localhost)."""
    if host in LOOPBACK:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # a name other than localhost may resolve anywhere
        return False


def launch_record(spec: ServerSpec) -> dict:
    """How probe starts a server of `spec` (Server.spawn), where a start by hand may
    differ: for the results document (what moves a boundary: README, "When is a server
    ready?")."""
    env = {**os.environ, **pinned_env(spec)}
    return {
        "wrapper": "prlimit, setarch" if _system_tools() else "capexec",
        "cwd": spec.workdir or os.getcwd(),
        "ready_by": readiness_signal(),
        "stdin": "/dev/null",
        "output": "one file, stdout and stderr",
        "new_session": True,
        "port": spec.port or "a free port per server",
        # the environment block's size: it shifts the stack, and so the boundary
        "environ_bytes": sum(len(k) + len(v) + 2 for k, v in env.items()),
    }


class ServerStartError(ServerError):
    """The server died or never answered /health before its deadline.

    The message is one line (what happened, the server's last telling log line, what to
    do); the server's log tail is kept apart, since it may hold a Python traceback that
    would read as probe's own crash.
    """

    def __init__(self, message: str, log_tail: str = ""):
        super().__init__(message)
        self.log_tail = log_tail


def decode_status(returncode: int | None) -> str:
    """Describe a Popen returncode the way gunicorn's arbiter describes a waitpid status."""
    if returncode is None:
        return "running"
    if returncode < 0:
        return f"killed by {signal_name(-returncode)}"
    return f"exited with code {returncode}"


# What a server logs when its port is taken: gunicorn, uvicorn (errno 98), werkzeug
PORT_TAKEN = re.compile(r"Connection in use|[Aa]ddress already in use|Errno 98")
PORT_RETRIES = 3


def port_is_free(host: str, port: int) -> bool:
    """True if nothing listens on host:port (we can bind it)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        # as servers bind: a previous server's connections in TIME_WAIT do not count
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
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


def capped_command(limit_bytes: int | None, argv: list[str], layout: str = "fixed") -> list[str]:
    """Wrap argv so RLIMIT_AS and the layout are set in the child before it execs the server."""
    cap = "none" if limit_bytes is None else str(limit_bytes)
    return [sys.executable, "-m", "probe.servers.capexec", cap, "--layout", layout,
            "--parent", str(os.getpid()), "--", *argv]  # fmt: skip


def plain_command(limit_bytes: int | None, argv: list[str], layout: str = "fixed") -> list[str]:
    """The same start with the system's tools: `prlimit --as=BYTES setarch -R ARGV`."""
    head = [] if limit_bytes is None else ["prlimit", f"--as={limit_bytes}"]
    return [*head, *(["setarch", "-R"] if layout == "fixed" else []), *argv]


@functools.cache
def _system_tools() -> bool:
    """Whether util-linux's prlimit and setarch are here, and the fixed layout allowed."""
    return bool(shutil.which("prlimit") and shutil.which("setarch")) and (
        fixed_layout_refused() is None
    )


def launch_command(limit_bytes: int | None, argv: list[str], layout: str = "fixed") -> list[str]:
    """What probe execs to start a server: the system's prlimit and setarch where they
    are (the very command `probe serve` prints; each execs the next, so the server keeps
    the pid probe started), else probe.servers.capexec, which does the same in Python
    (30-40 ms more per start) and says which layout a refusing kernel gave instead."""
    if _system_tools():
        return plain_command(limit_bytes, argv, layout)
    return capped_command(limit_bytes, argv, layout)


# A server is up once its serving processes wait for connections this long in a row:
# long enough for gunicorn to fork its next worker (it sleeps up to 0.1 s between forks)
# when probe does not know how many it runs.
SETTLE_S = 0.15
# A server idle and listening on other ports only this long has picked its own port.
WRONG_PORT_S = 1.0


class Server:
    """A running server: its URL, its processes, its log, its fate.

    `extra_env` is this server's own environment on top of the spec's (a workload's n at
    start-up). Readiness is the ready line of every serving process in the log (see
    probe.servers.kinds), never a request: the first request the server sees is the caller's.
    """

    def __init__(self, spec: ServerSpec, extra_env: Mapping[str, str] | None = None):
        self.spec = spec
        self.extra_env = dict(extra_env or {})
        self.proc: subprocess.Popen | None = None
        self.port: int = spec.port
        self.starts = 0
        self.exits: list[str] = []  # how each previous top process ended
        # The server's combined stdout/stderr: a file, not a pipe, so it never blocks.
        fd, self.log_path = tempfile.mkstemp(prefix="probe-server-", suffix=".log")
        self._log = os.fdopen(fd, "wb")
        self._events_offset = 0
        self._spawn_offset = 0
        self._up_since: float | None = None  # when the serving processes were first seen idle
        self.ready_at: float | None = None  # monotonic time ready() first held since spawn
        self.serving_count = 0  # serving processes once up (the kind's count, or as seen)
        self._elsewhere_t: float | None = None
        self._via_capexec = False  # how the last spawn set the cap and layout
        self.port_moves = 0  # restarts on another port after the picked one was taken
        self.cgroup: cgroup.ServerCgroup | None = None  # limit kind cgroup: this start's own

    # -- lifecycle ---------------------------------------------------------------
    @property
    def url(self) -> str:
        host = f"[{self.spec.host}]" if ":" in self.spec.host else self.spec.host
        return f"http://{host}:{self.port}"

    def claim_port(self) -> None:
        """The spec's port if it is free (else ServerError with the fix), or a free one."""
        if self.spec.port and not port_is_free(self.spec.host, self.spec.port):
            fixed = self.spec.cmd is not None and fixes_port(self.spec.cmd)
            fix = ("stop what holds it, or write {port} in the command where its port goes "
                   "so that probe picks a free one") if fixed else (
                   "pass --port 0 to pick a free one")  # fmt: skip
            raise ServerError(f"port {self.spec.port} on {self.spec.host} is in use; {fix}")
        self.port = self.spec.port or free_port(self.spec.host)

    def command(self) -> list[str]:
        """The server's own command, as the user would type it."""
        return self.spec.argv(self.port)

    def argv(self) -> list[str]:
        """What probe execs: the command under its cap and layout (launch_command), in
        its own cgroup first with --limit-kind cgroup."""
        argv = launch_command(self.spec.rlimit_as_bytes, self.command(), self.spec.layout)
        return [*cgroup.launch_prefix(self.cgroup), *argv] if self.cgroup else argv

    def added_env(self) -> dict[str, str]:
        """The variables probe adds to its own environment for this server."""
        return {**pinned_env(self.spec), **self.extra_env}

    def env(self) -> dict[str, str]:
        return {**os.environ, **self.added_env()}

    @property
    def cwd(self) -> str | None:
        return self.spec.workdir

    def shell_command(self) -> str:
        """The same start by hand, with the system's tools: the folder, the variables
        probe adds, the cap and layout (prlimit, setarch -R), the server's command."""
        plain = plain_command(self.spec.rlimit_as_bytes, self.command(), self.spec.layout)
        added = self.added_env()
        line = shlex.join(plain)
        if added:
            line = "env " + " ".join(f"{k}={shlex.quote(v)}" for k, v in added.items()) + " " + line
        if self.spec.cgroup_max_bytes is not None:
            line = f"{cgroup.by_hand(self.spec)} {line}"
        return f"cd {shlex.quote(self.cwd)} && {line}" if self.cwd else line

    def spawn(self) -> None:
        """Start the process (from the main thread: see probe.servers.capexec); do not wait."""
        if self.starts == 0 and not (self.port and self.port != self.spec.port):
            self.claim_port()  # the first start: the given port if free, or a free one
        self._log.seek(0, os.SEEK_END)
        self._spawn_offset = self._events_offset = self._log.tell()
        self._up_since = self.ready_at = None
        self._new_cgroup()
        argv = self.argv()
        self._via_capexec = argv[0] == sys.executable  # else prlimit and setarch
        self.proc = subprocess.Popen(
            argv,
            env=self.env(),
            cwd=self.cwd,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            close_fds=True,
        )
        REAPER.watch(self.proc.pid)
        self.starts += 1

    def _new_cgroup(self) -> None:
        """A fresh cgroup for this start (limit kind cgroup): its memory.peak and
        memory.events are this start's alone."""
        self._drop_cgroup()
        if self.spec.cgroup_max_bytes is not None:
            where = cgroup.parent()
            self.cgroup = cgroup.ServerCgroup(where, self.spec.cgroup_max_bytes,
                                              self.spec.oom_group)  # fmt: skip

    def ready(self, exclude: frozenset[int] = frozenset()) -> bool:
        """The port listens and every serving process waits for connections (read from
        /proc, probe.servers.readiness), as many as the kind runs (or as were up before),
        for SETTLE_S when that number is not known; `exclude`: workers that are ending
        and do not count (their replacement must). Cheap reads first: this runs every
        10 ms while a server boots."""
        serving = self._idle_serving(exclude) if port_listens(self.port) else None
        want = self.spec.kind.expected_workers(self.spec) or self.serving_count
        if serving is None or len(serving) < want:
            self._up_since = None
            return False
        now = time.monotonic()
        if self._up_since is None:
            self._up_since = now
        if want == 0 and now - self._up_since < SETTLE_S:
            return False
        self.serving_count = max(self.serving_count, len(serving))
        self.ready_at = self.ready_at or now
        return True

    def _idle_serving(self, exclude: frozenset[int]) -> list[int] | None:
        """The serving processes (less `exclude`) if every one waits for connections,
        else None."""
        proc = self.proc
        if proc is None:
            return None
        serving = [p for p in self.spec.kind.serving(tree(proc.pid)) if p not in exclude]
        return serving if serving and all(waiting(pid) for pid in serving) else None

    def listening(self, procs: list[psutil.Process] | None = None) -> set[int]:
        """The ports the server's processes listen on."""
        return listening_ports([p.pid for p in (self.processes() if procs is None else procs)])

    def wait_ready(self, timeout_s: float | None = None,
                   exclude: frozenset[int] = frozenset()) -> None:  # fmt: skip
        """Wait until ready() against a monotonic deadline; ServerStartError if the server
        dies, its workers keep dying while they boot, it sits listening on another port,
        or the deadline passes."""
        wait_s = timeout_s or self.spec.ready_timeout_s
        starting = _Starting(self, wait_s)
        while True:
            if self._moved_off_a_taken_port():
                continue
            if self.proc is None or self.proc.poll() is not None:
                raise self._start_failure(
                    decode_status(self.proc.returncode if self.proc else None)
                )
            if self.ready(exclude):
                return
            if self._elsewhere_since(exclude) > WRONG_PORT_S:
                failure = self._start_failure(self._not_ready(wait_s))
                self.stop()
                raise failure
            if self._crash_looping():
                failure = self._start_failure("its workers keep dying while they boot")
                self.stop()
                raise failure
            if starting.idle_too_long():
                failure = self._start_failure(self._not_ready(wait_s), timed_out=True)
                self.stop()
                raise failure
            interrupt.sleep(0.01)

    def wait_listening(self, timeout_s: float | None = None) -> None:
        """Wait until the port accepts connections, and no longer: its workers may still
        be starting (a request sent now waits in the listen queue, as a user's first
        request can). ServerStartError if the server dies or the deadline passes."""
        wait_s = timeout_s or self.spec.ready_timeout_s
        starting = _Starting(self, wait_s)
        while not port_listens(self.port):
            if self._moved_off_a_taken_port():
                continue
            if self.proc is None or self.proc.poll() is not None:
                raise self._start_failure(
                    decode_status(self.proc.returncode if self.proc else None)
                )
            if starting.idle_too_long():
                failure = self._start_failure(self._not_ready(wait_s), timed_out=True)
                self.stop()
                raise failure
            interrupt.sleep(0.002)

    def _moved_off_a_taken_port(self) -> bool:
        """A port probe picked (free a moment before) that another process took before the
        server bound it: the server says so in its log (gunicorn retries for 5 s, then
        exits 1); stop it and start it again on another free port, at most PORT_RETRIES
        times. True if it did. A port the user gave is theirs: no move. Only from the main
        thread, as every spawn (probe.servers.capexec: the parent-death signal fires when
        the spawning thread ends)."""
        if self.spec.port or self.port_moves >= PORT_RETRIES or self.proc is None:
            return False
        if threading.current_thread() is not threading.main_thread():
            return False
        if not PORT_TAKEN.search(self.log_since_spawn()):
            return False
        self.stop(grace_s=0)
        self.port_moves += 1
        self.port = free_port(self.spec.host)
        self.spawn()
        return True

    def settle(self, seconds: float) -> None:
        """Wait until the server has been ready (workers idle) for `seconds`."""
        if self.ready_at is None:
            self.wait_ready()
        interrupt.sleep(max(0.0, self.ready_at + seconds - time.monotonic()))

    def _elsewhere_since(self, exclude: frozenset[int]) -> float:
        """How long the server has sat idle listening on other ports only (0 if not)."""
        idle = not port_listens(self.port) and self._idle_serving(exclude) is not None
        if not (idle and self.listening(tree(self.proc.pid))):
            self._elsewhere_t = None
            return 0.0
        now = time.monotonic()
        self._elsewhere_t = self._elsewhere_t or now
        return now - self._elsewhere_t

    def _not_ready(self, wait_s: float) -> str:
        """Why the server is not up after `wait_s`, in words."""
        ports = self.listening() - {self.port}
        if ports:
            where = ", ".join(str(p) for p in sorted(ports))
            return (
                f"it listens on port {where}, not on {self.port}: put {{port}} in the "
                "command where its port goes, or pass --port with the port it uses"
            )
        if self.port not in self.listening():
            return f"nothing listens on port {self.port} after {wait_s:g} s without using CPU"
        return f"its workers are not waiting for requests after {wait_s:g} s"

    def _crash_looping(self) -> bool:
        """gunicorn respawns a worker that dies while booting, forever: give up early."""
        events = self.spec.kind.events(self.log_since_spawn())
        deaths = sum(e.kind in ("exited", "signaled") for e in events)
        return bool(events) and deaths >= max(3, 2 * self.spec.workers)

    def _start_failure(self, how: str, timed_out: bool = False) -> ServerStartError:
        """One line: what happened, the log's last telling line, and what to do."""
        cause = last_cause(self.log_since_spawn())
        what = f"{self.spec.cmd or self.spec.server} failed to start"
        if self.spec.limit_bytes is not None:
            what += f" under the {format_size(self.spec.limit_bytes)} cap"
        what += f" ({how}{': ' + cause if cause else ''})"
        log = self.log_since_spawn()
        if self.spec.rlimit_as_bytes is not None and short_of_room(log):
            todo = "raise --limit: Python, Flask and numpy alone take about 120M of address space"
        elif timed_out:
            todo = ("if it needs longer idle before it listens, raise --start-timeout; "
                    "probe --verbose ... shows the server's log")  # fmt: skip
        else:
            todo = "probe --verbose ... shows the server's log"
        return ServerStartError(f"{what}; {todo}", self.log_tail())

    def start(self) -> None:
        """Spawn and wait until ready."""
        self.spawn()
        self.wait_ready()

    def restart(self) -> None:
        """Stop whatever is left and start again on the same port."""
        self.stop()
        self.start()

    def stop(self, grace_s: float | None = None) -> None:
        """SIGTERM the server's main process, wait the grace period, SIGKILL what is left
        of its process group, reap.

        The main process only, as a container runtime stops a service: gunicorn's arbiter
        then stops its workers itself. Sent to the whole group, the term let a worker die
        before the arbiter read its own, and the arbiter spawned a new worker first."""
        if self.proc is None:
            self._drop_cgroup()
            return
        grace = self.spec.grace_s if grace_s is None else grace_s
        procs = self.processes()
        if grace > 0:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(self.proc.pid, signal.SIGTERM)
            _, procs = psutil.wait_procs(procs, timeout=grace)
        for p in procs:
            with contextlib.suppress(psutil.NoSuchProcess):
                p.kill()
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        _wait_gone([p for p in procs if p.pid != self.proc.pid], self.spec.grace_s)
        try:
            self.proc.wait(timeout=self.spec.grace_s)
        except subprocess.TimeoutExpired:  # pragma: no cover - SIGKILL cannot be ignored
            self.proc.kill()
            self.proc.wait()
        self.exits.append(decode_status(self.proc.returncode))
        REAPER.forget(self.proc.pid)
        self.proc = None
        self._drop_cgroup()

    def _drop_cgroup(self) -> None:
        if self.cgroup is not None:
            self.cgroup.remove()
            self.cgroup = None

    def kill(self) -> None:
        """Stop at once (SIGKILL the whole tree): for a server that has done its one probe."""
        self.stop(grace_s=0)

    def close(self, grace_s: float | None = None) -> None:
        self.stop(grace_s)
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
        """The top process and its descendants (the sampler reads these every 50 ms)."""
        proc = self.proc
        return [p.pid for p in tree(proc.pid)] if proc is not None else []

    def worker_pids(self) -> list[int]:
        """Processes that serve requests: gunicorn's workers, or a one-process server."""
        proc = self.proc
        return self.spec.kind.serving(tree(proc.pid)) if proc is not None else []

    @property
    def layout(self) -> str | None:
        """The layout this server really got: as probe.servers.capexec printed it, or,
        started with setarch (which fails rather than ignore -R), the one asked for
        (random is fixed on a machine whose randomize_va_space is 0)."""
        if self.proc is not None and not self._via_capexec:
            return "fixed" if self.spec.layout == "fixed" or not kernel_randomizes() else "random"
        m = _LAYOUT_RE.search(self.log_since_spawn())
        return m.group(1) if m else None

    def log_text(self) -> str:
        with open(self.log_path, encoding="utf-8", errors="replace") as fh:
            return fh.read()

    def log_since_spawn(self) -> str:
        with open(self.log_path, "rb") as fh:
            fh.seek(self._spawn_offset)
            return fh.read().decode("utf-8", errors="replace")

    def log_tail(self, lines: int = 15) -> str:
        tail = self.log_text().splitlines()[-lines:]
        return "server log (last lines):\n  " + "\n  ".join(tail) if tail else "(server log empty)"

    def new_log(self) -> str:
        """The log written since the last call (or the spawn)."""
        with open(self.log_path, "rb") as fh:
            fh.seek(self._events_offset)
            chunk = fh.read()
        self._events_offset += len(chunk)
        return chunk.decode("utf-8", errors="replace")

    def new_events(self) -> list[WorkerEvent]:
        """Worker events the server logged since the last call (none for a one-process kind)."""
        return self.spec.kind.events(self.new_log())


_LAYOUT_RE = re.compile(r"probe\.servers\.capexec: layout (fixed|random)")


class _Starting:
    """A server start being waited for: it fails when the server's processes have sat
    `idle_s` without using CPU (a server that imports a model for minutes is waited for,
    one that sleeps or waits on something that never comes is not), and says every
    NOTICE_S that it is still starting."""

    BUSY_CPU_S = 0.05  # at least this much CPU per CHECK_S counts as working
    CHECK_S = 0.5
    NOTICE_S = 10.0

    def __init__(self, server: Server, idle_s: float):
        self.server, self.idle_s = server, idle_s
        self.t0 = self.last_busy = self.checked = time.monotonic()
        self.noticed = self.t0
        self.cpu = 0.0

    def idle_too_long(self) -> bool:
        now = time.monotonic()
        if now - self.checked >= self.CHECK_S:
            self.checked = now
            proc = self.server.proc
            cpu = cpu_seconds([p.pid for p in tree(proc.pid)]) if proc is not None else 0.0
            if cpu - self.cpu >= self.BUSY_CPU_S:
                self.last_busy = now
            self.cpu = max(self.cpu, cpu)
            if now - self.noticed >= self.NOTICE_S:
                self.noticed = now
                notice(f"{self.server.spec.cmd or self.server.spec.server} is still starting: "
                       f"{now - self.t0:.0f} s, {self.cpu:.1f} s of CPU so far")  # fmt: skip
        return now - self.last_busy > self.idle_s


def notice(line: str) -> None:
    """A line of progress on stderr (a long server start)."""
    print(line, file=sys.stderr, flush=True)


def _wait_gone(procs: list[psutil.Process], timeout_s: float) -> None:
    """Wait until each process is gone or a zombie. A killed server's workers are not our
    children: their zombies wait for whoever reaps orphans, which may be never in a
    container, so psutil.wait_procs would sit out its whole timeout."""
    deadline = time.monotonic() + timeout_s
    alive = list(procs)
    while alive and time.monotonic() < deadline:
        still = []
        for p in alive:
            try:
                if p.status() != psutil.STATUS_ZOMBIE:
                    still.append(p)
            except psutil.NoSuchProcess:
                pass
        alive = still
        if alive:
            time.sleep(0.005)
