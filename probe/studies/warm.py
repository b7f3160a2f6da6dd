"""max-n's warm phase: does a server that has served other requests take the cold n?

Production servers have served many requests before the big one, and what they
served stays in their memory: glibc's and pymalloc's free lists, arenas a thread kept,
a heap grown and not returned. Measured (`python bench/warm.py`, 160M, 1 % precision):
the built-in cpu_bounded on gunicorn held its cold critical n warm after any warm-up;
tests/apps/query_alloc on gunicorn took 4-5 % less after 50 requests of 5-100 % of n,
and asgi_alloc on uvicorn 13 % less.

How much less depends on the warm-up, not only on its size: query_alloc lost its 4-5 %
after a few large requests (8 of 5-100 % of n did it; 20 of 5-25 % did nothing), asgi_alloc
its 13 % only after many (8 of 5-100 % took 1.4 %, 20 of 5-25 % took 18 %). Requests of
a few sizes largest first (n, n/2) did nothing on any. The design here, MIX, is 16
requests of 5-25 % of n with 4 of 5-100 % among them (one in five): its warm answers
were within the 1 % precision of 50 requests of 5-100 % on all three (query_alloc 0.8 %
above, asgi_alloc 0.4 %), at 4.4 requests' worth of n instead of 25.1.

A warm probe at n: a fresh server (fixed layout) serves the warm-up's requests (the same
seeded fractions of n for every n), one at a time, then n; it succeeds only if all of
them do. So the warm critical n is the largest n that a
server whose traffic goes up to n takes, not only as its first request. The phase
probes the cold critical n warm; if that fails, it brackets the warm boundary below
it to the search's precision (a k-section over the lanes, stepping down by 10 % until
something succeeds). The lower of the two answers is max-n's answer; both are kept.
"""

from __future__ import annotations

import random
from collections.abc import Callable

from probe.outcome import Probe

WARM_SEED = 1  # the warm-up's sizes are the same on every run (bench/warm.py's seed)
STEP_DOWN = 0.9  # below a warm failure with nothing ok yet, try this fraction


SMALL = (0.05, 0.25)  # most warm-up requests: this range of fractions of n
WIDE = (0.05, 1.0)  # one in WIDE_EVERY: this range
WIDE_EVERY = 5
WORDS = "requests of 5-25 % of n, one in five of 5-100 %"  # the design, as the table says it


def fractions(requests: int, seed: int = WARM_SEED) -> tuple[float, ...]:
    """The warm-up's sizes as fractions of n: of every WIDE_EVERY, WIDE_EVERY - 1 drawn
    from SMALL, then one from WIDE (two streams of the same seed), in that order."""
    wide_count = requests // WIDE_EVERY
    small_rng, wide_rng = random.Random(seed), random.Random(seed)
    small = [small_rng.uniform(*SMALL) for _ in range(requests - wide_count)]
    wide = [wide_rng.uniform(*WIDE) for _ in range(wide_count)]
    out: list[float] = []
    for i, f in enumerate(small):
        out.append(f)
        if i % (WIDE_EVERY - 1) == WIDE_EVERY - 2 and wide:
            out.append(wide.pop(0))
    return tuple(round(f, 4) for f in out + wide)


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
