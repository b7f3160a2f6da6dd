"""Unit tests for app.predictors: exact prices, real allocations, the sleep knob."""

from __future__ import annotations

import time
import tracemalloc

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app import predictors
from app.predictors import (
    PREDICTORS,
    predict_cpu_bounded,
    predict_cpu_multithread,
    predict_io_bounded,
)

CPU_PREDICTORS = [predict_cpu_bounded, predict_cpu_multithread]


def expected_price(area: float, n: int) -> int:
    """Mirror the predictors' float arithmetic: int(area * (sum / n))."""
    return int(area * (sum(range(n)) / n))


def test_predictors_registry_names_each_function():
    """The names are the ones the HTTP API and probe's CLI accept."""
    expected = {
        "io_bounded": predict_io_bounded,
        "cpu_bounded": predict_cpu_bounded,
        "cpu_multithread": predict_cpu_multithread,
    }
    assert expected == PREDICTORS


@pytest.mark.parametrize("predict", CPU_PREDICTORS, ids=lambda f: f.__name__)
@pytest.mark.parametrize(
    ("area", "n", "price"),
    [
        (50, 1, 0),
        (50, 2, 25),
        (50, 1000, 24_975),
        (1, 1000, 499),
        (0.5, 1000, 249),
        (123.25, 1000, 61_563),
        (3, 7, 9),
    ],
)
def test_cpu_price_is_area_times_mean(predict, area, n, price):
    """n=1 and n=2 are the edges of the mean; 0.5 and 123.25 check truncation, 3*6/2 is exact."""
    assert predict(area, n) == price
    assert price == expected_price(area, n)


@pytest.mark.parametrize("predict", CPU_PREDICTORS, ids=lambda f: f.__name__)
@given(area=st.floats(1e-3, 1e6), n=st.integers(1, 2000))
def test_cpu_price_property(predict, area, n):
    """Any area in a house-like range and small n: the float formula, computed the same way."""
    assert predict(area, n) == expected_price(area, n)


@pytest.mark.parametrize("predict", CPU_PREDICTORS, ids=lambda f: f.__name__)
@given(area=st.integers(1, 10**6), n=st.integers(1, 2000))
def test_cpu_price_exact_for_integer_area(predict, area, n):
    """area*(n-1)/2 stays below 2**53 here, so the float result is the exact integer one."""
    assert predict(area, n) == area * (n - 1) // 2


def traced_peak_bytes(predict, n: int) -> int:
    """Run one prediction under tracemalloc and return its peak traced allocation."""
    tracemalloc.start()
    try:
        predict(1, n)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_cpu_bounded_really_materialises_the_list():
    """100k ints > 256 are fresh objects (28 B) plus an 8 B slot each: at least 30 B/element."""
    n = 100_000
    assert traced_peak_bytes(predict_cpu_bounded, n) >= 30 * n


def test_cpu_multithread_really_allocates_the_array():
    """arange(100_000) is one int64 buffer of 800 kB, which numpy reports to tracemalloc."""
    n = 100_000
    assert traced_peak_bytes(predict_cpu_multithread, n) >= 8 * n


def test_io_bounded_price_and_explicit_sleep():
    """A 50 ms sleep is long enough to measure and short enough for a unit test."""
    start = time.monotonic()
    assert predict_io_bounded(50, sleep_s=0.05) == 10_000_000
    assert time.monotonic() - start >= 0.05


def test_io_bounded_default_sleep_is_the_module_constant(monkeypatch):
    """Patching IO_SLEEP_S to 10 ms must shorten the default 1 s sleep well below 0.5 s."""
    monkeypatch.setattr(predictors, "IO_SLEEP_S", 0.01)
    start = time.monotonic()
    assert predict_io_bounded(0.5) == 100_000
    assert 0.01 <= time.monotonic() - start < 0.5


def test_io_bounded_defaults_to_one_second():
    """The seminar's figure: 1 s stands for a call to a remote model service."""
    assert predictors.IO_SLEEP_S == 1.0
