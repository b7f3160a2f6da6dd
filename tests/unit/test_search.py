"""Unit tests for probe.search against fake oracles: no processes, no HTTP."""

from __future__ import annotations

import bisect
import math
import statistics
from collections import Counter
from collections.abc import Callable
from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from probe.outcome import Kind, Outcome, Probe
from probe.search.bracket import bracket, non_monotone
from probe.search.critical import (
    SearchConfig,
    SearchResult,
    cost_units,
    find_critical_n,
)
from probe.search.estimate import fit_line

OK = Outcome(Kind.OK, 200)
MEMORY_ERROR = Outcome(Kind.MEMORY_ERROR, 507, "MemoryError")
BASELINE = 50_000_000  # bytes before any input: the interpreter, Flask, numpy
PER_ELEMENT = 36  # bytes per element, roughly a Python list of floats


def limit_for(boundary: int) -> int:
    """The cap at which the linear memory profile puts the boundary exactly at `boundary`."""
    return BASELINE + PER_ELEMENT * boundary + PER_ELEMENT // 2


RSS_BASELINE = 45_000_000  # resident bytes of the idle server
RSS_PER_ELEMENT = 40  # resident bytes per element once touched


def threshold_oracle(
    boundary: int,
    *,
    slope_factor: float | None = 1.0,
    baseline_offset: int = 0,
    flaky: Callable[[int], bool] = lambda n: False,
    reach_error: float | None = None,
) -> Callable[[int], Probe]:
    """Succeeds iff n <= boundary (unless flaky(n) says this call fails anyway).

    model_bytes reports the linear profile with the slope scaled by slope_factor and the
    baseline shifted by baseline_offset (None: no model_bytes at all), so a test can
    make the model lie while the truth stays at `boundary`. With reach_error, every
    probe also reports its peak RSS, and a failure reports the RSS of the boundary
    scaled by 1 + reach_error (-1: it failed at once, like numpy, reaching nothing).
    """

    def oracle(n: int) -> Probe:
        ok = n <= boundary and not flaky(n)
        model = rss = None
        if slope_factor is not None and ok:
            model = round(BASELINE + baseline_offset + PER_ELEMENT * slope_factor * n)
        if reach_error is not None:
            reached = n if ok else boundary * (1 + reach_error)
            rss = round(RSS_BASELINE + RSS_PER_ELEMENT * reached)
        return Probe(n, OK if ok else MEMORY_ERROR, model_bytes=model, peak_rss_bytes=rss)

    return oracle


def list_capacities(limit: int = 10**10) -> list[int]:
    """The capacities a CPython list passes through while it is appended to (3.10-3.13)."""
    caps, allocated = [], 0
    while allocated <= limit:
        new = allocated + 1
        allocated = (new + (new >> 3) + 6) & ~3
        caps.append(allocated)
    return caps


CAPACITIES = list_capacities()


class ListOracle:
    """cpu_bounded as measured under RLIMIT_AS on gunicorn (bench/search.py, 1G).

    Address space: 124 MB idle, 32.6 B per int object (pymalloc) and 8 B per slot of the
    list's capacity, which jumps by 1/8 at each resize: a sawtooth around 41 B per
    element that puts the boundary up to ~2 % away from a straight line. The boundary
    is the first n whose address space passes the cap. RSS grows smoothly (40.6 B per
    element: only touched slots count), and a failure reaches the RSS of the boundary.
    `drift` adds that much idle address space for each of the first four requests, as
    a server without probe's pinned MALLOC_MMAP_THRESHOLD_ shows (1 MB measured): it
    biases a fit over tiny n low. Cost: a success costs n, a failure the boundary.
    """

    def __init__(self, limit: int, drift: float = 0.0):
        self.limit = limit
        self.drift = drift
        self.calls = 0
        self.cost = 0
        self.boundary = self._boundary()

    def address_space(self, n: int, calls: int) -> float:
        capacity = CAPACITIES[bisect.bisect_left(CAPACITIES, n)]
        return 124e6 + self.drift * min(calls, 4) + 32.6 * n + 8 * capacity

    def _boundary(self) -> int:
        lo, hi = 1, 10**10  # address_space grows with n: bisect for the last n that fits
        while hi - lo > 1:
            mid = (lo + hi) // 2
            lo, hi = (mid, hi) if self.address_space(mid, 4) <= self.limit else (lo, mid)
        return lo

    def __call__(self, n: int) -> Probe:
        ok = n <= self.boundary
        model = round(self.address_space(n, self.calls)) if ok else None
        self.calls += 1
        self.cost += min(n, self.boundary)
        rss = round(43e6 + 40.6 * min(n, self.boundary))
        return Probe(n, OK if ok else MEMORY_ERROR, model_bytes=model, peak_rss_bytes=rss)

    def lower_bound(self, result: SearchResult) -> int:
        """One success at critical_n plus one failure (which costs the boundary)."""
        return result.critical_n + self.boundary


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


LIST_CAPS = [round(256 * 2**20 * 1.25**k) for k in range(16)]  # 256M .. 7.1G


def list_costs(strategy: str, confirm: str, drift: float = 0.0) -> list[float]:
    """Search cost over the lower bound on the list profile, one figure per cap."""
    ratios = []
    for cap in LIST_CAPS:
        oracle = ListOracle(cap, drift)
        cfg = SearchConfig(strategy=strategy, confirm=confirm, limit_bytes=cap)
        result = find_critical_n(oracle, cfg)
        assert_brackets(result, oracle.boundary, 0.01)
        ratios.append(oracle.cost / oracle.lower_bound(result))
    return ratios


@pytest.mark.parametrize(("drift", "median", "worst"), [(0.0, 1.75, 2.3), (1e6, 1.3, 2.3)])
def test_list_profile_costs_little_more_than_the_lower_bound(drift, median, worst):
    """Sixteen caps put the boundary at every phase of the list's resize sawtooth.

    The line misses the boundary by up to ~2 %, so the first aimed probe is usually
    outside the 1 % window: ~3 probes near the boundary (median 1.64 lower bounds, worst
    2.13; the previous search, which probed below the prediction first and galloped
    without reading a failure's reach: 1.63, worst 2.64). With drift the line is biased
    low; aiming a failure above it and reading the boundary off its reach gives 1.13
    (previous search: 1.62).
    """
    ratios = list_costs("model", "none", drift)
    assert statistics.median(ratios) <= median
    assert max(ratios) <= worst


@pytest.mark.parametrize(("confirm", "speedup"), [("none", 2.6), ("fail", 2.2), ("both", 2.0)])
def test_list_profile_model_beats_bisect(confirm, speedup):
    """Bisect pays ~4.6 lower bounds on the same profile; each confirmed side adds ~1 to
    both, which is why no policy but "none" reaches 2.5x here (2.81, 2.39, 2.13)."""
    model, baseline = list_costs("model", confirm), list_costs("bisect", confirm)
    assert statistics.median(b / m for m, b in zip(model, baseline, strict=True)) >= speedup


def test_reach_of_a_far_failure_locates_the_boundary():
    """The model is 3x too flat, so its first aim fails at ~3x the boundary.

    Without peak RSS the search must gallop and bisect back down (37 probes); the
    failure's reach puts the next probe within half a precision below the boundary.
    """
    boundary = 27_654_321
    oracle = threshold_oracle(boundary, slope_factor=1 / 3, reach_error=0.0)
    result = find_critical_n(oracle, SearchConfig(limit_bytes=limit_for(boundary)))
    assert_brackets(result, boundary, 0.01)
    first_failure = next(i for i, p in enumerate(result.probes) if not p.ok)
    after = result.probes[first_failure + 1]
    assert after.ok and boundary / 1.005 - 1 <= after.n <= boundary
    assert len(result.probes) <= 9


def test_instant_failures_reach_nothing_and_change_nothing():
    """numpy fails at once (one allocation), so a failure's peak RSS is the idle one:
    its reach contradicts the bracket and the search must ignore it."""
    boundary = 27_654_321
    cfg = SearchConfig(limit_bytes=limit_for(boundary))
    plain = find_critical_n(threshold_oracle(boundary), cfg)
    instant = find_critical_n(threshold_oracle(boundary, reach_error=-1.0), cfg)
    assert [p.n for p in instant.probes] == [p.n for p in plain.probes]


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


KILLED = Outcome(Kind.KILLED, None, "worker 7 was sent SIGKILL", 9)
TIMEOUT = Outcome(Kind.TIMEOUT, None, "no answer within 120 s")
DROPPED = Outcome(Kind.CONNECTION_ERROR, None, "RemoteDisconnected")
START_FAILED = Outcome(Kind.SERVER_START_FAILED, None, "not ready within 30 s")


def failing_with(failure: Outcome, boundary: int, flaky=lambda n: False):
    """threshold_oracle(boundary), its failures ending as `failure` instead of a 507."""
    truth = threshold_oracle(boundary, flaky=flaky)

    def oracle(n: int) -> Probe:
        probe = truth(n)
        return probe if probe.ok else replace(probe, outcome=failure)

    return oracle


@pytest.mark.parametrize("failure", [MEMORY_ERROR, KILLED], ids=["memory_error", "killed"])
def test_auto_confirms_nothing_after_a_memory_outcome(failure):
    """On a cold, fixed-layout server a MemoryError or a kill at first_failing_n is a
    fact, and a success is one anyway: auto probes exactly what "none" does, while
    "both" pays its two re-probes on the same oracle (so confirming was possible)."""
    boundary = 27_654_321
    cfg = SearchConfig(limit_bytes=limit_for(boundary))
    none = find_critical_n(failing_with(failure, boundary), replace(cfg, confirm="none"))
    auto = find_critical_n(failing_with(failure, boundary), replace(cfg, confirm="auto"))
    both = find_critical_n(failing_with(failure, boundary), replace(cfg, confirm="both"))
    assert [p.n for p in auto.probes] == [p.n for p in none.probes]
    assert repeats(auto) == 0 and repeats(both) == 2
    assert_brackets(auto, boundary, 0.01)
    assert auto.failure.kind is failure.kind


@pytest.mark.parametrize("failure", [TIMEOUT, DROPPED, START_FAILED],
                         ids=["timeout", "connection_error", "server_start_failed"])  # fmt: skip
def test_auto_re_probes_a_non_memory_failure_at_first_failing_n_only(failure):
    """A timeout, a dropped connection or a start failure says nothing sure about
    memory: auto probes first_failing_n once more (it fails again here, so the answer
    stands), and never re-probes critical_n: one probe more than "none", at the end."""
    boundary = 27_654_321
    cfg = SearchConfig(limit_bytes=limit_for(boundary))
    none = find_critical_n(failing_with(failure, boundary), replace(cfg, confirm="none"))
    auto = find_critical_n(failing_with(failure, boundary), replace(cfg, confirm="auto"))
    assert [p.n for p in auto.probes] == [p.n for p in none.probes] + [auto.first_failing_n]
    assert Counter(p.n for p in auto.probes)[auto.critical_n] == 1
    assert_brackets(auto, boundary, 0.01)


def test_auto_catches_a_fluke_timeout_but_trusts_a_memory_error():
    """The first probe in (B/2, B] fails once, as in the fluke test above. As a timeout,
    auto re-probes it, the re-probe succeeds and the search goes on to the boundary
    ("none" reports the fluke as first_failing_n). As a MemoryError, auto takes it as
    the fact it is on a cold fixed-layout server: no re-probe, so the bracket stays
    below the boundary; that is the price of trusting memory outcomes."""
    boundary = 5_000_000

    def fluke_oracle(fluke: Outcome) -> tuple[Callable[[int], Probe], list[int]]:
        """Memory errors above B; the one fluke below B ends as `fluke`."""
        flukes: list[int] = []

        def flaky(n: int) -> bool:
            if boundary // 2 < n <= boundary and not flukes:
                flukes.append(n)
                return True
            return False

        truth = threshold_oracle(boundary, flaky=flaky)

        def oracle(n: int) -> Probe:
            probe = truth(n)
            return replace(probe, outcome=fluke) if not probe.ok and n <= boundary else probe

        return oracle, flukes

    cfg = SearchConfig(limit_bytes=limit_for(boundary), confirm="auto")
    oracle, flukes = fluke_oracle(TIMEOUT)
    caught = find_critical_n(oracle, cfg)
    assert_brackets(caught, boundary, 0.01)
    assert len(flukes) == 1 and Counter(p.n for p in caught.probes)[flukes[0]] == 2
    assert caught.failure.kind is Kind.MEMORY_ERROR  # the real boundary's, not the fluke's
    oracle, _ = fluke_oracle(TIMEOUT)
    unconfirmed = find_critical_n(oracle, replace(cfg, confirm="none"))
    assert unconfirmed.first_failing_n <= boundary
    oracle, flukes = fluke_oracle(MEMORY_ERROR)
    trusted = find_critical_n(oracle, cfg)
    assert trusted.first_failing_n == flukes[0] <= boundary and repeats(trusted) == 0


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
    reach_error=st.sampled_from([None, 0.0, 0.003, -0.003, 0.03, -0.03, 0.5, -0.5, -1.0]),
)
def test_any_monotone_threshold_is_bracketed_within_budget(
    boundary, precision, strategy, slope_factor, reach_error
):
    """Boundaries from 1 to 1e9 (below n_start too), precisions 0.1 % to 20 %, a model
    that is exact, slightly or badly wrong, or absent, and failures whose reach is
    exact, a little or far off (a timeout reaches less), or nothing at all (numpy)."""
    oracle = threshold_oracle(boundary, slope_factor=slope_factor, reach_error=reach_error)
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


def test_where_outcomes_are_facts_a_failure_below_a_success_bounds_the_answer():
    """Cold servers with a fixed layout: nothing is a fluke. hi is the smallest failure,
    lo the largest success below it, and the success above the failure is a pair."""
    probes = [Probe(10, OK), Probe(20, MEMORY_ERROR), Probe(30, OK), Probe(40, MEMORY_ERROR)]
    assert bracket(probes, facts=True) == (10, 20)
    assert non_monotone(probes) == [(20, 30)]
    assert non_monotone(probes[:2] + probes[3:]) == []
    two_lanes = [Probe(10, OK, lane=0), Probe(20, MEMORY_ERROR, lane=1), Probe(20, OK, lane=0)]
    assert bracket(two_lanes, facts=True) == (10, 20)  # a failure on any lane counts


def test_the_progress_estimate_counts_the_rounds_left_and_the_checks():
    """A bracket 10 % wide at 1 % precision on 2 lanes: log3(ln 1.1 / ln 1.01) = 2.1, so 3
    rounds of 2 probes; then the re-check's 9 probes for 8 tries (5 rounds) and the warm
    probe (its warm-up of 3 units and itself: 4 probe times). At 2 s a probe: 12 probe
    times. With 2 tries the re-check is 3 probes (2 rounds)."""
    from probe.outcome import Kind, Outcome, Probe
    from probe.search import eta

    probes = [Probe(n, Outcome(Kind.OK, 200), elapsed_s=2.0) for n in (1, 2, 4)]
    count, seconds = eta.left(probes, (100, 110), 0.01, 2, 8, 3.0)
    assert (count, seconds) == (6 + 9 + 1, (3 + 5 + 4) * 2.0)
    assert eta.left(probes, (100, 110), 0.01, 2, 2, None) == (6 + 3, (3 + 2) * 2.0)
    assert eta.left(probes, (100, 101), 0.01, 2, 0, None) == (0, 0.0)
    assert eta.words(3, 11, 200) == "probe 3 of about 14, about 3 min left"
    assert eta.words(3, 1, 0.2) == "probe 3 of about 4, about 1 s left"
