"""Server kinds: how to start one for a WSGI app (the two probe builds a command for),
which of its processes serve, how it runs requests (threads of one process, or
pre-fork workers), and how it reports a worker's end. A new kind is one entry in KINDS;
nothing else names a kind. A user's own command (probe.servers.command) is read as the
kind it starts: gunicorn, uvicorn, flask, or any other command.

No kind puts probe code into the server: the commands are what a user types, and
probe learns that a server is up from outside it (probe.servers.readiness).
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from probe.outcome import Kind, Outcome, signal_name
from probe.servers import settings
from probe.servers.command import COMMAND, gunicorn_options, uvicorn_options

if TYPE_CHECKING:  # pragma: no cover
    import psutil

# A kind's role: how it runs several requests at once.
THREADS = "threads"  # as threads of one process (Flask's dev server, gthread)
PREFORK = "prefork"  # in pre-forked worker processes (gunicorn)
ROLES = (THREADS, PREFORK)


class Options(Protocol):
    """What a kind reads of a server's configuration (probe.servers.spec.ServerSpec)."""

    app: str
    chdir: str | None
    host: str
    workers: int  # the pre-fork settings the kinds read themselves; probe's gunicorn
    worker_class: str  # command carries every setting (probe.servers.settings)
    threads: int
    preload: bool
    grace_s: float


_GUNICORN_EVENT_RE = re.compile(
    r"Worker \(pid:(?P<pid>\d+)\) was sent (?P<sig>SIG\w+|signal \d+)!"
    r"|Worker \(pid:(?P<pid2>\d+)\) exited with code (?P<code>\d+)"
    r"|WORKER TIMEOUT \(pid:(?P<pid3>\d+)\)"
    r"|Booting worker with pid: (?P<pid4>\d+)"
)


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


def _bind(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _gunicorn_flags() -> tuple[str, ...]:
    """gunicorn 27 opens a control socket at one fixed path per user; several servers
    at once would fight over it, and probe does not use it."""
    try:
        import gunicorn

        return ("--no-control-socket",) if gunicorn.version_info >= (27,) else ()
    except ImportError:  # pragma: no cover - gunicorn is a dependency
        return ()


_NO_CONTROL_SOCKET = _gunicorn_flags()


def _script(name: str) -> list[str]:
    """How a user runs a console script of this environment (`gunicorn`, `flask`): the
    script beside probe's Python, else `python -m NAME`."""
    path = os.path.join(os.path.dirname(sys.executable), name)
    return [path] if os.access(path, os.X_OK) else [sys.executable, "-m", name]


class ServerKind:
    """One kind of server. Subclasses fill in the argv (if probe builds one) and what
    differs from the defaults: the serving processes are the tree's leaves, the kind
    runs requests as threads of one process, and it logs nothing of its workers' ends."""

    name: str = ""
    role: str = THREADS  # one of ROLES
    help: str = ""
    builds: bool = False  # probe builds its command from --app (else: --cmd only)

    def argv(self, spec: Options, port: int) -> list[str]:
        raise NotImplementedError(f"{self.name} runs a --cmd only")

    def options(self, argv: list[str]) -> dict:
        """The ServerSpec fields a user's command of this kind sets (workers, ...)."""
        return {}

    def serving(self, procs: Sequence[psutil.Process]) -> list[int]:
        """Pids of the processes that run the app's requests, of the tree `procs`
        (top first): the processes with no child."""
        parents = set()
        for p in procs[1:]:
            with contextlib.suppress(Exception):
                parents.add(p.ppid())
        return sorted(p.pid for p in procs if p.pid not in parents and not _helper(p))

    def expected_workers(self, spec: Options) -> int:
        """How many serving processes the server runs once up (0: however many it has)."""
        return 1

    def threaded(self, spec: Options) -> bool:
        """Whether several requests can run at once as threads of one process."""
        return self.role == THREADS

    def events(self, log_text: str) -> list[WorkerEvent]:
        """What the server logged about its workers' ends (none for a one-process kind)."""
        return []

    def failure(self, log_text: str, client: Outcome) -> Outcome | None:
        """What the server's log says about a failed request, beyond a MemoryError (which
        probe.servers.logs reads for every kind); None if it says nothing."""
        return None

    def describe(self, spec: Options) -> str:
        return self.name


class DevServer(ServerKind):
    """werkzeug's threaded development server, started as Flask's `app.run()` starts it:
    `run_simple(host, port, app, threaded=True)`, in a `python -c` line a user can run.
    (`flask --app` would take Flask apps only: it calls a plain WSGI function as a factory.)"""

    name = "flask"
    help = (
        "Flask's dev server (werkzeug, threaded, as app.run()): requests are threads of one process"
    )
    builds = True

    def argv(self, spec: Options, port: int) -> list[str]:
        module, _, attr = spec.app.partition(":")
        code = (f"from {module} import {attr or 'application'} as app; "
                "from werkzeug.serving import run_simple; "
                f"run_simple({spec.host!r}, {port}, app, threaded=True)")  # fmt: skip
        return [sys.executable, "-c", code]


class Gunicorn(ServerKind):
    """gunicorn's pre-fork arbiter and its workers (sync, or gthread with threads)."""

    name = "gunicorn"
    role = PREFORK
    help = "pre-fork workers (sync, or gthread with --threads)"
    builds = True

    def argv(self, spec: Options, port: int) -> list[str]:
        return [
            *_script("gunicorn"),
            "--bind", _bind(spec.host, port),
            *settings.gunicorn_args(spec),  # workers, class, threads, timeout, preload
            "--graceful-timeout", str(max(1, int(spec.grace_s))),
            *_NO_CONTROL_SOCKET,
            spec.app,
        ]  # fmt: skip

    def options(self, argv: list[str]) -> dict:
        return gunicorn_options(argv)

    def serving(self, procs: Sequence[psutil.Process]) -> list[int]:
        if not procs:
            return []
        top = procs[0].pid
        return sorted(p.pid for p in procs[1:] if _is_child_of(p, top))

    def expected_workers(self, spec: Options) -> int:
        return spec.workers

    def threaded(self, spec: Options) -> bool:
        return spec.threads > 1 or spec.worker_class not in ("sync",)

    def events(self, log_text: str) -> list[WorkerEvent]:
        return parse_worker_events(log_text)

    def failure(self, log_text: str, client: Outcome) -> Outcome | None:
        return outcome_from_events(self.events(log_text), client)

    def describe(self, spec: Options) -> str:
        text = f"gunicorn, {spec.workers} {spec.worker_class} worker(s)"
        if spec.threads > 1:
            text += f" x {spec.threads} threads"
        return text + (", --preload" if spec.preload else "")


class Uvicorn(ServerKind):
    """uvicorn: an ASGI app on an event loop (sync endpoints in a thread pool), in one
    process or in --workers processes under its supervisor."""

    name = "uvicorn"
    help = "uvicorn (ASGI): an event loop per process; run it with --cmd"

    def options(self, argv: list[str]) -> dict:
        return uvicorn_options(argv)

    def expected_workers(self, spec: Options) -> int:
        return spec.workers

    def describe(self, spec: Options) -> str:
        return f"uvicorn, {spec.workers} process(es)" if spec.workers > 1 else "uvicorn"


class Command(ServerKind):
    """A command probe does not know (`python app.py`, waitress-serve, ...): its serving
    processes are those of its tree with no child, as many as it runs once up."""

    name = COMMAND
    help = "any other command; run it with --cmd"

    def expected_workers(self, spec: Options) -> int:
        return 0

    def describe(self, spec: Options) -> str:
        return "a command"


# Processes a server's tree holds that serve no request: multiprocessing's resource
# tracker, which a server spawning its workers (uvicorn --workers N) starts beside them.
# It never waits on a socket, so taken for a worker it kept such a server "busy".
_HELPERS = ("multiprocessing.resource_tracker",)


def _helper(p) -> bool:
    """Whether the process (a psutil.Process or readiness.Proc: its .pid) is a helper,
    from /proc/PID/cmdline."""
    try:
        with open(f"/proc/{p.pid}/cmdline", "rb") as fh:
            line = fh.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return False
    return any(h in line for h in _HELPERS)


def _is_child_of(p: psutil.Process, ppid: int) -> bool:
    import psutil

    try:
        return p.ppid() == ppid
    except psutil.NoSuchProcess:
        return False


KINDS: dict[str, ServerKind] = {k.name: k for k in (DevServer(), Gunicorn(), Uvicorn(), Command())}
SERVERS = tuple(name for name, k in KINDS.items() if k.builds)  # what --server can build


def outcome_from_events(events: list[WorkerEvent], client: Outcome) -> Outcome | None:
    """What gunicorn's log says about a failed probe; None if it logged no worker's end.

    On --timeout gunicorn logs "WORKER TIMEOUT (pid:N)" and sends SIGABRT: the worker's
    handler raises SystemExit inside the request, so the client gets a 500 and the
    worker exits; a worker stuck in C code gets SIGKILL next, logged "was sent SIGKILL!
    Perhaps out of memory?" exactly like an OOM kill. So a timeout line decides.
    """
    ends = [e for e in events if e.kind != "booted"]
    if not ends:
        return None
    timeouts = [e for e in ends if e.kind == "timeout"]
    return _from_worker_event((timeouts or ends)[0], client)


def _from_worker_event(event: WorkerEvent, client: Outcome) -> Outcome:
    if event.kind == "timeout":
        return Outcome(
            Kind.TIMEOUT,
            client.status,
            f"gunicorn worker timeout: {event.describe()}; client saw: {client.detail}",
            signal.SIGABRT,
        )
    if event.kind == "signaled":
        return Outcome(
            Kind.KILLED, client.status, f"{event.describe()}; client saw: {client.detail}",
            event.signal,
        )  # fmt: skip
    return Outcome(
        Kind.CONNECTION_ERROR, client.status, f"{event.describe()}; client saw: {client.detail}"
    )
