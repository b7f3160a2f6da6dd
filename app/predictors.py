"""Stand-in predictors from the seminar: one I/O-bound, two CPU/memory-bound.

They are deliberately unoptimised: the memory they allocate for a given ``n``
is what probe measures. Both CPU predictors return ``int(area * (n - 1) / 2)``
(the mean of ``0..n-1`` scaled by ``area``), an exact oracle for tests.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy

from app.pricing import IO_PRICE_PER_AREA

IO_SLEEP_S = 1.0
DEFAULT_N = 5_000_000


def predict_io_bounded(area: float, sleep_s: float | None = None) -> int:
    """Sleep (1 s by default, standing in for a remote call) and return area * 200_000."""
    time.sleep(IO_SLEEP_S if sleep_s is None else sleep_s)
    return int(area * IO_PRICE_PER_AREA)


def predict_cpu_bounded(area: float, n: int = DEFAULT_N) -> int:
    """Materialise the Python list 0..n-1 and return int(area * its mean)."""
    lst = [i for i in range(n)]  # noqa: C416 -- the list itself is what is measured
    mean = sum(lst) / n
    del lst  # free the list before returning, not whenever the frame dies
    return int(area * mean)


def predict_cpu_multithread(area: float, n: int = DEFAULT_N) -> int:
    """Allocate numpy.arange(n) (int64) and return int(area * its mean)."""
    return int(area * numpy.arange(n).mean())


PREDICTORS: dict[str, Callable[..., int]] = {
    "io_bounded": predict_io_bounded,
    "cpu_bounded": predict_cpu_bounded,
    "cpu_multithread": predict_cpu_multithread,
}

# Predictors that take no n: the app passes them its configured sleep instead.
IO_PREDICTORS = frozenset({"io_bounded"})
