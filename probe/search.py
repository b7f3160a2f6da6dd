"""Critical-n search over an oracle: model-guided, with doubling + bisection as the baseline.

Pure: no I/O, no processes, no clocks. The oracle (one probe: n -> `Probe`) is the only
seam to the outside world; the caller decides what a probe is.

Vocabulary. The *bracket* (lo, hi) is read off the probes so far: for every n only its
latest outcome counts; lo is the largest n whose latest probe succeeded, hi the smallest
n above lo whose latest probe failed. A failure below lo is a fluke (a success is proof
that n works; under the monotone assumption every smaller n works too). The search
stops ("converged") when hi / lo - 1 <= precision, or hi - lo <= 1.

Cost model. A probe at n costs time roughly proportional to n: the service builds an
input of n elements, and a failing probe usually grows until it hits the cap, so it costs
about as much as a success at the boundary. Call one probe near the boundary 1 unit. Any
search needs at least 2 units: one success at critical_n and one failure just above it.
- bisect: doubling from n_start costs ~2 units (a geometric series ending at the first
  failure), then bisection of [lo, 2 lo] costs log2(ln 2 / ln(1 + precision)) probes of
  about 0.75 unit each: ~7 units at 1 %. Total ~9 units (+ confirmation).
- model: calibration at n_start, 2 n_start, 4 n_start (a few % of a unit), at most one
  refinement probe at a quarter of the prediction (0.25 unit) when the calibration would
  have to extrapolate more than 8x, then one probe just below the prediction (expected
  ok) and one just above (expected fail): ~2.3 units (+ confirmation) when the model is
  right to within precision / 2. Every success refits the line on the ok probes within
  4x of the largest one (the slope near the cap is what counts). A wrong guess costs ~1
  unit per probe while the search gallops away from it with steps that double (never
  past the bracket's geometric midpoint, never faster than doubling n); a prediction
  that the bracket contradicts by more than 25 %, lies beyond n_max, or that has no
  model_bytes / no limit_bytes / slope <= 0 behind it gives way to plain doubling and
  bisection, so the model strategy is then probe for probe the bisect strategy.
- confirmation: "both" re-probes critical_n and first_failing_n (+2 units), "fail" only
  first_failing_n (+1 unit; the realistic noise is a fluke failure, and a success is
  already proof), "none" adds nothing. The policy is the same for both strategies, so
  comparing them compares the searches, not the confirmation.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from probe.outcome import Outcome, Probe

STRATEGIES = ("model", "bisect")
CONFIRM_POLICIES = ("both", "fail", "none")
STOP_REASONS = ("converged", "max_probes", "n_max_ok", "all_failed")

Bracket = tuple[int | None, int | None]
Oracle = Callable[[int], Probe]
OnProbe = Callable[[Probe, Bracket], None]

_CALIBRATION_PROBES = 3  # ok probes with model_bytes at distinct n before the model is used
_REFINE_ABOVE = 8.0  # extrapolating further than this factor beyond lo: refine first
_REFINE_AT = 0.25  # ...with one probe at this fraction of the prediction
_CONTRADICTED = 1.25  # a prediction further than this factor outside the bracket is ignored
_LOCAL = 4.0  # predict from the ok probes within this factor of the largest one


@dataclass(frozen=True)
class SearchConfig:
    """How to search: strategy, precision, range and probe budget.

    `confirm` is True ("both"), False ("none") or one of CONFIRM_POLICIES.
    """

    strategy: str = "model"
    precision: float = 0.01
    n_min: int = 1
    n_max: int = 10**10
    n_start: int = 100_000
    max_probes: int = 40
    limit_bytes: int | None = None
    confirm: bool | str = True

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


def fit_line(points: Sequence[tuple[int, int]]) -> tuple[float, float]:
    """Least-squares line through (x, y) points: (intercept, slope)."""
    xs = [float(x) for x, _ in points]
    if len(set(xs)) < 2:
        raise ValueError("fit_line needs points at two or more distinct x")
    ys = [float(y) for _, y in points]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    sxx = sum((x - mx) ** 2 for x in xs)
    sxy = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True))
    slope = sxy / sxx
    return my - slope * mx, slope


def bracket(probes: Sequence[Probe]) -> Bracket:
    """(lo, hi) from the latest outcome at each n; see the module docstring."""
    latest = {p.n: p.ok for p in probes}
    lo = max((n for n, ok in latest.items() if ok), default=None)
    hi = min(
        (n for n, ok in latest.items() if not ok and (lo is None or n > lo)),
        default=None,
    )
    return lo, hi


def cost_units(result: SearchResult) -> int:
    """Sum of n over all probes: a proxy for wall time (a probe's cost grows with n)."""
    return sum(p.n for p in result.probes)


def find_critical_n(
    oracle: Oracle, config: SearchConfig, on_probe: OnProbe | None = None
) -> SearchResult:
    """Search for the largest n the oracle survives; on_probe(probe, bracket) after each."""
    probes: list[Probe] = []
    misses, down = 0, False  # consecutive wrong model guesses, and whether they were too high
    while True:
        lo, hi = bracket(probes)
        stop = _terminal(lo, hi, config)
        if stop is not None:
            n, expect = _confirmation(probes, lo, hi, config.confirm_policy), None
            if n is None:
                return _result(probes, config, stop)
        else:
            n, expect = _next_n(probes, lo, hi, config, misses, down)
        if len(probes) >= config.max_probes:
            return _result(probes, config, "max_probes")
        probe = oracle(n)
        probes.append(probe)
        misses, down = _track_misses(expect, probe.ok, misses, down)
        if on_probe is not None:
            on_probe(probe, bracket(probes))


def _terminal(lo: int | None, hi: int | None, cfg: SearchConfig) -> str | None:
    """The stop reason if the bracket needs no more search probes, else None."""
    if lo is None:
        return "all_failed" if hi is not None and hi <= cfg.n_min else None
    if hi is None:
        return "n_max_ok" if lo >= cfg.n_max else None
    return "converged" if hi - lo <= 1 or hi <= lo * (1 + cfg.precision) else None


def _confirmation(
    probes: Sequence[Probe], lo: int | None, hi: int | None, policy: str
) -> int | None:
    """The n to re-probe before reporting, or None once the policy is satisfied.

    An n is settled when its last two probes agree; the failing side goes first because
    a fluke failure is the realistic noise (and its re-probe may move the bracket).
    """
    if policy != "none" and hi is not None and not _settled(probes, hi):
        return hi
    if policy == "both" and lo is not None and not _settled(probes, lo):
        return lo
    return None


def _settled(probes: Sequence[Probe], n: int) -> bool:
    oks = [p.ok for p in probes if p.n == n]
    return len(oks) >= 2 and oks[-1] == oks[-2]


def _track_misses(expect: bool | None, ok: bool, misses: int, down: bool) -> tuple[int, bool]:
    """Count consecutive guesses on the wrong side; down=True: the guess was too high."""
    if expect is None:
        return misses, down
    if ok == expect:
        return 0, False
    return (misses + 1 if misses and down == expect else 1), expect


def _next_n(
    probes: Sequence[Probe],
    lo: int | None,
    hi: int | None,
    cfg: SearchConfig,
    misses: int,
    down: bool,
) -> tuple[int, bool | None]:
    """The next search probe and the outcome expected there (True: ok; None: no guess)."""
    if lo is None:
        return (_start(cfg) if hi is None else _descend(hi, cfg)), None
    if misses and (hi is not None or not down):
        return _gallop(lo, hi, cfg, misses, down)
    p = _prediction(probes, cfg)
    if p is not None and _usable(p, lo, hi, cfg):
        return _guided(p, lo, hi, cfg)
    if hi is None:
        return min(max(2 * lo, lo + 1), cfg.n_max), None
    return _mid(lo, hi), None


def _start(cfg: SearchConfig) -> int:
    return min(max(cfg.n_start, cfg.n_min), cfg.n_max)


def _descend(hi: int, cfg: SearchConfig) -> int:
    """Below the smallest failure when nothing succeeded: halve, then square the ratio."""
    ref = _start(cfg)
    n = hi // 2 if hi * 2 > ref else hi * hi // ref
    return max(cfg.n_min, min(n, hi - 1))


def _mid(lo: int, hi: int) -> int:
    """Geometric midpoint (halves log(hi / lo), the quantity precision bounds)."""
    return min(max(math.isqrt(lo * hi), lo + 1), hi - 1)


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
        return (n, True) if n > _mid(lo, hi) else (_mid(lo, hi), None)
    n = min(max(math.ceil(lo * factor), lo + 1), cfg.n_max)
    if hi is not None and n >= _mid(lo, hi):
        return _mid(lo, hi), None
    return n, False


def _model_points(probes: Sequence[Probe]) -> list[tuple[int, int]]:
    return [(p.n, p.model_bytes) for p in probes if p.ok and p.model_bytes is not None]


def _prediction(probes: Sequence[Probe], cfg: SearchConfig) -> float | None:
    """n at which the fitted model_bytes line reaches the cap, once calibrated."""
    if cfg.strategy != "model" or cfg.limit_bytes is None:
        return None
    points = _model_points(probes)
    if len({n for n, _ in points}) < _CALIBRATION_PROBES:
        return None
    baseline, slope = fit_line(_local(points))
    if not slope > 0:
        return None
    return (cfg.limit_bytes - baseline) / slope


def _local(points: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """The points within a factor _LOCAL of the largest n, if they still define a line.

    Near the cap only the local slope matters; calibration points far below would drag
    the line of a slightly curved memory profile away from the boundary.
    """
    top = max(n for n, _ in points)
    near = [(n, y) for n, y in points if n * _LOCAL >= top]
    return near if len({n for n, _ in near}) >= 2 else points


def _usable(p: float, lo: int, hi: int | None, cfg: SearchConfig) -> bool:
    """Whether to follow the prediction: within n_max and not contradicted by the bracket."""
    if not math.isfinite(p) or p > cfg.n_max or p * _CONTRADICTED < lo:
        return False
    return hi is None or p <= hi * _CONTRADICTED


def _guided(p: float, lo: int, hi: int | None, cfg: SearchConfig) -> tuple[int, bool]:
    """Aim a pair of probes one precision apart around the prediction p.

    Below p (expected ok) first: a success there also refits the model near the cap.
    If lo is within half a precision of that probe, close the bracket from above
    (expected fail) instead of creeping up; likewise from below when hi is that close.
    A far extrapolation is refined at p / 4 first.
    """
    ceiling = cfg.n_max if hi is None else hi - 1
    if p > _REFINE_ABOVE * lo:
        return min(max(math.floor(p * _REFINE_AT), lo + 1), ceiling), True
    e, half = cfg.precision, math.sqrt(1 + cfg.precision)
    below = math.floor(p / half)
    if below <= lo * half:
        return min(max(math.floor(lo * (1 + e)), lo + 1), ceiling), False
    if hi is not None and below * (1 + e) >= hi / half:
        return max(min(math.ceil(hi / (1 + e)), hi - 1), lo + 1), True
    return below, True


def _result(probes: Sequence[Probe], cfg: SearchConfig, stop: str) -> SearchResult:
    lo, hi = bracket(probes)
    baseline = slope = predicted = None
    points = _model_points(probes)
    if len({n for n, _ in points}) >= 2:
        baseline, slope = fit_line(points)
        if cfg.limit_bytes is not None and slope > 0:
            p = (cfg.limit_bytes - baseline) / slope
            predicted = math.floor(p) if math.isfinite(p) and p > 0 else None
    failure = next((pr.outcome for pr in reversed(probes) if pr.n == hi), None)
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
    )
