"""The warm phase: the cold answer probed on a server that served requests first
(the design: probe.studies.warm).
"""

from __future__ import annotations

from probe.measure.lanes import LaneOracle
from probe.outcome import Probe
from probe.studies import warm
from probe.studies.maxn.document import peak_at
from probe.studies.maxn.lanes import lane_oracles
from probe.studies.maxn.state import Run


def warm_phase(state: Run) -> None:
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

    with lane_oracles(cfg, cfg.spec, cfg.lanes, warmup=warm.fractions(k),
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
        doc.peak_rss_bytes = peak_at(probes, lo)
        state.log(f"warm: a server that served {k} requests takes n={lo:,} (fails at "
                  f"{hi:,}), below the cold {cold_n:,}: the critical n is the warm "
                  "one")  # fmt: skip
    else:
        state.log(f"warm: n={cold_n:,} holds after {k} requests")
    state.write()
