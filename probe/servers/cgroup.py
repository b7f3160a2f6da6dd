"""A real cgroup v2 memory limit per server: the kernel's `memory.max` decides.

`--limit-kind cgroup`: each server probe starts runs in a cgroup of its own that probe
creates, `<parent>/probe-<pid>-<k>`, with `memory.max` = the limit, `memory.swap.max` = 0
and, with `--oom-group`, `memory.oom.group` = 1 (the kernel then kills the whole group, as
Kubernetes 1.28+ asks of it on cgroup v2). The server's first process joins the cgroup
before it execs the server (probe.servers.capexec --cgroup), so everything the server
allocates and forks is charged there: anonymous memory, page tables, kernel stacks, slab,
the page cache it touches (cgroup-v2.rst, "Memory Ownership"). The kernel reclaims what
it can and OOM-kills when it cannot; probe reads what happened from `memory.events`
(`oom_kill`, `oom_group_kill`, `max`), the peak from `memory.peak` and the charge's parts
from `memory.stat`. The cgroup is removed after its server. probe writes only to cgroups it
created, and to the one it runs in when that one is delegated to it (below).

Where the cgroups go (the parent):
- `--cgroup-parent PATH` (under /sys/fs/cgroup, or relative to it): its
  `cgroup.subtree_control` must already name `memory`;
- else the cgroup probe runs in (/proc/self/cgroup): the root cgroup when probe runs as
  root in a VM or a privileged container; or a delegated scope
  (`systemd-run --user --scope -p Delegate=yes probe ...`), where the memory controller is
  available but not yet enabled for children: probe moves itself into a leaf of its own
  (`probe-<pid>-self`, the rule that a cgroup with controllers for its children holds no
  processes) and enables `memory` for the scope's children.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import shlex
import time
from pathlib import Path

from probe.servers.spec import ServerError

ROOT = Path("/sys/fs/cgroup")
HOW = ("run probe as root where cgroup v2 is mounted (a VM, a privileged container), or in "
       "a delegated scope (systemd-run --user --scope -p Delegate=yes probe ...), or pass "
       "--cgroup-parent PATH; --limit-kind tree emulates the limit without one")  # fmt: skip
# memory.stat's parts of the charge that results keep (bytes)
STAT_KEYS = ("anon", "file", "kernel", "kernel_stack", "pagetables", "slab", "sock", "shmem",
             "file_mapped")  # fmt: skip
EVENT_KEYS = ("low", "high", "max", "oom", "oom_kill", "oom_group_kill")
_NUMBERS = itertools.count(1)


class CgroupUnavailable(ServerError):
    """No cgroup v2 with the memory controller that probe may create children in."""


def own_path() -> str:
    """The cgroup v2 path this process runs in ('/' for the root), from /proc/self/cgroup."""
    with open("/proc/self/cgroup", encoding="ascii") as fh:
        for line in fh:
            if line.startswith("0::"):
                return line[3:].strip() or "/"
    return "/"


def _words(path: Path) -> list[str]:
    try:
        return path.read_text(encoding="ascii").split()
    except OSError:
        return []


def _resolve(explicit: str | None) -> Path:
    if explicit is None:
        return ROOT / own_path().lstrip("/")
    path = Path(explicit)
    path = path if path.is_absolute() else ROOT / path
    path = Path(os.path.realpath(path))
    if path != ROOT and ROOT not in path.parents:
        raise CgroupUnavailable(f"--cgroup-parent {explicit} is not under {ROOT}: name a "
                                f"cgroup, e.g. {ROOT}/probe.slice")  # fmt: skip
    return path


_CHOSEN: list[Path] = []  # the parent this run uses, once found


def choose(explicit: str | None = None) -> Path:
    """Find and check the parent (see the module's doc) for this run: `explicit` is
    --cgroup-parent. CgroupUnavailable, one line that says what gives one, where none."""
    _CHOSEN[:] = [_find(explicit)]
    return _CHOSEN[0]


def parent() -> Path:
    """The parent chosen for this run (choose), or the default one, found now."""
    return _CHOSEN[0] if _CHOSEN else choose()


def _find(explicit: str | None) -> Path:
    if not (ROOT / "cgroup.controllers").exists():
        raise CgroupUnavailable(
            f"--limit-kind cgroup needs cgroup v2 at {ROOT}, and this machine has none "
            f"(cgroup v1, or nothing mounted there): {HOW}"
        )
    path = _resolve(explicit)
    if not (path / "cgroup.controllers").exists():
        raise CgroupUnavailable(f"no cgroup at {path}: {HOW}")
    if "memory" not in _words(path / "cgroup.controllers"):
        raise CgroupUnavailable(
            f"the memory controller is not available in {path} (its parent does not "
            f"delegate it): {HOW}"
        )
    if not os.access(path, os.W_OK) or not os.access(path / "cgroup.procs", os.W_OK):
        raise CgroupUnavailable(f"probe may not create cgroups in {path}: {HOW}")
    if "memory" not in _words(path / "cgroup.subtree_control"):
        if explicit is not None:
            raise CgroupUnavailable(
                f"{path} does not enable the memory controller for its children: "
                f"echo +memory > {path}/cgroup.subtree_control (as its owner), or {HOW}"
            )
        _delegate(path)
    return path


def _delegate(path: Path) -> None:
    """In a delegated cgroup that probe runs in: move probe into a leaf of its own, then
    enable memory for the cgroup's children. CgroupUnavailable if other processes are
    there too (the kernel refuses controllers for children while a cgroup holds any)."""
    leaf = path / f"probe-{os.getpid()}-self"
    try:
        leaf.mkdir(exist_ok=True)
        (leaf / "cgroup.procs").write_text(str(os.getpid()), encoding="ascii")
        (path / "cgroup.subtree_control").write_text("+memory", encoding="ascii")
    except OSError as exc:
        others = [p for p in _words(path / "cgroup.procs") if p != str(os.getpid())]
        why = f"other processes run in it ({', '.join(others[:3])})" if others else exc.strerror
        raise CgroupUnavailable(
            f"cannot enable the memory controller for the children of {path}: {why}: {HOW}"
        ) from None


def _read_int(path: Path) -> int | None:
    try:
        text = path.read_text(encoding="ascii").strip()
    except OSError:
        return None
    return None if text == "max" else int(text)


def _pairs(path: Path) -> dict[str, int]:
    try:
        lines = path.read_text(encoding="ascii").splitlines()
    except OSError:
        return {}
    out = {}
    for line in lines:
        key, _, value = line.partition(" ")
        with contextlib.suppress(ValueError):
            out[key] = int(value)
    return out


class ServerCgroup:
    """One server's cgroup: created with its limit, read while it runs, removed after."""

    def __init__(self, parent_path: Path, limit_bytes: int, oom_group: bool = False):
        self.path = parent_path / f"probe-{os.getpid()}-{next(_NUMBERS)}"
        self.limit_bytes = limit_bytes
        self.oom_group = oom_group
        try:
            self.path.mkdir()
            (self.path / "memory.max").write_text(str(limit_bytes), encoding="ascii")
            if (self.path / "memory.swap.max").exists():
                (self.path / "memory.swap.max").write_text("0", encoding="ascii")
            if oom_group:
                (self.path / "memory.oom.group").write_text("1", encoding="ascii")
        except OSError as exc:
            self.remove()
            raise CgroupUnavailable(
                f"cannot make the cgroup {self.path}: {exc.strerror}: {HOW}"
            ) from None

    def current(self) -> int | None:
        """The charge now (memory.current)."""
        return _read_int(self.path / "memory.current")

    def peak(self) -> int | None:
        """The charge's peak since the cgroup was made (memory.peak; kernel 5.19+)."""
        return _read_int(self.path / "memory.peak")

    def events(self) -> dict[str, int]:
        """memory.events: how often the cgroup hit memory.max, OOMed, had a process killed."""
        found = _pairs(self.path / "memory.events")
        return {key: found.get(key, 0) for key in EVENT_KEYS}

    def oom_kills(self) -> int:
        """Processes the kernel OOM-killed in this cgroup so far (memory.events)."""
        events = self.events()
        return events["oom_kill"] + events["oom_group_kill"]

    def stat(self) -> dict[str, int]:
        """The charge's parts now (memory.stat, bytes)."""
        found = _pairs(self.path / "memory.stat")
        return {key: found[key] for key in STAT_KEYS if key in found}

    def pids(self) -> list[int]:
        return [int(p) for p in _words(self.path / "cgroup.procs")]

    def remove(self, wait_s: float = 2.0) -> None:
        """Kill what is left in the cgroup (cgroup.kill, kernel 5.14+) and remove it."""
        if not self.path.exists():
            return
        deadline = time.monotonic() + wait_s
        killed = False
        while self.pids() and time.monotonic() < deadline:
            if not killed:
                with contextlib.suppress(OSError):
                    (self.path / "cgroup.kill").write_text("1", encoding="ascii")
                killed = True
            time.sleep(0.01)
        with contextlib.suppress(OSError):
            self.path.rmdir()


def launch_prefix(cgroup: ServerCgroup) -> list[str]:
    """The words that put a command in `cgroup` before it runs: a shell that joins it and
    execs the command (the server keeps the shell's pid)."""
    return ["sh", "-c", f'echo $$ > {cgroup.path}/cgroup.procs && exec "$@"', "sh"]


def by_hand(spec) -> str:
    """The same start by hand (a ServerSpec of kind cgroup), up to the server's command:
    make a cgroup with the limit, then start the command in it."""
    where = shlex.quote(str(parent() / "by-hand"))
    steps = [f"mkdir {where}", f"echo {spec.cgroup_max_bytes} > {where}/memory.max",
             f"echo 0 > {where}/memory.swap.max"]  # fmt: skip
    if spec.oom_group:
        steps.append(f"echo 1 > {where}/memory.oom.group")
    join = shlex.quote(f'echo $$ > {where}/cgroup.procs && exec "$@"')
    return " && ".join(steps) + f" && sh -c {join} sh"
