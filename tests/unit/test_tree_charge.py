"""The tree budget's estimate between exact reads (probe.measure.tree.TreeBudget), over a
fake exact read: the seam is tree_snapshot, what smaps_rollup would say."""

from __future__ import annotations

import pytest

from probe.measure import tree

MIB = 1 << 20


@pytest.fixture
def reads(monkeypatch):
    """Each exact read answers from `truth`: pid -> (anonymous RSS, its share of the
    charge); the pids read are logged."""
    truth: dict[int, tuple[int, int]] = {}
    log: list[list[int]] = []

    def snapshot(pids):
        log.append(sorted(pids))
        known = [p for p in pids if p in truth]
        return {"anon_rss_sum_bytes": sum(truth[p][0] for p in known),
                "charge_bytes": sum(truth[p][1] for p in known), "processes": []}  # fmt: skip

    monkeypatch.setattr(tree, "tree_snapshot", snapshot)
    return truth, log


def test_the_next_trees_sharing_is_measured_not_carried_over(reads):
    truth, log = reads
    budget = tree.TreeBudget(200 * MIB)
    # a server of four processes sharing 64 MiB (an arbiter, two workers, one respawned)
    truth.update({p: (78 * MIB, 30 * MIB) for p in (1, 2, 3, 4)})
    first = budget.charge({p: truth[p][0] for p in (1, 2, 3, 4)}, now=0.0)
    assert first == 120 * MIB and log == [[1, 2, 3, 4]]
    # the next fresh server: three processes, one of them 100 MiB past its share
    truth.update({5: (78 * MIB, 35 * MIB), 6: (78 * MIB, 35 * MIB), 7: (178 * MIB, 136 * MIB)})
    charge = budget.charge({p: truth[p][0] for p in (5, 6, 7)}, now=0.01)
    assert log[-1] == [5, 6, 7]  # read at once, though the last read is 10 ms old
    assert charge == 206 * MIB  # with the four's sharing it read 142 MiB: no kill
    assert budget.enforce(charge, {5: 78 * MIB, 6: 78 * MIB, 7: 178 * MIB}, 0.01)


def test_the_same_tree_is_read_again_only_after_the_refresh(reads):
    truth, log = reads
    budget = tree.TreeBudget(200 * MIB, refresh_s=0.1)
    truth.update({1: (150 * MIB, 140 * MIB)})
    budget.charge({1: 150 * MIB}, now=0.0)
    budget.charge({1: 151 * MIB}, now=0.05)
    assert log == [[1]]  # the same process: no read before refresh_s


def test_below_half_the_budget_a_new_tree_is_its_upper_bound(reads):
    truth, _ = reads
    budget = tree.TreeBudget(200 * MIB)
    truth.update({1: (150 * MIB, 100 * MIB), 2: (60 * MIB, 30 * MIB)})
    budget.charge({1: 150 * MIB, 2: 60 * MIB}, now=0.0)  # excess 80 MiB, for 1 and 2
    assert budget.charge({3: 90 * MIB}, now=1.0) == 90 * MIB  # not 10 MiB
