"""A max-n run: its phases in order, each timed and written as it goes."""

from __future__ import annotations

import resource
import sys
import time
from dataclasses import replace
from pathlib import Path

from probe.documents import store
from probe.measure import load
from probe.measure.lanes import LaneOracle
from probe.search.critical import SearchResult, search_rounds
from probe.servers.capexec import fixed_layout_refused
from probe.sizes import format_bytes
from probe.studies.maxn.band import band
from probe.studies.maxn.document import fill_result
from probe.studies.maxn.failure_rate import failure_rate
from probe.studies.maxn.lanes import lane_oracles, n_param_cost
from probe.studies.maxn.overlap import full_overlap
from probe.studies.maxn.progress import Log, describe_start
from probe.studies.maxn.recheck import recheck
from probe.studies.maxn.state import Run
from probe.studies.maxn.warm_phase import warm_phase
from probe.studies.question import MaxNConfig
from probe.workload import bodyfn, growth


def run(
    cfg: MaxNConfig,
    out: Path,
    log: Log = lambda s: print(s, file=sys.stderr, flush=True),
) -> dict:
    """Run the search (then the band); rewrite `out` after every probe; return the document."""
    cfg = check_layout(cfg, log)
    learn_t0 = time.monotonic()
    sizes = first_sizes(cfg, log)
    learn_s = time.monotonic() - learn_t0
    if sizes is not None:
        bounds = {"n_start": sizes.n_start, **({"n_max": sizes.n_max} if sizes.n_max else {})}
        cfg = replace(cfg, search=replace(cfg.search, **bounds))
    state = Run(cfg, out, log)
    state.doc.first_sizes = sizes.to_dict() if sizes is not None else None
    if cfg.workload.n_param is not None and not cfg.url:
        state.doc.n_param_cost_bytes = n_param_cost(cfg)
        log(f"--n-param's hook costs {state.doc.n_param_cost_bytes} B of address space")
    store.write_atomic(out, state.doc)
    state.doc.phases = {} if sizes is None else {"first_sizes": {"wall_s": round(learn_s, 3)}}
    with state.stack, store.recording(out, state.doc, state.t0):
        with state.phase("search"):
            res = search(state)
        timing_band = False
        ends = res.critical_n is not None and res.first_failing_n is not None
        if ends and cfg.rechecks and res.stop_reason == "converged":
            with state.phase("recheck"):
                timing_band = not recheck(state, res)
            # a failure below a success on fresh servers is a disagreement too
            timing_band = timing_band or bool(state.doc.non_monotone)
        if res.critical_n is not None and cfg.threads_race:
            with state.phase("full_overlap"):
                full_overlap(state)
        if timing_band:
            with state.phase("rate"):
                failure_rate(state, res)
        elif res.critical_n is not None and cfg.band_layouts:
            with state.phase("band"):
                band(state, res)
        if state.doc.critical_n is not None and cfg.warms:
            with state.phase("warm"):
                warm_phase(state)
        with state.phase("body_sizes"):
            body_sizes(state)
        state.doc.body_fn_cap_bytes = bodyfn.builder_cap_bytes()
        state.doc.own_peak_rss_bytes = own_peak_rss()
        state.doc.server_starts = state.starts()
    return state.doc


def own_peak_rss() -> dict:
    """probe's own peak RSS, and its body builder's (None: none ran), with the bound."""
    return {"probe": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
            "body_builder": bodyfn.builder_peak_rss_bytes(),
            "held_max": load.HELD_MAX_BYTES}  # fmt: skip


def first_sizes(cfg: MaxNConfig, log: Log) -> growth.FirstSizes | None:
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


def body_sizes(state: Run) -> None:
    """The body's bytes at both ends, when the body is what n sizes."""
    w, doc = state.cfg.workload, state.doc
    if w.sized_body is None:
        return
    for key, n in (("body_bytes_at_critical_n", doc.critical_n),
                   ("body_bytes_at_first_failing_n", doc.first_failing_n)):  # fmt: skip
        doc[key] = len(w.render(n).body) if n is not None else None


def check_layout(cfg: MaxNConfig, log: Log) -> MaxNConfig:
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


def search(state: Run) -> SearchResult:
    cfg = state.cfg
    state.log(describe_start(cfg, cfg.spec))
    with lane_oracles(cfg, cfg.spec, cfg.lanes, shared=state.pools) as oracles:
        state.oracles += oracles
        search = replace(cfg.search, lanes=len(oracles), facts=cfg.outcomes_are_facts)
        res = search_rounds(LaneOracle(oracles), search, on_probe=state.on_probe)
        fill_result(state.doc, res, oracles[0])
        state.doc.layout = state._layout(oracles) or state.doc.layout
        state.write()
    return res
