"""Unit tests for probe.search.band against fake oracles: no processes, no HTTP.

The fake answers every probe as a fresh server would: below `a` every probe succeeds,
from `b` on every probe fails, and in [a, b) a probe succeeds with probability q (a
constant), or, for q = "uniform", draws a fresh layout whose boundary is uniform in
[a, b) (the physical model: each server's list boundary lands somewhere in the band).
A seeded random.Random makes every run reproducible. a == b is a sharp boundary.
"""

from __future__ import annotations

import json
import math
import random
import statistics
from collections import Counter
from collections.abc import Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from probe.outcome import Kind, Outcome, Probe
from probe.search.band import STOP_REASONS, Band, BandConfig, Sample, band_search

OK = Outcome(Kind.OK, 200)
MEMORY_ERROR = Outcome(Kind.MEMORY_ERROR, 507, "MemoryError")


class FakeBand:
    """A batch oracle over fresh randomized servers; records every round it answers."""

    def __init__(self, a: int, b: int, q: float | str = 0.5, seed: int = 0):
        assert a <= b
        self.a, self.b, self.q = a, b, q
        self.rng = random.Random(seed)
        self.rounds: list[list[int]] = []

    def layout(self) -> float:
        """One fresh layout's boundary under the uniform model."""
        return self.a + self.rng.random() * (self.b - self.a)

    def ok(self, n: int) -> bool:
        if n < self.a:
            return True
        if n >= self.b:
            return False
        if self.q == "uniform":
            return n < self.layout()
        return self.rng.random() < self.q

    def __call__(self, ns: Sequence[int]) -> list[Probe]:
        self.rounds.append(list(ns))
        return [Probe(n, OK if self.ok(n) else MEMORY_ERROR) for n in ns]


def closed(lo: int | None, hi: int | None, precision: float) -> bool:
    return lo is not None and hi is not None and (hi - lo <= 1 or hi <= lo * (1 + precision))


def check_invariants(band: Band, cfg: BandConfig, oracle: FakeBand | None = None) -> None:
    """What must hold of any result: the samples are the probes, and always_ok_n and
    never_ok_n are exactly what their definitions say (recomputed here from scratch)."""
    k = cfg.tries_per_n
    assert band.tries_per_n == k
    assert band.stop_reason in STOP_REASONS
    assert len(band.probes) <= cfg.max_probes
    ns = [s.n for s in band.samples]
    assert ns == sorted(set(ns)), "samples sorted by n, one per n"
    tries = Counter(p.n for p in band.probes)
    oks = Counter(p.n for p in band.probes if p.ok)
    assert {s.n: (s.ok, s.tries) for s in band.samples} == {
        n: (oks[n], t) for n, t in tries.items()
    }
    assert all(1 <= s.tries <= k for s in band.samples), "never more than K tries at an n"

    failed = [s.n for s in band.samples if s.ok < s.tries]
    succeeded = [s.n for s in band.samples if s.ok > 0]
    first_fail = min(failed, default=None)
    last_ok = max(succeeded, default=None)
    all_ok = [s.n for s in band.samples if s.ok == s.tries == k]
    all_fail = [s.n for s in band.samples if s.ok == 0 and s.tries == k]
    if band.always_ok_n is None:
        assert not [n for n in all_ok if first_fail is None or n < first_fail]
    else:
        assert band.always_ok_n in all_ok, "always_ok_n succeeded on all K layouts"
        assert not [n for n in failed if n <= band.always_ok_n], "nothing failed below it"
        top = math.inf if first_fail is None else first_fail
        assert not [n for n in all_ok if band.always_ok_n < n < top]
    if band.never_ok_n is None:
        assert not [n for n in all_fail if last_ok is None or n > last_ok]
    else:
        assert band.never_ok_n in all_fail, "never_ok_n failed on all K layouts"
        assert not [n for n in succeeded if n >= band.never_ok_n], "nothing passed above it"
        bottom = -1 if last_ok is None else last_ok
        assert not [n for n in all_fail if bottom < n < band.never_ok_n]
    if band.stop_reason == "converged":
        assert closed(band.always_ok_n, first_fail, cfg.precision)
        assert closed(last_ok, band.never_ok_n, cfg.precision)

    if oracle is not None:  # rounds: within the lanes, and a decided n is left alone
        assert sum(len(r) for r in oracle.rounds) == len(band.probes)
        assert all(1 <= len(r) <= cfg.lanes for r in oracle.rounds)
        seen: dict[int, set[bool]] = {}
        probes = iter(band.probes)
        for r in oracle.rounds:
            assert not [n for n in r if len(seen.get(n, ())) == 2], f"a mixed n re-probed: {r}"
            for _ in r:
                p = next(probes)
                seen.setdefault(p.n, set()).add(p.ok)


def check_truth(band: Band, a: int, b: int, precision: float) -> None:
    """A converged result against the fake's truth: nothing below a fails and nothing
    from b on succeeds, so the closed edges pin always_ok_n to within a precision below
    a or above it (never at or past b) and never_ok_n to within a precision above b or
    below it (never below a)."""
    assert band.stop_reason == "converged"
    lo, hi = band.always_ok_n, band.never_ok_n
    assert lo is not None and hi is not None
    slack = 1 + 1e-12  # the edges are closed in floating point
    assert min(a / (1 + precision) / slack, a - 1) <= lo < b
    assert a <= hi <= max(b * (1 + precision) * slack, b + 1)
    assert lo < hi


def run(a, b, c, f, q=0.5, seed=0, **cfg) -> tuple[Band, BandConfig, FakeBand]:
    config = BandConfig(**cfg)
    oracle = FakeBand(a, b, q, seed)
    band = band_search(oracle, c, f, config)
    check_invariants(band, config, oracle)
    return band, config, oracle


# --- sharp boundaries -------------------------------------------------------------


@pytest.mark.parametrize("k", [2, 3, 4])
@pytest.mark.parametrize("a", [2, 1_000, 1_234_567, 312_345_678])
def test_sharp_boundary_bracketed_by_the_start_costs_2k(a, k):
    """The main search's typical answer (critical_n = a - 1, first_failing_n = a) on a
    sharp boundary: K probes at each end and nothing else is the minimum any band
    search can do. a = 2 is the smallest boundary above n_min = 1."""
    band, _, _ = run(a, a, a - 1, a, tries_per_n=k)
    assert band.always_ok_n == a - 1
    assert band.never_ok_n == a
    assert len(band.probes) == 2 * k
    assert band.samples == (Sample(a - 1, k, k), Sample(a, 0, k))
    check_truth(band, a, a, 0.01)


C, F = 999_999, 1_000_000  # a bracketed sharp start at a = F


@pytest.mark.parametrize(
    ("lanes", "rounds"),
    [
        (1, [[C], [F], [C], [C], [F], [F]]),
        (2, [[C, F], [C, F], [C, F]]),
        (3, [[C, F, C], [C, F, F]]),
        (6, [[C, F, C, F, C, F]]),
    ],
)
def test_rounds_try_both_edges_before_repeating_one(lanes, rounds):
    """Bracketed sharp start, K = 3, so each end needs 3 tries: every round gives each
    open edge one try before any gets a second (2 lanes: one of each end per round,
    not two of one), and a round repeats an n only when the lanes outnumber the
    candidates (6 lanes: one round, each n three times)."""
    band, _, oracle = run(F, F, C, F, tries_per_n=3, lanes=lanes)
    assert oracle.rounds == rounds
    assert len(band.probes) == 6


def rung_below(n: int, p: float) -> int:
    """The smallest m with (m, n) closed: m (1 + p) >= n or n - m <= 1."""
    m = math.ceil(n / (1 + p))
    while m > 0 and closed(m - 1, n, p):
        m -= 1
    while not closed(m, n, p):
        m += 1
    return m


def rung_above(n: int, p: float) -> int:
    """The largest m with (n, m) closed."""
    m = math.floor(n * (1 + p))
    while closed(n, m + 1, p):
        m += 1
    while not closed(n, m, p):
        m -= 1
    return m


def ladder(n: int, p: float, way: int) -> list[int]:
    """n and its rungs (down for -1, up for +1), 200 of them."""
    out = [n]
    for _ in range(200):
        out.append(rung_below(out[-1], p) if way < 0 else rung_above(out[-1], p))
    return out


def check_sharp_cost(band: Band, k: int, j: int, low: bool) -> None:
    """The module docstring's sharp-boundary cost: 1 + j + (j - 2)^+ points (+1 when
    too low), each probed once except the all-ok and all-fail ones (K times): exactly
    one all-fail (never_ok_n), always_ok_n plus m passing midpoints all-ok."""
    points = 1 + j + max(j - 2, 0) + low
    all_ok = sum(s.ok == s.tries == k for s in band.samples)
    all_fail = sum(s.ok == 0 and s.tries == k for s in band.samples)
    m = all_ok - 1
    assert len(band.samples) == points
    assert all_fail == 1
    assert 0 <= m <= max(j - 2, 0)
    assert all(s.tries in (1, k) for s in band.samples)
    assert len(band.probes) == points + (k - 1) * (2 + m)


@pytest.mark.parametrize("k", [2, 3, 4])
@pytest.mark.parametrize("rungs", [0.5, 1.5, 2.5, 3.5, 6.5, 12.5, 40.5])
@pytest.mark.parametrize("a", [1_000_000, 777_777])
def test_start_above_a_sharp_boundary_steps_down_at_the_derived_cost(a, rungs, k):
    """critical_n 0.5 to 40.5 precisions too high (a start inside a band behaves the
    same way for the lower edge): j steps down, t the rungs from critical_n to the first
    n below a (counted here from the rung's definition; the half-rung offsets keep a
    off a rung), j - 2 midpoints, and the docstring's cost exactly."""
    p = 0.01
    c = round(a * (1 + p) ** rungs)
    band, _, _ = run(a, a, c, math.floor(c * (1 + p)), tries_per_n=k)
    rs = ladder(c, p, -1)
    t = next(i for i, n in enumerate(rs) if n < a)
    j = 1 + math.ceil(math.log2(t))
    check_sharp_cost(band, k, j, low=False)
    assert min(s.n for s in band.samples) == rs[2 ** (j - 1)], "stepped down to the pass"
    assert band.always_ok_n < a <= band.never_ok_n
    check_truth(band, a, a, p)


@pytest.mark.parametrize("k", [2, 3])
@pytest.mark.parametrize("rungs", [0.5, 1.5, 2.5, 6.5, 12.5, 40.5])
def test_start_below_a_sharp_boundary_steps_up_at_the_derived_cost(rungs, k):
    """The mirror: critical_n and first_failing_n (one rung above it) both too low; the
    steps up count from first_failing_n and critical_n costs its one probe on top."""
    a, p = 1_000_000, 0.01
    c = round(a / (1 + p) ** (rungs + 1))
    f = rung_above(c, p)
    band, _, _ = run(a, a, c, f, tries_per_n=k)
    rs = ladder(f, p, +1)
    t = next(i for i, n in enumerate(rs) if n >= a)
    j = 1 + math.ceil(math.log2(t))
    check_sharp_cost(band, k, j, low=True)
    assert max(s.n for s in band.samples) == rs[2 ** (j - 1)], "stepped up to the failure"
    assert band.always_ok_n < a <= band.never_ok_n
    check_truth(band, a, a, p)


# --- real bands ----------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(20))
def test_low_success_band_puts_always_ok_just_below_it(seed):
    """Band [a, 1.1 a), start in its middle, q = 0.05: an n inside passes the all-ok
    test of K = 3 with probability 1.25e-4, so always_ok_n must come out within one
    precision below a (it is all-ok, so never at or above b; and the edge is closed
    against a failure, which is at a or above). The upper edge lands anywhere in the
    band (an inside n fails all 3 layouts with probability 0.86): only the invariants
    constrain it. The start fails at once, so the search must step down."""
    a, p = 1_000_000, 0.01
    b, c = 1_100_000, 1_048_808
    band, _, _ = run(a, b, c, math.floor(c * (1 + p)), q=0.05, seed=seed)
    check_truth(band, a, b, p)
    assert a / (1 + p) <= band.always_ok_n < a
    assert band.always_ok_n < c, "stepped down from a start inside the band"


@pytest.mark.parametrize("seed", range(20))
def test_high_success_band_puts_never_ok_just_above_it(seed):
    """The mirror: q = 0.95, so an inside n fails all 3 layouts with probability
    1.25e-4 and never_ok_n must come out within one precision above b, while
    always_ok_n may land inside the band (0.86 for an all-ok inside n)."""
    a, p = 1_000_000, 0.01
    b, c = 1_100_000, 1_048_808
    band, _, _ = run(a, b, c, math.floor(c * (1 + p)), q=0.95, seed=seed)
    check_truth(band, a, b, p)
    assert b <= band.never_ok_n <= b * (1 + p)
    assert band.never_ok_n > c * (1 + p), "stepped up from a start inside the band"


@pytest.mark.parametrize("q", [0.2, 0.5, 0.8, "uniform"])
@pytest.mark.parametrize("seed", range(10))
def test_any_band_is_bracketed_where_the_definitions_say(q, seed):
    """A 5 % band with the start a third of the way in, for constant success
    probabilities that favour either edge and for the uniform-layout model: whatever
    luck does inside the band, both edges close and sit inside [a / 1.01, 1.01 b]."""
    a, b, c = 2_000_000, 2_100_000, 2_033_000
    band, _, _ = run(a, b, c, None, q=q, seed=seed, max_probes=200)
    check_truth(band, a, b, 0.01)


def test_first_failing_n_none_starts_one_precision_above():
    """Without first_failing_n the upper start is the rung above critical_n, the
    largest n one precision above it: on a sharp boundary at a = 1_000_000 with
    critical_n = a - 1 that is 1_009_998 (999_999 * 1.01 = 1_009_998.99), above a, so
    the run is the bracketed 2K on exactly those two n (1_009_999 would not close the
    edge and cost a midpoint more)."""
    a = 1_000_000
    band, _, _ = run(a, a, a - 1, None)
    assert [s.n for s in band.samples] == [a - 1, 1_009_998]
    assert len(band.probes) == 6


# --- lanes, budget, stops, errors ----------------------------------------------------


def test_more_lanes_need_fewer_rounds_for_valid_answers():
    """30 seeds of the uniform model on a 2 % band (twice the precision, the realistic
    width): every lane count converges inside the band's precision, and each extra lane
    cuts the mean number of rounds (measured 8.2, 4.5, 3.3), while the probes grow
    only a little (8.2, 8.6, 8.8: repeats in one round cannot stop at a refutation)."""
    a, b, p = 1_000_000, 1_020_000, 0.01
    rounds, probes = {}, {}
    for lanes in (1, 2, 3):
        r, n = [], []
        for seed in range(30):
            oracle = FakeBand(a, b, "uniform", seed)
            c = math.floor(oracle.layout())
            cfg = BandConfig(lanes=lanes)
            band = band_search(oracle, c, math.floor(c * (1 + p)), cfg)
            check_invariants(band, cfg, oracle)
            check_truth(band, a, b, p)
            r.append(len(oracle.rounds))
            n.append(len(band.probes))
        rounds[lanes], probes[lanes] = statistics.mean(r), statistics.mean(n)
    assert rounds[1] > 1.6 * rounds[2]
    assert rounds[2] > 1.2 * rounds[3]
    assert probes[3] <= 1.25 * probes[1]


@pytest.mark.parametrize(("max_probes", "lanes"), [(1, 1), (5, 1), (7, 3), (10, 2)])
def test_budget_is_a_hard_bound(max_probes, lanes):
    """A 20 % band from a start 50 % above it needs 37 probes; budgets of 1 to 10, also
    with a last round cut short (7 with 3 lanes), stop at exactly the budget with
    'max_probes', and what is reported still meets the definitions."""
    a, b = 1_000_000, 1_200_000
    band, _, oracle = run(a, b, 1_500_000, None, max_probes=max_probes, lanes=lanes)
    assert band.stop_reason == "max_probes"
    assert len(band.probes) == max_probes
    assert sum(map(len, oracle.rounds)) == max_probes


def test_everything_fails():
    """A server that fails every n (a == b == 0 in the fake), from 1_000_000 down to
    n_min = 1000: one probe per n, 1, 2, 4, ... 64 rungs from the start (7 steps, a
    factor 3.5), then halvings (9, the factor-2 cap) and n_min itself, 18 probes in
    all; it stops 'all_failed' there and reports no always_ok_n."""
    band, _, _ = run(0, 0, 1_000_000, None, n_min=1000)
    assert band.stop_reason == "all_failed"
    assert band.always_ok_n is None
    assert band.probes[-1].n == 1000
    assert all(s.tries == 1 and s.ok == 0 for s in band.samples)
    assert len(band.probes) == 18


@pytest.mark.parametrize(
    "bad",
    [
        {"tries_per_n": 1},
        {"tries_per_n": 0},
        {"lanes": 0},
        {"max_probes": 0},
        {"precision": -0.01},
        {"precision": math.nan},
        {"n_min": -1},
    ],
)
def test_bad_config_raises(bad):
    """K < 2 cannot tell a band from a fluke; the others are meaningless."""
    with pytest.raises(ValueError):
        BandConfig(**bad)


@pytest.mark.parametrize(("c", "f"), [(100, 100), (100, 99), (-1, 5)])
def test_bad_start_raises(c, f):
    """first_failing_n must lie above critical_n, and n is never negative."""
    with pytest.raises(ValueError):
        band_search(FakeBand(10, 10), c, f, BandConfig())


def test_an_oracle_answering_other_n_is_rejected():
    """The search counts tries per n: answers for an n it did not ask are an error."""

    def wrong(ns):
        return [Probe(n + 1, OK) for n in ns]

    with pytest.raises(ValueError, match="answered"):
        band_search(wrong, 100, 101, BandConfig())


def test_on_probe_sees_every_probe_in_order():
    """Two lanes on a 5 % band: on_probe gets the same probes, in the same order, as
    Band.probes (the round order)."""
    seen: list[Probe] = []
    oracle = FakeBand(1_000_000, 1_050_000, 0.5, 3)
    band = band_search(oracle, 1_020_000, None, BandConfig(lanes=2), seen.append)
    assert tuple(seen) == band.probes
    assert [p.n for p in seen] == [n for r in oracle.rounds for n in r]


def test_to_dict_has_the_document_keys():
    """The key names are part of the results document."""
    band, _, _ = run(1_000_000, 1_020_000, 1_010_000, None, seed=1)
    d = band.to_dict()
    assert set(d) == {
        "tries_per_n",
        "always_ok_n",
        "never_ok_n",
        "samples",
        "probes",
        "stop_reason",
    }
    assert d["tries_per_n"] == 3 and d["probes"] == len(band.probes)
    assert d["always_ok_n"] == band.always_ok_n and d["never_ok_n"] == band.never_ok_n
    assert d["stop_reason"] == band.stop_reason
    assert d["samples"] == [{"n": s.n, "ok": s.ok, "tries": s.tries} for s in band.samples]
    assert json.loads(json.dumps(d)) == d


# --- cost ----------------------------------------------------------------------------


@pytest.mark.parametrize(("width", "mean"), [(0.0, 6.0), (0.005, 7.1), (0.02, 8.2), (0.1, 15.8)])
def test_expected_cost_matches_the_docstring(width, mean):
    """The module docstring's K = 3, p = 1 % row of expected probes: 300 seeds of the
    uniform-layout model with critical_n one layout's boundary and first_failing_n one
    precision above it (w = 0: the bracketed sharp start). The standard error of the
    mean is under 0.3 probes; 8 % tolerance."""
    a, p = 1_000_000, 0.01
    b = round(a * (1 + width))
    costs = []
    for seed in range(300):
        oracle = FakeBand(a, b, "uniform", seed)
        c = math.floor(oracle.layout()) if b > a else a - 1
        f = math.floor(c * (1 + p)) if b > a else a
        band = band_search(oracle, c, f, BandConfig(max_probes=500))
        assert band.stop_reason == "converged"
        costs.append(len(band.probes))
    assert statistics.mean(costs) == pytest.approx(mean, rel=0.08)
    if width == 0:
        assert set(costs) == {6}


# --- property ------------------------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(
    a=st.integers(2, 10**9),
    width=st.sampled_from([0.0, 0.001, 0.01, 0.03, 0.2]),
    where=st.floats(-0.3, 1.3),
    above=st.one_of(st.none(), st.floats(0.0, 1.0)),
    k=st.integers(2, 4),
    lanes=st.integers(1, 3),
    precision=st.sampled_from([0.001, 0.01, 0.05]),
    q=st.sampled_from([0.1, 0.5, 0.9, "uniform"]),
    max_probes=st.integers(1, 120),
    seed=st.integers(0, 2**32),
)
def test_any_band_any_lanes(a, width, where, above, k, lanes, precision, q, max_probes, seed):
    """Any band (sharp to 20 %), a start below, inside or above it, any first_failing_n
    up to a precision above the start (or None), K 2..4, 1..3 lanes, any budget: the
    invariants hold, the budget is never exceeded, and a converged result is bracketed
    by the truth."""
    b = max(a, round(a * (1 + width)))
    lo, hi = a / 1.2, b * 1.2
    c = max(1, round(lo * (hi / lo) ** where))
    f = None if above is None else max(c + 1, math.floor(c * (1 + precision * above)))
    cfg = {"tries_per_n": k, "lanes": lanes, "precision": precision, "max_probes": max_probes}
    band, _, _ = run(a, b, c, f, q=q, seed=seed, **cfg)
    assert band.stop_reason in ("converged", "max_probes")
    if band.stop_reason == "converged":
        check_truth(band, a, b, precision)
    else:
        assert len(band.probes) == max_probes
