"""One memory budget for a server's whole process tree, counted as a container counts it.

A container's memory cgroup charges each page once, to the cgroup, however many of its
processes map it (cgroup-v2.rst, "Memory Ownership"): gunicorn's arbiter and workers
share their copy-on-write pages, and `--preload` shares the app's data. The anonymous
part of that charge is the sum over the tree of `Pss_Anon` (/proc/PID/smaps_rollup):
each shared page split between its sharers adds up to one page. That read walks every
mapping (about 40 ms for a 1 GB process here), too slow to sample every 2 ms, while
/proc/PID/statm costs 20-35 us and gives each process's resident anonymous pages
(resident minus file-backed): their sum counts a shared page once per sharer, an upper
bound of the charge.

The kernel charges more than anonymous pages: each process's page tables (`VmPTE`,
about 2 MiB per GiB mapped) and each thread's kernel stack (16 KiB on x86-64 and arm64),
which a cgroup's memory.stat shows as `pagetables` and `kernel_stack`; the exact read
adds them (`kernel_bytes`), and a reserve for what no process shows (RESERVE_BYTES: slab,
the per-CPU charge stock). The page cache the tree touches is charged too, but the
kernel reclaims it before it kills, so it is not counted (docs/limits.md measures all
of it against a real cgroup).

So the budget samples the cheap sum every time and corrects it by what it last
measured exactly (`excess` = sum of anonymous RSS - (sum of Pss_Anon + kernel bytes),
all from one read; negative where the kernel's part outweighs the sharing),
re-measured every `refresh_s` once the tree is past half the budget, on a thread of its
own: a 40 ms read in the sampler's loop let a list grow
16 MiB past a 256M budget before the kill. Sharing only shrinks as processes write to
shared pages, so between two exact reads the estimate can fall short by what was
unshared since; bench/tree.py measures how far past the budget a kill comes.

Over the budget, the kernel's OOM killer kills the process with the largest badness
(about its RSS); with `memory.oom.group` (Kubernetes since 1.28 on cgroup v2) it kills
the whole container. The budget does the same: SIGKILL the largest RSS, or every
process of the tree with `oom_group`.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from dataclasses import dataclass, field

from probe.measure.procfs import read_kb

_ROLLUP_KEYS = ("Rss", "Pss", "Pss_Anon", "Private_Clean", "Private_Dirty", "Anonymous")
KERNEL_STACK_BYTES = 16 << 10  # THREAD_SIZE on x86-64 and arm64
# What a cgroup is charged beside its processes' memory that it cannot reclaim: slab and
# other kernel objects (170-320 KiB measured in a real cgroup beside each test app's
# gunicorn or uvicorn tree, docs/limits.md) and the charges each CPU holds in stock ahead
# of use (MEMCG_CHARGE_BATCH, 64 pages per CPU, counted in memory.current).
RESERVE_BYTES = (256 << 10) + 64 * 4096 * (os.cpu_count() or 1)


def kernel_part(pid: int) -> tuple[int, int] | None:
    """A process's page tables (VmPTE, bytes) and its thread count; None if it is gone."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii", errors="replace") as fh:
            text = fh.read()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    pte, threads = 0, 1
    for line in text.splitlines():
        key, _, rest = line.partition(":")
        if key == "VmPTE":
            pte = int(rest.split()[0]) * 1024
        elif key == "Threads":
            threads = int(rest.split()[0])
    return pte, threads


def rollup(pid: int) -> dict[str, int] | None:
    """RSS, PSS, anonymous PSS and private memory of a process in bytes (smaps_rollup)."""
    out = read_kb(f"/proc/{pid}/smaps_rollup", _ROLLUP_KEYS)
    if out is None:
        return None
    if "Pss_Anon" not in out:  # kernels before 5.13: no split; count all of PSS
        out["Pss_Anon"] = out.get("Pss", 0)
    return out


def tree_snapshot(pids: list[int]) -> dict:
    """Each process's RSS, PSS, private and kernel memory, and the tree's charge (the sum
    of Pss_Anon, page tables and kernel stacks)."""
    procs = []
    for pid in pids:
        r, k = rollup(pid), kernel_part(pid)
        if r is not None and k is not None:
            procs.append({
                "pid": pid,
                "rss_bytes": r.get("Rss", 0),
                "pss_bytes": r.get("Pss", 0),
                "pss_anon_bytes": r["Pss_Anon"],
                "private_bytes": r.get("Private_Clean", 0) + r.get("Private_Dirty", 0),
                "anon_bytes": r.get("Anonymous", 0),
                "kernel_bytes": k[0] + k[1] * KERNEL_STACK_BYTES,
            })  # fmt: skip
    kernel = sum(p["kernel_bytes"] for p in procs)
    charge = sum(p["pss_anon_bytes"] for p in procs) + kernel + RESERVE_BYTES
    return {"charge_bytes": charge, "kernel_bytes": kernel, "reserve_bytes": RESERVE_BYTES,
            "anon_rss_sum_bytes": sum(p["anon_bytes"] for p in procs),
            "processes": procs}  # fmt: skip


@dataclass
class TreeKill:
    """Processes the budget killed, and the tree's charge when it did."""

    pids: list[int]
    t_s: float
    charge_bytes: int
    budget_bytes: int

    @property
    def over_bytes(self) -> int:
        return self.charge_bytes - self.budget_bytes


@dataclass
class TreeBudget:
    """The budget's state: the sharing last measured, the peak, the kills."""

    budget_bytes: int
    oom_group: bool = False
    refresh_s: float = 0.1
    excess_bytes: int = 0  # sum of anonymous RSS minus the exact charge, last measured
    measured_pids: frozenset[int] = frozenset()  # the processes it was measured over
    measured_at: float = -1e9
    kills: list[TreeKill] = field(default_factory=list)
    snapshot: dict | None = None  # the last exact read (tree_snapshot)
    _dying: set[int] = field(default_factory=set)
    _reading: threading.Thread | None = None

    def charge(self, anon_rss: dict[int, int], now: float) -> int:
        """The tree's estimated charge from each process's anonymous RSS (statm); past
        half the budget, an exact read of the sharing starts in the background.

        The sharing measured holds for the processes it was measured over only: where
        the tree is another one (a fork, an exit, the next fresh server), past half the
        budget it is measured again at once, in this thread. (Carried over, one server's
        sharing let the next server's tree pass a 192M budget by 37 % in a run of
        bench/kernel.py: its three processes were counted with four's sharing.)"""
        bound = sum(anon_rss.values())
        pids = frozenset(anon_rss)
        if bound <= self.budget_bytes // 2:
            return bound - (self.excess_bytes if pids == self.measured_pids else 0)
        idle = self._reading is None or not self._reading.is_alive()
        if pids != self.measured_pids:
            self.measured_at = now
            self._measure(list(pids))
        elif idle and now - self.measured_at >= self.refresh_s:
            self.measured_at = now
            self._reading = threading.Thread(
                target=self._measure, args=(list(pids),), name="probe-tree", daemon=True
            )
            self._reading.start()
        return bound - self.excess_bytes

    def _measure(self, pids: list[int]) -> None:
        snap = tree_snapshot(pids)
        self.excess_bytes = snap["anon_rss_sum_bytes"] - snap["charge_bytes"]
        self.measured_pids = frozenset(pids)
        self.snapshot = snap

    def enforce(self, charge: int, rss: dict[int, int], t: float) -> TreeKill | None:
        """Kill as the kernel would if the charge is past the budget; the kill, or None."""
        self._dying &= set(rss)  # a victim is listed until its memory is gone
        if charge <= self.budget_bytes or not rss or self._dying:
            return None
        victims = list(rss) if self.oom_group else [max(rss, key=rss.get)]
        killed = []
        for pid in victims:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)
        if not killed:
            return None
        self._dying.update(killed)
        kill = TreeKill(killed, round(t, 4), charge, self.budget_bytes)
        self.kills.append(kill)
        self.measured_at = -1e9  # the tree changed: measure its sharing again
        return kill


def budget_for(spec) -> TreeBudget | None:
    """A fresh budget for one server's tree (a ServerSpec), if its cap is of that kind."""
    if spec.tree_budget_bytes is None:
        return None
    return TreeBudget(spec.tree_budget_bytes, oom_group=spec.oom_group)
