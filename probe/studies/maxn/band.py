"""The band phase: where the boundary lies over randomized layouts, scheduling or the first
request's timing (probe.search.band).
"""

from __future__ import annotations

import time

from probe.documents.maxn import Band
from probe.measure.lanes import LaneOracle
from probe.outcome import Probe
from probe.search import verdict
from probe.search.band import BandConfig, band_search
from probe.search.critical import SearchResult
from probe.studies.maxn.document import peak_at
from probe.studies.maxn.lanes import lane_oracles
from probe.studies.maxn.state import Run
from probe.studies.question import THREADS_BAND_LAYOUTS, MaxNConfig


def band_precision(cfg: MaxNConfig, timings: bool = False) -> float:
    """How finely the band's edges are measured: a quarter of the search's precision for
    layouts (the list's band under randomization is ~1 % wide, finer than a study's 2 %
    search), the search's own for threads and timings (their spread can be tens of
    percent)."""
    p = cfg.search.precision
    return p if cfg.threads_race or timings else p / 4


def band_answer(doc: dict, res: SearchResult, band) -> None:
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
    doc.peak_rss_bytes = peak_at([*res.probes, *band.probes], lo)


def band(state: Run, res: SearchResult, timings: bool = False) -> None:
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
    band_doc = Band.make(tries_per_n=k, layout=spec.layout, what=what)

    def on_probe(probe: Probe) -> None:
        count[0] += 1
        band_doc.setdefault("probes", []).append(probe.to_dict())
        doc.band = band_doc
        state.write()
        state.log(f"band {count[0]:2d}: n={probe.n:,} {probe.outcome.kind.value} "
                  f"{probe.elapsed_s:.2f}s")  # fmt: skip

    with lane_oracles(cfg, spec, lanes, timings=turns) as oracles:
        state.oracles += oracles
        bcfg = BandConfig(tries_per_n=k, precision=band_precision(cfg, timings), lanes=len(oracles))
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
        band_answer(doc, res, band)
    state.write()
    lo, hi = band.always_ok_n, band.never_ok_n
    state.log(f"band: ok on all {k} up to n={lo:,}; fails on all {k} from n={hi:,}"
              if lo and hi else f"band: {band.stop_reason}")  # fmt: skip
