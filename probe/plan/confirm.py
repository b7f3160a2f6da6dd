"""The chosen command, run as it would be deployed: under the budget, at its concurrency,
for `requests` requests of sizes drawn up to N, and judged on named thresholds.

The server is the plain command probe would start for any probe, its tree under the
budget with the tree sampler as the only watcher (probe.measure.tree: past the budget
the largest process is SIGKILLed, as the kernel's OOM killer picks). Sizes are drawn
uniformly from MIX_LOW x N to N with a fixed seed: mixed sizes fragment a heap as real
traffic does, and every worker and thread meets the largest sizes (with glibc, each
thread's arena keeps its own request's peak). After each request the tree's memory is
read; its growth per 1,000 requests over the run's second half is a least-squares fit.

Thresholds, each printed with what was observed (as k6's are):
- failed: no request failed;
- respawned: no worker died or was replaced (gunicorn quietly replaces a killed worker,
  so the workers' pids are counted);
- peak: the tree's peak stays under the budget less the headroom;
- trend: the second half does not grow by more than the headroom over the run's length.
"""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass, field

import psutil

from probe.measure.sustained import closed_loop
from probe.plan.watched import watched
from probe.search.estimate import fit_line
from probe.servers.process import Server

MIX_LOW = 0.1  # the smallest size drawn, as a fraction of N
MIX = f"uniform {int(MIX_LOW * 100)}-100 % of N, seed 0"
SAMPLE_S = 0.005  # the tree's memory, between requests too


@dataclass
class Confirmation:
    cmd: str
    budget_bytes: int
    n: int
    concurrency: int
    requests: int
    mix: str = MIX
    ok: int = 0
    failed: int = 0
    first_failure: dict | None = None
    workers_seen: int = 0
    workers_at_start: int = 0
    peak_bytes: int = 0
    idle_bytes: int = 0
    memory_bytes: list[int] = field(default_factory=list)  # after each request, in order
    growth_per_1000_bytes: float | None = None
    growth_spread_bytes: float | None = None
    wall_s: float = 0.0
    thresholds: list[dict] = field(default_factory=list)
    kills: int = 0

    @property
    def passed(self) -> bool:
        return bool(self.thresholds) and all(t["passed"] for t in self.thresholds)

    def to_dict(self) -> dict:
        d = {k: v for k, v in self.__dict__.items()}
        d["passed"] = self.passed
        d["crosses_budget_after_requests"] = self.crosses_after()
        d["max_requests_advice"] = self.max_requests_advice()
        return d

    def crosses_after(self) -> int | None:
        """Requests until the tree would reach the budget at the fitted growth (None if
        it does not grow)."""
        g = self.growth_per_1000_bytes
        if not g or g <= 0 or not self.memory_bytes:
            return None
        return int(self.requests + (self.budget_bytes - self.peak_bytes) / g * 1000)

    def max_requests_advice(self) -> int | None:
        """gunicorn's --max-requests that restarts each worker well before the crossing:
        half of it, per worker."""
        after = self.crosses_after()
        workers = max(1, self.workers_at_start)
        return max(1, after // 2 // workers) if after else None


def sizes_up_to(n: int, count: int, at_once: int = 0) -> list[int]:
    """`count` sizes drawn uniformly from MIX_LOW x n to n (seed 0), the first `at_once`
    of them n itself."""
    rng = random.Random(0)
    sizes = [max(1, int(n * rng.uniform(MIX_LOW, 1.0))) for _ in range(count)]
    sizes[:at_once] = [n] * min(at_once, count)
    return sizes


def _tree_now(server: Server, excess: int) -> int:
    """The tree's charge now: each process's resident anonymous memory, less the sharing
    last measured exactly."""
    total = 0
    for proc in server.processes():
        try:
            mem = proc.memory_info()
        except (psutil.NoSuchProcess, psutil.ZombieProcess, psutil.AccessDenied):
            continue
        total += max(0, mem.rss - mem.shared)
    return max(0, total - excess)


def run(spec, workload, n: int, concurrency: int, requests: int, headroom: float,
        timeout_s: float, log=lambda s: None) -> Confirmation:  # fmt: skip
    """Start the command under the budget (spec: limit_kind tree, or cgroup: then the
    kernel's memory.current, memory.peak and OOM kills are read instead of the tree
    sampler's), send the requests, judge them. The server is stopped before returning."""
    conf = Confirmation(spec.cmd or spec.describe(), spec.limit_bytes, n, concurrency, requests)
    sizes = sizes_up_to(n, requests, concurrency)  # every client meets N first
    stop = threading.Event()
    with watched(spec, workload) as w:
        server, monitor = w.server, w.monitor
        kernel = server.cgroup  # limit kind cgroup: the kernel counts and kills
        excess = max(0, w.idle["anon_rss_sum_bytes"] - w.idle["charge_bytes"])
        conf.idle_bytes = kernel.current() if kernel else w.idle["charge_bytes"]

        def charge_now() -> int:
            if kernel is not None:
                return kernel.current() or 0
            return _tree_now(server, monitor.tree.excess_bytes or excess)

        workers = set(server.worker_pids())
        conf.workers_at_start = len(workers)
        peak = [conf.idle_bytes]

        def sample() -> None:
            while not stop.is_set():
                peak[0] = max(peak[0], charge_now())
                stop.wait(SAMPLE_S)

        sampler = threading.Thread(target=sample, name="probe-confirm", daemon=True)
        sampler.start()
        lock = threading.Lock()
        memory: dict[int, int] = {}

        def done(i: int, record) -> None:
            now = charge_now()
            with lock:
                memory[i] = now
                workers.update(server.worker_pids())
            if (i + 1) % max(1, requests // 10) == 0:
                what = "cgroup" if kernel is not None else "tree"
                log(f"confirm: {i + 1:,}/{requests:,} requests, {what} {now >> 20} MiB")

        try:
            records, conf.wall_s = closed_loop(
                server.url, lambda i: workload.render(sizes[i]), requests, concurrency,
                timeout_s, workload.name, on_done=done)  # fmt: skip
        finally:
            stop.set()
        sampler.join(timeout=1)
        conf.memory_bytes = [memory[i] for i in sorted(memory)]
        conf.workers_seen = len(workers)
        # memory.peak is exact where the kernel counts
        conf.peak_bytes = max(peak[0], kernel.peak() or 0) if kernel else peak[0]
        conf.kills = w.memory_kills()
        for i, r in enumerate(records):
            outcome = workload.judge(r.status, r.text, r.body, r.n, r.area, r.found)
            if outcome.ok:
                conf.ok += 1
            else:
                conf.failed += 1
                if conf.first_failure is None:
                    conf.first_failure = {"request": i + 1, "n": r.n, **outcome.to_dict()}
    _fit_growth(conf)
    _judge(conf, headroom)
    return conf


def _fit_growth(conf: Confirmation) -> None:
    """The second half's growth per 1,000 requests (least squares) and the spread of the
    memory around that line."""
    half = conf.memory_bytes[len(conf.memory_bytes) // 2 :]
    if len(half) < 4:
        return
    start = len(conf.memory_bytes) - len(half)
    points = [(start + i, m) for i, m in enumerate(half)]
    fixed, slope = fit_line(points)
    conf.growth_per_1000_bytes = slope * 1000
    residuals = [m - (fixed + slope * x) for x, m in points]
    conf.growth_spread_bytes = (sum(r * r for r in residuals) / len(residuals)) ** 0.5


def _judge(conf: Confirmation, headroom: float) -> None:
    limit = int(conf.budget_bytes * (1 - headroom))
    growth = conf.growth_per_1000_bytes or 0.0
    grown = growth * conf.requests / 1000
    conf.thresholds = [
        {"name": "failed", "rule": "== 0", "observed": conf.failed,
         "passed": conf.failed == 0},
        {"name": "respawned", "rule": "== 0",
         "observed": conf.workers_seen - conf.workers_at_start + conf.kills,
         "passed": conf.workers_seen == conf.workers_at_start and conf.kills == 0},
        {"name": "peak", "rule": f"< budget less {headroom:.0%} ({limit:,} B)",
         "observed": conf.peak_bytes, "passed": conf.peak_bytes < limit},
        {"name": "trend", "rule": f"second half grows < {headroom:.0%} of the budget over the run",
         "observed": round(growth), "passed": grown < headroom * conf.budget_bytes},
    ]  # fmt: skip
