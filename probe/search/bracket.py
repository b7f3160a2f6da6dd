"""The bracket: what a set of probes says about the boundary, shared by both searches.

A probe at n succeeded or failed on one lane (one server process). For every n only
its latest outcome on each lane counts, and n is ok only if it is ok on every lane that
probed it. The bracket (lo, hi) is the largest ok n and the smallest failing n above it;
it is closed when hi / lo - 1 <= precision or hi - lo <= 1, and it narrows by the
geometric midpoint, which halves log(hi / lo), the quantity precision bounds.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

from probe.outcome import Probe

Bracket = tuple[int | None, int | None]
# Several probes at once, one per lane (server process); the i-th probe answers ns[i].
# A lane may be a fresh server per probe, so ns may hold the same n several times.
BatchOracle = Callable[[Sequence[int]], Sequence[Probe]]


def closed(lo: int | None, hi: int | None, precision: float) -> bool:
    """Whether (lo, hi) is as narrow as asked: hi / lo - 1 <= precision, or hi - lo <= 1."""
    if lo is None or hi is None:
        return False
    return hi - lo <= 1 or hi <= lo * (1 + precision)


def geometric_mid(lo: int, hi: int) -> int:
    """The geometric midpoint, strictly inside (lo, hi) when there is room."""
    return min(max(math.isqrt(lo * hi), lo + 1), hi - 1)


def bracket(probes: Sequence[Probe], facts: bool = False) -> Bracket:
    """(lo, hi): lo the largest n whose latest probe succeeded on every lane that probed it,
    hi the smallest n above lo that failed (a failure below lo is a fluke).

    facts=True, where an outcome is a fact (fresh servers with a fixed layout): nothing is a
    fluke, so hi is the smallest n that failed at all and lo the largest ok n below it; an
    ok n above a failure is a non-monotone pair (`non_monotone`), not a proof."""
    latest = ok_by_n(probes)
    if facts:
        hi = min((n for n, ok in latest.items() if not ok), default=None)
        lo = max((n for n, ok in latest.items() if ok and (hi is None or n < hi)), default=None)
        return lo, hi
    lo = max((n for n, ok in latest.items() if ok), default=None)
    hi = min(
        (n for n, ok in latest.items() if not ok and (lo is None or n > lo)),
        default=None,
    )
    return lo, hi


def non_monotone(probes: Sequence[Probe]) -> list[tuple[int, int]]:
    """(failed n, ok n) for each n that failed below an n that succeeded, paired with the
    smallest such success: where the app's memory is not monotone in n."""
    latest = ok_by_n(probes)
    oks = sorted(n for n, ok in latest.items() if ok)
    pairs = []
    for n in sorted(n for n, ok in latest.items() if not ok):
        above = next((m for m in oks if m > n), None)
        if above is not None:
            pairs.append((n, above))
    return pairs


def runs_at(probes: Sequence[Probe], n: int) -> dict[int, list[bool]]:
    """The outcomes at n, per lane, in order."""
    by_lane: dict[int, list[bool]] = {}
    for p in probes:
        if p.n == n:
            by_lane.setdefault(p.lane, []).append(p.ok)
    return by_lane


def ok_by_n(probes: Sequence[Probe]) -> dict[int, bool]:
    """n -> whether its latest probe on every lane that probed it succeeded.

    Within one lane (one server process) a later probe overrides an earlier one, so a
    fluke failure is forgiven by a success after it; across lanes a failure on any one
    process keeps n failing, so critical_n holds on every process probed.
    """
    latest = {(p.n, p.lane): p.ok for p in probes}
    ok: dict[int, bool] = {}
    for (n, _), lane_ok in latest.items():
        ok[n] = ok.get(n, True) and lane_ok
    return ok
