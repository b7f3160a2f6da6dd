"""The failure-rate phase: where fresh servers disagreed at one n, the n that fails at
most at --risk (probe.search.rate).
"""

from __future__ import annotations

from probe.measure.lanes import LaneOracle
from probe.outcome import Probe
from probe.search import rate, verdict
from probe.search.critical import SearchResult
from probe.studies.maxn.document import peak_at
from probe.studies.maxn.lanes import lane_oracles
from probe.studies.maxn.progress import when
from probe.studies.maxn.state import Run


def failure_rate(state: Run, res: SearchResult) -> None:
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
                  f"({when(probe)}) {probe.elapsed_s:.2f}s")  # fmt: skip

    turns = (verdict.AT_PORT, cfg.settle_s)
    with lane_oracles(cfg, cfg.spec, cfg.lanes, timings=turns, shared=state.pools) as oracles:
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
    doc.peak_rss_bytes = peak_at(every, est.n_risk_lower)
    state.write()
    all_fail = f", all failed from n={est.n_all_fail:,}" if est.n_all_fail else ""
    state.log(f"rate: at most {cfg.risk:.0%} fail up to n={est.n_risk_lower:,} "
              f"({est.confidence:.0%} sure; estimate {est.n_risk:,}), half fail at "
              f"n={est.n50:,}{all_fail}; {est.probes} probes")  # fmt: skip
