"""One probe against a real server: n -> Probe (outcome, elapsed, peak memory, restarts).

This is where HTTP, processes and memory meet; the search sees only the callable.
A probe fires C identical requests at once and succeeds only if all succeed with the
exact price. Failures are classified from what the client saw *and* what the server
side shows: a dead Flask process (its exit status), gunicorn's arbiter log (a worker
"was sent SIGKILL!" or "WORKER TIMEOUT"), the RSS watchdog's kills.
"""

from __future__ import annotations

import itertools
import signal
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import requests

from probe import interrupt
from probe.load import Request, RequestRecord, _root_cause, fire
from probe.memory import Monitor, StepMemory, read_status
from probe.outcome import Kind, Outcome, Probe, worst
from probe.server import Server, ServerError, WorkerEvent, decode_status

PROBE_AREA = 10  # price = int(10 * (n-1)/2): exact in floating point for n < 2**53
IO_FNS = ("io_bounded",)  # predictors without n (app.predictors.IO_PREDICTORS)
IO_PRICE_PER_AREA = 200_000  # app.predictors.IO_PRICE_PER_AREA; probe does not import app


def expected_price(area: float, n: int, fn: str = "cpu_bounded") -> int:
    """What a predictor must answer: the mean of 0..n-1 times area (io_bounded: area * 200_000)."""
    if fn in IO_FNS:
        return int(area * IO_PRICE_PER_AREA)
    return int(area * (sum_range(n) / n))


def price_matches(price: object, area: float, n: int, fn: str) -> bool:
    """Is `price` what the predictor must answer?

    Exact for the Python list (an exact int sum, one correctly rounded division) and for
    io_bounded. numpy's mean is a float64 pairwise sum: above about 1e8 elements it can
    land a rounding step below (n-1)/2, and int() then truncates one lower (seen at
    n = 251,695,452: 1258477254 for 1258477255), so one unit either way is accepted.
    """
    if isinstance(price, bool) or not isinstance(price, int):
        return False
    want = expected_price(area, n, fn)
    return abs(price - want) <= 1 if fn == "cpu_multithread" else price == want


def sum_range(n: int) -> int:
    return n * (n - 1) // 2


@dataclass(frozen=True)
class OracleConfig:
    fn: str
    concurrency: int = 1
    timeout_s: float = 120.0
    limit_kind: str = "as"  # "as": model the address space; "rss": resident memory
    token: str | None = None


@dataclass
class _Pending:
    """A probe between its steps."""

    n: int
    restarts: int
    before: set[int]
    idle: dict[int, dict[str, int]]
    records: list[RequestRecord] = field(default_factory=list)
    elapsed_s: float = 0.0
    mem: StepMemory = field(default_factory=StepMemory)


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
        return self.finish(self.measure(self.prepare(n)))

    # A probe in three steps, so that a LaneOracle can run several at once: prepare and
    # finish may start servers, so they run on the main thread (the parent-death signal
    # that ties a server to probe fires when the thread that spawned it ends); measure
    # only sends requests and reads /proc, on any thread.
    def prepare(self, n: int) -> _Pending:
        """Restart a dead server, note the idle memory, start the measured step."""
        restarts = self._ensure_up()
        before = set(self.server.worker_pids()) if self.server is not None else set()
        idle = self._idle_memory()
        if self.server is not None:
            self.server.new_events()  # forget what happened before this probe
        if self.monitor is not None:
            self.monitor.begin_step()
        return _Pending(n, restarts, before, idle)

    def measure(self, pending: _Pending) -> _Pending:
        """Fire the C requests and end the measured step."""
        t0 = time.monotonic()
        reqs = [Request(PROBE_AREA, self.config.fn, pending.n)] * self.config.concurrency
        pending.records = fire(
            self.url, reqs, timeout_s=self.config.timeout_s, token=self.config.token
        )
        pending.elapsed_s = time.monotonic() - t0
        pending.mem = self.monitor.end_step() if self.monitor is not None else StepMemory()
        return pending

    def finish(self, pending: _Pending) -> Probe:
        """Classify what happened, recover the server after a failure, make the Probe."""
        n, mem, records = pending.n, pending.mem, pending.records
        self.last_records = records
        outcome = self._classify(n, records, mem)
        restarts = pending.restarts
        new_pids: list[int] = []
        if not outcome.ok:
            restarts += self._recover()
            if self.server is not None:
                new_pids = sorted(set(self.server.worker_pids()) - pending.before)
        return Probe(
            n=n,
            outcome=outcome,
            elapsed_s=round(pending.elapsed_s, 4),
            peak_rss_bytes=mem.peak_rss_bytes,
            peak_rss_sampled_bytes=mem.peak_rss_sampled_bytes,
            model_bytes=self._model_bytes(mem, pending.idle),
            restarts=restarts,
            statuses=[r.status for r in records],
            new_worker_pids=new_pids,
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
            if not price_matches(price, record.area, n, self.config.fn):
                want = expected_price(record.area, n, self.config.fn)
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
        cause = outcome_from_events(self.server.new_events(), client)
        if cause is not None:
            return cause
        proc = self.server.proc
        if proc is not None and proc.poll() is not None:
            rc = proc.returncode
            detail = f"{self.server.spec.server} pid {proc.pid} {decode_status(rc)}"
            if rc < 0:
                return Outcome(Kind.KILLED, client.status, f"{detail}; {client.detail}", -rc)
            return Outcome(Kind.CONNECTION_ERROR, client.status, f"{detail}; {client.detail}")
        return client


class LaneOracle:
    """Several servers, one probe each at a time: a round of probes runs at once.

    Each lane is its own server process under its own cap (RLIMIT_AS is per process,
    so lanes share no memory budget; they share the CPU). `assign` places each probe of
    a round so that a re-probe, the search's confirmation, runs on a different process
    than the success it confirms.
    """

    def __init__(self, oracles: Sequence[ServerOracle]):
        if not oracles:
            raise ValueError("LaneOracle needs at least one lane")
        self.oracles = list(oracles)
        self._seen: dict[int, list[tuple[int, bool]]] = {}  # n -> (lane, ok) of its probes

    @property
    def lanes(self) -> int:
        return len(self.oracles)

    def __call__(self, ns: Sequence[int]) -> list[Probe]:
        if len(ns) > self.lanes:
            raise ValueError(f"{len(ns)} probes for {self.lanes} lanes")
        lanes = self.assign(ns)
        pending = [self.oracles[lane].prepare(n) for n, lane in zip(ns, lanes, strict=True)]
        if len(pending) == 1:
            self.oracles[lanes[0]].measure(pending[0])
        else:
            self._measure_together(pending, lanes)
        probes = []
        for p, lane in zip(pending, lanes, strict=True):
            probe = replace(self.oracles[lane].finish(p), lane=lane)
            self._seen.setdefault(probe.n, []).append((lane, probe.ok))
            probes.append(probe)
        return probes

    def assign(self, ns: Sequence[int]) -> list[int]:
        """A lane for each n, all different: where n succeeded least, then was probed
        least (a fresh process, or the one that failed: is its failure a fluke?), over
        the whole round; ties go to the lowest lanes."""

        def cost(n: int, lane: int) -> tuple[int, int]:
            mine = [ok for i, ok in self._seen.get(n, []) if i == lane]
            return sum(mine), len(mine)

        def total(lanes: tuple[int, ...]) -> tuple[int, int, tuple[int, ...]]:
            costs = [cost(n, lane) for n, lane in zip(ns, lanes, strict=True)]
            return sum(c[0] for c in costs), sum(c[1] for c in costs), lanes

        if self.lanes <= 5:
            return list(min(itertools.permutations(range(self.lanes), len(ns)), key=total))
        free, out = list(range(self.lanes)), []
        for n in ns:  # greedy beyond 5 lanes (5! = 120 orders)
            lane = min(free, key=lambda i, n=n: (*cost(n, i), i))
            free.remove(lane)
            out.append(lane)
        return out

    def _measure_together(self, pending: list[_Pending], lanes: list[int]) -> None:
        errors: list[BaseException] = []

        def run(p: _Pending, lane: int) -> None:
            try:
                self.oracles[lane].measure(p)
            except BaseException as exc:  # noqa: BLE001 - re-raised on the main thread
                errors.append(exc)

        threads = [
            threading.Thread(target=run, args=(p, lane), name=f"probe-lane-{lane}", daemon=True)
            for p, lane in zip(pending, lanes, strict=True)
        ]
        for t in threads:
            t.start()
        for t in threads:
            while t.is_alive():  # poll, so Ctrl-C / SIGTERM unwinds within a moment
                t.join(timeout=0.1)
                interrupt.check()
        if errors:
            raise errors[0]


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


def reach(url: str, timeout_s: float = 5.0) -> int | None:
    """The pid a server reports on /health; ServerError with the fix if nothing answers."""
    try:
        resp = requests.get(f"{url}/health", timeout=timeout_s)
    except requests.RequestException as exc:
        raise ServerError(
            f"cannot reach {url}/health ({_root_cause(exc)}); start the server first or fix --url"
        ) from None
    try:
        pid = resp.json().get("pid")
    except (ValueError, AttributeError):
        return None
    return pid if isinstance(pid, int) else None
