"""One probe against a real server: n -> Probe (outcome, elapsed, peak memory, restarts).

This is where HTTP, processes and memory meet; the search sees only the callable.
A probe fires C identical requests of the workload at once and succeeds only if the
workload judges every answer right; a failure's cause is read from what the client saw
and what the server side shows (probe.measure.cause). Several servers side by side, a
round of probes at once: probe.measure.lanes.

Fresh servers (the default, `--fresh`): every probe runs on a fresh server from a ServerPool, one
that has served nothing, started while the previous probe ran; after its probe it is
killed. `--no-fresh`: one long-lived server, restarted when it dies.
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass, field, replace

from probe.defaults import REQUEST_TIMEOUT_S
from probe.measure import cause
from probe.measure.load import RequestRecord, fire
from probe.measure.memory import Monitor, StepMemory, read_status
from probe.measure.tree import budget_for
from probe.outcome import ANSWER_CHARS, Outcome, Probe
from probe.servers.pool import ServerPool
from probe.servers.process import Server, ServerStartError
from probe.servers.spec import ServerError
from probe.workload.model import Workload
from probe.workload.seminar import PROBE_AREA

# After one request of a probe failed, how long a fresh-server probe still waits for the rest
# (they only refine the failure's kind): a flask server out of address space once left a
# connection open until the 120 s request timeout.
GIVE_UP_S = 3.0


@dataclass(frozen=True)
class OracleConfig:
    workload: Workload
    concurrency: int = 1
    request_timeout_s: float = REQUEST_TIMEOUT_S
    limit_kind: str = "as"  # "as": model the address space; "rss": resident memory
    token: str | None = None
    fresh: bool = True  # each probe on a fresh server, else one long-lived server
    # when each probe's request goes out, in turn (see ServerOracle.prepare); () : None
    timings: tuple[float | None, ...] = ()
    # a warm server: before each probe at n, one request at each of these fractions of
    # n, one at a time (probe.studies.warm); () : the probe is the server's first request
    warmup: tuple[float, ...] = ()


@dataclass
class Pending:
    """A probe between its steps."""

    n: int
    restarts: int
    before: set[int]
    idle: dict[int, dict[str, int]]
    records: list[RequestRecord] = field(default_factory=list)
    elapsed_s: float = 0.0
    mem: StepMemory = field(default_factory=StepMemory)
    wait_start: bool = False  # n is in the server's start-up env: its start is measured
    start_error: ServerStartError | None = None
    timing: float | None = None  # see ServerOracle.prepare
    after_ready_s: float | None = None  # measured: from the workers waiting to the send


class ServerOracle:
    """Probes servers from a pool (fresh per probe, or one kept), or a given URL."""

    def __init__(
        self,
        config: OracleConfig,
        pool: ServerPool | None = None,
        url: str | None = None,
        watchdog_bytes: int | None = None,
        monitor_pids: list[int] | None = None,
        server: Server | None = None,
    ):
        """Probe servers of `pool`; or the running `server` (kept: warm, whatever
        config.fresh says); or `url`, a server probe did not start."""
        self.config = config
        self.pool = pool
        self.server: Server | None = server
        self._url = url
        self.baseline_rss_bytes: int | None = None
        self.baseline_vms_bytes: int | None = None
        self.last_records: list[RequestRecord] = []
        self.layouts: list[str | None] = []  # the layout of each server probed
        self._ended: set[int] = set()  # workers the server logged as ended in the last probe
        self.starts = 0
        self.boot_wait_s = 0.0  # time this oracle's probes waited for a server to start
        self.probed = 0  # probes finished
        self.request_s = 0.0  # their time from the first request out to the last answer
        self._timings = itertools.cycle(config.timings or (None,))
        if server is not None:
            self.config = replace(config, fresh=False)
            watchdog_bytes = server.spec.watchdog_bytes
        if pool is None and server is None:  # a --url server: watch its pid if local
            local = list(monitor_pids or [])
            self.monitor = Monitor(lambda: local)
        else:
            spec = server.spec if server is not None else pool.spec
            self.monitor = Monitor(self._pids, kill_above_bytes=watchdog_bytes,
                                   tree=budget_for(spec), cgroup=self._cgroup)  # fmt: skip
        self.monitor.start()

    @property
    def url(self) -> str:
        return self.server.url if self.server is not None else (self._url or "")

    @property
    def fresh_servers(self) -> bool:
        """Every probe on a fresh server from the pool (not --no-fresh, not --url)."""
        return self.pool is not None and self.config.fresh

    def _pids(self) -> list[int]:
        server = self.server
        return server.pids() if server is not None else []

    def _cgroup(self):
        server = self.server
        return server.cgroup if server is not None else None

    def close(self) -> None:
        """Stop the sampler and the server this oracle holds."""
        self.monitor.stop()
        if self.server is not None:
            self.server.close(grace_s=0 if self.fresh_servers else None)
            self.server = None

    def __call__(self, n: int) -> Probe:
        return self.finish(self.measure(self.prepare(n)))

    # A probe in three steps, so that a LaneOracle can run several at once: prepare and
    # finish may start servers, so they run on the main thread (the parent-death signal
    # that ties a server to probe fires when the thread that spawned it ends); measure
    # only waits, sends requests and reads /proc, on any thread.
    def prepare(self, n: int, timing: float | None = None) -> Pending:
        """Get the server (fresh, or restarted if dead), note idle memory, start the step.

        `timing` (fresh servers; default: the next of config.timings) says when the request
        goes out: None, as the search sends it, to the pool's spare once its workers wait
        for connections (it booted while the previous probe ran); 0.0, as soon as the port
        accepts, to a server spawned now (its workers may still be starting, as a user's
        first request may find them); s > 0, s seconds after its workers first waited."""
        restarts, wait_start = 0, False
        timing = next(self._timings) if timing is None else timing
        if self.fresh_servers:
            env = self.config.workload.server_env(n) if self._n_at_start else None
            wait_start = bool(env) or timing == 0.0
            t0 = time.monotonic()
            self.server = self.pool.take(env, wait=not wait_start, new=timing == 0.0)
            self.boot_wait_s += time.monotonic() - t0
            self.starts += 1
        elif self.pool is not None and self.server is None:
            self.server = self.pool.take()
            self.starts += 1
        else:
            restarts = self._ensure_up()
        before = set(self.server.worker_pids()) if self.server is not None else set()
        idle = {} if wait_start else self._idle_memory()
        if self.server is not None:
            self.server.new_log()  # forget what happened before this probe
            self._ended = set()
        # A server started for this n: its whole life is the step (no peak reset).
        self.monitor.begin_step(reset=not wait_start)
        return Pending(n, restarts, before, idle, wait_start=wait_start,
                        timing=timing if self.fresh_servers else None)  # fmt: skip

    @property
    def _n_at_start(self) -> bool:
        return self.config.workload.n_placement == "env"

    def measure(self, pending: Pending) -> Pending:
        """(Wait for a server started at this n,) fire the C requests, end the step."""
        t0 = time.monotonic()
        if pending.wait_start:
            try:
                if pending.timing == 0.0:
                    self.server.wait_listening()
                else:
                    self.server.wait_ready()
                pending.before = set(self.server.worker_pids())
            except ServerStartError as exc:
                pending.start_error = exc
            self.boot_wait_s += time.monotonic() - t0
            t0 = time.monotonic()
        if pending.timing and pending.start_error is None:
            self.server.settle(pending.timing)
            t0 = time.monotonic()
        if pending.start_error is None and self.config.warmup:
            failed = self._warm_up(pending.n)
            if failed is not None:  # a warm-up failed: the probe fails with it
                pending.records = [failed]
                pending.elapsed_s = time.monotonic() - t0
                pending.mem = self.monitor.end_step()
                return pending
            pending.idle = self._idle_memory()  # the warm server's idle state
            self.monitor.begin_step(reset=True)
            t0 = time.monotonic()
        if pending.start_error is None:
            ready_at = self.server.ready_at if self.server is not None else None
            if ready_at is not None and pending.timing != 0.0:
                pending.after_ready_s = round(time.monotonic() - ready_at, 3)
            w = self.config.workload
            reqs = [w.render(pending.n, PROBE_AREA)] * self.config.concurrency
            pending.records = fire(
                self.url, reqs, timeout_s=self.config.request_timeout_s, token=self.config.token,
                name=w.name, give_up_after_failure_s=GIVE_UP_S if self.fresh_servers else None,
            )  # fmt: skip
        pending.elapsed_s = time.monotonic() - t0
        pending.mem = self.monitor.end_step()
        return pending

    def _warm_up(self, n: int) -> RequestRecord | None:
        """Serve config.warmup's requests (fractions of n), one at a time; the first that
        fails, or None."""
        w = self.config.workload
        for fraction in self.config.warmup:
            m = max(1, int(n * fraction))
            [record] = fire(self.url, [w.render(m, PROBE_AREA)],
                            timeout_s=self.config.request_timeout_s, token=self.config.token,
                            name=w.name)  # fmt: skip
            judged = w.judge(record.status, record.text, record.body, m, record.area,
                             record.found)  # fmt: skip
            if not judged.ok:
                return replace(record, error=f"warm-up request at n={m:,}: {judged.detail}")
        return None

    def finish(self, pending: Pending) -> Probe:
        """Classify what happened, recover or retire the server, make the Probe."""
        n, mem, records = pending.n, pending.mem, pending.records
        self.probed += 1
        self.request_s += pending.elapsed_s
        self.last_records = records
        if pending.start_error is not None:
            outcome = cause.start_outcome(self.server, pending.start_error)
        else:
            outcome = self._classify(n, records, mem)
        restarts = pending.restarts
        new_pids: list[int] = []
        tail = None
        if self.server is not None:
            self.layouts.append(self.server.layout)
            tail = None if outcome.ok else "\n".join(self.server.log_text().splitlines()[-12:])
        if self.fresh_servers:
            self.server.close(grace_s=0)  # it has served its one probe
            self.server = None
        elif not outcome.ok:
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
            serving_pids=sorted(pending.before),
            tree_peak=mem.tree_peak,
            cgroup=mem.cgroup,
            timing_s=pending.timing,
            after_ready_s=pending.after_ready_s,
            answer=_answer_head(records),
            answer_id=next((r.answer_id for r in records if r.status is not None), None),
            log_tail=tail,
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
        try:  # a worker that ended (logged by its server) must be replaced, not counted
            self.server.wait_ready(exclude=frozenset(self._ended))
        except ServerError:
            self.server.restart()
            return 1
        return 0

    def _idle_memory(self) -> dict[int, dict[str, int]]:
        """Address space and RSS of each serving process before the probe."""
        if self.server is None:
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
        A server started at this n has no idle state: its sampled peak is used.
        """
        if self.config.limit_kind == "rss":
            return mem.peak_rss_bytes
        if self.config.limit_kind == "tree":
            return mem.peak_tree_bytes
        if self.config.limit_kind == "cgroup":
            return mem.peak_cgroup_bytes
        best = mem.peak_vms_sampled_bytes
        for pid, status in idle.items():
            hwm = mem.per_pid.get(pid, {}).get("VmHWM")
            if hwm is not None:
                estimate = status["VmSize"] + max(0, hwm - status["VmRSS"])
                best = max(best or 0, estimate)
        return best

    # -- classification (probe.measure.cause) ---------------------------------------
    def _classify(self, n: int, records: list[RequestRecord], mem: StepMemory) -> Outcome:
        outcome, ended = cause.classify(self.config.workload, n, records, mem, self.server,
                                        self.config.limit_kind)  # fmt: skip
        if ended is not None:
            self._ended = ended
        return outcome


def _answer_head(records: list[RequestRecord]) -> str | None:
    """The first answered request's body, cut to ANSWER_CHARS (None: no answer)."""
    for r in records:
        if r.status is not None:
            return (r.text or "")[:ANSWER_CHARS]
    return None
