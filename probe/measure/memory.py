"""Peak memory over a server's process tree: a psutil sampler and the kernel's high-water mark.

Two measurements, reported side by side:
- sampled: a thread reads every server process's RSS and address-space size (psutil)
  every few milliseconds and keeps the time series; it can miss a short spike;
- kernel: `VmHWM` in /proc/PID/status is the exact peak RSS, reset before each measured
  step by writing "5" to /proc/PID/clear_refs. It is lost with a process that dies.

The sampler doubles as a watchdog for `--limit-kind rss`: a process whose RSS passes
the cap is sent SIGKILL, as the kernel's OOM killer does in a container with a memory
limit. How far past the cap it got is recorded. For `--limit-kind tree` it keeps one
budget for the whole tree instead (probe.measure.tree). For `--limit-kind cgroup` the
kernel enforces the limit; the sampler reads the server's cgroup's memory.current, and
each step ends with the kernel's memory.peak, memory.events and memory.stat.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import psutil

from probe.errors import ProbeError
from probe.measure.procfs import read_kb
from probe.measure.tree import TreeBudget

if TYPE_CHECKING:
    from probe.servers.cgroup import ServerCgroup

_STATUS_KEYS = ("VmHWM", "VmRSS", "VmSize", "VmPeak")


def read_status(pid: int) -> dict[str, int] | None:
    """VmHWM, VmRSS, VmSize, VmPeak of a process in bytes; None if it is gone."""
    return read_kb(f"/proc/{pid}/status", _STATUS_KEYS)


def reset_peak(pid: int) -> bool:
    """Reset the kernel's VmHWM of a process to its current RSS; False if impossible."""
    try:
        with open(f"/proc/{pid}/clear_refs", "w", encoding="ascii") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


@dataclass(frozen=True)
class Kill:
    """A process the RSS watchdog killed."""

    pid: int
    t_s: float  # monotonic offset from the monitor's start
    rss_bytes: int  # RSS seen when killing (limit kind tree: the tree's charge)
    limit_bytes: int

    @property
    def over_bytes(self) -> int:
        return self.rss_bytes - self.limit_bytes

    def to_dict(self) -> dict:
        """The kill as results record it, with how far past the cap the process got."""
        return {
            "pid": self.pid,
            "t_s": self.t_s,
            "rss_bytes": self.rss_bytes,
            "limit_bytes": self.limit_bytes,
            "over_bytes": self.over_bytes,
        }


@dataclass
class StepMemory:
    """Memory of one measured step (e.g. one probe) over the server's processes."""

    peak_rss_sampled_bytes: int | None = None  # max over processes
    peak_vms_sampled_bytes: int | None = None  # max over processes
    peak_rss_hwm_bytes: int | None = None  # kernel VmHWM, max over surviving processes
    per_pid: dict[int, dict[str, int]] = field(default_factory=dict)
    samples: list[tuple[float, int, int, int]] = field(default_factory=list)  # t, pid, rss, vms
    kills: list[Kill] = field(default_factory=list)
    peak_tree_bytes: int | None = None  # limit kind tree: the tree's peak charge (estimated)
    tree_peak: dict | None = None  # the exact read nearest that peak (tree_snapshot)
    peak_cgroup_sampled_bytes: int | None = None  # limit kind cgroup: memory.current's max
    # limit kind cgroup: the kernel's account at the step's end (Monitor.end_step)
    cgroup: dict | None = None

    @property
    def peak_cgroup_bytes(self) -> int | None:
        """The cgroup's peak charge: the kernel's memory.peak (since the server started,
        so exact for its first request), else the sampled memory.current."""
        values = [self.peak_cgroup_sampled_bytes, (self.cgroup or {}).get("peak_bytes")]
        values = [v for v in values if v is not None]
        return max(values) if values else None

    @property
    def oom_kills(self) -> int:
        """Processes the kernel OOM-killed in the step (memory.events, limit kind cgroup)."""
        events = (self.cgroup or {}).get("events", {})
        return events.get("oom_kill", 0) + events.get("oom_group_kill", 0)

    @property
    def peak_rss_bytes(self) -> int | None:
        """The best peak we have: the kernel's if any process survived, else sampled."""
        values = [v for v in (self.peak_rss_hwm_bytes, self.peak_rss_sampled_bytes) if v]
        return max(values) if values else None


class MonitorError(ProbeError):
    """The sampler thread died: peaks are no longer measured and an RSS cap no longer
    enforced, so nothing measured from now on could be trusted."""


class Monitor:
    """Sampler thread over the processes `pids()` returns; optional RSS watchdog.

    If the thread dies, `check()` (called by begin_step and end_step) raises
    MonitorError: a probe must never run without the cap it claims.
    """

    def __init__(
        self,
        pids: Callable[[], list[int]],
        interval_s: float = 0.002,
        kill_above_bytes: int | None = None,
        refresh_s: float = 0.05,
        keep_samples: bool = True,
        tree: TreeBudget | None = None,
        cgroup: Callable[[], ServerCgroup | None] | None = None,
    ):
        self._pids_fn = pids
        self.interval_s = interval_s
        self.kill_above_bytes = kill_above_bytes
        self.refresh_s = refresh_s
        self.keep_samples = keep_samples
        self.tree = tree
        self._cgroup_fn = cgroup or (lambda: None)
        self._events0: dict[str, int] = {}  # the cgroup's memory.events at the step's start
        self._seen: dict | None = None  # the tree's exact read last looked at
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._t0 = time.monotonic()
        self._step = StepMemory()
        self.kills: list[Kill] = []
        self.error: BaseException | None = None

    def __enter__(self) -> Monitor:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="probe-memory", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def check(self) -> None:
        """Raise MonitorError if the sampler thread has died (it was started and is gone)."""
        if self.error is not None:
            raise MonitorError(
                f"the memory sampler stopped ({type(self.error).__name__}: {self.error}); "
                "peaks and the rss cap are not measured any more, so the run stops; rerun it"
            )
        if self._thread is not None and not self._thread.is_alive() and not self._stop.is_set():
            raise MonitorError(
                "the memory sampler stopped without an error; the run stops; rerun it"
            )

    def begin_step(self, reset: bool = True) -> None:
        """Start a measured step: reset the sampled peaks and (reset=True) the kernel's."""
        self.check()
        if reset:
            for pid in self._pids_fn():
                reset_peak(pid)
        cg = self._cgroup_fn()
        self._events0 = cg.events() if cg is not None else {}
        with self._lock:
            self._step = StepMemory()

    def end_step(self) -> StepMemory:
        """Finish the step: read the kernel's peaks and return everything measured."""
        self.check()
        self.sample_once()  # the last state counts too
        hwm = []
        with self._lock:
            step, self._step = self._step, StepMemory()
        for pid in self._pids_fn():
            status = read_status(pid)
            if status:
                step.per_pid.setdefault(pid, {}).update(status)
                hwm.append(status.get("VmHWM", 0))
        step.peak_rss_hwm_bytes = max(hwm) if hwm else None
        cg = self._cgroup_fn()
        if cg is not None:
            events = cg.events()
            step.cgroup = {
                "peak_bytes": cg.peak(),
                "limit_bytes": cg.limit_bytes,
                "events": {k: v - self._events0.get(k, 0) for k, v in events.items()},
                "stat": cg.stat(),
            }
        return step

    def sample_once(self, procs: list[psutil.Process] | None = None) -> None:
        """Take one sample of every process (and enforce the RSS cap)."""
        if procs is None:
            procs = self._refresh([])
        t = time.monotonic() - self._t0
        rss, anon = {}, {}
        for proc in procs:
            try:
                mem = proc.memory_info()
            except (psutil.NoSuchProcess, psutil.ZombieProcess, psutil.AccessDenied):
                continue
            if self.kill_above_bytes is not None and mem.rss > self.kill_above_bytes:
                self._kill(proc.pid, t, mem.rss)
            self._record(t, proc.pid, mem.rss, mem.vms)
            rss[proc.pid], anon[proc.pid] = mem.rss, max(0, mem.rss - mem.shared)
        if self.tree is not None and rss:
            self._budget(t, rss, anon)
        cg = self._cgroup_fn()
        current = cg.current() if cg is not None else None
        if current is not None:
            with self._lock:
                step = self._step
                step.peak_cgroup_sampled_bytes = max(step.peak_cgroup_sampled_bytes or 0, current)

    def _budget(self, t: float, rss: dict[int, int], anon: dict[int, int]) -> None:
        """The tree's charge against its budget; the kernel's choice of victim if past it."""
        tree = self.tree
        charge = tree.charge(anon, time.monotonic())
        kill = tree.enforce(charge, rss, t)
        with self._lock:
            step = self._step
            if charge > (step.peak_tree_bytes or 0):
                step.peak_tree_bytes = charge
            snap = tree.snapshot  # the background read's latest
            best = (step.tree_peak or {}).get("charge_bytes", -1)
            if snap is not None and snap is not self._seen and snap["charge_bytes"] >= best:
                step.tree_peak = snap
            self._seen = snap
            if kill is not None:
                for pid in kill.pids:
                    k = Kill(pid, kill.t_s, charge, kill.budget_bytes)
                    self.kills.append(k)
                    step.kills.append(k)

    def _record(self, t: float, pid: int, rss: int, vms: int) -> None:
        with self._lock:
            step = self._step
            step.peak_rss_sampled_bytes = max(step.peak_rss_sampled_bytes or 0, rss)
            step.peak_vms_sampled_bytes = max(step.peak_vms_sampled_bytes or 0, vms)
            peaks = step.per_pid.setdefault(pid, {})
            peaks["rss_sampled"] = max(peaks.get("rss_sampled", 0), rss)
            peaks["vms_sampled"] = max(peaks.get("vms_sampled", 0), vms)
            if self.keep_samples:
                step.samples.append((round(t, 4), pid, rss, vms))

    def _kill(self, pid: int, t: float, rss: int) -> None:
        if any(k.pid == pid for k in self.kills):  # still dying from the first kill
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
            kill = Kill(pid, round(t, 4), rss, self.kill_above_bytes)
            with self._lock:
                self.kills.append(kill)
                self._step.kills.append(kill)

    def _run(self) -> None:
        procs: list[psutil.Process] = []
        next_refresh = 0.0
        try:
            while not self._stop.is_set():
                now = time.monotonic()
                if now >= next_refresh:
                    procs = self._refresh(procs)
                    next_refresh = now + self.refresh_s
                self.sample_once(procs)
                self._stop.wait(self.interval_s)
        except BaseException as exc:  # noqa: BLE001 - surfaced by the caller via .error
            self.error = exc

    def _refresh(self, procs: list[psutil.Process]) -> list[psutil.Process]:
        known = {p.pid: p for p in procs}
        fresh = []
        for pid in self._pids_fn():
            proc = known.get(pid)
            if proc is None:
                with contextlib.suppress(psutil.NoSuchProcess):
                    proc = psutil.Process(pid)
            if proc is not None:
                fresh.append(proc)
        return fresh
