"""Unit tests for probe.search against fake oracles: no processes, no HTTP."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable
from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from probe.outcome import Kind, Outcome, Probe
from probe.search import (
    SearchConfig,
    SearchResult,
    bracket,
    cost_units,
    find_critical_n,
    fit_line,
)

OK = Outcome(Kind.OK, 200)
MEMORY_ERROR = Outcome(Kind.MEMORY_ERROR, 507, "MemoryError")
BASELINE = 50_000_000  # bytes before any input: the interpreter, Flask, numpy
PER_ELEMENT = 36  # bytes per element, roughly a Python list of floats


def limit_for(boundary: int) -> int:
    """The cap at which the linear memory profile puts the boundary exactly at `boundary`."""
    return BASELINE + PER_ELEMENT * boundary + PER_ELEMENT // 2


def threshold_oracle(
    boundary: int,
    *,
    slope_factor: float | None = 1.0,
    baseline_offset: int = 0,
    flaky: Callable[[int], bool] = lambda n: False,
) -> Callable[[int], Probe]:
    """Succeeds iff n <= boundary (unless flaky(n) says this call fails anyway).

    model_bytes reports the linear profile with the slope scaled by slope_factor and the
    baseline shifted by baseline_offset (None: no model_bytes at all), so a test can
    make the model lie while the truth stays at `boundary`.
    """

    def oracle(n: int) -> Probe:
        ok = n <= boundary and not flaky(n)
        model = None
        if slope_factor is not None and ok:
            model = round(BASELINE + baseline_offset + PER_ELEMENT * slope_factor * n)
        return Probe(n, OK if ok else MEMORY_ERROR, model_bytes=model)

    return oracle


def search(boundary: int, strategy: str = "model", **config) -> SearchResult:
    """find_critical_n on a truthful threshold oracle with the matching cap."""
    cfg = SearchConfig(strategy=strategy, limit_bytes=limit_for(boundary), **config)
    return find_critical_n(threshold_oracle(boundary), cfg)


def assert_brackets(result: SearchResult, boundary: int, precision: float) -> None:
    """critical_n <= boundary < first_failing_n, within the precision (or adjacent ints)."""
    lo, hi = result.critical_n, result.first_failing_n
    assert lo is not None and hi is not None, result
    assert lo <= boundary < hi
    assert hi - lo <= 1 or result.precision_reached <= precision + 1e-12
    assert result.stop_reason == "converged"


def repeats(result: SearchResult) -> int:
    """How many probes re-probed an n already seen (confirmation only)."""
    return sum(c - 1 for c in Counter(p.n for p in result.probes).values())


@pytest.mark.parametrize("strategy", ["model", "bisect"])
@pytest.mark.parametrize("boundary", [1_234_567, 27_654_321, 312_345_678])
def test_sharp_boundary_is_bracketed(strategy, boundary):
    """Arbitrary boundaries below, near and far above a typical 1 GiB list-of-floats n.

    Each probes every n once apart from the two confirmation re-probes.
    """
    result = search(boundary, strategy)
    assert_brackets(result, boundary, 0.01)
    assert len(result.probes) <= 25
    assert repeats(result) == 2
    assert result.failure == MEMORY_ERROR
    assert result.strategy == strategy


@pytest.mark.parametrize("boundary", [1_234_567, 27_654_321, 312_345_678])
def test_model_costs_less_than_half_of_bisect(boundary):
    """On an exact linear profile the model needs calibration + one ok + one fail.

    Sum of n over probes is the time proxy (a probe's cost grows with n).
    """
    model, baseline = search(boundary, "model"), search(boundary, "bisect")
    assert len(model.probes) < len(baseline.probes)
    assert cost_units(model) <= 0.5 * cost_units(baseline)
    near = [p for p in model.probes if p.n > boundary / 2]
    assert len(near) == 4  # one ok, one fail, and their confirmations


def test_model_reports_the_fitted_line():
    """The fake profile is exactly 50 MB + 36 B/element, so the fit recovers it."""
    result = search(27_654_321)
    assert result.baseline_bytes == pytest.approx(BASELINE, rel=1e-6)
    assert result.bytes_per_element == pytest.approx(PER_ELEMENT, rel=1e-6)
    assert result.predicted_critical_n == pytest.approx(27_654_321, rel=1e-6)


@pytest.mark.parametrize("strategy", ["model", "bisect"])
def test_fluke_failure_below_boundary_is_caught_by_confirmation(strategy):
    """The first probe in (B/2, B] fails once: both strategies land one there.

    Without confirmation that fluke becomes first_failing_n; with it the re-probe
    succeeds and the search resumes above it.
    """
    boundary = 5_000_000

    def flaky_oracle() -> Callable[[int], Probe]:
        seen: list[int] = []

        def flaky(n: int) -> bool:
            if boundary // 2 < n <= boundary and not seen:
                seen.append(n)
                return True
            return False

        return threshold_oracle(boundary, flaky=flaky)

    cfg = SearchConfig(strategy=strategy, limit_bytes=limit_for(boundary))
    result = find_critical_n(flaky_oracle(), cfg)
    assert_brackets(result, boundary, 0.01)
    unconfirmed = find_critical_n(flaky_oracle(), replace(cfg, confirm=False))
    assert unconfirmed.first_failing_n <= boundary


def test_everything_fails():
    """A service that fails even at n_min: descend from n_start, stop at n_min."""
    result = find_critical_n(lambda n: Probe(n, MEMORY_ERROR), SearchConfig(limit_bytes=10**9))
    assert result.critical_n is None
    assert result.first_failing_n == 1
    assert result.stop_reason == "all_failed"
    assert result.failure == MEMORY_ERROR
    assert len(result.probes) <= 8


def test_nothing_fails_up_to_n_max():
    """A service that never fails: stop at n_max with nothing failing."""
    cfg = SearchConfig(n_max=10**7, limit_bytes=10**9)
    result = find_critical_n(lambda n: Probe(n, OK, model_bytes=BASELINE + n), cfg)
    assert result.critical_n == 10**7
    assert result.first_failing_n is None
    assert result.failure is None
    assert result.stop_reason == "n_max_ok"


@pytest.mark.parametrize(
    ("slope_factor", "baseline_offset"),
    [(3.0, 0), (1 / 3, 0), (1.0, 400_000_000), (1.0, -40_000_000), (1.05, 0), (0.95, 0)],
)
def test_wrong_model_still_finds_the_boundary(slope_factor, baseline_offset):
    """model_bytes 3x too steep or flat, or its baseline off by 400 MB either way, or 5 %.

    The search falls back to doubling/galloping and bisection and stays within budget.
    """
    boundary = 27_654_321
    oracle = threshold_oracle(boundary, slope_factor=slope_factor, baseline_offset=baseline_offset)
    result = find_critical_n(oracle, SearchConfig(limit_bytes=limit_for(boundary)))
    assert_brackets(result, boundary, 0.01)
    assert len(result.probes) <= 30


@pytest.mark.parametrize("limit_bytes", [None, limit_for(27_654_321)])
def test_without_model_the_model_strategy_is_bisect(limit_bytes):
    """No model_bytes (or no cap): model falls back to exactly the bisect probes."""
    boundary = 27_654_321
    oracle = threshold_oracle(boundary, slope_factor=None if limit_bytes else 1.0)
    model = find_critical_n(oracle, SearchConfig(limit_bytes=limit_bytes))
    baseline = find_critical_n(oracle, SearchConfig(strategy="bisect", limit_bytes=limit_bytes))
    assert_brackets(model, boundary, 0.01)
    assert [p.n for p in model.probes] == [p.n for p in baseline.probes]


@pytest.mark.parametrize("max_probes", [1, 12, 18])
def test_max_probes_is_respected(max_probes):
    """Budgets that stop bisect (19 probes here) in doubling, bisection and confirmation."""
    boundary = 27_654_321
    result = search(boundary, "bisect", max_probes=max_probes)
    assert len(result.probes) == max_probes
    assert result.stop_reason == "max_probes"
    assert result.critical_n is None or result.critical_n <= boundary
    assert result.first_failing_n is None or result.first_failing_n > boundary


@pytest.mark.parametrize(("confirm", "extra"), [(True, 2), ("both", 2), ("fail", 1), (False, 0)])
def test_confirm_policies(confirm, extra):
    """Each confirmed side costs exactly one re-probe on a noise-free oracle."""
    base = search(27_654_321, confirm="none")
    result = search(27_654_321, confirm=confirm)
    assert len(result.probes) == len(base.probes) + extra
    assert repeats(result) == extra


def test_on_probe_sees_every_probe_with_its_bracket():
    """The callback is how the CLI prints progress and rewrites the results file."""
    seen: list[tuple[Probe, tuple[int | None, int | None]]] = []
    boundary = 1_234_567
    cfg = SearchConfig(limit_bytes=limit_for(boundary))
    result = find_critical_n(threshold_oracle(boundary), cfg, lambda p, b: seen.append((p, b)))
    assert tuple(p for p, _ in seen) == result.probes
    for i, (_, b) in enumerate(seen):
        assert b == bracket(result.probes[: i + 1])
    assert seen[-1][1] == (result.critical_n, result.first_failing_n)


def test_bracket_ignores_failures_below_a_success():
    """A later success above an earlier failure proves the failure a fluke."""
    probes = [Probe(10, OK), Probe(20, MEMORY_ERROR), Probe(30, OK), Probe(40, MEMORY_ERROR)]
    assert bracket(probes) == (30, 40)
    assert bracket(probes + [Probe(40, OK)]) == (40, None)
    assert bracket(probes + [Probe(30, MEMORY_ERROR)]) == (10, 20)  # latest outcome counts


def test_fit_line_is_least_squares():
    """Three exact points and one symmetric outlier pair around the same line."""
    assert fit_line([(0, 1), (1, 3), (2, 5)]) == pytest.approx((1.0, 2.0))
    assert fit_line([(0, 0), (0, 2), (2, 2), (2, 4)]) == pytest.approx((1.0, 1.0))
    with pytest.raises(ValueError, match="distinct"):
        fit_line([(5, 1), (5, 2)])


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"strategy": "magic"}, "strategy"),
        ({"precision": -0.1}, "precision"),
        ({"n_min": 10, "n_max": 5}, "n_min"),
        ({"max_probes": 0}, "max_probes"),
        ({"limit_bytes": 0}, "limit_bytes"),
        ({"confirm": "sometimes"}, "confirm"),
    ],
)
def test_config_rejects_nonsense(kwargs, message):
    """Each field's guard, so a CLI mistake fails before any server starts."""
    with pytest.raises(ValueError, match=message):
        SearchConfig(**kwargs)


def budget(boundary: int, precision: float, n_start: int = 100_000) -> int:
    """Probe budget for any monotone threshold: 2 x (ramp + bisection) + calibration + 4.

    The ramp covers log2 of the distance from n_start to the boundary; bisection halves
    log(2) down to log(1 + precision). Galloping from a wrong model guess at worst
    doubles both; calibration/refinement is 4 probes, confirmation 2, slack 2.
    """
    ramp = math.ceil(abs(math.log2(boundary / n_start))) + 1
    halvings = math.ceil(math.log2(math.log(2) / math.log1p(precision))) + 1
    return 2 * (ramp + halvings) + 8


@settings(max_examples=200, deadline=None)
@given(
    boundary=st.integers(1, 10**9),
    precision=st.floats(0.001, 0.2),
    strategy=st.sampled_from(["model", "bisect"]),
    slope_factor=st.sampled_from([None, 1.0, 0.97, 1.2, 1 / 3, 3.0]),
)
def test_any_monotone_threshold_is_bracketed_within_budget(
    boundary, precision, strategy, slope_factor
):
    """Boundaries from 1 to 1e9 (below n_start too), precisions 0.1 % to 20 %, and a
    model that is exact, slightly or badly wrong, or absent."""
    oracle = threshold_oracle(boundary, slope_factor=slope_factor)
    cfg = SearchConfig(
        strategy=strategy,
        precision=precision,
        limit_bytes=limit_for(boundary),
        max_probes=1000,
    )
    result = find_critical_n(oracle, cfg)
    assert_brackets(result, boundary, precision)
    assert len(result.probes) <= budget(boundary, precision)
    assert all(cfg.n_min <= p.n <= cfg.n_max for p in result.probes)
    assert repeats(result) == 2
