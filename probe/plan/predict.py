"""A cell's boundary under each budget from one calibration, and the check that decides it.

Pure. The calibration is the tree's charge at the peak of one request at three sizes n, under
the largest budget: a small one, one that the first's slope puts halfway to the smallest
budget, and one near where the first two predict the smallest budget's boundary. One
request at a time is a fact (nothing races); the cell's full occupancy, C requests
whose peaks all meet (production's worst case), is then C times one request's cost over
the idle tree, and meets each budget at the predicted n, the edge that holds however
the peaks meet. Each prediction is checked on fresh servers under its budget: just
below it must succeed, and for one request just above it must fail; where the one below
fails (or, for one request, the one above succeeds), the cell's answer comes from a
max-n search instead, started at the check's n. Above a C > 1 cell's edge whether its
peaks meet is timing, a rate measured by sustained runs (probe.plan.occupancy).
"""

from __future__ import annotations

from dataclasses import dataclass

from probe.search.estimate import fit_line

BELOW = 0.97  # the check's lower probe, as a fraction of the predicted n
ABOVE = 1.02  # its upper probe
FIRST_FRACTION = 0.5  # the second calibration size: this fraction of the smallest budget's n
NEAR_FRACTION = 0.85  # the third: this fraction of the n the first two predict for it


@dataclass(frozen=True)
class Calibration:
    """The tree's idle charge and its charge at the peak of C requests at each n."""

    idle_bytes: int
    points: tuple[tuple[int, int], ...]  # (n, the tree's charge at the peak)

    def line(self) -> tuple[float, float]:
        """(fixed bytes, bytes per unit of n at full occupancy) through the two largest
        sizes: the slope near the boundary, where the sharing between processes is
        measured exactly and small-n overheads no longer weigh."""
        return fit_line(sorted(self.points)[-2:])


def second_size(n0: int, charge0: int, idle: int, budget: int, floor_factor: int = 2) -> int:
    """The second calibration size: FIRST_FRACTION of the way to the smallest budget,
    from the slope the first probe gives (at least floor_factor x n0)."""
    per_n = max(1.0, (charge0 - idle) / n0)
    return max(floor_factor * n0, int(FIRST_FRACTION * (budget - idle) / per_n))


def min_growth(budget: int) -> int:
    """How much the tree must grow between the first two sizes for their slope to count:
    2 % of the smallest budget, at least 4 MiB (timing and sharing move less than that)."""
    return max(4 << 20, budget // 50)


def predicted_n(cal: Calibration, budget: int, concurrency: int = 1) -> int | None:
    """The largest n at full occupancy: `concurrency` requests whose peaks all meet, each
    costing what one request costs over the idle tree (its fixed part and its bytes per
    unit of n, from the single-request calibration). None if the tree never reaches the
    budget (no growth) or its fixed part is already past it.

    Not the band's always-ok edge that a search measures over a few tries: with the
    overlap one probe of C requests saw instead of C, bench/plan.py put two workers' n
    at 5.48M under 384M, above the 5.31M from which every try of the search failed."""
    fixed, per_n = cal.line()
    per_request = max(0.0, fixed - cal.idle_bytes)
    room = budget - cal.idle_bytes - concurrency * per_request
    if per_n <= 0 or room <= 0:
        return None
    return int(room / (concurrency * per_n))


def check_sizes(n: int) -> tuple[int, int]:
    """The check's two probes around a predicted n."""
    return max(1, int(n * BELOW)), max(int(n * ABOVE), int(n * BELOW) + 1)


@dataclass(frozen=True)
class Verdict:
    """What the check says: 'holds' (below ok, above failed: the answer is below),
    'lower' (below failed: search under it), 'higher' (above ok: search over it)."""

    how: str
    n: int | None  # the answer where the check decided it
    failing_n: int | None


def judge(below: int, above: int, below_ok: bool, above_ok: bool | None) -> Verdict:
    """'holds' when below succeeds and above fails; 'lower' when below fails; 'higher'
    when above succeeds too."""
    if not below_ok:
        return Verdict("lower", None, below)
    if above_ok:
        return Verdict("higher", None, None)
    return Verdict("holds", below, above)
