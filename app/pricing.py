"""What each seminar predictor must answer: the exact price, and the check a client applies.

Kept apart from app.predictors (no numpy here) so that a client can state the oracle
without the predictors' dependencies. Note that importing ``app.pricing`` still runs
``app/__init__.py`` (Flask, and numpy through app.predictors).
"""

from __future__ import annotations

IO_PRICE_PER_AREA = 200_000
FNS = ("cpu_bounded", "cpu_multithread", "io_bounded")  # app.predictors.PREDICTORS' names
IO_FNS = frozenset({"io_bounded"})  # the predictors that take no n


def expected_price(fn: str, area: float, n: int | None) -> int:
    """The price `fn` must answer: int(area * mean of 0..n-1), io_bounded: int(area * 200_000)."""
    if fn in IO_FNS:
        return int(area * IO_PRICE_PER_AREA)
    if fn not in FNS:
        raise ValueError(f"fn must be one of {', '.join(FNS)}, got {fn!r}")
    if n is None or n < 1:
        raise ValueError(f"{fn} needs n >= 1, got {n!r}")
    return int(area * ((n * (n - 1) // 2) / n))


def price_matches(price: object, area: float, n: int | None, fn: str) -> bool:
    """Is `price` what the predictor must answer?

    Exact for the Python list (an exact int sum, one correctly rounded division) and for
    io_bounded. numpy's mean is a float64 pairwise sum: above about 1e8 elements it can
    land a rounding step below (n-1)/2, and int() then truncates one lower (seen at
    n = 251,695,452: 1258477254 for 1258477255), so one unit either way is accepted.
    A bool is not an int here, though Python says it is: JSON true is not a price.
    """
    if isinstance(price, bool) or not isinstance(price, int):
        return False
    want = expected_price(fn, area, n)
    return abs(price - want) <= 1 if fn == "cpu_multithread" else price == want
