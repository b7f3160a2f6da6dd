"""One probe against a real server: n -> Probe (outcome, elapsed, peak memory, restarts).

This is where HTTP, processes and memory meet; the search sees only the callable.
A probe fires C identical requests of the workload at once and succeeds only if the
workload judges every answer right. Failures are classified from what the client saw
*and* what the server side shows: a MemoryError traceback in the server's log (an app
that lets it escape answers a bare 500), a dead dev server (its exit status), the
worker events a pre-fork kind logs (gunicorn's "was sent SIGKILL!", "WORKER TIMEOUT"),
the RSS watchdog's kills, a server that could not start at this n.

Fresh servers (the default, `--fresh`): every probe runs on a fresh server from a ServerPool, one
that has served nothing, started while the previous probe ran; after its probe it is
killed. `--no-fresh`: one long-lived server, restarted when it dies.
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
from probe.defaults import REQUEST_TIMEOUT_S
from probe.measure.load import RequestRecord, _root_cause, fire
from probe.measure.memory import Monitor, StepMemory, read_status
from probe.measure.tree import budget_for
from probe.outcome import ANSWER_CHARS, Kind, Outcome, Probe, worst
from probe.servers.logs import memory_cause
from probe.servers.pool import ServerPool
from probe.servers.process import Server, ServerStartError, decode_status
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
    timeout_s: float = REQUEST_TIMEOUT_S
    limit_kind: str = "as"  # "as": model the address space; "rss": resident memory
    token: str | None = None
    fresh: bool = True  # each probe on a fresh server, else one long-lived server
    # when each probe's request goes out, in turn (see ServerOracle.prepare); () : None
    timings: tuple[float | None, ...] = ()
    # a warm server: before each probe at n, one request at each of these fractions of
    # n, one at a time (probe.studies.warm); () : the probe is the server's first request
    warmup: tuple[float, ...] = ()


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
    def prepare(self, n: int, timing: float | None = None) -> _Pending:
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
        return _Pending(n, restarts, before, idle, wait_start=wait_start,
                        timing=timing if self.fresh_servers else None)  # fmt: skip

    @property
    def _n_at_start(self) -> bool:
        return self.config.workload.n_placement == "env"

    def measure(self, pending: _Pending) -> _Pending:
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
                self.url, reqs, timeout_s=self.config.timeout_s, token=self.config.token,
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
            [record] = fire(self.url, [w.render(m, PROBE_AREA)], timeout_s=self.config.timeout_s,
                            token=self.config.token, name=w.name)  # fmt: skip
            judged = w.judge(record.status, record.text, record.body, m, record.area,
                             record.found)  # fmt: skip
            if not judged.ok:
                return replace(record, error=f"warm-up request at n={m:,}: {judged.detail}")
        return None

    def finish(self, pending: _Pending) -> Probe:
        """Classify what happened, recover or retire the server, make the Probe."""
        n, mem, records = pending.n, pending.mem, pending.records
        self.probed += 1
        self.request_s += pending.elapsed_s
        self.last_records = records
        if pending.start_error is not None:
            outcome = self._start_outcome(pending.start_error)
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

    # -- classification ----------------------------------------------------------
    def _start_outcome(self, exc: ServerStartError) -> Outcome:
        """A server that could not start at this n: a memory error if its log says so."""
        log = self.server.log_since_spawn() if self.server is not None else ""
        kind = Kind.MEMORY_ERROR if memory_cause(log) else Kind.SERVER_START_FAILED
        return Outcome(kind, None, f"server did not start at this n: {exc}")

    def _classify(self, n: int, records: list[RequestRecord], mem: StepMemory) -> Outcome:
        w = self.config.workload
        answered = [r for r in records if not (r.error or "").startswith("abandoned")]
        outcomes = [
            w.judge(r.status, r.text, r.body, n, r.area, r.found)
            if r.status is not None
            else r.outcome
            for r in answered or records
        ]
        result = worst(outcomes)
        if result.ok and (mem.kills or mem.oom_kills):
            # a process killed for memory during the step, though the answers came (a
            # worker killed while it booted at this n, and its respawn served): under a
            # container's limit the respawn is killed the same way, so it failed
            return self._server_side_cause(
                Outcome(Kind.KILLED, None, "answered after a server process was killed"), mem
            )
        if result.ok or result.kind is Kind.MEMORY_ERROR:
            return result
        return self._server_side_cause(result, mem)

    def _settled_log(self, step_s: float = 0.02, most_s: float = 1.0) -> str:
        """The server's log since the probe began, once it has said why: gunicorn's
        arbiter logs a worker's fate a moment after it, and werkzeug writes a traceback
        after the 500 has gone out. Read every `step_s` until a memory cause or a
        worker's end is there, or a traceback has stopped growing, for at most `most_s`
        (a fixed 0.2 s wait before the first read cost every failing probe that much)."""
        deadline = time.monotonic() + most_s
        log = ""
        while time.monotonic() < deadline:
            time.sleep(step_s)
            new = self.server.new_log()
            log += new
            if memory_cause(log) is not None:
                return log
            if any(e.kind != "booted" for e in self.server.spec.kind.events(log)):
                return log
            if "Traceback" in log and not new:
                return log  # a traceback, written out, without a memory cause
        return log

    def _server_side_cause(self, client: Outcome, mem: StepMemory) -> Outcome:
        """Refine a client-side failure with what the server side shows."""
        if mem.kills:
            k = mem.kills[0]
            # the killed worker may still be listed (a zombie until its parent reaps it):
            # its replacement must be ready before the next probe
            self._ended = {kill.pid for kill in mem.kills}
            if self.config.limit_kind == "tree":
                pids = ", ".join(str(kill.pid) for kill in mem.kills)
                what = (f"tree budget: SIGKILL to pid {pids} at the tree's charge "
                        f"{k.rss_bytes} B, {k.over_bytes} B past the budget")  # fmt: skip
            else:
                what = (f"rss watchdog sent SIGKILL to pid {k.pid} at RSS {k.rss_bytes} B, "
                        f"{k.over_bytes} B past the cap")  # fmt: skip
            return Outcome(
                Kind.KILLED, client.status,
                f"{what} (emulated OOM kill); client saw: {client.detail}", signal.SIGKILL,
            )  # fmt: skip
        if self.server is None:
            return client
        log = self._settled_log()
        kind = self.server.spec.kind
        # workers the server logged as ended: their replacements must be ready next
        ended = {e.pid for e in kind.events(log) if e.kind != "booted"}
        if mem.oom_kills:
            self._ended = ended
            return _kernel_kill(client, mem)
        cause = memory_cause(log)
        if cause is not None:
            return Outcome(
                Kind.MEMORY_ERROR, client.status, f"{cause}; client saw: {client.detail}"
            )
        self._ended = ended
        cause = kind.failure(log, client)
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


def _kernel_kill(client: Outcome, mem: StepMemory) -> Outcome:
    """The kernel OOM-killed in the server's cgroup (limit kind cgroup), as memory.events
    counts it."""
    events, peak = mem.cgroup["events"], mem.cgroup.get("peak_bytes")
    what = (f"the kernel's memory.max: {events.get('oom_kill', 0)} process(es) OOM-killed"
            + (" with the whole group" if events.get("oom_group_kill") else "")
            + (f", memory.peak {peak} B" if peak is not None else ""))  # fmt: skip
    return Outcome(Kind.KILLED, client.status, f"{what}; client saw: {client.detail}",
                   signal.SIGKILL)  # fmt: skip


def _answer_head(records: list[RequestRecord]) -> str | None:
    """The first answered request's body, cut to ANSWER_CHARS (None: no answer)."""
    for r in records:
        if r.status is not None:
            return (r.text or "")[:ANSWER_CHARS]
    return None


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

    def __call__(self, ns: Sequence[int], timings: Sequence[float | None] | None = None
                 ) -> list[Probe]:  # fmt: skip
        """One probe of each n at once; `timings`: when each one's request goes out
        (ServerOracle.prepare), default each lane's own turn."""
        if len(ns) > self.lanes:
            raise ValueError(f"{len(ns)} probes for {self.lanes} lanes")
        lanes = self.assign(ns)
        timings = list(timings or [None] * len(ns))
        pending = [self.oracles[lane].prepare(n, t)
                   for n, lane, t in zip(ns, lanes, timings, strict=True)]  # fmt: skip
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


def reach(url: str, timeout_s: float = 5.0) -> int | None:
    """The pid a server reports on /health (None if it reports none: any HTTP answer
    proves it is up); ServerError with the fix if nothing answers."""
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
