"""The search in rounds (probe max-n --lanes): several probes at once, one per server.

Fake lanes at the one seam: a batch oracle that answers each n from a per-lane
threshold, placing probes on lanes exactly as probe.measure.oracle.LaneOracle does. A round
costs what its dearest probe costs (the lanes run side by side).
"""

from __future__ import annotations

import dataclasses
import math
import statistics
from collections.abc import Callable, Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from probe.measure.lanes import LaneOracle
from probe.outcome import Probe
from probe.search.bracket import bracket
from probe.search.critical import (
    SearchConfig,
    SearchResult,
    find_critical_n,
    search_rounds,
)
from tests.unit.test_search import (
    MEMORY_ERROR,
    OK,
    ListOracle,
    limit_for,
    threshold_oracle,
)


class Lanes:
    """A batch oracle over per-lane oracles, assigning lanes like LaneOracle.assign."""

    def __init__(self, per_lane: Sequence[Callable[[int], Probe]], cost: Callable[[int], int]):
        self.per_lane = list(per_lane)
        self.assigner = LaneOracle([object()] * len(per_lane))  # only its assign() is used
        self.cost = cost
        self.rounds: list[list[Probe]] = []
        self.wall = 0

    def __call__(self, ns: Sequence[int]) -> list[Probe]:
        assert len(ns) <= len(self.per_lane), "a round larger than the lanes"
        assert len(set(ns)) == len(ns), f"the same n twice in one round: {ns}"
        out = []
        for n, lane in zip(ns, self.assigner.assign(ns), strict=True):
            probe = dataclasses.replace(self.per_lane[lane](n), lane=lane)
            self.assigner._seen.setdefault(n, []).append((lane, probe.ok))
            out.append(probe)
        self.rounds.append(out)
        self.wall += max(self.cost(n) for n in ns)
        return out


def sharp(boundary: int, lanes: int, **kw) -> Lanes:
    return Lanes([threshold_oracle(boundary, **kw) for _ in range(lanes)], cost=lambda n: n)


def check_exact(res: SearchResult, boundary: int, precision: float = 0.01) -> None:
    assert res.stop_reason == "converged", res.stop_reason
    assert res.critical_n <= boundary < res.first_failing_n
    assert res.first_failing_n <= res.critical_n * (1 + precision) or (
        res.first_failing_n - res.critical_n <= 1
    )


def lanes_of(res: SearchResult, n: int, ok: bool) -> set[int]:
    return {p.lane for p in res.probes if p.n == n and p.ok == ok}


@pytest.mark.parametrize("lanes", [2, 3])
@pytest.mark.parametrize("strategy", ["model", "bisect"])
@pytest.mark.parametrize("boundary", [1_234_567, 9_876_543, 31_415_926])
def test_sharp_boundary_is_found_and_confirmed_on_two_lanes(lanes, strategy, boundary):
    oracle = sharp(boundary, lanes, reach_error=0.0)
    cfg = SearchConfig(strategy=strategy, lanes=lanes, limit_bytes=limit_for(boundary))
    res = search_rounds(oracle, cfg)
    check_exact(res, boundary)
    # Confirmed: the critical n succeeded on two lanes (two processes), the first failing
    # n failed twice (on two lanes, or twice on the lane the critical n needed).
    assert len(lanes_of(res, res.critical_n, True)) == 2
    assert sum(not p.ok for p in res.probes if p.n == res.first_failing_n) >= 2
    assert len(oracle.rounds) <= (8 if strategy == "model" else 14)


def test_every_round_uses_the_lanes_and_never_exceeds_them():
    oracle = sharp(5_000_000, 2, reach_error=0.0)
    res = search_rounds(oracle, SearchConfig(lanes=2, limit_bytes=limit_for(5_000_000)))
    check_exact(res, 5_000_000)
    sizes = [len(r) for r in oracle.rounds]
    assert max(sizes) == 2 and sum(sizes) == len(res.probes)
    assert sizes.count(2) >= len(sizes) - 1  # at most one round with an idle lane


def test_one_lane_is_the_sequential_search_probe_for_probe():
    """find_critical_n (one probe at a time) and search_rounds with lanes=1 agree."""
    boundary = 7_777_777
    cfg = SearchConfig(lanes=1, limit_bytes=limit_for(boundary))
    a = find_critical_n(threshold_oracle(boundary, reach_error=0.0), cfg)
    b = search_rounds(sharp(boundary, 1, reach_error=0.0), cfg)
    assert [p.n for p in a.probes] == [p.n for p in b.probes]
    assert (a.critical_n, a.first_failing_n) == (b.critical_n, b.first_failing_n)


def test_find_critical_n_ignores_lanes():
    """A one-probe oracle cannot answer a round: find_critical_n searches one at a time."""
    cfg = SearchConfig(lanes=3, limit_bytes=limit_for(2_000_000))
    res = find_critical_n(threshold_oracle(2_000_000, reach_error=0.0), cfg)
    check_exact(res, 2_000_000)


def test_a_fluke_failure_below_the_boundary_is_forgiven_on_its_own_lane():
    """Lane 1 fails once, at the first n it probes near (below) the boundary."""
    boundary = 4_000_000
    fluked: set[int] = set()

    def flaky(n: int) -> bool:
        if not fluked and 3_900_000 < n <= boundary:
            fluked.add(n)
            return True
        return False

    per_lane = [threshold_oracle(boundary, reach_error=0.0), threshold_oracle(
        boundary, reach_error=0.0, flaky=flaky)]  # fmt: skip
    oracle = Lanes(per_lane, cost=lambda n: n)
    res = search_rounds(oracle, SearchConfig(lanes=2, limit_bytes=limit_for(boundary)))
    check_exact(res, boundary)
    assert fluked, "the fake never fluked: the test did not test anything"
    assert res.critical_n > boundary / 1.01 - 1  # the fluke did not pull the answer down


def test_processes_with_different_boundaries_give_the_boundary_both_survive():
    """Lane 1's process runs out 0.6 % earlier (its layout leaves less room): the critical
    n must succeed on both processes, and its failure repeat on lane 1."""
    b0, b1 = 10_000_000, 9_940_000
    per_lane = [threshold_oracle(b, reach_error=0.0) for b in (b0, b1)]
    oracle = Lanes(per_lane, cost=lambda n: n)
    res = search_rounds(oracle, SearchConfig(lanes=2, limit_bytes=limit_for(b0)))
    assert res.stop_reason == "converged"
    assert res.critical_n <= b1 < res.first_failing_n
    assert lanes_of(res, res.critical_n, True) == {0, 1}
    fails = [p for p in res.probes if p.n == res.first_failing_n and not p.ok]
    assert len(fails) >= 2
    assert bracket(res.probes) == (res.critical_n, res.first_failing_n)


def test_everything_fails():
    oracle = Lanes([lambda n: Probe(n, MEMORY_ERROR)] * 2, cost=lambda n: n)
    res = search_rounds(oracle, SearchConfig(lanes=2, n_min=1, n_start=1000))
    assert res.critical_n is None and res.stop_reason == "all_failed"
    assert res.first_failing_n == 1


def test_nothing_fails_up_to_the_maximum():
    oracle = Lanes([lambda n: Probe(n, OK)] * 2, cost=lambda n: n)
    res = search_rounds(oracle, SearchConfig(lanes=2, n_max=50_000_000))
    assert res.critical_n == 50_000_000 and res.first_failing_n is None
    assert res.stop_reason == "n_max_ok"
    assert len(res.probes) <= 2 * 12


@pytest.mark.parametrize("slope_factor", [0.5, 2.0])
def test_a_far_off_model_still_converges(slope_factor):
    boundary = 12_345_678
    oracle = sharp(boundary, 2, slope_factor=slope_factor)
    res = search_rounds(oracle, SearchConfig(lanes=2, limit_bytes=limit_for(boundary)))
    check_exact(res, boundary)
    assert len(oracle.rounds) <= 16


def test_max_probes_is_a_hard_bound_on_probes():
    oracle = sharp(40_000_000, 2)
    res = search_rounds(oracle, SearchConfig(lanes=2, strategy="bisect", max_probes=5))
    assert len(res.probes) <= 5 and res.stop_reason == "max_probes"


def list_profile_costs(lanes: int, strategy: str) -> list[float]:
    """Wall (in elements built) over the lower bound, on the list profile at 16 caps."""
    ratios = []
    for i in range(16):
        limit = int(256 * 2**20 * 2 ** (i / 4))
        fakes = [ListOracle(limit) for _ in range(lanes)]
        boundary = fakes[0].boundary
        oracle = Lanes(fakes, cost=lambda n, b=boundary: min(n, b))
        res = search_rounds(oracle, SearchConfig(strategy=strategy, lanes=lanes,
                                                 limit_bytes=limit))  # fmt: skip
        check_exact(res, boundary)
        ratios.append(oracle.wall / (res.critical_n + boundary))
    return ratios


def test_two_lanes_cost_about_half_of_one_on_the_list_profile():
    """Measured on the list profile (each round costs its dearest probe): two lanes bring
    the model search to ~1.5 lower bounds (3 boundary-sized rounds: one failure to
    locate the boundary, one pair one precision apart, one crossed confirmation)
    from ~2.6 with one lane, and stay well ahead of two-lane bisection."""
    one = statistics.median(list_profile_costs(1, "model"))
    two = statistics.median(list_profile_costs(2, "model"))
    bisect_two = statistics.median(list_profile_costs(2, "bisect"))
    assert two <= 1.6, two
    assert two <= 0.65 * one, (one, two)
    assert bisect_two >= 1.8 * two, (bisect_two, two)


@settings(max_examples=150, deadline=None)
@given(
    boundary=st.integers(min_value=2, max_value=10**9),
    lanes=st.integers(min_value=1, max_value=4),
    strategy=st.sampled_from(["model", "bisect"]),
    precision=st.sampled_from([0.001, 0.01, 0.05]),
    reach=st.sampled_from([None, 0.0, -1.0, 0.003]),
)
def test_any_boundary_any_lanes(boundary, lanes, strategy, precision, reach):
    oracle = sharp(boundary, lanes, reach_error=reach)
    cfg = SearchConfig(strategy=strategy, lanes=lanes, precision=precision,
                       limit_bytes=limit_for(boundary), n_start=1000, max_probes=200)  # fmt: skip
    res = search_rounds(oracle, cfg)
    check_exact(res, boundary, precision)
    for r in oracle.rounds:
        assert len({p.n for p in r}) == len(r) <= lanes
    # Generous bound: doubling from 1000 to 1e9 is 20 rounds, then log2 of the bracket
    # over the precision, plus misses of the model and the confirmation.
    assert len(oracle.rounds) <= 20 + math.ceil(math.log2(1 / math.log1p(precision))) + 12


def test_assign_puts_a_reprobe_on_the_other_lane():
    lanes = LaneOracle([object(), object()])
    lanes._seen = {100: [(0, True)], 200: [(1, False)]}
    assert lanes.assign([200, 100]) == [0, 1]  # each where it has not been probed
    lanes._seen = {300: [(1, False), (0, True)]}
    assert lanes.assign([300]) == [1]  # the lane where it failed: a fluke?


def test_a_boundary_that_is_not_monotone_is_reported_where_outcomes_are_facts():
    """An app whose memory is not monotone in n: every n in [9.6M, 9.7M) fails, and so
    does every n above 10M. Two lanes probe a round's points at once, so a success above
    the hole can come in the same round as a failure inside it. Where outcomes are facts
    (cold servers, fixed layout, no threads racing) that failure is no fluke: the critical
    n lies below every n that failed, and the pairs are reported. Where they are not
    (a warm or randomized server, threads racing) the failure is forgiven as before."""
    boundary, hole = 10_000_000, (9_600_000, 9_700_000)

    def lane() -> Callable[[int], Probe]:
        base, fail = threshold_oracle(boundary, reach_error=0.0), threshold_oracle(0)

        def oracle(n: int) -> Probe:
            return fail(n) if hole[0] <= n < hole[1] else base(n)

        return oracle

    cfg = SearchConfig(limit_bytes=limit_for(boundary), confirm="auto", strategy="bisect",
                       lanes=2, facts=True)  # fmt: skip
    facts = search_rounds(Lanes([lane(), lane()], cost=lambda n: n), cfg)
    failed = {p.n for p in facts.probes if not p.ok}
    assert failed & set(range(*hole)), "no probe fell in the hole: nothing was tested"
    assert facts.critical_n < min(failed) == facts.first_failing_n
    assert facts.critical_n < hole[0]
    assert facts.non_monotone, "the success above the hole was not reported"
    for bad, good in facts.non_monotone:
        assert hole[0] <= bad < hole[1] < good <= boundary
    forgiving = search_rounds(Lanes([lane(), lane()], cost=lambda n: n),
                              dataclasses.replace(cfg, facts=False))  # fmt: skip
    assert forgiving.critical_n > hole[1] and forgiving.non_monotone == ()
