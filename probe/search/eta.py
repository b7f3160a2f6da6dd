"""How many probes a max-n run has left, and how long they take: the progress estimate.

Pure: from the bracket, the precision, the lanes and the probes' measured times. The
search closes a bracket (lo, hi) by a (lanes + 1)-section each round: ceil(log_{k+1}(
ln(hi/lo) / ln(1 + precision))) rounds; with no failure yet, about two more rounds (the
model aims at the boundary). The checks after it: the re-check's probes (the critical
n's tries less the search's own, the failing n at two timings), the warm phase's probe
at the answer (its warm-up counted as `warmup_units` probes at n). A round takes about
as long as the slowest recent probe, its server booted while the last ran.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from probe.outcome import Probe

RECENT = 3  # probes whose times stand for the next ones


def search_rounds_left(lo: int | None, hi: int | None, precision: float, lanes: int) -> int:
    """Rounds the search still needs to close its bracket (an estimate)."""
    if hi is None or lo is None:
        return 2
    if hi / lo - 1 <= precision or hi - lo <= 1:
        return 0
    steps = math.log(hi / lo) / math.log(1 + max(precision, 1e-9))
    return max(1, math.ceil(math.log(steps) / math.log(lanes + 1))) if steps > 1 else 1


def left(probes: Sequence[Probe], bracket: tuple[int | None, int | None], precision: float,
         lanes: int, recheck_tries: int,
         warmup_units: float | None) -> tuple[int, float]:  # fmt: skip
    """(probes left, seconds left) after these probes of the search; recheck_tries 0:
    no re-check."""
    lanes = max(1, lanes)
    rounds = search_rounds_left(*bracket, precision, lanes)
    recent = [p.elapsed_s for p in probes[-RECENT:]] or [0.0]
    per_round = max(recent)
    count, seconds = rounds * lanes, rounds * per_round
    if recheck_tries:
        rechecks = max(recheck_tries, 2) - 1 + 2
        count += rechecks
        seconds += math.ceil(rechecks / lanes) * per_round
    if warmup_units is not None:
        count += 1
        seconds += (1 + warmup_units) * per_round
    return count, seconds


def words(done: int, count_left: int, seconds_left: float) -> str:
    """'probe 6 of about 10, about 3 min left'."""
    total = done + count_left
    if seconds_left >= 90:
        when = f"about {round(seconds_left / 60)} min left"
    else:
        when = f"about {max(1, round(seconds_left))} s left"
    return f"probe {done} of about {total}, {when}"
