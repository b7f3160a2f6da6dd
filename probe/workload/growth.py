"""How a sized body grows with n, learned from small n before the search asks for a large one.

The search's first probes (the calibration at n_start, 2 n_start, 4 n_start) are meant to
be small and cheap. Where n counts something large per unit (pixels per side of an image,
rows of many columns) the default n_start (100,000) is neither: a 100,000 x 100,000 image
is 30 GB. So where the user gave no `--n-start` and the body is what n sizes, probe first
makes the body at n = 1, 2, 4, ... (in the body builder for `--body-fn`, which reports
its bytes, how far its peak RSS grew and how long it took; a template's length is known
without building it) until it is LEARN_BYTES long, or took LEARN_S, or n reaches the
default. From the last two sizes it extrapolates as a power of n (n^2 for a side of an
image), and picks:

- n_start: the largest n (at most the default) whose calibration probe at 4 n sends at
  most START_SHARE of the limit (what a body costs the server at least once: its bytes,
  or what building it held, the larger) and takes at most START_BUILD_S to build;
- n_max (body functions only): where building the body would need half the builder's
  cap, so the search never asks for a body the builder cannot make.

Nothing here starts a server; only bodies are made.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from probe.workload import bodyfn

LEARN_BYTES = 1 << 20  # learn until a body is this large...
LEARN_S = 0.1  # ...or took this long to build...
START_SHARE = 1 / 16  # the calibration's largest probe (4 n_start): this share of the limit
START_BUILD_S = 2.0  # ...and at most this long to build
UNCAPPED_LIMIT_BYTES = 1 << 30  # with no limit, share this instead
_MIN_FIT_BYTES = 4096  # sizes below this say nothing of the exponent (headers, overhead)
_MIN_FIT_S = 0.005  # nor do build times below this


@dataclass(frozen=True)
class Point:
    """One body made at n: its bytes, what building it held, how long it took."""

    n: int
    body_bytes: int
    held_bytes: int
    build_s: float

    @property
    def size(self) -> int:
        return max(self.body_bytes, self.held_bytes)

    def to_dict(self) -> dict:
        return {"n": self.n, "body_bytes": self.body_bytes, "held_bytes": self.held_bytes,
                "build_s": round(self.build_s, 4)}  # fmt: skip


def measure(workload, n: int) -> Point:
    """The body at n: made by the builder for a body function, else only its length."""
    if workload.body_fn is not None:
        made = bodyfn.make(workload.body_fn, workload.chdir, n)
        made.file.close()
        return Point(n, made.length, made.grew_rss_bytes, made.build_s)
    return Point(n, len(workload.render(n).body), 0, 0.0)


def learn(workload, upto: int) -> list[Point]:
    """Bodies at n = 1, 2, 4, ... until one is large or slow enough to extrapolate from."""
    points, n = [], 1
    while True:
        p = measure(workload, n)
        points.append(p)
        if p.size >= LEARN_BYTES or p.build_s >= LEARN_S or n >= upto:
            return points
        n = min(2 * n, upto)


def exponent(points: list[Point], value, floor: float) -> float | None:
    """The power of n that the last two values above `floor` grow by (1..4), or None."""
    usable = [(p.n, value(p)) for p in points if value(p) >= floor]
    if len(usable) < 2:
        return None
    (n0, v0), (n1, v1) = usable[-2], usable[-1]
    if n1 <= n0 or v1 <= 0 or v0 <= 0:
        return None
    return min(4.0, max(1.0, math.log(v1 / v0) / math.log(n1 / n0)))


def n_at(points: list[Point], value, floor: float, target: float) -> float:
    """The n at which `value` reaches `target`, extrapolated from the last point (a
    linear growth where the points cannot tell)."""
    last = points[-1]
    v = value(last)
    if v <= 0:
        return math.inf
    k = exponent(points, value, floor) or 1.0
    return last.n * (target / v) ** (1 / k)


@dataclass(frozen=True)
class FirstSizes:
    """Where the search starts and how far it may go, and what that was learned from."""

    n_start: int
    n_max: int | None
    points: tuple[Point, ...]

    def to_dict(self) -> dict:
        return {"n_start": self.n_start, "n_max": self.n_max,
                "learned_from": [p.to_dict() for p in self.points]}  # fmt: skip


def first_sizes(workload, limit_bytes: int | None, default_start: int) -> FirstSizes:
    """n_start (and n_max for a body function) that fit how this workload's body grows."""
    points = learn(workload, default_start)
    limit = limit_bytes or UNCAPPED_LIMIT_BYTES
    last = points[-1]
    by_size = n_at(points, lambda p: p.size, _MIN_FIT_BYTES, limit * START_SHARE) / 4
    by_time = math.inf
    if last.build_s > 0:
        by_time = n_at(points, lambda p: p.build_s, _MIN_FIT_S, START_BUILD_S) / 4
    n_start = int(max(1, min(default_start, by_size, by_time)))
    n_max = None
    cap = bodyfn.builder_cap_bytes()
    if workload.body_fn is not None and cap is not None and last.held_bytes > 0:
        reach = n_at(points, lambda p: p.held_bytes, _MIN_FIT_BYTES, cap / 2)
        n_max = int(max(4 * n_start, reach)) if math.isfinite(reach) else None
    return FirstSizes(n_start, n_max, tuple(points))
