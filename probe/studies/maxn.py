"""`probe max-n`: find the critical n under a cap, recording every probe as it goes.

A run has up to three phases, each written to the results file as it goes:
1. the search (probe.search) on cold servers with a fixed layout (by default): every
   probe on a fresh server that has served nothing, started while the previous probe
   ran, so the answer is a property of the code and the cap, not of a process's history;
2. for threads at concurrency > 1: the bytes per element of one request (three small
   single-request probes), for `safe_n_full_overlap`, the n at which C requests fit
   even if all of them overlap;
3. the band (`--band K`, and by default for threads at concurrency > 1): candidate n
   around the answer, each on K fresh servers with randomized layouts (threads: on the
   same layout, where scheduling is what varies), until the largest n that succeeded
   on all K and the smallest that failed on all K are known (probe.search.band).
"""

from __future__ import annotations

import contextlib
import math
import os
import resource
import struct
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

from probe.documents import store as results
from probe.documents.maxn import Band, MaxNDoc
from probe.measure import load
from probe.measure.memory import read_status
from probe.measure.oracle import LaneOracle, OracleConfig, ServerOracle, reach
from probe.outcome import CannotProbe, Probe
from probe.search import eta, rate, verdict
from probe.search.band import BandConfig, band_search
from probe.search.critical import SearchResult, search_rounds
from probe.search.estimate import fit_line
from probe.servers.capexec import fixed_layout_refused
from probe.servers.logs import last_cause
from probe.servers.pool import pools
from probe.servers.process import Server, launch_record
from probe.servers.spec import ServerError, ServerSpec, pinned_env
from probe.sizes import format_bytes
from probe.studies import warm
from probe.studies.question import THREADS_BAND_LAYOUTS, MaxNConfig
from probe.workload import bodyfn, growth, nparam

Log = Callable[[str], None]


def new_doc(cfg: MaxNConfig) -> MaxNDoc:
    server_config = cfg.spec.config() if not cfg.url else {"server": "url", "role": None}
    return MaxNDoc.new(
        workload=cfg.workload.to_dict(),
        fn=cfg.fn,
        **server_config,
        url=cfg.url,
        server_env=None if cfg.url else pinned_env(cfg.spec),
        # A --url server runs under whatever cap its owner gave it, not ours.
        limit_bytes=None if cfg.url else cfg.limit_bytes,
        limit_kind=None if cfg.url else cfg.limit_kind,
        model_limit_bytes=cfg.search.limit_bytes,
        concurrency=cfg.concurrency,
        fresh=cfg.fresh_servers,
        layout=None if cfg.url else cfg.spec.layout,
        lanes=cfg.lanes,
        strategy=cfg.search.strategy,
        confirm=cfg.search.confirm_policy,
        precision=cfg.search.precision,
        status="running",
        critical_n=None,
        first_failing_n=None,
        failure=None,
        band=None,
        safe_n_full_overlap=None,
        bytes_per_element_single=None,
        peak_rss_bytes=None,
        baseline_rss_bytes=None,
        baseline_vms_bytes=None,
        bytes_per_element=None,
        predicted_critical_n=None,
        precision_reached=None,
        stop_reason=None,
        non_monotone=[],
        recheck=None,
        launch=None if cfg.url else launch_record(cfg.spec),
        server_starts=0,
        probes=[],
        elapsed_s=0.0,
    )


def _peak_at(probes: list[Probe], n: int | None) -> int | None:
    peaks = [p.peak_rss_bytes for p in probes if p.n == n and p.ok and p.peak_rss_bytes]
    return max(peaks) if peaks else None


def fill_result(doc: dict, res: SearchResult, oracle: ServerOracle) -> None:
    """Copy the search's answer into the document (baselines from the first lane)."""
    doc.update(
        critical_n=res.critical_n,
        first_failing_n=res.first_failing_n,
        failure=res.failure.to_dict() if res.failure else None,
        peak_rss_bytes=_peak_at(list(res.probes), res.critical_n),
        baseline_rss_bytes=oracle.baseline_rss_bytes,
        baseline_vms_bytes=oracle.baseline_vms_bytes,
        model_baseline_bytes=_round(res.baseline_bytes),
        bytes_per_element=_round(res.bytes_per_element, 3),
        predicted_critical_n=res.predicted_critical_n,
        precision_reached=_round(res.precision_reached, 6),
        stop_reason=res.stop_reason,
        non_monotone=[{"failed_n": f, "ok_n": o} for f, o in res.non_monotone],
        probes=[p.to_dict() for p in res.probes],
    )


def _round(x: float | None, digits: int = 0) -> float | int | None:
    if x is None:
        return None
    return round(x, digits) if digits else int(round(x))


def progress_line(i: int, probe: Probe, bracket: tuple[int | None, int | None]) -> str:
    lo, hi = bracket
    peak = format_bytes(probe.peak_rss_bytes)
    # the detail's first clause, whole: a number is never cut
    first = (probe.outcome.detail or "").split("; ")[0]
    extra = f" ({first})" if not probe.ok and first else ""
    rs = f" restarts={probe.restarts}" if probe.restarts else ""
    ok_txt = f"ok<={lo:,}" if lo is not None else "ok<=?"
    fail_txt = f"fails>={hi:,}" if hi is not None else "no failure yet"
    return (
        f"probe {i:2d}: n={probe.n:,} {probe.outcome.kind.value}{extra} "
        f"{probe.elapsed_s:.2f}s peak {peak}{rs} | {ok_txt} {fail_txt}"
    )


def layout_seen(layouts: list[str | None]) -> str | None:
    """The layout the probed servers had: 'fixed' only if every one had it."""
    seen = {x for x in layouts if x is not None}
    if not seen:
        return None
    return "fixed" if seen == {"fixed"} else "random"


def n_param_cost(cfg: MaxNConfig) -> int | None:
    """The address space --n-param's hook adds to an idle serving process: two servers
    side by side, one with the hook installed but changing nothing; None if either
    does not start."""
    base = cfg.workload.fixed_env()
    hooked = {**base, **nparam.server_env(cfg.workload.n_param, nparam.KEEP)}
    servers = [Server(cfg.spec, env) for env in (base, hooked)]
    try:
        for srv in servers:
            srv.spawn()
        sizes = []
        for srv in servers:
            srv.wait_ready()
            status = read_status(srv.worker_pids()[0])
            sizes.append(status["VmSize"] if status else None)
    except ServerError:
        return None
    finally:
        for srv in servers:
            srv.close(grace_s=0)
    return None if None in sizes else sizes[1] - sizes[0]


@contextlib.contextmanager
def prober(cfg: MaxNConfig) -> Iterator[Callable[[int], Probe]]:
    """Probes of cfg's question one after another, each on a fresh server of cfg.spec
    started while the previous probe ran (the cold oracle max-n's search uses)."""
    with _oracles(cfg, cfg.spec, 1) as (oracle,):
        yield oracle


def gate(cfg: MaxNConfig, n: int, log: Log = lambda s: None) -> list[Probe]:
    """Does n still succeed? One cold probe on the fixed layout, or with --band K one on
    each of K fresh servers with randomized layouts; nothing searched. The probes, in
    order (the caller judges: all must be ok)."""
    tries = cfg.band or 1
    spec = cfg.spec if tries == 1 else replace(cfg.spec, layout="random")
    probes = []
    with _oracles(cfg, spec, 1) as (oracle,):
        for i in range(tries):
            probe = oracle(n)
            log(f"gate {i + 1}/{tries}: n={n:,} {probe.outcome.kind.value} "
                f"{probe.elapsed_s:.2f}s {probe.outcome.detail}".rstrip())  # fmt: skip
            probes.append(probe)
            if not probe.ok:
                break  # one failure decides: no need to try the rest
    return probes


@contextlib.contextmanager
def _oracles(cfg: MaxNConfig, spec: ServerSpec, lanes: int, concurrency: int | None = None,
             timings: tuple[float | None, ...] = (), warmup: tuple[float, ...] = (),
             shared: _Pools | None = None) -> Iterator[list[ServerOracle]]:  # fmt: skip
    """One oracle per lane: on pools of fresh servers of `spec`, or on the --url server;
    `timings`: when each lane's requests go out, in turn (ServerOracle.prepare).
    `shared`: the run's pools, kept from phase to phase, so that a spare booted while
    the search's last round ran serves the re-check or the warm phase, not nothing."""
    ocfg = OracleConfig(
        cfg.workload, concurrency or cfg.concurrency, cfg.timeout_s, cfg.limit_kind,
        cfg.token, cfg.fresh, timings, warmup,
    )  # fmt: skip
    with contextlib.ExitStack() as stack:
        if cfg.url:
            pid = reach(cfg.url)
            local = [pid] if pid and Path(f"/proc/{pid}").exists() else []
            made = [ServerOracle(ocfg, None, cfg.url, monitor_pids=local)]
        else:
            w = cfg.workload
            base = w.server_env(None) if w.n_placement != "env" else {}
            # n at start-up, or one port for every server: no server started ahead
            ahead = cfg.fresh and w.n_placement != "env" and not spec.port
            if shared is not None:
                ps = shared.get(spec, lanes, ahead, base)
            else:
                ps = stack.enter_context(pools(spec, lanes, ahead=ahead, base_env=base))
            # each lane starts its turn of timings at its own place, so that a round of
            # one probe per lane already has every timing
            turns = [timings[i % len(timings):] + timings[:i % len(timings)] if timings else ()
                     for i in range(len(ps))]  # fmt: skip
            made = [ServerOracle(replace(ocfg, timings=t), p, watchdog_bytes=spec.watchdog_bytes)
                    for t, p in zip(turns, ps, strict=True)]  # fmt: skip
        for oracle in made:
            stack.callback(oracle.close)
        yield made


class _Pools:
    """The run's pools of fresh servers, by what they start, open until the run ends."""

    def __init__(self, stack: contextlib.ExitStack):
        self.stack, self.made = stack, {}

    def get(self, spec: ServerSpec, lanes: int, ahead: bool, base: dict) -> list:
        key = (repr(spec), lanes, ahead, tuple(sorted(base.items())))
        if key not in self.made:
            self.made[key] = self.stack.enter_context(
                pools(spec, lanes, ahead=ahead, base_env=base))  # fmt: skip
        return self.made[key]


class _Run:
    """The document of one run and the bookkeeping every phase shares."""

    def __init__(self, cfg: MaxNConfig, out: Path, log: Log):
        self.cfg, self.out, self.log = cfg, out, log
        self.doc = new_doc(cfg)
        self.t0 = time.monotonic()
        self.probes: list[Probe] = []
        self.oracles: list[ServerOracle] = []  # every oracle of every phase
        self.rechecked: list[Probe] = []  # the re-check's probes
        self.stack = contextlib.ExitStack()  # closed as the run ends: the shared pools
        self.pools = _Pools(self.stack)

    def starts(self) -> int:
        return sum(o.starts for o in self.oracles)

    @contextlib.contextmanager
    def phase(self, name: str) -> Iterator[None]:
        """Time one phase of the run into `phases`: its wall time, its probes and servers,
        the time its probes spent in requests and waiting for servers to boot (where the
        run's time goes: the cost model)."""
        t0, before, ended = time.monotonic(), self._costs(), False
        try:
            yield
            ended = True
        finally:
            probes, servers, requests_s, waited = (
                now - then for now, then in zip(self._costs(), before, strict=True)
            )
            wall = time.monotonic() - t0
            self.doc.phases[name] = {
                "wall_s": round(wall, 3), "probes": probes, "servers": servers,
                "requests_s": round(requests_s, 3), "boot_wait_s": round(waited, 3),
            }  # fmt: skip
            if ended and probes:  # a run that stops says why in one line, nothing more
                self.log(f"phase {name}: {wall:.1f} s, {probes} probes on {servers} servers, "
                         f"{requests_s:.1f} s in requests, {waited:.1f} s waiting for "
                         "boots")  # fmt: skip

    def _costs(self) -> tuple[int, int, float, float]:
        os_ = self.oracles
        return (sum(o.probed for o in os_), sum(o.starts for o in os_),
                sum(o.request_s for o in os_), sum(o.boot_wait_s for o in os_))  # fmt: skip

    def write(self) -> None:
        self.doc.elapsed_s = round(time.monotonic() - self.t0, 3)
        self.doc.server_starts = self.starts()
        kills = [k.to_dict() for o in self.oracles for k in o.monitor.kills]
        if self.cfg.limit_kind == "rss" or kills:
            self.doc.rss_watchdog_kills = kills
        results.write_atomic(self.out, self.doc)

    def on_probe(self, probe: Probe, bracket: tuple[int | None, int | None]) -> None:
        self.probes.append(probe)
        lo, hi = bracket
        self.doc.update(
            critical_n=lo,
            first_failing_n=hi,
            probes=[p.to_dict() for p in self.probes],
            layout=self._layout(self.oracles) or self.doc.layout,
        )
        self.write()
        tag = f" (lane {probe.lane})" if self.cfg.lanes > 1 else ""
        cfg = self.cfg
        warmup = sum(warm.fractions(cfg.warm_requests)) if cfg.warms else None
        count, seconds = eta.left(self.probes, bracket, cfg.search.precision, cfg.lanes,
                                  cfg.rechecks, warmup)  # fmt: skip
        self.log(progress_line(len(self.probes), probe, bracket) + tag
                 + f" | {eta.words(len(self.probes), count, seconds)}")  # fmt: skip
        refused = verdict.refused_at_once(self.probes) or _asgi_as_wsgi(self.cfg, self.probes)
        if refused is not None:
            raise self.cannot(refused)
        _judge(self, self.probes)  # as soon as the probes show it, not after the search

    def cannot(self, probe: Probe) -> CannotProbe:
        """The request itself is wrong: the answer's status and text, the server log's end
        (on stderr), one line with what to check."""
        o = probe.outcome
        text = " ".join((probe.answer or "").split())
        answer = f", answer {text!r}" if text else ""
        cause = last_cause(probe.log_tail or "")
        answer += f"; the server's log ends: {cause}" if cause else ""
        todo = (
            "check the path, the method and the body (probe --verbose ... shows the server's log)"
        )
        if _asgi_as_wsgi(self.cfg, [probe]):
            todo = ("an ASGI app cannot run as a WSGI --app: pass --cmd 'uvicorn --port {port} "
                    f"{self.cfg.spec.app}'")  # fmt: skip
        self.doc.stop_reason = "refused"
        exc = CannotProbe(f"the app refused the request at n={probe.n:,} before any n "
                          f"succeeded ({o.detail}{answer}); {todo}")  # fmt: skip
        exc.log_tail = "server log (last lines):\n  " + "\n  ".join(
            (probe.log_tail or "(empty)").splitlines())  # fmt: skip
        return exc

    def _layout(self, oracles: list[ServerOracle]) -> str | None:
        return layout_seen([x for o in oracles for x in o.layouts])


def run(
    cfg: MaxNConfig,
    out: Path,
    log: Log = lambda s: print(s, file=sys.stderr, flush=True),
) -> dict:
    """Run the search (then the band); rewrite `out` after every probe; return the document."""
    cfg = _check_layout(cfg, log)
    learn_t0 = time.monotonic()
    sizes = _first_sizes(cfg, log)
    learn_s = time.monotonic() - learn_t0
    if sizes is not None:
        bounds = {"n_start": sizes.n_start, **({"n_max": sizes.n_max} if sizes.n_max else {})}
        cfg = replace(cfg, search=replace(cfg.search, **bounds))
    state = _Run(cfg, out, log)
    state.doc.first_sizes = sizes.to_dict() if sizes is not None else None
    if cfg.workload.n_param is not None and not cfg.url:
        state.doc.n_param_cost_bytes = n_param_cost(cfg)
        log(f"--n-param's hook costs {state.doc.n_param_cost_bytes} B of address space")
    results.write_atomic(out, state.doc)
    state.doc.phases = {} if sizes is None else {"first_sizes": {"wall_s": round(learn_s, 3)}}
    with state.stack, results.recording(out, state.doc, state.t0):
        with state.phase("search"):
            res = _search(state)
        timing_band = False
        ends = res.critical_n is not None and res.first_failing_n is not None
        if ends and cfg.rechecks and res.stop_reason == "converged":
            with state.phase("recheck"):
                timing_band = not _recheck(state, res)
            # a failure below a success on fresh servers is a disagreement too
            timing_band = timing_band or bool(state.doc.non_monotone)
        if res.critical_n is not None and cfg.threads_race:
            with state.phase("full_overlap"):
                _full_overlap(state)
        if timing_band:
            with state.phase("rate"):
                _rate(state, res)
        elif res.critical_n is not None and cfg.band_layouts:
            with state.phase("band"):
                _band(state, res)
        if state.doc.critical_n is not None and cfg.warms:
            with state.phase("warm"):
                _warm(state)
        with state.phase("body_sizes"):
            _body_sizes(state)
        state.doc.body_fn_cap_bytes = bodyfn.builder_cap_bytes()
        state.doc.own_peak_rss_bytes = own_peak_rss()
        state.doc.server_starts = state.starts()
    return state.doc


def _asgi_as_wsgi(cfg: MaxNConfig, probes: list[Probe]) -> Probe | None:
    """A failure whose server log shows an ASGI app called as WSGI (with --app)."""
    if cfg.spec.cmd or any(p.ok for p in probes):
        return None
    for p in probes:
        if p.log_tail and "required positional argument: 'send'" in p.log_tail:
            return p
    return None


def _judge(state: _Run, probes: list[Probe]) -> None:
    """Refuse an answer that cannot be right: n that never reached the app, the same
    answer at every n (unless --same-answer-ok). CannotProbe with what to check."""
    why = verdict.n_never_reached(probes)
    if (
        why is None
        and not state.cfg.same_answer_ok
        and "{n}" not in (state.cfg.workload.expect or "")
    ):
        why = verdict.same_answer(probes)
    if why is not None:
        state.doc.stop_reason = "not_reached"
        raise CannotProbe(why)


def _recheck(state: _Run, res: SearchResult) -> bool:
    """Re-probe both ends on fresh servers as a user's server would get its first request:
    as soon as the port accepts, and --settle seconds after the workers wait. True if
    every re-probe agrees with the search (recorded under `recheck`)."""
    cfg, doc = state.cfg, state.doc
    lo, hi = res.critical_n, res.first_failing_n
    plan = verdict.recheck_plan(lo, hi, cfg.settle_s, res.probes, cfg.recheck_tries)
    state.log(f"re-check: n={lo:,} and n={hi:,} on fresh servers, the request as the port "
              f"opens and {cfg.settle_s:g} s after the workers wait")  # fmt: skip
    probes: list[Probe] = []
    with _oracles(cfg, cfg.spec, cfg.lanes, shared=state.pools) as oracles:
        state.oracles += oracles
        lanes = LaneOracle(oracles)
        for i in range(0, len(plan), lanes.lanes):
            part = plan[i : i + lanes.lanes]
            for probe in lanes([n for n, _ in part], [t for _, t in part]):
                probes.append(probe)
                state.log(f"re-check {len(probes)}/{len(plan)}: n={probe.n:,} "
                          f"{probe.outcome.kind.value} ({_when(probe)}) "
                          f"{probe.elapsed_s:.2f}s")  # fmt: skip
                doc.recheck = _recheck_doc(cfg, res, probes, None)
                state.write()
    state.rechecked = probes
    agrees = verdict.recheck_agrees([*res.probes, *probes], lo, hi)
    doc.recheck = _recheck_doc(cfg, res, probes, agrees)
    state.write()
    if agrees:
        state.log(f"re-check: agrees: n={lo:,} ok and n={hi:,} failed every time")
    else:
        state.log(f"re-check: the outcome near n={lo:,} is not a fact for this server (it "
                  "moved with the server or the first request's timing); measuring the "
                  "band")  # fmt: skip
    return agrees


def _when(probe: Probe) -> str:
    if probe.timing_s is None:
        return "once ready"
    return "as the port opened" if probe.timing_s == 0 else f"{probe.timing_s:g} s after ready"


def _recheck_doc(cfg: MaxNConfig, res: SearchResult, probes: list[Probe],
                 agrees: bool | None) -> dict:  # fmt: skip
    every = [*res.probes, *probes]
    return {
        "settle_s": cfg.settle_s,
        "agrees": agrees,
        "critical_n": verdict.tally(every, res.critical_n),
        "first_failing_n": verdict.tally(every, res.first_failing_n),
        "probes": [p.to_dict() for p in probes],
    }


def _warm(state: _Run) -> None:
    """The warm phase (probe.studies.warm): the cold answer probed on a server that has
    served cfg.warm_requests requests up to n; where it fails, the warm boundary below,
    and the lower answer becomes the critical n (the cold pair kept beside it)."""
    cfg, doc = state.cfg, state.doc
    cold_n, k = doc.critical_n, cfg.warm_requests
    state.log(f"warm: n={cold_n:,} on a fresh server after {k} {warm.WORDS}")
    count = [0]

    def on_probe(probe: Probe) -> None:
        count[0] += 1
        state.log(f"warm {count[0]:2d}: n={probe.n:,} {probe.outcome.kind.value} "
                  f"{probe.elapsed_s:.2f}s {probe.outcome.detail or ''}".rstrip())  # fmt: skip

    with _oracles(cfg, cfg.spec, cfg.lanes, warmup=warm.fractions(k),
                  shared=state.pools) as oracles:  # fmt: skip
        state.oracles += oracles
        lanes = LaneOracle(oracles)
        lo, hi, probes = warm.warm_search(lanes, cold_n, cfg.search.precision, lanes.lanes,
                                          on_probe)  # fmt: skip
    lower = warm.lower_by_more_than(lo, cold_n, cfg.search.precision)
    doc.warm = {"requests": k, "design": warm.WORDS, "seed": warm.WARM_SEED, "critical_n": lo,
                "first_failing_n": hi, "lower": lower,
                "probes": [p.to_dict() for p in probes]}  # fmt: skip
    if lower:
        doc.cold_critical_n, doc.cold_first_failing_n = doc.critical_n, doc.first_failing_n
        failed = next((p for p in probes if p.n == hi), None)
        doc.critical_n, doc.first_failing_n = lo, hi
        doc.failure = failed.outcome.to_dict() if failed else doc.failure
        doc.peak_rss_bytes = _peak_at(probes, lo)
        state.log(f"warm: a server that served {k} requests takes n={lo:,} (fails at "
                  f"{hi:,}), below the cold {cold_n:,}: the critical n is the warm "
                  "one")  # fmt: skip
    else:
        state.log(f"warm: n={cold_n:,} holds after {k} requests")
    state.write()


def own_peak_rss() -> dict:
    """probe's own peak RSS, and its body builder's (None: none ran), with the bound."""
    return {"probe": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
            "body_builder": bodyfn.builder_peak_rss_bytes(),
            "held_max": load.HELD_MAX_BYTES}  # fmt: skip


def _first_sizes(cfg: MaxNConfig, log: Log) -> growth.FirstSizes | None:
    """Where no --n-start was given and the body is what n sizes: the first sizes learned
    from the body at small n (probe.workload.growth)."""
    if not cfg.learn_first_sizes or cfg.workload.sized_body is None:
        return None
    sizes = growth.first_sizes(cfg.workload, cfg.limit_bytes, cfg.search.n_start)
    if sizes.n_start != cfg.search.n_start or sizes.n_max is not None:
        last = sizes.points[-1]
        reach = f", n at most {sizes.n_max:,}" if sizes.n_max else ""
        log(f"the body at n={last.n:,} is {format_bytes(last.body_bytes)} (building it held "
            f"{format_bytes(last.held_bytes)}, {last.build_s:.2f} s): starting at "
            f"n={sizes.n_start:,}{reach}")  # fmt: skip
    return sizes


def _body_sizes(state: _Run) -> None:
    """The body's bytes at both ends, when the body is what n sizes."""
    w, doc = state.cfg.workload, state.doc
    if w.sized_body is None:
        return
    for key, n in (("body_bytes_at_critical_n", doc.critical_n),
                   ("body_bytes_at_first_failing_n", doc.first_failing_n)):  # fmt: skip
        doc[key] = len(w.render(n).body) if n is not None else None


def _check_layout(cfg: MaxNConfig, log: Log) -> MaxNConfig:
    """Where the kernel refuses the fixed layout, say so once and search as on random
    layouts: outcomes are then no facts, so --confirm auto re-probes both ends."""
    if cfg.url or cfg.spec.layout != "fixed":
        return cfg
    why = fixed_layout_refused()
    if why is None:
        return cfg
    log(f"warning: cannot fix the servers' layout ({why}); going on with the kernel's "
        "randomized layout, recorded as layout: random")  # fmt: skip
    search = cfg.search
    if search.confirm_policy == "auto":
        search = replace(search, confirm="both")
    return replace(cfg, spec=replace(cfg.spec, layout="random"), search=search)


def _describe_start(cfg: MaxNConfig, spec: ServerSpec) -> str:
    if cfg.url:
        return f"probing {cfg.url} (no cap of ours, no restarts)"
    how = "a fresh server per probe" if cfg.fresh else "one long-lived server per lane"
    lanes = f", {cfg.lanes} lanes" if cfg.lanes > 1 else ""
    what = f"command {spec.cmd}" if spec.cmd else f"app {spec.app}"
    return f"{spec.describe()}, layout {spec.layout}, {how}{lanes}; {what}"


def _search(state: _Run) -> SearchResult:
    cfg = state.cfg
    state.log(_describe_start(cfg, cfg.spec))
    with _oracles(cfg, cfg.spec, cfg.lanes, shared=state.pools) as oracles:
        state.oracles += oracles
        search = replace(cfg.search, lanes=len(oracles), facts=cfg.outcomes_are_facts)
        res = search_rounds(LaneOracle(oracles), search, on_probe=state.on_probe)
        fill_result(state.doc, res, oracles[0])
        state.doc.layout = state._layout(oracles) or state.doc.layout
        state.write()
    return res


def _full_overlap(state: _Run) -> None:
    """safe_n_full_overlap = (cap - idle address space under the load) / (C x bytes per
    element of one request): the n at which C requests fit even if every one of them is
    in memory at once. The bytes per element come from three small single-request
    probes; the idle address space from the search's smallest probe (C threads alive)."""
    cfg, doc = state.cfg, state.doc
    critical = doc.critical_n
    base = max(1000, critical // 16)
    ns = [base, 2 * base, 4 * base]
    with _oracles(cfg, cfg.spec, 1, concurrency=1) as (oracle,):
        state.oracles.append(oracle)
        probes = [oracle(n) for n in ns]
    # Touched memory per element (the kernel's peak RSS): the address space of a threaded
    # server jumps by a thread stack and a malloc arena at the first request, which says
    # nothing of n.
    points = [(p.n, p.peak_rss_bytes) for p in probes if p.ok and p.peak_rss_bytes]
    doc.single_request_probes = [p.to_dict() for p in probes]
    if len(points) < 2 or cfg.limit_bytes is None or doc.baseline_vms_bytes is None:
        return
    _, slope = fit_line(points)
    base = doc.baseline_vms_bytes if cfg.limit_kind == "as" else None
    arenas = _thread_arenas_bytes(cfg.spec, cfg.concurrency)
    idle = _idle_under_load(state.probes, cfg.concurrency, slope, base, arenas)
    if slope <= 0 or idle is None:
        return
    room = cfg.limit_bytes - idle
    doc.bytes_per_element_single = round(slope, 3)
    doc.safe_n_full_overlap = max(0, math.floor(room / (cfg.concurrency * slope)))
    state.write()
    state.log(
        f"full overlap: {cfg.concurrency} requests x {slope:.1f} B/element fit under the cap "
        f"up to n={doc.safe_n_full_overlap:,}"
    )


def _idle_under_load(
    probes: list[Probe], concurrency: int, per_element: float, idle: int | None,
    arenas_bytes: int = 0,
) -> int | None:  # fmt: skip
    """The capped quantity of the server with C requests in it but no data: what C
    threads add before any input (a stack each, malloc arenas), which idle does not.

    The largest of: each ok probe's peak less C full inputs (how many threads coexisted
    at a small n depends on the scheduler, so one probe can miss some), and the idle
    address space plus C thread stacks of RLIMIT_STACK's size (glibc's default) plus
    the thread arenas glibc may reserve (`arenas_bytes`): whether a probe saw an arena
    made depends on the scheduler too, and a bound that leaves it out can fail below
    itself (a thread that cannot start for want of address space for its stack)."""
    ok = [p for p in probes if p.ok and p.model_bytes]
    seen = [int(p.model_bytes - concurrency * per_element * p.n) for p in ok]
    if idle is not None:
        seen.append(idle + concurrency * _thread_stack_bytes() + arenas_bytes)
    return max(seen) if seen else None


# glibc's HEAP_MAX_SIZE: the address space one thread arena reserves (64 MiB on 64-bit)
HEAP_MAX_BYTES = 2 * 4 * 1024 * 1024 * struct.calcsize("l")


def _thread_arenas_bytes(spec: ServerSpec, concurrency: int) -> int:
    """The address space glibc may reserve for malloc arenas beyond the main one when C
    threads allocate at once: one HEAP_MAX_SIZE each, up to MALLOC_ARENA_MAX - 1 as the
    server's environment sets it (glibc's default: 8 per core)."""
    try:
        arenas = int(pinned_env(spec).get("MALLOC_ARENA_MAX", ""))
    except ValueError:
        arenas = 8 * (os.cpu_count() or 1)
    return min(max(0, arenas - 1), concurrency) * HEAP_MAX_BYTES


def _thread_stack_bytes() -> int:
    """The stack glibc reserves per thread: RLIMIT_STACK's soft limit (8 MiB if unlimited)."""
    import resource

    soft, _ = resource.getrlimit(resource.RLIMIT_STACK)
    return 8 << 20 if soft in (resource.RLIM_INFINITY, -1) or soft <= 0 else soft


def band_precision(cfg: MaxNConfig, timings: bool = False) -> float:
    """How finely the band's edges are measured: a quarter of the search's precision for
    layouts (the list's band under randomization is ~1 % wide, finer than a study's 2 %
    search), the search's own for threads and timings (their spread can be tens of
    percent)."""
    p = cfg.search.precision
    return p if cfg.threads_race or timings else p / 4


def _rate(state: _Run, res: SearchResult) -> None:
    """Fresh servers disagreed at one n: the boundary is a failure rate
    (probe.search.rate). Probes where they inform, the two first-request timings in turn,
    until the bound on the n that fails at --risk is tight; that bound is the critical
    n, the search's pair kept beside it."""
    cfg, doc = state.cfg, state.doc
    state.log(f"rate: estimating the n at which at most {cfg.risk:.0%} of fresh servers "
              "fail, from every probe near the boundary")  # fmt: skip
    count = [0]

    def on_probe(probe: Probe) -> None:
        count[0] += 1
        state.log(f"rate {count[0]:2d}: n={probe.n:,} {probe.outcome.kind.value} "
                  f"({_when(probe)}) {probe.elapsed_s:.2f}s")  # fmt: skip

    turns = (verdict.AT_PORT, cfg.settle_s)
    with _oracles(cfg, cfg.spec, cfg.lanes, timings=turns, shared=state.pools) as oracles:
        state.oracles += oracles
        rcfg = rate.RateConfig(risk=cfg.risk, precision=cfg.search.precision,
                               lanes=len(oracles))  # fmt: skip
        prior = (*res.probes, *state.rechecked)
        est, added, stop = rate.rate_search(LaneOracle(oracles), prior, rcfg, on_probe)
    doc.rate = {**est.to_dict(), "stop_reason": stop, "probes": [p.to_dict() for p in added]}
    doc.search_critical_n, doc.search_first_failing_n = doc.critical_n, doc.first_failing_n
    every = [*prior, *added]
    failed = [p.n for p in every if not p.ok and p.n > est.n_risk_lower]
    doc.critical_n = est.n_risk_lower
    doc.first_failing_n = min(failed) if failed else doc.first_failing_n
    doc.peak_rss_bytes = _peak_at(every, est.n_risk_lower)
    state.write()
    all_fail = f", all failed from n={est.n_all_fail:,}" if est.n_all_fail else ""
    state.log(f"rate: at most {cfg.risk:.0%} fail up to n={est.n_risk_lower:,} "
              f"({est.confidence:.0%} sure; estimate {est.n_risk:,}), half fail at "
              f"n={est.n50:,}{all_fail}; {est.probes} probes")  # fmt: skip


def _band_answer(doc: dict, res: SearchResult, band) -> None:
    """Where the search's critical n is one draw (threads at concurrency > 1, or an
    outcome the re-check saw move): report the band's always-ok edge as the critical n,
    and the smallest n seen to fail above it as the first failing n; keep the search's
    pair beside them."""
    doc.search_critical_n, doc.search_first_failing_n = (
        doc.critical_n,
        doc.first_failing_n,
    )
    lo = band.always_ok_n
    failed = [p.n for p in (*res.probes, *band.probes) if not p.ok and p.n > lo]
    doc.critical_n = lo
    doc.first_failing_n = min(failed) if failed else doc.first_failing_n
    doc.peak_rss_bytes = _peak_at([*res.probes, *band.probes], lo)


def _band(state: _Run, res: SearchResult, timings: bool = False) -> None:
    """Where the boundary lies under randomized layouts (threads: under scheduling;
    `timings`: on fresh servers of the search's layout, the first request sent as the
    port opens or --settle s after the workers wait, in turn)."""
    cfg, doc = state.cfg, state.doc
    k = cfg.band_layouts or THREADS_BAND_LAYOUTS
    spec = cfg.spec if timings else cfg.band_spec
    repeats = cfg.threads_race or timings
    lanes = 1 if cfg.threads_race else cfg.lanes
    what = "repeats on fresh servers" if cfg.threads_race else "randomized layouts"
    turns: tuple[float | None, ...] = ()
    if timings:  # a user's first request comes at any time
        turns = (verdict.AT_PORT, cfg.settle_s)
        what = (f"repeats on fresh servers, the first request as the port opens or "
                f"{cfg.settle_s:g} s later")  # fmt: skip
    state.log(f"band: each n on {k} {what}")
    t0 = time.monotonic()
    count = [0]
    band_doc = Band.make(layouts=k, layout=spec.layout, what=what)

    def on_probe(probe: Probe) -> None:
        count[0] += 1
        band_doc.setdefault("probes", []).append(probe.to_dict())
        doc.band = band_doc
        state.write()
        state.log(f"band {count[0]:2d}: n={probe.n:,} {probe.outcome.kind.value} "
                  f"{probe.elapsed_s:.2f}s")  # fmt: skip

    with _oracles(cfg, spec, lanes, timings=turns) as oracles:
        state.oracles += oracles
        bcfg = BandConfig(layouts=k, precision=band_precision(cfg, timings), lanes=len(oracles))
        # the same servers: the search's and the re-check's probes are samples too
        prior = (*res.probes, *state.rechecked) if repeats else ()
        band = band_search(
            LaneOracle(oracles), res.critical_n, res.first_failing_n, bcfg, on_probe, prior
        )
        band_doc.update(band.to_dict())
        band_doc.layout = state._layout(oracles) or spec.layout
    band_doc.probes = [p.to_dict() for p in band.probes]
    band_doc.precision = bcfg.precision
    band_doc.elapsed_s = round(time.monotonic() - t0, 3)
    doc.band = band_doc
    if repeats and band.always_ok_n is not None:
        _band_answer(doc, res, band)
    state.write()
    lo, hi = band.always_ok_n, band.never_ok_n
    state.log(f"band: ok on all {k} up to n={lo:,}; fails on all {k} from n={hi:,}"
              if lo and hi else f"band: {band.stop_reason}")  # fmt: skip
