"""max-n's warm phase: does a server that has served other requests take the cold n?

Production servers have served many requests before the big one, and what they
served stays in their memory: glibc's and pymalloc's free lists, arenas a thread kept,
a heap grown and not returned. Measured (`python bench/warm.py`, 160M, 50 requests
before the probe): the built-in cpu_bounded on gunicorn held its cold critical n warm,
while tests/apps/query_alloc on gunicorn took 4.8 % less warm and asgi_alloc on
uvicorn 11.8 % less.

A warm probe at n: a fresh server (fixed layout) serves `requests` requests of sizes
mixed over 5-100 % of n (the same seeded fractions for every n), one at a time, then n;
it succeeds only if all of them do. So the warm critical n is the largest n that a
server whose traffic goes up to n takes, not only as its first request. The phase
probes the cold critical n warm; if that fails, it brackets the warm boundary below
it to the search's precision (a k-section over the lanes, stepping down by 10 % until
something succeeds). The lower of the two answers is max-n's answer; both are kept.
"""

from __future__ import annotations

import random
from collections.abc import Callable

from probe.outcome import Probe

WARM_SEED = 0  # the warm-up's sizes are the same on every run
STEP_DOWN = 0.9  # below a warm failure with nothing ok yet, try this fraction


def fractions(requests: int, seed: int = WARM_SEED) -> tuple[float, ...]:
    """The warm-up's sizes as fractions of n: uniform over [0.05, 1], seeded."""
    rng = random.Random(seed)
    return tuple(round(rng.uniform(0.05, 1.0), 4) for _ in range(requests))


def next_round(lo: int | None, hi: int, lanes: int) -> list[int]:
    """The n to probe next, below a warm failure at `hi`: with a success `lo` known, the
    k-section of (lo, hi) (geometric); else steps down by STEP_DOWN from hi."""
    if lo is None:
        return [max(1, int(hi * STEP_DOWN ** (i + 1))) for i in range(lanes)]
    ratio = hi / lo
    points = {int(lo * ratio ** ((i + 1) / (lanes + 1))) for i in range(lanes)}
    return sorted(n for n in points if lo < n < hi) or [lo + (hi - lo) // 2]


def closed(lo: int | None, hi: int | None, precision: float) -> bool:
    return lo is not None and hi is not None and (hi / lo - 1 <= precision or hi - lo <= 1)


def warm_search(batch: Callable[[list[int]], list[Probe]], cold_n: int, precision: float,
                lanes: int, on_probe: Callable[[Probe], None] = lambda p: None,
                max_probes: int = 24) -> tuple[int | None, int | None, list[Probe]]:  # fmt: skip
    """(warm critical n, warm first failing n, probes): cold_n first, then below it
    until the bracket closes. The critical n is below every warm failure."""
    probes: list[Probe] = []
    lo, hi = None, None
    plan = [cold_n]
    while plan and len(probes) < max_probes:
        for p in batch(plan[: max(1, max_probes - len(probes))]):
            probes.append(p)
            on_probe(p)
        fails = [p.n for p in probes if not p.ok]
        hi = min(fails) if fails else None
        oks = [p.n for p in probes if p.ok and (hi is None or p.n < hi)]
        lo = max(oks) if oks else None
        if hi is None or closed(lo, hi, precision) or (lo is None and hi <= 1):
            break
        plan = next_round(lo, hi, lanes)
    return lo, hi, probes


def lower_by_more_than(warm_n: int | None, cold_n: int, precision: float) -> bool:
    """Whether the warm answer is below the cold one by more than the precision."""
    return warm_n is None or warm_n * (1 + precision) < cold_n
