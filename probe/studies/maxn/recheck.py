"""The re-check phase: both ends re-probed on fresh servers, the first request as the port
opens and --settle s after the workers wait.
"""

from __future__ import annotations

from probe.measure.lanes import LaneOracle
from probe.outcome import Probe
from probe.search import verdict
from probe.search.critical import SearchResult
from probe.studies.maxn.lanes import lane_oracles
from probe.studies.maxn.progress import when
from probe.studies.maxn.state import Run
from probe.studies.question import MaxNConfig


def recheck(state: Run, res: SearchResult) -> bool:
    """Re-probe both ends on fresh servers as a user's server would get its first request:
    as soon as the port accepts, and --settle seconds after the workers wait. True if
    every re-probe agrees with the search (recorded under `recheck`)."""
    cfg, doc = state.cfg, state.doc
    lo, hi = res.critical_n, res.first_failing_n
    plan = verdict.recheck_plan(lo, hi, cfg.settle_s, res.probes, cfg.recheck_tries)
    state.log(f"re-check: n={lo:,} and n={hi:,} on fresh servers, the request as the port "
              f"opens and {cfg.settle_s:g} s after the workers wait")  # fmt: skip
    probes: list[Probe] = []
    with lane_oracles(cfg, cfg.spec, cfg.lanes, shared=state.pools) as oracles:
        state.oracles += oracles
        lanes = LaneOracle(oracles)
        for i in range(0, len(plan), lanes.lanes):
            part = plan[i : i + lanes.lanes]
            for probe in lanes([n for n, _ in part], [t for _, t in part]):
                probes.append(probe)
                state.log(f"re-check {len(probes)}/{len(plan)}: n={probe.n:,} "
                          f"{probe.outcome.kind.value} ({when(probe)}) "
                          f"{probe.elapsed_s:.2f}s")  # fmt: skip
                doc.recheck = recheck_doc(cfg, res, probes, None)
                state.write()
    state.rechecked = probes
    agrees = verdict.recheck_agrees([*res.probes, *probes], lo, hi)
    doc.recheck = recheck_doc(cfg, res, probes, agrees)
    state.write()
    if agrees:
        state.log(f"re-check: agrees: n={lo:,} ok and n={hi:,} failed every time")
    else:
        state.log(f"re-check: the outcome near n={lo:,} is not a fact for this server (it "
                  "moved with the server or the first request's timing); measuring the "
                  "band")  # fmt: skip
    return agrees


def recheck_doc(cfg: MaxNConfig, res: SearchResult, probes: list[Probe],
                 agrees: bool | None) -> dict:  # fmt: skip
    every = [*res.probes, *probes]
    return {
        "settle_s": cfg.settle_s,
        "agrees": agrees,
        "critical_n": verdict.tally(every, res.critical_n),
        "first_failing_n": verdict.tally(every, res.first_failing_n),
        "probes": [p.to_dict() for p in probes],
    }
