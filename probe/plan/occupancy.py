"""A cell of C > 1 under sustained traffic: whether its C peaks meet is a rate.

The full-occupancy bound (probe.plan.predict) is the worst case, every peak at once, and
it holds however the requests interleave. Under sustained traffic at full occupancy (C
clients, each sending its next request at n as soon as its last answer is in) the peaks
meet at some moments and miss at others, so whether a service fails there is a rate, as
a moving boundary is for one request (probe.search.rate). A run: a fresh server of the
cell under the budget serves ROUNDS x C requests at n, C at once; it fails if any answer
fails or a process was killed for memory. The cell's answer under a budget is the largest
n at which at most `risk` of such runs fail, fitted over every run with its confidence
bound (probe.search.rate), and never below the full-occupancy bound.

Between the two ends: the bound, where every peak at once fits, and one request's own
boundary (the calibration's line with one peak, just above it), where a single peak
alone is over the budget and every run fails. A bisection in ln n first brings a run
that held and one that failed within a few precisions (the ends lie about C x apart),
then the fit's design places the rest.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace

from probe.measure.sustained import closed_loop
from probe.plan.watched import watched
from probe.search import rate
from probe.servers.process import ServerStartError
from probe.workload.model import Workload

BRACKET_PRECISIONS = 4  # the bisection stops when its ends are this many precisions apart
ROUNDS = 4  # requests per client in one run: the peaks get this many chances to meet
# fewer runs than max-n's failure-rate phase: each run is ROUNDS x C requests
RATE = rate.RateConfig(min_probes=6, max_probes=12, tolerance=0.03)
WORDS = f"runs of {ROUNDS} x C requests at n, C at once, on a fresh server"


@dataclass(frozen=True)
class Run:
    """One sustained run at n (rate_search reads `n` and `ok`)."""

    n: int
    ok: bool
    requests: int
    failed: int
    kills: int
    detail: str | None
    wall_s: float

    def to_dict(self) -> dict:
        return dict(self.__dict__)


def run_at(spec, workload: Workload, n: int, concurrency: int, timeout_s: float) -> Run:
    """A fresh server of `spec` under its budget (the tree sampler kills past it, or the
    kernel's memory.max), ROUNDS x `concurrency` requests at n, `concurrency` at once,
    stopping at the first failure. A server that does not start under the budget at all
    is a failed run."""
    total = ROUNDS * concurrency
    try:
        with watched(spec, workload, grace_s=0) as w:
            records, wall = closed_loop(w.server.url, lambda i: workload.render(n), total,
                                        concurrency, timeout_s, workload.name,
                                        stop_after_failure=True)  # fmt: skip
            kills = w.memory_kills()
    except ServerStartError as exc:
        return Run(n, False, 0, 0, 0, str(exc).splitlines()[0], 0.0)
    judged = [workload.judge(r.status, r.text, r.body, r.n, r.area, r.found) for r in records]
    bad = [o for o in judged if not o.ok]
    detail = None
    if bad:
        detail = f"{bad[0].kind.value}{f' (HTTP {bad[0].status})' if bad[0].status else ''}"
    elif kills:
        detail = f"{kills} process(es) killed for memory"
    ok = not bad and not kills and len(records) == total
    return Run(n, ok, len(records), len(bad), kills, detail, round(wall, 3))


def bracket(ok_n: int, failed_n: int, batch: Callable[[list[int]], list[Run]],
            precision: float) -> list[Run]:  # fmt: skip
    """Bisect (in ln n) between a run that held and one that failed until they lie within
    BRACKET_PRECISIONS precisions: the ends may be far apart (the bound and one request's
    own boundary differ by about C x), where the fit's design, made for a band a few
    precisions wide, would spend its runs on the wide tail of the curve."""
    out: list[Run] = []
    while failed_n / ok_n - 1 > BRACKET_PRECISIONS * precision and failed_n - ok_n > 1:
        [r] = batch([int(math.sqrt(ok_n * failed_n))])
        out.append(r)
        ok_n, failed_n = (r.n, failed_n) if r.ok else (ok_n, r.n)
    return out


def sustained(bound_n: int, single_n: int, probe: Callable[[int], Run], risk: float,
              precision: float, log: Callable[[str], None] = lambda s: None,
              fit_runs: int = RATE.max_probes) -> dict:  # fmt: skip
    """The rate answer between the full-occupancy bound and one request's own boundary
    (`single_n`, where one peak alone is over the budget): the largest n at which at most
    `risk` of the runs fail (at rate.CONFIDENCE), never below the bound where the bound
    held, nor above the largest n a run held at. `fit_runs`: the runs the fit may place
    after the bisection (fewer: cheaper, the answer nearer the bound)."""
    runs: list[Run] = []

    def batch(ns: list[int]) -> list[Run]:
        out = []
        for n in ns:
            r = probe(n)
            out.append(r)
            runs.append(r)
            log(f"    sustained run {len(runs)}: n={r.n:,} "
                f"{'ok' if r.ok else 'failed: ' + (r.detail or '')}")  # fmt: skip
        return out

    prior = batch([bound_n, max(single_n, bound_n + 1)])
    if prior[0].ok and not prior[1].ok:
        prior += bracket(bound_n, prior[1].n, batch, precision)
    cfg = replace(RATE, risk=risk, precision=precision, max_probes=fit_runs,
                  min_probes=min(RATE.min_probes, fit_runs))  # fmt: skip
    est, _, stop = rate.rate_search(batch, prior, cfg)
    held = prior[0].ok
    answer = max(bound_n, est.n_risk_lower) if held else est.n_risk_lower
    # never above the largest n a run held at: the fit's bound is not a run
    answer = min(answer, max((r.n for r in runs if r.ok), default=0))
    return {"what": WORDS, "rounds": ROUNDS, "n": answer, **est.to_dict(), "stop_reason": stop,
            "bound_held": held, "runs": [r.to_dict() for r in runs]}  # fmt: skip
