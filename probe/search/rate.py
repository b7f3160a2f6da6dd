"""A boundary that moves from server to server, answered as a failure rate.

Pure: no I/O, no processes; numpy only. Where the same n succeeds on one fresh server and
fails on the next (a randomized layout, string hashing seeded per process, a cache or a
race whose size differs per request), the critical n is the largest n whose probability
of failing as a first request is at most `risk`, with a confidence bound, estimated from
every probe near the boundary together: a fitted dose-response curve, as psychometric
fits (psignifit) and dose-response studies do, not the last few tries at one n.

Model. P(fail | n) = 1 / (1 + exp(-(ln n - mu) / s)): a logistic in ln n, mu the n where
half the servers fail (n50 = e^mu), s the spread (s -> 0: a sharp boundary). The
quantile at the risk q is ln n_q = mu + s * logit(q).

Fit. The likelihood of every probe over a grid of (mu, s): mu across the window of WINDOW
precisions around the lowest failure and the highest success (a success far below still
counts: it rules out a wide spread), s from a tenth of the precision (a boundary sharper
than that cannot be told from a point) to the window's width. A grid and not Newton's
method, because near-separated data (few failures at a low rate) have no finite
maximum; the grid's best point is the estimate.

Confidence. The bound is Bayesian: the posterior over the grid (the likelihood as
weight, the prior below), and the critical n is the (1 - confidence) quantile of n_q
under it. A profile-likelihood bound (Wilks) was tried first and held the risk in only
26 of 40 simulated runs at 90 % nominal: with a few failures its interval for a 5 %
quantile is too narrow. The posterior integrates over the spread instead of taking its
best value: at 95 %, the default, it held in 60 of 60 runs, its answer a median 4.3 %
below the true quantile (tests/unit/test_rate.py: a service whose P(fail) is a
logistic of known spread; python -c in the commit that chose the prior).

Design. Each next probe goes to the n whose outcome is expected to bring the bound
closest to the middle of n_q's posterior (the psi method's choice by expected
posterior, aimed at the answer alone; next_points has the measurements). Stop when the bound
is within `tolerance` of the estimate, or after `max_probes`. Up-and-down designs
(Dixon-Mood, Wetherill's targeting of other quantiles) converge on one quantile with a
step; the fitted design here uses every probe at once and needs no step size.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

RISK = 0.05  # default: the n at which at most 1 fresh server in 20 fails its first request
CONFIDENCE = 0.95  # the bound is the posterior's 5 % quantile of n_q
MU_STEPS, S_STEPS = 200, 32
WINDOW = 10  # precisions either side of the edges the fit looks at


@dataclass(frozen=True)
class Estimate:
    """The fitted curve and what it says."""

    risk: float
    confidence: float
    n_risk: int  # the point estimate of the n that fails at the risk
    n_risk_lower: int  # its lower bound at the confidence: the critical n
    n50: int  # where half the servers fail
    n_all_fail: int | None  # the smallest n from which every probe failed
    probes: int  # how many probes it rests on
    failures: int
    s: float  # the spread in ln n (0 for a point)

    @property
    def uncertainty(self) -> float:
        """How far the bound lies below the estimate, as a fraction of it."""
        return 1 - self.n_risk_lower / self.n_risk if self.n_risk else 1.0

    def to_dict(self) -> dict:
        return {"risk": self.risk, "confidence": self.confidence, "n_risk": self.n_risk,
                "n_risk_lower": self.n_risk_lower, "n50": self.n50,
                "n_all_fail": self.n_all_fail, "probes_used": self.probes,
                "failures": self.failures, "spread_ln_n": round(self.s, 6),
                "uncertainty": round(self.uncertainty, 5)}  # fmt: skip


def _logit(q: float) -> float:
    return math.log(q / (1 - q))


@dataclass(frozen=True)
class _Grid:
    """The fit's grid over (mu, s): each point's risk quantile (ln n_q) and posterior
    weight (the likelihood of every probe, times the prior)."""

    mus: np.ndarray  # (MU_STEPS,)
    ss: np.ndarray  # (S_STEPS,)
    quantile: np.ndarray  # (MU_STEPS, S_STEPS): ln n_q at each point
    ll: np.ndarray  # (MU_STEPS, S_STEPS): the log-likelihood of the probes
    weight: np.ndarray  # (MU_STEPS * S_STEPS,): the posterior, unnormalized

    def points(self) -> tuple[np.ndarray, np.ndarray]:
        """mu and s of every grid point, in the order of `weight`."""
        mu, s = np.meshgrid(self.mus, self.ss, indexing="ij")
        return mu.ravel(), s.ravel()


def _grid(samples: Sequence[tuple[int, bool]], risk: float, precision: float) -> _Grid:
    p = math.log1p(precision)
    fails = [math.log(n) for n, f in samples if f]
    oks = [math.log(n) for n, f in samples if not f]
    edges = [min(fails)] if fails else []
    edges += [max(oks)] if oks else []
    # the window where the curve's middle can lie: WINDOW precisions around the lowest
    # failure and the highest success; every probe counts in the likelihood (a success
    # far below is what rules out a wide spread)
    lo, hi = min(edges) - WINDOW * p, max(edges) + WINDOW * p
    # each distinct (n, outcome) once, with its count: many probes repeat an n
    distinct = Counter((n_, bool(f)) for n_, f in samples)
    x = np.log(np.array([k[0] for k in distinct], dtype=float))
    sign = np.array([1.0 if k[1] else -1.0 for k in distinct])
    count = np.array(list(distinct.values()), dtype=float)
    s_min = max(p / 10, 1e-6)
    mus = np.linspace(lo, hi, MU_STEPS)
    ss = np.geomspace(s_min, hi - lo, S_STEPS)
    z = (x[None, None, :] - mus[:, None, None]) / ss[None, :, None]
    # log P(fail) = -log(1 + e^-z), log P(ok) = -log(1 + e^z), computed stably
    ll = -(np.logaddexp(0, -sign * z) * count).sum(-1)
    quantile = mus[:, None] + ss[None, :] * _logit(risk)
    # the posterior over the grid: flat in mu, and in s as sqrt(s) (the grid is even in
    # ln s). Over 60 simulated runs: a prior flat in ln s leans to sharp boundaries and
    # held the risk in 53; flat in s held in 60 but a median 12.7 % below the quantile;
    # sqrt(s) held in 60, a median 4.3 % below (2.2 % for a band a third as wide)
    weight = (np.exp(ll - ll.max()) * np.sqrt(ss)[None, :]).ravel()
    return _Grid(mus, ss, quantile, ll, weight)


def estimate(samples: Sequence[tuple[int, bool]], risk: float = RISK,
             confidence: float = CONFIDENCE, precision: float = 0.01) -> Estimate:  # fmt: skip
    """Fit P(fail | n) to (n, failed) samples; the risk quantile and its lower bound."""
    if not samples:
        raise ValueError("no samples to estimate from")
    return _estimate(samples, _grid(samples, risk, precision), risk, confidence)


def _estimate(samples: Sequence[tuple[int, bool]], g: _Grid, risk: float,
              confidence: float) -> Estimate:  # fmt: skip
    best = np.unravel_index(int(np.argmax(g.ll)), g.ll.shape)
    order = np.argsort(g.quantile.ravel())
    cumulative = np.cumsum(g.weight[order]) / g.weight.sum()
    at = int(np.searchsorted(cumulative, 1 - confidence))
    n_risk = math.exp(float(g.quantile[best]))
    n_lower = math.exp(float(g.quantile.ravel()[order][min(at, len(order) - 1)]))
    return Estimate(
        risk=risk, confidence=confidence, n_risk=int(n_risk), n_risk_lower=int(n_lower),
        n50=int(math.exp(float(g.mus[best[0]]))), n_all_fail=all_fail_from(samples),
        probes=len(samples), failures=int(sum(bool(f) for _, f in samples)),
        s=float(g.ss[best[1]]),
    )  # fmt: skip


def all_fail_from(samples: Sequence[tuple[int, bool]]) -> int | None:
    """The smallest probed n from which every probe (at it and above) failed."""
    out = None
    for n in sorted({s[0] for s in samples}, reverse=True):
        if any(not f for m, f in samples if m == n):
            break
        out = n
    return out


CANDIDATES = 33  # the n a round may choose among, even in ln n
KEEP_WEIGHT = 1e-6  # grid points below this share of the best weight do not steer the choice


def next_points(g: _Grid, est: Estimate, lanes: int, precision: float = 0.01) -> list[int]:
    """Where the next round's probes go: the n whose outcome is expected to leave the
    answer's posterior narrowest below its middle (the median of n_q less the bound,
    the quantity the stopping rule reads), as the psi method chooses its stimulus by the
    posterior it expects (Kontsevich and Tyler 1999; Prins 2013's psi-marginal: the
    parameter of interest only, the spread a nuisance). Candidates run from just below
    the bound to n50's far side. With several lanes, each next lane's n is chosen given
    every outcome the earlier lanes' probes of the round may have (2^k branches).

    Chosen over 150 seeded runs per row (`python bench/rate.py --lanes L --spread S`; the
    design before, with --module and `git show ddb71e4~1:probe/search/rate.py`; a
    logistic service as tests/unit/test_rate.py's, spread s in ln n; held: runs whose
    answer failed at most at the risk; below: the answer's median distance under the
    true quantile; probes this phase added), against the design before it (between the
    bound and the estimate, the estimate, n50):

        s      lanes  design       held     below    probes
        0.01   1      before       147/150  5.19 %   23.8
        0.01   1      this         146/150  3.10 %   22.4
        0.01   2      before       146/150  5.43 %   23.5
        0.01   2      this         147/150  3.07 %   22.4
        0.003  1      before       150/150  2.61 %   23.5
        0.003  1      this         150/150  2.79 %   18.8
        0.03   1      before        99/100  20.9 %   24
        0.03   1      this         100/100  12.9 %   24
        0.03   2      this          97/100  12.9 %   24
    The posterior's variance of ln n_q as the criterion instead (the psi method's own
    entropy, nearly) placed probes as tightly but held in only 138 of 150 at one lane:
    it spends them where the middle of the curve is, which leaves the bound's tail to
    the prior."""
    top = max(est.n50, est.n_risk, est.n_all_fail or 0)
    lo_n, hi_n = est.n_risk_lower * (1 - 2 * precision), top * (1 + 2 * precision)
    cands = np.exp(np.linspace(math.log(max(1, lo_n)), math.log(max(hi_n, lo_n + 2)),
                               CANDIDATES))  # fmt: skip
    # the grid points the posterior weighs at all (a few hundred of the 6,400), in the
    # order of n_q: the choice needs their P(fail) at each candidate
    keep = np.flatnonzero(g.weight > g.weight.max() * KEEP_WEIGHT)
    keep = keep[np.argsort(g.quantile.ravel()[keep])]
    q = g.quantile.ravel()[keep]
    mu, s = (a[keep] for a in g.points())
    z = (np.log(cands)[:, None] - mu[None, :]) / s[None, :]
    pf = 1 / (1 + np.exp(-np.clip(z, -50, 50)))  # (candidates, kept points)
    conf = est.confidence

    def mass_and_gap(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per row of weights: its mass, and its median of ln n_q less its bound."""
        z = a.sum(1)
        cum = np.cumsum(a, 1) / np.where(z > 0, z, 1.0)[:, None]
        lower = q[np.minimum((cum < 1 - conf).sum(1), len(q) - 1)]
        middle = q[np.minimum((cum < 0.5).sum(1), len(q) - 1)]
        return z, middle - lower

    branches = [g.weight[keep] / g.weight[keep].sum()]  # each outcome so far, by its chance
    out: list[int] = []
    for _ in range(max(1, lanes)):
        expected = np.zeros(len(cands))
        for w in branches:
            for a in (w[None, :] * pf, w[None, :] * (1 - pf)):
                z, gap = mass_and_gap(a)
                expected += z * gap
        pick = int(np.argmin(expected))
        out.append(max(1, int(cands[pick])))
        branches = [w * f for w in branches for f in (pf[pick], 1 - pf[pick])]
    return out


@dataclass(frozen=True)
class RateConfig:
    risk: float = RISK
    confidence: float = CONFIDENCE
    precision: float = 0.01
    tolerance: float = 0.02  # stop when the bound is within this of the estimate...
    min_probes: int = 12  # ...and this phase added this many probes at least
    max_probes: int = 24  # probes this phase adds at most
    lanes: int = 1


def rate_search(batch: Callable[[list[int]], Sequence], prior: Sequence, cfg: RateConfig,
                on_probe: Callable = lambda p: None) -> tuple[Estimate, list, str]:  # fmt: skip
    """Probe where it informs until the bound is tight or the budget is spent; the
    estimate over every probe (the prior ones too), the new probes, why it stopped."""
    probes = list(prior)

    def fit() -> tuple[Estimate, _Grid]:
        samples = [(p.n, not p.ok) for p in probes]
        g = _grid(samples, cfg.risk, cfg.precision)
        return _estimate(samples, g, cfg.risk, cfg.confidence), g

    (est, g), added = fit(), []
    while True:
        if len(added) >= cfg.min_probes and est.uncertainty <= cfg.tolerance:
            return est, added, "converged"
        if len(added) >= cfg.max_probes:
            return est, added, "max_probes"
        plan = next_points(g, est, cfg.lanes, cfg.precision)[: cfg.max_probes - len(added)]
        for p in batch(plan):
            probes.append(p)
            added.append(p)
            on_probe(p)
        est, g = fit()
