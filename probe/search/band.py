"""Band search: how wide the boundary is when every server gets a fresh random layout.

Pure: no I/O, no processes, no clocks, no randomness of its own. The batch oracle is the
only seam; every probe it answers must come from a fresh server (a fresh address-space
layout), so probing the same n again is a new, independent sample.

Why a band. Under address-space layout randomization a pure-Python list's boundary moves
from one server to the next (by ~0.5 % between processes on this machine): below some n
every server succeeds, above some larger n every server fails, in between some do. The
main search (probe.search) finds (critical_n, first_failing_n) on one layout; the band
search measures the band around it with K fresh layouts per n.

Vocabulary. Per n the search keeps (ok, tries), at most K tries. n is *all-ok* when
ok == tries == K, *all-fail* when ok == 0 and tries == K, *mixed* once it has both a
success and a failure; a point with fewer than K tries, all alike, is *pending*
(untested, not refuted). Four ends are read off the samples (they are the only state):
- F, the smallest n that ever failed; S, the largest n that ever succeeded;
- always_ok_n (L): the largest all-ok n below F, i.e. below every n that was ever seen
  to fail (conservative: a lucky all-ok n above a failure does not count);
- never_ok_n (U): the smallest all-fail n above S.
The *lower edge* is the gap (L, F), the *upper edge* the gap (S, U); an edge is closed
when hi / lo - 1 <= precision or hi - lo <= 1, and the search stops ("converged") when
both are. With a sharp boundary the two edges coincide.

Rungs. The rung below n is the smallest m with (m, n) closed, the rung above the largest
m with (n, m) closed: one precision apart (P = ln(1 + precision) in log n), or one
element. Steps and midpoints are counted in rungs (below 64 rungs; farther out in log
n), so two adjacent rungs always close an edge and a gap of g rungs always closes after
ceil(log2 g) midpoints: a plain geometric midpoint, rounded to an integer, leaves a
half just over one precision about half the time, and that costs K more probes.

Method. Every round gives each open edge one candidate and probes it until it is decided
*for that edge*, i.e. until the edge can move: a lower-edge candidate until its first
failure (it becomes F) or K successes (it becomes L), an upper-edge candidate until its
first success (it becomes S) or K failures (it becomes U). The candidate is a pending
point inside the edge's gap if there is one (the highest for the lower edge, the lowest
for the upper: if it passes, the others fall outside), else a new point:
- the lower edge with no L yet steps down from F, 1, 2, 4, ... rungs from critical_n
  (the distance doubling, at most a factor 2 in n a step); the upper edge with no U
  steps up from S the same way from first_failing_n;
- otherwise the middle rung of the gap (for an odd count the one nearer the band's
  inside, where a refutation, the cheap outcome, is likelier).
The lower edge has no candidate while nothing has failed (the upper edge's steps up will
fail), the upper edge none while nothing has succeeded (the lower edge's steps down will
succeed); at the start the candidates are critical_n and first_failing_n.
Deciding per edge rather than per point ("probe each n K times or until mixed") is the
improvement: a step down that fails once is done, as nothing below the successes can
serve the upper edge, instead of costing up to K failures; a mixed point lies outside
both gaps and is never probed again.

Rounds. A round has up to `lanes` probes, filled level by level: one try of each open
edge's candidate, then a second try of each, and so on up to the tries each still needs
(lower edge first within a level). So the tries that can settle a candidate at once (a
failure refutes all-ok, a success refutes all-fail) come before repeats, and both edges
advance in the same round. A round may hold the same n several times (up to K, each on
a fresh server). Lanes beyond the tries needed stay idle: speculative points were
measured and dropped (the midpoints of both halves: under 5 % fewer rounds for ~5 % more
probes; the next step down or up as well: more rounds and more probes).

Cost. A point costs K probes when it passes its edge's test (all-ok, all-fail) and fewer
when refuted: a lower-edge point that succeeds with probability q costs sum(q^i, i < K)
on average (1.75 at q = 1/2, K = 3), 1 where it always fails. An edge whose start is t
rungs from where its test passes takes j = 1 + ceil(log2 t) steps (at 1, 2, ...,
2^(j-1) rungs; the last one passes) and then j - 2 midpoints to close the last step's
2^(j-2) rungs: 2 ceil(log2 t) points (1 if t = 1, none if the start passes).
- Sharp boundary a (n < a succeeds) bracketed by the start (critical_n < a <=
  first_failing_n <= critical_n (1 + p)): 2K probes (K at each end), the minimum.
- Sharp boundary, critical_n t rungs too high (lanes = 1): 1 + j + (j - 2)^+ points
  (critical_n, the j steps down, the midpoints), each probed once except those that
  end up all-ok or all-fail, K times: always_ok_n, never_ok_n and the m midpoints that
  passed (0 <= m <= j - 2; a failed midpoint is taken over by a lower failure before it
  is completed, as the lower edge goes first in a round). C = 1 + j + (j - 2)^+ +
  (K - 1) (2 + m). Too low (both starts below, t rungs from first_failing_n): one
  probe more, critical_n's. K = 3, p = 1 %: 6 (t = 1), 7 (t = 2), 9-11 (t = 3, 4),
  11-15 (t = 5-8), 13-19 (t = 9-16: a 9-16 % miss), 17-27 (t = 33-64: 39-89 %).
- A band of width w (in log n), the starts inside it: t <= w / P for either edge, so
  roughly 2 + 2 max(1, 2 ceil(log2(w/P))) points of at most K probes: 4K for w <= P,
  10K for w <= 4P. A guide, not a bound (a point the other edge needs may add a point or two);
  usually much less, as the found edges sit inside the band (K layouts only see so far
  into it), which makes t smaller and many points cheap refutations.
- Expected costs under a uniform band: README, "How fast the search is" (simulated by
  tests/unit/test_band.py, which pins K = 3).
max_probes (60 by default) is the band search's own budget; when it runs out the search
stops with "max_probes" and reports the ends known so far. If n_min fails (the band
reaches down to it) it stops with "all_failed".
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from probe.defaults import MAXN_PRECISION
from probe.outcome import Probe
from probe.search.bracket import BatchOracle, closed, geometric_mid

STOP_REASONS = ("converged", "max_probes", "all_failed")

OnProbe = Callable[[Probe], None]

Tally = dict[int, list[int]]  # n -> [ok, tries]

_LADDER = 64  # below this many rungs, steps and midpoints are counted in rungs


@dataclass(frozen=True)
class BandConfig:
    """How to measure the band: K layouts per n, precision, lanes and probe budget."""

    tries_per_n: int = 3  # K: fresh servers per n (>= 2)
    precision: float = MAXN_PRECISION  # each edge to hi / lo - 1 <= precision (or hi - lo <= 1)
    lanes: int = 1  # probes per round
    max_probes: int = 60  # budget for the band search alone
    n_min: int = 1

    def __post_init__(self) -> None:
        if self.tries_per_n < 2:
            raise ValueError(f"tries_per_n must be >= 2, not {self.tries_per_n}")
        if not self.precision >= 0:
            raise ValueError(f"precision must be >= 0, not {self.precision}")
        if self.lanes < 1:
            raise ValueError(f"lanes must be >= 1, not {self.lanes}")
        if self.max_probes < 1:
            raise ValueError(f"max_probes must be >= 1, not {self.max_probes}")
        if self.n_min < 0:
            raise ValueError(f"n_min must be >= 0, not {self.n_min}")


@dataclass(frozen=True)
class Sample:
    """The probes at one n: how many of them succeeded."""

    n: int
    ok: int  # successes
    tries: int  # probes

    def to_dict(self) -> dict:
        return {"n": self.n, "ok": self.ok, "tries": self.tries}


@dataclass(frozen=True)
class Band:
    """What the band search found, and every probe it took to find it.

    always_ok_n: the largest n that succeeded on all K layouts and lies below every n
    that ever failed (None if there is none). never_ok_n: the smallest n that failed on
    all K layouts and lies above every n that ever succeeded (None if there is none).
    """

    tries_per_n: int
    always_ok_n: int | None
    never_ok_n: int | None
    samples: tuple[Sample, ...]  # sorted by n
    probes: tuple[Probe, ...]  # every probe in order
    stop_reason: str  # one of STOP_REASONS

    def to_dict(self) -> dict:
        return {
            "tries_per_n": self.tries_per_n,
            "always_ok_n": self.always_ok_n,
            "never_ok_n": self.never_ok_n,
            "samples": [s.to_dict() for s in self.samples],
            "probes": len(self.probes),
            "stop_reason": self.stop_reason,
        }


@dataclass(frozen=True)
class _Ends:
    """L, F, S, U of the module docstring."""

    always_ok: int | None
    first_fail: int | None
    last_ok: int | None
    never_ok: int | None


def band_search(
    batch: BatchOracle,
    critical_n: int,
    first_failing_n: int | None,
    cfg: BandConfig,
    on_probe: OnProbe | None = None,
    prior: Sequence[Probe] = (),
) -> Band:
    """Measure the band around (critical_n, first_failing_n); see the module docstring.

    `prior`: probes already made on servers like the band's (threads at concurrency > 1,
    where the search's own fresh servers are samples of the same scheduling), counted as
    tries (at most K per n); they are not charged to the budget and not in Band.probes.

    first_failing_n None means the rung above critical_n, the largest n <= critical_n
    (1 + precision), so that the two close the edge if they bracket it. Each round asks
    `batch` for up to cfg.lanes probes; a round may repeat an n (each probe is a fresh
    server), and the answers must be for the n asked (in any order). on_probe(probe)
    runs after each probe, in the order of the round.
    """
    if critical_n < 0:
        raise ValueError(f"critical_n must be >= 0, not {critical_n}")
    if first_failing_n is not None and first_failing_n <= critical_n:
        raise ValueError(f"first_failing_n {first_failing_n} is not above {critical_n}")
    start = max(critical_n, cfg.n_min)
    if first_failing_n is None:
        first_failing_n = _next(start, cfg.precision, +1)  # critical_n (1 + precision)
    first = max(first_failing_n, start + 1)
    k = cfg.tries_per_n
    tally: Tally = {}
    for probe in prior:
        ok_tries = tally.setdefault(probe.n, [0, 0])
        if ok_tries[1] < k:
            ok_tries[0] += 1 if probe.ok else 0
            ok_tries[1] += 1
    probes: list[Probe] = []
    while True:
        ends = _ends(tally, k)
        stop = _stop(ends, cfg)
        if stop is None and len(probes) >= cfg.max_probes:
            stop = "max_probes"
        if stop is not None:
            return _band(tally, probes, k, ends, stop)
        room = min(cfg.lanes, cfg.max_probes - len(probes))
        plan = _round(tally, ends, start, first, cfg, room)
        if not plan:  # every open edge always has a candidate: this is a bug
            raise AssertionError(f"band search has nothing to probe: {ends}")
        got = list(batch(plan))
        if sorted(p.n for p in got) != sorted(plan):
            raise ValueError(f"batch oracle answered n={[p.n for p in got]} for {plan}")
        for probe in got:
            ok_tries = tally.setdefault(probe.n, [0, 0])
            ok_tries[0] += 1 if probe.ok else 0
            ok_tries[1] += 1
            probes.append(probe)
            if on_probe is not None:
                on_probe(probe)


def _ends(tally: Tally, k: int) -> _Ends:
    f = min((n for n, (ok, tries) in tally.items() if ok < tries), default=None)
    s = max((n for n, (ok, _) in tally.items() if ok > 0), default=None)
    low = max(
        (n for n, (ok, tries) in tally.items() if ok == tries == k and (f is None or n < f)),
        default=None,
    )
    high = min(
        (n for n, (ok, tries) in tally.items() if ok == 0 and tries == k and (s is None or n > s)),
        default=None,
    )
    return _Ends(low, f, s, high)


def _stop(ends: _Ends, cfg: BandConfig) -> str | None:
    """The stop reason if the search is done, else None."""
    if ends.always_ok is None and ends.first_fail is not None and ends.first_fail <= cfg.n_min:
        return "all_failed"  # n_min failed: no n can be always ok
    p = cfg.precision
    if closed(ends.always_ok, ends.first_fail, p) and closed(ends.last_ok, ends.never_ok, p):
        return "converged"
    return None


def _round(
    tally: Tally, ends: _Ends, start: int, first: int, cfg: BandConfig, room: int
) -> list[int]:
    """Up to `room` tries: one more of each candidate per level, lower edge first."""
    k = cfg.tries_per_n
    if tally:
        both = (_lower(tally, ends, start, cfg), _upper(tally, ends, first, cfg))
        cands = [n for n in both if n is not None]
    else:
        cands = [start, first]
    cands = list(dict.fromkeys(cands))
    planned: Counter[int] = Counter()
    order: list[int] = []
    for level in range(k):
        for n in cands:
            if len(order) < room and planned[n] == level < k - tally.get(n, [0, 0])[1]:
                planned[n] += 1
                order.append(n)
    return order


def _pending(tally: Tally, lo: int | None, hi: int | None, k: int) -> list[int]:
    """The n strictly inside (lo, hi) with some but fewer than K tries, in order."""
    return sorted(
        n
        for n, (_, tries) in tally.items()
        if 0 < tries < k and (lo is None or n > lo) and (hi is None or n < hi)
    )


def _lower(tally: Tally, ends: _Ends, start: int, cfg: BandConfig) -> int | None:
    """The lower edge's candidate, None if the edge is closed or waits for a failure."""
    lo, hi, p = ends.always_ok, ends.first_fail, cfg.precision
    if hi is None or closed(lo, hi, p):
        return None
    pending = _pending(tally, lo, hi, cfg.tries_per_n)
    if pending:
        return pending[-1]  # the highest: if it passes, the others are below L
    if lo is not None:
        g = _count(hi, lo, p, -1)
        if g is None:
            return geometric_mid(lo, hi)
        return _ladder(hi, g // 2, p, -1)
    if start < hi and start not in tally:
        return start
    t = _count(start, hi, p, -1)
    if t is not None:
        n = _ladder(hi, max(t, 1), p, -1)
        if hi <= 2 * n:
            return max(cfg.n_min, n)
    d = min(math.log(start / hi) if hi < start else 0.0, math.log(2.0))
    return max(cfg.n_min, min(math.ceil(hi / math.exp(d)), hi - 1))


def _upper(tally: Tally, ends: _Ends, first: int, cfg: BandConfig) -> int | None:
    """The upper edge's candidate, None if the edge is closed or waits for a success."""
    lo, hi, p = ends.last_ok, ends.never_ok, cfg.precision
    if lo is None or closed(lo, hi, p):
        return None
    pending = _pending(tally, lo, hi, cfg.tries_per_n)
    if pending:
        return pending[0]  # the lowest: if it passes, the others are above U
    if hi is not None:
        g = _count(lo, hi, p, +1)
        if g is None:
            return geometric_mid(lo, hi)
        return _ladder(lo, g // 2, p, +1)
    if first > lo and first not in tally:
        return first
    t = _count(first, lo, p, +1)
    if t is not None:
        n = _ladder(lo, max(t, 1), p, +1)
        if n <= 2 * lo:
            return n
    d = min(math.log(lo / first) if lo > first else 0.0, math.log(2.0))
    return max(math.floor(lo * math.exp(d)), lo + 1)


def _next(n: int, precision: float, way: int) -> int:
    """The next rung of the ladder from n: the farthest n' with (n', n) closed (way -1,
    down) or (n, n') closed (way +1, up)."""
    if way < 0:
        m = max(math.ceil(n / (1 + precision)), 0)
        while m > 0 and closed(m - 1, n, precision):
            m -= 1
        while not closed(m, n, precision):
            m += 1
        return m
    m = max(math.floor(n * (1 + precision)), n + 1)
    while closed(n, m + 1, precision):
        m += 1
    while not closed(n, m, precision):
        m -= 1
    return m


def _ladder(n: int, steps: int, precision: float, way: int) -> int:
    """`steps` rungs from n (down for way -1, up for +1); never below 0."""
    for _ in range(steps):
        if n <= 0 and way < 0:
            break
        n = _next(n, precision, way)
    return n


def _count(origin: int, target: int, precision: float, way: int) -> int | None:
    """How many rungs from origin reach target or pass it (None beyond _LADDER)."""
    n, t = origin, 0
    while (n > target) if way < 0 else (n < target):
        if t == _LADDER or (way < 0 and n <= 0):
            return None
        n, t = _next(n, precision, way), t + 1
    return t


def _band(tally: Tally, probes: list[Probe], k: int, ends: _Ends, stop: str) -> Band:
    return Band(
        tries_per_n=k,
        always_ok_n=ends.always_ok,
        never_ok_n=ends.never_ok,
        samples=tuple(Sample(n, ok, tries) for n, (ok, tries) in sorted(tally.items())),
        probes=tuple(probes),
        stop_reason=stop,
    )
