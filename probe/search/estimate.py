"""Where the boundary probably is, from the probes so far: the model line and a failure's reach.

Pure arithmetic on probes. The model line fits the capped quantity (model_bytes) of
the ok probes against n and reads where it meets the cap; a failure's reach reads its
peak RSS off the RSS line of the ok probes. Both fit only the points near the largest
ok n, and both are ignored when the bracket contradicts them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from probe.outcome import Probe

CALIBRATION_PROBES = 3  # ok probes with model_bytes at distinct n before the model is used
CONTRADICTED = 1.25  # a prediction further than this factor outside the bracket is ignored
LOCAL = 4.0  # predict from the ok probes within this factor of the largest one


def fit_line(points: Sequence[tuple[int, int]]) -> tuple[float, float]:
    """Least-squares line through (x, y) points: (intercept, slope)."""
    xs = [float(x) for x, _ in points]
    if len(set(xs)) < 2:
        raise ValueError("fit_line needs points at two or more distinct x")
    ys = [float(y) for _, y in points]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    sxx = sum((x - mx) ** 2 for x in xs)
    sxy = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True))
    slope = sxy / sxx
    return my - slope * mx, slope


def model_points(probes: Sequence[Probe]) -> list[tuple[int, int]]:
    return [(p.n, p.model_bytes) for p in probes if p.ok and p.model_bytes is not None]


def reach(probes: Sequence[Probe], lo: int, hi: int | None, precision: float) -> float | None:
    """The n a failing probe at hi got to before it failed, from its peak RSS.

    A list that runs out of memory has touched as much memory as a successful request of
    that many elements does: reading the failure's peak off the RSS line of the ok probes
    locates the boundary to a few tenths of a percent (measured). A failure that fails
    at once (one big allocation, numpy) reaches no further than the idle process; that
    reach contradicts the bracket and is ignored, as is one past hi (it reached further
    than a failure can).
    """
    if hi is None:
        return None
    peak = next((p.peak_rss_bytes for p in reversed(probes) if p.n == hi), None)
    points = [(p.n, p.peak_rss_bytes) for p in probes if p.ok and p.peak_rss_bytes]
    if peak is None or len({n for n, _ in points}) < CALIBRATION_PROBES:
        return None
    base, slope = fit_line(local(points))
    if not slope > 0:
        return None
    r = (peak - base) / slope
    if not math.isfinite(r) or r * CONTRADICTED < lo or r > hi * (1 + precision):
        return None
    return min(max(r, lo), hi)


def prediction(probes: Sequence[Probe], limit_bytes: int | None) -> float | None:
    """n at which the fitted model_bytes line reaches the cap, once calibrated."""
    if limit_bytes is None:
        return None
    points = model_points(probes)
    if len({n for n, _ in points}) < CALIBRATION_PROBES:
        return None
    baseline, slope = fit_line(local(points))
    if not slope > 0:
        return None
    return (limit_bytes - baseline) / slope


def local(points: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """The points within a factor LOCAL of the largest n, if they still define a line.

    Near the cap only the local slope matters; calibration points far below would drag
    the line of a slightly curved memory profile away from the boundary.
    """
    top = max(n for n, _ in points)
    near = [(n, y) for n, y in points if n * LOCAL >= top]
    return near if len({n for n, _ in near}) >= 2 else points


def usable(p: float, lo: int, hi: int | None, n_max: int) -> bool:
    """Whether to follow the prediction: within n_max and not contradicted by the bracket."""
    if not math.isfinite(p) or p > n_max or p * CONTRADICTED < lo:
        return False
    return hi is None or p <= hi * CONTRADICTED
