"""The failure-rate estimate (probe.search.rate) against a simulated service whose
P(fail | n) is known: a logistic in ln n, each probe an independent fresh server."""

from __future__ import annotations

import math
import random

import pytest

from probe import stats
from probe.defaults import RECHECK_RATE, RECHECK_TRIES
from probe.outcome import Kind, Outcome, Probe
from probe.search import rate

MU, S = math.log(1_000_000), 0.01  # half fail at 1M; the band about 1M x e^(+-0.03)


def p_fail(n: float, mu: float = MU, s: float = S) -> float:
    return 1 / (1 + math.exp(-(math.log(n) - mu) / s))


def quantile(q: float, mu: float = MU, s: float = S) -> float:
    return math.exp(mu + s * math.log(q / (1 - q)))


def oracle(rng: random.Random, mu: float = MU, s: float = S):
    def batch(ns):
        return [Probe(n, Outcome(Kind.MEMORY_ERROR if rng.random() < p_fail(n, mu, s)
                                 else Kind.OK, 200)) for n in ns]  # fmt: skip

    return batch


def search_like_prior(rng: random.Random, mu: float = MU, s: float = S) -> list[Probe]:
    """What a search and its re-check leave: a ladder toward the boundary, then both
    ends re-probed."""
    batch = oracle(rng, mu, s)
    ns = [int(math.exp(mu) * f) for f in (0.25, 0.5, 0.9, 0.97, 1.0, 1.02, 1.04)]
    return list(batch(ns)) + list(batch([ns[3], ns[3], ns[5], ns[5]]))


@pytest.mark.parametrize("lanes", [1, 2])
def test_the_reported_n_fails_at_most_at_the_risk_with_the_stated_confidence(lanes):
    """Over 40 seeded runs: the reported n (the lower bound of the 5 % quantile at 95 %)
    fails at most 5 % of the time in at least 38 of 40 runs (measured over 150 seeds:
    146 and 147, rate.next_points), and lies less than 4.5 % below the true quantile in
    the median (measured 3.1 %; the design before this one, which put a single lane's
    probes between the bound and the estimate only, 5.2 %)."""
    true_q = quantile(rate.RISK)
    held, below = 0, []
    for seed in range(40):
        rng = random.Random(seed)
        cfg = rate.RateConfig(lanes=lanes, max_probes=24)
        est, added, _ = rate.rate_search(oracle(rng), search_like_prior(rng), cfg)
        held += p_fail(est.n_risk_lower) <= rate.RISK
        below.append(1 - est.n_risk_lower / true_q)
        assert est.n_risk_lower <= est.n_risk and len(added) <= 24
    below.sort()
    assert held >= 38, held
    assert below[len(below) // 2] < 0.045, below


def test_all_fail_from_is_the_smallest_n_above_every_success():
    samples = [(900, False), (1000, True), (1000, False), (1100, True), (1200, True)]
    assert rate.all_fail_from(samples) == 1100
    assert rate.all_fail_from([(5, False)]) is None


def test_the_recheck_catches_one_failure_in_four_nine_times_in_ten():
    """8 tries at the critical n: a service failing 1 in 4 there shows a failure with
    probability 1 - 0.75^8 = 0.8999."""
    assert RECHECK_TRIES == 8 and RECHECK_RATE == 0.25
    assert round(stats.catch_probability(RECHECK_TRIES, RECHECK_RATE), 3) == 0.9
