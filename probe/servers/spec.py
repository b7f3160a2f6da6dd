"""What to run: a server kind for an app, under which cap and layout, with which options.

The defaults here are the only ones: the command line reads them for its options.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import MISSING, dataclass, field, fields, replace

from probe.defaults import BUILTIN_APP, BUILTIN_APP_DIR
from probe.errors import ProbeError
from probe.servers import command, settings
from probe.servers.capexec import LAYOUTS
from probe.servers.kinds import KINDS, PREFORK, ServerKind
from probe.servers.limits import LIMIT_KINDS, WHOLE_SERVER, limit
from probe.sizes import format_size

# Pinned for the server unless overridden: the cap counts address space, and each
# OpenBLAS thread buffer and each glibc malloc arena reserves some (design.md).
# A fixed mmap threshold (glibc's initial 128 KiB) turns off its dynamic raise: freeing
# a 1-32 MiB list array would otherwise move later arrays onto the brk heap, which then
# keeps up to 2x that much freed address space that pymalloc's arenas cannot reuse, so
# the critical n would depend on which n were probed before (README, "Finding the
# critical n").
DEFAULT_SERVER_ENV = {
    "OPENBLAS_NUM_THREADS": "1",
    "OMP_NUM_THREADS": "1",
    "MALLOC_ARENA_MAX": "2",
    "MALLOC_MMAP_THRESHOLD_": "131072",
    "PYTHONUNBUFFERED": "1",
}


class ServerError(ProbeError):
    """The server could not be started or used; the message says what to do (exit 3:
    probe could not probe)."""

    exit_code = 3


@dataclass(frozen=True)
@settings.add_fields
class ServerSpec:
    """What to run: which server kind, which app, under which cap and layout, with which
    options. The whole configuration: a result's identity includes every field but the
    port and the timings of probe's own waiting."""

    server: str = "gunicorn"  # a key of probe.servers.kinds.KINDS
    cmd: str | None = None  # the user's start command as written ({port}, {host}); see from_command
    limit_bytes: int | None = None
    limit_kind: str = "as"  # one of LIMIT_KINDS
    host: str = "127.0.0.1"
    port: int = 0  # 0: pick a free port
    # here, one field per pre-fork setting (workers, worker_class, threads, worker_timeout_s,
    # preload), with its default: probe.servers.settings.PREFORK declares them
    app: str = BUILTIN_APP  # MODULE:ATTR
    chdir: str | None = None  # where the app is imported from
    layout: str = "fixed"  # "fixed": no address-space randomization; "random": the kernel's
    ready_timeout_s: float = 30.0
    grace_s: float = 3.0
    env: Mapping[str, str] = field(default_factory=dict)  # overrides DEFAULT_SERVER_ENV
    oom_group: bool = False  # limit kinds tree, cgroup: past the budget, kill the whole tree

    @property
    def workdir(self) -> str | None:
        """The folder the server starts in: chdir, or the checkout for the built-in app
        (None: probe's own working folder)."""
        if self.chdir is None and self.cmd is None and self.app == BUILTIN_APP:
            return BUILTIN_APP_DIR
        return self.chdir

    def __post_init__(self) -> None:
        if self.server not in KINDS:
            raise ServerError(f"unknown server {self.server!r}; choose one of {', '.join(KINDS)}")
        if self.cmd is None and not self.kind.builds:
            raise ServerError(f"{self.server} runs a user's command only; pass --cmd")
        if self.cmd is not None:
            try:
                named = command.server_name(self.cmd, tuple(KINDS))
            except command.CommandError as exc:
                raise ServerError(str(exc)) from None
            if named != self.server:
                raise ServerError(f"the command starts {named}, not {self.server}")
            if command.fixes_port(self.cmd) and not self.port:
                raise ServerError(
                    "the command names no {port}: put {port} where its port goes, "
                    "or pass --port with the port it listens on"
                )
        if self.layout not in LAYOUTS:
            raise ServerError(f"unknown layout {self.layout!r}; choose one of {', '.join(LAYOUTS)}")
        if self.limit_kind not in LIMIT_KINDS:
            raise ServerError(
                f"unknown limit kind {self.limit_kind!r}; choose one of {', '.join(LIMIT_KINDS)}"
            )

    @property
    def kind(self) -> ServerKind:
        return KINDS[self.server]

    def argv(self, port: int) -> list[str]:
        """The server's command: the user's, filled in, or the one the kind builds."""
        if self.cmd is not None:
            return command.fill(self.cmd, port, self.host)
        return self.kind.argv(self, port)

    @property
    def rlimit_as_bytes(self) -> int | None:
        """The RLIMIT_AS to set, if the cap is of that kind."""
        return self.limit_bytes if self.limit_kind == "as" else None

    @property
    def watchdog_bytes(self) -> int | None:
        """The RSS the watchdog enforces, if the cap is of that kind."""
        return self.limit_bytes if self.limit_kind == "rss" else None

    @property
    def tree_budget_bytes(self) -> int | None:
        """The whole tree's budget, if the cap is of that kind."""
        return self.limit_bytes if self.limit_kind == "tree" else None

    @property
    def cgroup_max_bytes(self) -> int | None:
        """The memory.max of each server's own cgroup, if the cap is of that kind."""
        return self.limit_bytes if self.limit_kind == "cgroup" else None

    @property
    def threaded(self) -> bool:
        """Whether requests can run at once as threads of one process."""
        return self.kind.threaded(self)

    def config(self) -> dict:
        """The server configuration as results record it (design.md's keys)."""
        prefork = self.kind.role == PREFORK
        return {
            "server": self.server,
            "cmd": self.cmd,
            "oom_group": self.oom_group if self.limit_kind in WHOLE_SERVER else None,
            "role": self.kind.role,
            **{key: getattr(self, key) if prefork else None for key in PREFORK_OPTIONS},
        }

    def differs_from_default(self) -> list[str]:
        """The pre-fork options set away from their defaults, in PREFORK_OPTIONS' order."""
        if self.kind.role != PREFORK:
            return []
        return [key for key in PREFORK_OPTIONS if getattr(self, key) != DEFAULTS[key]]

    def running(self, app: str | None, chdir: str | None, cmd: str | None = None) -> ServerSpec:
        """This configuration serving an app (MODULE:ATTR) from `chdir`, or running the
        user's command `cmd` there (then its kind and options come from the command)."""
        if cmd is None:
            return replace(self, app=app or self.app, chdir=chdir)
        keep = {f.name: getattr(self, f.name) for f in fields(self)
                if f.name not in (*PREFORK_OPTIONS, "server", "cmd", "app")}  # fmt: skip
        return from_command(cmd, **{**keep, "chdir": chdir})

    def describe(self) -> str:
        what = self.kind.describe(self) + (f" ({self.cmd})" if self.cmd else "")
        return f"{what}, cap {format_size(self.limit_bytes)} ({limit(self.limit_kind).enforced_by})"


def from_command(cmd: str, **fields) -> ServerSpec:
    """The spec of a user's start command: its kind and the options it sets, read from it."""
    try:
        argv = command.split(cmd)
        server = command.server_name(cmd, tuple(KINDS))
    except command.CommandError as exc:
        raise ServerError(str(exc)) from None
    return ServerSpec(**{**fields, **KINDS[server].options(argv), "server": server, "cmd": cmd})


# The options a pre-fork kind takes (results keys, in order; probe.servers.settings);
# None for the other kinds.
PREFORK_OPTIONS = settings.FIELDS
DEFAULTS = {f.name: f.default for f in fields(ServerSpec) if f.default is not MISSING}


def pinned_env(spec: ServerSpec) -> dict[str, str]:
    """The variables probe adds to the server's environment, after the spec's overrides:
    none for a user's command (it runs in the user's environment as it is)."""
    return dict(spec.env) if spec.cmd is not None else {**DEFAULT_SERVER_ENV, **spec.env}
