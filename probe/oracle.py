"""One probe against a real server: n -> Probe (outcome, elapsed, peak memory, restarts).

This is where HTTP, processes and memory meet; the search sees only the callable.
A probe fires C identical requests at once and succeeds only if all succeed with the
exact price. Failures are classified from what the client saw *and* what the server
side shows: a dead Flask process (its exit status), gunicorn's arbiter log (a worker
"was sent SIGKILL!" or "WORKER TIMEOUT"), the RSS watchdog's kills.
"""

from __future__ import annotations

import signal
import time
from dataclasses import dataclass

import requests

from probe.load import Request, RequestRecord, fire
from probe.memory import Monitor, StepMemory, read_status
from probe.outcome import Kind, Outcome, Probe, worst
from probe.server import Server, ServerError, WorkerEvent

PROBE_AREA = 10  # price = int(10 * (n-1)/2): exact in floating point for n < 2**53


def expected_price(area: float, n: int) -> int:
    """What the CPU predictors must answer: the mean of 0..n-1 times area."""
    return int(area * (sum_range(n) / n))


def sum_range(n: int) -> int:
    return n * (n - 1) // 2


@dataclass(frozen=True)
class OracleConfig:
    fn: str
    concurrency: int = 1
    timeout_s: float = 120.0
    limit_kind: str = "as"  # "as": model the address space; "rss": resident memory
    token: str | None = None


class ServerOracle:
    """Probes a server this run controls (restarting it when it dies) or a given URL."""

    def __init__(
        self, config: OracleConfig, server: Server | None, monitor: Monitor | None, url: str
    ):
        self.config = config
        self.server = server
        self.monitor = monitor
        self.url = url
        self.baseline_rss_bytes: int | None = None
        self.baseline_vms_bytes: int | None = None
        self.last_records: list[RequestRecord] = []

    def __call__(self, n: int) -> Probe:
        restarts = self._ensure_up()
        idle = self._idle_memory()
        if self.server is not None:
            self.server.new_events()  # forget what happened before this probe
        if self.monitor is not None:
            self.monitor.begin_step()
        t0 = time.monotonic()
        reqs = [Request(PROBE_AREA, self.config.fn, n)] * self.config.concurrency
        records = fire(self.url, reqs, timeout_s=self.config.timeout_s, token=self.config.token)
        elapsed = time.monotonic() - t0
        mem = self.monitor.end_step() if self.monitor is not None else StepMemory()
        self.last_records = records
        outcome = self._classify(n, records, mem)
        if not outcome.ok:
            restarts += self._recover()
        return Probe(
            n=n,
            outcome=outcome,
            elapsed_s=round(elapsed, 4),
            peak_rss_bytes=mem.peak_rss_bytes,
            peak_rss_sampled_bytes=mem.peak_rss_sampled_bytes,
            model_bytes=self._model_bytes(mem, idle),
            restarts=restarts,
            statuses=[r.status for r in records],
        )

    # -- before and after --------------------------------------------------------
    def _ensure_up(self) -> int:
        """Restart a server that died since the last probe; 1 if restarted."""
        if self.server is None or self.server.alive():
            return 0
        self.server.restart()
        return 1

    def _recover(self) -> int:
        """After a failure: relaunch a dead server, wait for gunicorn to respawn workers."""
        if self.server is None:
            return 0
        if not self.server.alive():
            self.server.restart()
            return 1
        try:
            self.server.wait_ready()
        except ServerError:
            self.server.restart()
            return 1
        return 0

    def _idle_memory(self) -> dict[int, dict[str, int]]:
        """Address space and RSS of each serving process before the probe."""
        if self.server is None or self.monitor is None:
            return {}
        idle = {}
        for pid in self.server.worker_pids():
            status = read_status(pid)
            if status:
                idle[pid] = status
        if idle:
            self.baseline_rss_bytes = max(s["VmRSS"] for s in idle.values())
            self.baseline_vms_bytes = max(s["VmSize"] for s in idle.values())
        return idle

    def _model_bytes(self, mem: StepMemory, idle: dict[int, dict[str, int]]) -> int | None:
        """Peak of the capped quantity during the probe, for the search's model.

        For RLIMIT_AS: the serving process's idle address space plus its RSS growth
        (the kernel's exact VmHWM minus idle RSS): the growth is freshly touched memory,
        so it counts the same in both; the sampled address space can miss a short spike.
        """
        if self.config.limit_kind == "rss":
            return mem.peak_rss_bytes
        best = mem.peak_vms_sampled_bytes
        for pid, status in idle.items():
            hwm = mem.per_pid.get(pid, {}).get("VmHWM")
            if hwm is not None:
                estimate = status["VmSize"] + max(0, hwm - status["VmRSS"])
                best = max(best or 0, estimate)
        return best

    # -- classification ----------------------------------------------------------
    def _classify(self, n: int, records: list[RequestRecord], mem: StepMemory) -> Outcome:
        outcomes = [self._check_price(n, r) for r in records]
        result = worst(outcomes)
        if result.ok or result.kind is Kind.MEMORY_ERROR:
            return result
        return self._server_side_cause(result, mem)

    def _check_price(self, n: int, record: RequestRecord) -> Outcome:
        outcome = record.outcome
        if outcome.ok:
            price = (record.body or {}).get("price")
            want = expected_price(record.area, n)
            if price != want:
                return Outcome(Kind.HTTP_ERROR, record.status, f"wrong price {price}, want {want}")
        return outcome

    def _server_side_cause(self, client: Outcome, mem: StepMemory) -> Outcome:
        """Refine a client-side failure with what the server side shows."""
        if mem.kills:
            k = mem.kills[0]
            return Outcome(
                Kind.KILLED,
                client.status,
                f"rss watchdog sent SIGKILL to pid {k.pid} at RSS {k.rss_bytes} B, "
                f"{k.over_bytes} B past the cap (emulated OOM kill); client saw: {client.detail}",
                signal.SIGKILL,
            )
        if self.server is None:
            return client
        time.sleep(0.2)  # let the arbiter log the worker's fate
        events = [e for e in self.server.new_events() if e.kind != "booted"]
        if events:
            return _from_worker_event(events[0], client)
        proc = self.server.proc
        if proc is not None and proc.poll() is not None:
            rc = proc.returncode
            if rc < 0:
                return Outcome(
                    Kind.KILLED, client.status, f"server killed by signal; {client.detail}", -rc
                )
            return Outcome(
                Kind.CONNECTION_ERROR,
                client.status,
                f"server exited with code {rc}; {client.detail}",
            )
        return client


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


def health_pid(url: str, timeout_s: float = 5.0) -> int | None:
    """The pid a server reports on /health, or None."""
    try:
        return requests.get(f"{url}/health", timeout=timeout_s).json().get("pid")
    except (requests.RequestException, ValueError, AttributeError):
        return None
