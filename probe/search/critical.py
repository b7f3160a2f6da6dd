"""Critical-n search over an oracle: model-guided, with doubling + bisection as the baseline.

Pure: no I/O, no processes, no clocks. The oracle (one probe: n -> `Probe`) is the only
seam to the outside world; the caller decides what a probe is.

Vocabulary. The *bracket* (lo, hi) is read off the probes so far (probe.search.bracket):
a failure below lo is a fluke, since a success is proof that n works and, under the
monotone assumption, every smaller n too. Where outcomes are facts (`facts`: fresh
servers, fixed layout, no threads racing) nothing is a fluke: hi is the smallest n that
failed, lo the largest success below it, and a success above a failure is reported as a
non-monotone pair. The search stops ("converged") when the bracket is closed:
hi / lo - 1 <= precision, or hi - lo <= 1.

Cost model. A probe at n costs time roughly proportional to n: the service builds an
input of n elements, and a failing probe usually grows until it hits the cap, so it costs
about as much as a success at the boundary. Call one probe near the boundary 1 unit. Any
search needs at least 2 units: one success at critical_n and one failure just above it.
- bisect: doubling from n_start costs ~2 units (a geometric series ending at the first
  failure), then bisection of [lo, 2 lo] costs log2(ln 2 / ln(1 + precision)) probes of
  about 0.75 unit each: ~7 units at 1 %. Total ~9 units (+ confirmation).
- model: calibration at n_start, 2 n_start, 4 n_start (a few % of a unit), at most one
  refinement probe at a quarter of the prediction (0.25 unit) when the calibration would
  have to extrapolate more than 8x, then one probe half a precision above the
  prediction, expected to fail: a failure costs about the same wherever it is above the
  boundary, and its *reach* (its peak RSS read off the RSS line of the ok probes: a
  list that runs out of memory has touched what a success of that length touches)
  locates the boundary to a few tenths of a percent, far better than the model does
  (a CPython list's address space is a sawtooth around the line: each resize adds 1/8
  of the slots at once, so the line misses the boundary by up to ~2 %). Then the lowest
  n whose success would close the bracket, unless the estimate says it fails; then just
  below the estimate. 2 units when the prediction is within the precision, else 3 (+
  confirmation). When the line is biased (a server whose idle address space drifts
  over its first requests) the reach is what saves the search, against probing below
  the prediction first. Measured costs: README, "How fast the search is".
  A failure that fails at once (numpy: one allocation) reaches nothing; its reach
  contradicts the bracket and the model line (exact there) is used instead. Every
  success refits the line on the ok probes within 4x of the largest one. A wrong guess
  doubles the margin of the next one (never past the bracket's geometric midpoint after
  two in a row); after four wrong guesses in all, or when a prediction is contradicted
  by the bracket by more than 25 %, lies beyond n_max, or has no model_bytes / no
  limit_bytes / slope <= 0 behind it, the search gallops and bisects without guesses,
  so without any model the model strategy is probe for probe the bisect strategy.
- confirmation: "auto" (probe max-n's default on fresh, fixed-layout servers, where an
  outcome is a fact) re-probes only a failure that was not a memory outcome (a timeout,
  a dropped connection, a start failure): +0 units in the usual case. "both" re-probes
  critical_n and first_failing_n (+2 units), "fail" only
  first_failing_n (+1 unit; the realistic noise is a fluke failure, and a success is
  already proof), "none" adds nothing. The policy is the same for both strategies, so
  comparing them compares the searches, not the confirmation. On pure Python a failure
  costs as much as a success, so "both" can never be faster than 2 lower bounds and
  "fail" than 1.5. The CLI defaults to "auto" on fresh fixed-layout servers (where an
  outcome is a fact) and to "both" elsewhere, and offers the others (--confirm).
- lanes (search_rounds): k server processes, each under its own cap, answer a round of
  up to k probes at once. The model's rounds: after calibration, a refinement at a
  quarter and half the prediction (half a boundary probe), then a ladder of points one
  precision apart around the refined estimate. On fresh servers the refined line
  places the list's boundary to a few tenths of a percent, so that first boundary-sized
  round usually converges, where a ladder placed by the small calibration alone
  overshoots (bench/search.py measures both); a miss leaves a
  failure whose reach, or successes that refit the line, place the next ladder. Then
  the confirmation, if the policy asks for one, in one round, each re-probe on another
  process. An n counts as
  ok only if its latest probe on every lane succeeded (the
  list's boundary differs by ~0.5 % between processes, so an n can fail on one and
  not the other); a later success on the same lane still forgives a fluke. Two lanes
  share cores and memory bandwidth, so each is slower than one alone (bench/search.py
  measures by how much).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from probe.defaults import MAXN_PRECISION
from probe.outcome import Kind, Outcome, Probe
from probe.search import estimate
from probe.search.bracket import (
    BatchOracle,
    Bracket,
    bracket,
    closed,
    geometric_mid,
    non_monotone,
    runs_at,
)  # fmt: skip

STRATEGIES = ("model", "bisect")
CONFIRM_POLICIES = ("auto", "both", "fail", "none")
# Outcomes that say "out of memory": on a fresh, fixed-layout server they are facts.
MEMORY_KINDS = (Kind.MEMORY_ERROR, Kind.KILLED)
# Outcomes that repeat on a fresh fixed-layout server, so auto confirmation takes them as
# they come: memory running out, and an app refusing a size by its own limit.
FACT_KINDS = (*MEMORY_KINDS, Kind.REJECTED)
# "rejected": the first failing n was refused by the app's own limit (HTTP 413): the
# critical n found is that limit's, and memory did not run out below it
STOP_REASONS = ("converged", "max_probes", "n_max_ok", "all_failed", "rejected")

Oracle = Callable[[int], Probe]
Plan = list[tuple[int, bool | None]]  # (n, expected outcome: True ok, False fail, None)
OnProbe = Callable[[Probe, Bracket], None]

_REFINE_ABOVE = 8.0  # extrapolating further than this factor beyond lo: refine first
_REFINE_AT = 0.25  # ...with one probe at this fraction of the prediction
_MARGIN = 0.5  # aim this many precisions beyond the estimate (doubling with each miss)
_TRUSTED_MISSES = 4  # after this many wrong guesses in all, search without estimates


@dataclass(frozen=True)
class SearchConfig:
    """How to search: strategy, precision, range and probe budget.

    `confirm` is True ("both"), False ("none") or one of CONFIRM_POLICIES.
    """

    strategy: str = "model"
    precision: float = MAXN_PRECISION
    n_min: int = 1
    n_max: int = 10**10
    n_start: int = 100_000
    max_probes: int = 40
    limit_bytes: int | None = None
    confirm: bool | str = True
    lanes: int = 1  # probes per round (each on its own capped server process)
    # outcomes repeat (fresh servers, fixed layout, no threads racing): a failure below a
    # success is then no fluke but a fact, and the answer lies below every failure
    facts: bool = False

    def __post_init__(self) -> None:
        if self.strategy not in STRATEGIES:
            raise ValueError(f"strategy must be one of {STRATEGIES}, not {self.strategy!r}")
        if not self.precision >= 0:
            raise ValueError(f"precision must be >= 0, not {self.precision}")
        if not 0 <= self.n_min <= self.n_max:
            raise ValueError(f"need 0 <= n_min <= n_max, got {self.n_min}, {self.n_max}")
        if self.max_probes < 1:
            raise ValueError(f"max_probes must be >= 1, not {self.max_probes}")
        if self.limit_bytes is not None and self.limit_bytes <= 0:
            raise ValueError(f"limit_bytes must be positive or None, not {self.limit_bytes}")
        if self.lanes < 1:
            raise ValueError(f"lanes must be >= 1, not {self.lanes}")
        if not isinstance(self.confirm, bool) and self.confirm not in CONFIRM_POLICIES:
            raise ValueError(f"confirm must be a bool or one of {CONFIRM_POLICIES}")

    @property
    def confirm_policy(self) -> str:
        """'both', 'fail' or 'none' (True means 'both', False 'none')."""
        if isinstance(self.confirm, bool):
            return "both" if self.confirm else "none"
        return self.confirm


@dataclass(frozen=True)
class SearchResult:
    """What the search found, and every probe it took to find it."""

    critical_n: int | None  # largest n seen to succeed (None if none did)
    first_failing_n: int | None  # smallest n seen to fail above critical_n
    failure: Outcome | None  # outcome at first_failing_n
    probes: tuple[Probe, ...]  # every probe in order
    baseline_bytes: float | None  # intercept of model_bytes vs n over all ok probes
    bytes_per_element: float | None  # slope of the same fit
    predicted_critical_n: int | None  # (limit_bytes - baseline_bytes) / bytes_per_element
    strategy: str
    precision_reached: float | None  # first_failing_n / critical_n - 1
    stop_reason: str  # one of STOP_REASONS
    non_monotone: tuple[tuple[int, int], ...] = ()  # (failed n, larger ok n), facts only


def cost_units(result: SearchResult) -> int:
    """Sum of n over all probes: a proxy for wall time (a probe's cost grows with n)."""
    return sum(p.n for p in result.probes)


def find_critical_n(
    oracle: Oracle, config: SearchConfig, on_probe: OnProbe | None = None
) -> SearchResult:
    """Search for the largest n the oracle survives, one probe at a time (lanes ignored)."""
    one = replace(config, lanes=1)
    return search_rounds(lambda ns: [oracle(n) for n in ns], one, on_probe)


def search_rounds(
    batch: BatchOracle, config: SearchConfig, on_probe: OnProbe | None = None
) -> SearchResult:
    """Search in rounds of up to config.lanes probes answered together by `batch`.

    With one lane this is the sequential search. With k lanes a round probes k points at
    once: a ladder around the estimate (adjacent points one precision apart, so the round
    converges if the boundary falls between two of them), a k-section of a bracket
    narrow enough to converge in one round, or a doubling ladder. Both re-probes of the
    confirmation go in one round, and the oracle runs each on a lane that has not probed
    that n, so the answer is confirmed on a second process. on_probe(probe, bracket)
    runs after each probe, in the order of the round.
    """
    probes: list[Probe] = []
    misses, down = 0, False  # consecutive wrong model guesses, and whether they were too high
    wrong = 0  # wrong guesses in all: past _TRUSTED_MISSES the estimates are ignored
    while True:
        lo, hi = bracket(probes, config.facts)
        stop = _terminal(lo, hi, config)
        if stop is not None:
            todo = _confirmations(probes, lo, hi, config.confirm_policy)
            if not todo:
                return _result(probes, config, stop)
            plan: Plan = [(n, None) for n in todo[: config.lanes]]
        else:
            trusted = wrong < _TRUSTED_MISSES
            if config.lanes == 1:
                plan = [_next_n(probes, lo, hi, config, misses, down, trusted)]
            else:
                plan = _next_round(probes, lo, hi, config, misses, down, trusted)
        room = config.max_probes - len(probes)
        if room <= 0:
            return _result(probes, config, "max_probes")
        plan = plan[:room]
        got = list(batch([n for n, _ in plan]))
        if len(got) != len(plan):
            raise ValueError(f"batch oracle answered {len(got)} probes for {len(plan)}")
        for probe in got:
            probes.append(probe)
            if on_probe is not None:
                on_probe(probe, bracket(probes, config.facts))
        verdicts = [(e, p.ok) for (_, e), p in zip(plan, got, strict=True) if e is not None]
        misses, down = _track_round(verdicts, misses, down)
        wrong += any(e != ok for e, ok in verdicts)


def _terminal(lo: int | None, hi: int | None, cfg: SearchConfig) -> str | None:
    """The stop reason if the bracket needs no more search probes, else None."""
    if lo is None:
        return "all_failed" if hi is not None and hi <= cfg.n_min else None
    if hi is None:
        return "n_max_ok" if lo >= cfg.n_max else None
    return "converged" if closed(lo, hi, cfg.precision) else None


def _confirmations(
    probes: Sequence[Probe], lo: int | None, hi: int | None, policy: str
) -> list[int]:
    """The n to re-probe before reporting (empty once the policy is satisfied).

    The failing side goes first because a fluke failure is the realistic noise (and
    its re-probe may move the bracket). "auto": a success is a fact and so is a memory
    outcome (on a fresh, fixed-layout server nothing else moves the boundary); only a
    failure of another kind (timeout, dropped connection, start failure) is re-probed.
    """
    todo = []
    if policy == "auto":
        last = next((p for p in reversed(probes) if p.n == hi), None)
        if last is not None and last.outcome.kind not in FACT_KINDS and not _settled(probes, hi):
            todo.append(hi)
        return todo
    if policy != "none" and hi is not None and not _settled(probes, hi):
        todo.append(hi)
    if policy == "both" and lo is not None and not _settled(probes, lo):
        todo.append(lo)
    return todo


def _settled(probes: Sequence[Probe], n: int) -> bool:
    """Whether n's outcome is confirmed: the same outcome twice, counting on each lane
    that shows it the latest run of it (at most 2 per lane).

    One lane: the last two probes agree. Several: n succeeded last on two lanes, or
    twice in a row on one; n failed last on two lanes, or twice in a row on one. The
    LaneOracle puts a re-probe on the lane where n succeeded least, so a success is
    confirmed on a second process and a failure on the other process first.
    """
    runs = runs_at(probes, n)
    if not runs:
        return False
    ok = all(r[-1] for r in runs.values())
    return sum(min(_tail(r), 2) for r in runs.values() if r[-1] == ok) >= 2


def _tail(run: list[bool]) -> int:
    """How many of the last outcomes equal the last one."""
    k = 1
    while k < len(run) and run[-k - 1] == run[-1]:
        k += 1
    return k


def _track_round(
    verdicts: Sequence[tuple[bool, bool]], misses: int, down: bool
) -> tuple[int, bool]:
    """Count consecutive rounds that guessed wrong; down=True: the guess was too high.

    verdicts: (expected ok, was ok) for every probe of the round that had a guess. A
    round is wrong if any guess was: an expected success that failed means the guesses
    were too high, an expected failure that succeeded too low.
    """
    if not verdicts:
        return misses, down
    bad = [e for e, ok in verdicts if e != ok]
    if not bad:
        return 0, False
    expect = bad[0]
    return (misses + 1 if misses and down == expect else 1), expect


def _next_n(
    probes: Sequence[Probe],
    lo: int | None,
    hi: int | None,
    cfg: SearchConfig,
    misses: int,
    down: bool,
    trusted: bool = True,
) -> tuple[int, bool | None]:
    """The next search probe and the outcome expected there (True: ok; None: no guess)."""
    if lo is None:
        return (_start(cfg) if hi is None else _descend(hi, cfg)), None
    q = _estimate(probes, lo, hi, cfg) if trusted else None
    if q is not None:
        return _aim(q, lo, hi, cfg, misses, down)
    if misses and (hi is not None or not down):
        return _gallop(lo, hi, cfg, misses, down)
    if hi is None:
        return min(max(2 * lo, lo + 1), cfg.n_max), None
    return geometric_mid(lo, hi), None


def _next_round(
    probes: Sequence[Probe],
    lo: int | None,
    hi: int | None,
    cfg: SearchConfig,
    misses: int,
    down: bool,
    trusted: bool,
) -> Plan:
    """The next round of up to cfg.lanes probes (distinct n, each inside the bracket)."""
    k = cfg.lanes
    if lo is None:
        if hi is not None:
            return [(_descend(hi, cfg), None)]
        start = _start(cfg)
        return _distinct([(min(start * 2**j, cfg.n_max), None) for j in range(k)], k)
    q = _estimate(probes, lo, hi, cfg) if trusted else None
    if hi is not None and hi <= lo * (1 + cfg.precision) ** (k + 1):
        return _section(lo, hi, k)  # narrow enough to converge in this round
    if q is not None:
        if hi is None and q > _REFINE_ABOVE * lo:
            # Far extrapolation: refine the line near the boundary first (at a quarter
            # and half the prediction: half a boundary probe's time), so that the ladder
            # that follows is placed by a line fitted close to where it is used.
            fractions = (_REFINE_AT, 2 * _REFINE_AT)
            refine = [min(max(math.floor(q * f), 2 * lo), cfg.n_max) for f in fractions]
            return _distinct([(n, True) for n in refine], k)
        plan = _ladder(q, lo, hi, cfg, misses)
        if plan:
            return plan
    if hi is None:
        return _distinct([(min(lo * 2 ** (j + 1), cfg.n_max), None) for j in range(k)], k)
    return _section(lo, hi, k)


def _ladder(q: float, lo: int, hi: int | None, cfg: SearchConfig, misses: int) -> Plan:
    """k points around the estimate q, adjacent ones one precision apart (the spacing
    doubling in log(n) with each wrong round), kept strictly inside the bracket.

    Points below q are expected to succeed, the others to fail. Points that fall outside
    the bracket are replaced by the nearest point that would close it.
    """
    k, e = cfg.lanes, cfg.precision
    top = cfg.n_max if hi is None else hi - 1
    if misses == 0:
        first = math.ceil(q / (1 + e) ** ((k - 1) / 2))
        pts = [first]
        for _ in range(k - 1):
            pts.append(max(math.floor(pts[-1] * (1 + e)), pts[-1] + 1))
    else:
        g = math.log1p(e) * 2.0 ** min(misses, 30)
        pts = [round(q * math.exp(g * (j - (k - 1) / 2))) for j in range(k)]
    closing = max(math.floor(lo * (1 + e)), lo + 1)
    inside = []
    for n in pts:
        if n <= lo:
            n = closing
        elif n > top:
            n = top if hi is None else max(math.ceil(hi / (1 + e)), lo + 1)
        if lo < n <= top:
            inside.append(n)
    return _distinct([(n, n < q) for n in sorted(inside)], k)


def _section(lo: int, hi: int, k: int) -> Plan:
    """k points splitting log(hi / lo) into k + 1 equal parts (bisection for k = 1)."""
    r = math.log(hi / lo)
    pts = [round(lo * math.exp(r * j / (k + 1))) for j in range(1, k + 1)]
    return _distinct([(min(max(n, lo + 1), hi - 1), None) for n in pts if hi - lo > 1], k)


def _distinct(plan: Plan, k: int) -> Plan:
    """The plan without repeated n, at most k probes, in the given order."""
    seen: set[int] = set()
    out: Plan = []
    for n, expect in plan:
        if n not in seen:
            seen.add(n)
            out.append((n, expect))
    return out[:k]


def _start(cfg: SearchConfig) -> int:
    return min(max(cfg.n_start, cfg.n_min), cfg.n_max)


def _descend(hi: int, cfg: SearchConfig) -> int:
    """Below the smallest failure when nothing succeeded: halve, then square the ratio."""
    ref = _start(cfg)
    n = hi // 2 if hi * 2 > ref else hi * hi // ref
    return max(cfg.n_min, min(n, hi - 1))


def _gallop(
    lo: int, hi: int | None, cfg: SearchConfig, misses: int, down: bool
) -> tuple[int, bool | None]:
    """Step away from a wrong guess, the step doubling in log(n) with every miss.

    The step starts at one precision (at least one element) and never exceeds a factor 2
    (the baseline's pace); a step past the bracket's midpoint is replaced by bisection.
    """
    first = max(math.log1p(cfg.precision), math.log1p(1 / max(lo, 1)))
    w = first * 2.0 ** min(misses - 1, 60)
    factor = math.exp(min(w, math.log(2.0)))
    if down:
        assert hi is not None
        n = min(math.floor(hi / factor), hi - 1)
        return (n, True) if n > geometric_mid(lo, hi) else (geometric_mid(lo, hi), None)
    n = min(max(math.ceil(lo * factor), lo + 1), cfg.n_max)
    if hi is not None and n >= geometric_mid(lo, hi):
        return geometric_mid(lo, hi), None
    return n, False


def _estimate(probes: Sequence[Probe], lo: int, hi: int | None, cfg: SearchConfig) -> float | None:
    """Where the boundary probably is: a failure's reach if it has one, else the model."""
    if cfg.strategy != "model":
        return None
    r = estimate.reach(probes, lo, hi, cfg.precision)
    if r is not None:
        return r
    p = estimate.prediction(probes, cfg.limit_bytes)
    return p if p is not None and estimate.usable(p, lo, hi, cfg.n_max) else None


def _aim(
    q: float, lo: int, hi: int | None, cfg: SearchConfig, misses: int, down: bool
) -> tuple[int, bool | None]:
    """The next probe around the estimate q of the boundary.

    No failure yet: refine a far extrapolation at q / 4 (expected ok), else try to fail
    just above q (a failure costs no more far above the boundary than just above it, and
    its reach then locates the boundary). With a failure: if q is within a precision
    above lo, a failure one precision above lo (it would converge); else the lowest n
    whose success would close the bracket, unless q says that fails; then just below q.
    The margin around q starts at half a precision and doubles with each consecutive
    miss.
    """
    e = cfg.precision
    up = 0 if down else misses  # consecutive failures expected but not seen
    m_down = _margin(e, misses if down else 0)  # below q, for an expected success
    m_up = _margin(e, up)  # above q, for an expected failure
    step = min(e * 2.0 ** max(0, min(up, 60) - 1), 1.0)  # above lo: one precision, galloping
    closing = max(math.floor(lo * (1 + step)), lo + 1)  # converges if it fails (up == 0)
    if hi is None:
        if q > _REFINE_ABOVE * lo:
            return min(max(math.floor(q * _REFINE_AT), 2 * lo), cfg.n_max), True
        n = closing if q < closing else math.ceil(q * (1 + m_up))
        return min(max(n, lo + 1), cfg.n_max), False
    if q >= closing:  # else q says a failure at `closing` converges: probe that
        close = max(math.ceil(hi / (1 + e)), lo + 1)  # a success here converges
        missed_high = misses > 0 and down
        a = close if q >= close and not missed_high else math.floor(min(q, close) / (1 + m_down))
        if a > lo * (1 + e / 4):  # a success barely above lo would not be worth a probe
            if misses >= 2 and a < geometric_mid(lo, hi):
                return geometric_mid(lo, hi), None
            return min(a, hi - 1), True
    if closing >= hi or (misses >= 2 and closing > geometric_mid(lo, hi)):
        return geometric_mid(lo, hi), None
    return closing, False


def _margin(precision: float, misses: int) -> float:
    """Half a precision, doubling with each miss (one precision after one), at most 100 %."""
    return min(precision * _MARGIN * 2.0 ** min(misses, 60), 1.0)


def _result(probes: Sequence[Probe], cfg: SearchConfig, stop: str) -> SearchResult:
    lo, hi = bracket(probes, cfg.facts)
    baseline = slope = predicted = None
    points = estimate.model_points(probes)
    if len({n for n, _ in points}) >= 2:
        baseline, slope = estimate.fit_line(points)
        if cfg.limit_bytes is not None and slope > 0:
            p = (cfg.limit_bytes - baseline) / slope
            predicted = math.floor(p) if math.isfinite(p) and p > 0 else None
    failure = next((pr.outcome for pr in reversed(probes) if pr.n == hi), None)
    if failure is not None and failure.kind is Kind.REJECTED and stop == "converged":
        stop = "rejected"
    return SearchResult(
        critical_n=lo,
        first_failing_n=hi,
        failure=failure,
        probes=tuple(probes),
        baseline_bytes=baseline,
        bytes_per_element=slope,
        predicted_critical_n=predicted,
        strategy=cfg.strategy,
        precision_reached=hi / lo - 1 if lo and hi else None,
        stop_reason=stop,
        non_monotone=tuple(non_monotone(probes)) if cfg.facts else (),
    )
