"""`probe plan`: the configurations of one command under one or more budgets over the
process tree, each cell's largest n at full occupancy, its throughput, and the
configuration to run, confirmed by a sustained run of that exact command.

Per cell (probe.plan.grid):
1. the idle tree: a fresh server, its charge as a container counts it;
2. calibration: C requests at once (its concurrency) at two sizes, under the largest
   budget, the tree's charge at their peak (probe.plan.predict);
3. per budget: the line's n, checked just below and (one request) just above on fresh
   servers; where the check disagrees, a max-n search there (the same search as `probe
   max-n --limit-kind tree --concurrency C`); a cell of C > 1 whose check held, the n at
   which sustained traffic at full occupancy fails at most at the risk, above the n at
   which all C peaks at once fit (probe.plan.occupancy);
4. throughput: a closed-loop load at its concurrency, at N (or LOAD_FRACTION of its
   largest n under the first budget), req/s and latency p50/p99.
Then, with N: the candidates that hold N with the headroom, best throughput first, each
confirmed by a sustained run (probe.plan.confirm) until one passes.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import shlex
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path

from probe import stats
from probe.defaults import (
    PLAN_CONFIRM_REQUESTS,
    PLAN_HEADROOM,
    PLAN_N_START,
    REQUEST_TIMEOUT_S,
    RESULTS_DIR,
    STUDY_PRECISION,
)
from probe.documents import store
from probe.documents.plan import PlanDoc
from probe.errors import UsageProblem
from probe.measure.sustained import closed_loop
from probe.measure.tree import tree_snapshot
from probe.plan import choose, confirm, grid, occupancy, predict
from probe.search.rate import RISK
from probe.servers import settings
from probe.servers.process import Server, ServerStartError
from probe.servers.spec import ServerError, ServerSpec, from_command
from probe.studies import maxn, question
from probe.workload.model import Workload

Log = Callable[[str], None]

LOAD_FRACTION = 0.5  # without N, throughput is measured at this fraction of the largest n
LOAD_PER_CLIENT = 10  # requests per client of the throughput load


class PlanError(UsageProblem):
    """The plan cannot run as asked; the message says what to change."""


@dataclass(frozen=True)
class PlanConfig:
    workload: Workload
    template: str | None  # the command with placeholders; None: probe's gunicorn
    axes: tuple[tuple[str, tuple[str, ...]], ...]
    budgets: tuple[int, ...]
    base: ServerSpec  # the fields every cell shares (chdir, app, layout, ...)
    n: int | None = None
    headroom: float = PLAN_HEADROOM  # N x (1 + this) must hold; the budget less this
    precision: float = STUDY_PRECISION
    request_timeout_s: float = REQUEST_TIMEOUT_S
    n_start: int = PLAN_N_START
    confirm_requests: int = PLAN_CONFIRM_REQUESTS
    load_requests: int | None = None  # None: LOAD_PER_CLIENT x concurrency
    shard: tuple[int, int] | None = None  # (I, N): every N-th cell from I
    rules: bool = True  # also measure the cells the rules of thumb would run
    mix: str = "fixed"  # the throughput load's sizes: "fixed" (all at its n) or MIXES
    risk: float = RISK  # a cell of C > 1: the share of sustained runs that may fail at its n
    # ... and the runs the fit may place (0: answer where every peak at once fits)
    sustained_runs: int = occupancy.RATE.max_probes
    out: Path = Path(RESULTS_DIR) / "plan.json"


def spec_of(cfg: PlanConfig, values: dict[str, str], cmd: str | None, budget: int) -> ServerSpec:
    """The server of one cell under one budget: the filled command, or probe's gunicorn
    with the cell's workers, threads and worker class."""
    if cmd is not None:
        return from_command(cmd, limit_bytes=budget, limit_kind=cfg.base.limit_kind,
                            chdir=cfg.base.chdir,
                            layout=cfg.base.layout, ready_timeout_s=cfg.base.ready_timeout_s,
                            oom_group=cfg.base.oom_group)  # fmt: skip
    fields = {k: settings.typed(k, v) for k, v in values.items() if k in BUILT_AXES}
    return replace(cfg.base, limit_bytes=budget, **fields)


BUILT_AXES = settings.GRID_AXES  # the grid of probe's own gunicorn


def all_cells(cfg: PlanConfig) -> list[grid.Cell]:
    """The grid's cells, then (with `rules`) the cells the rules of thumb would run that
    the grid lacks, measured like the others."""
    if cfg.template is None:
        bad = [a for a, _ in cfg.axes if a not in (*BUILT_AXES, grid.CONCURRENCY)]
        if bad:
            raise grid.GridError(f"--grid {bad[0]}: probe's own server takes "
                                 f"{', '.join(BUILT_AXES)}; give --cmd for other "
                                 "placeholders")  # fmt: skip
    names = [a for a, _ in cfg.axes]
    combos = [(dict(zip(names, c, strict=True)), None)
              for c in itertools.product(*(v for _, v in cfg.axes))]  # fmt: skip
    if cfg.template is not None:
        grid.check(cfg.template, list(cfg.axes))
    if cfg.rules:
        picks = {"gunicorn (2 x cores) + 1": choose.gunicorn_rule(),
                 "Heroku WEB_CONCURRENCY": choose.heroku_rule(cfg.budgets[0])}  # fmt: skip
        combos += grid.with_rules(list(cfg.axes), picks)
    return [_cell(cfg, values, rule) for values, rule in combos]


def _cell(cfg: PlanConfig, values: dict[str, str], rule: str | None) -> grid.Cell:
    given = values.get(grid.CONCURRENCY)
    if cfg.template is not None:
        cmd = grid.fill(cfg.template, values)
        at_once = int(given) if given else grid.serves_at_once(from_command(cmd))
    else:
        spec = spec_of(cfg, values, None, cfg.budgets[0])
        # the command probe starts for this cell, as a user would type it ({port} kept)
        argv = spec.argv("{port}")  # type: ignore[arg-type]
        cmd = " ".join(w if "{port}" in w else shlex.quote(w) for w in argv)
        at_once = int(given) if given else grid.serves_at_once(spec)
    return grid.Cell(tuple(values.items()), cmd, at_once, rule)


def run(cfg: PlanConfig, log: Log = lambda s: None) -> PlanDoc:
    cells = all_cells(cfg)
    if cfg.shard:
        i, count = cfg.shard
        cells = cells[i::count]
    doc = PlanDoc.new(
        template=cfg.template, axes=[[a, list(v)] for a, v in cfg.axes],
        workload=cfg.workload.to_dict(), budgets_bytes=list(cfg.budgets), n=cfg.n,
        limit_kind=cfg.base.limit_kind, headroom=cfg.headroom, cores=os.cpu_count(),
        shard=f"{cfg.shard[0]}/{cfg.shard[1]}" if cfg.shard else None, cells=[],
        confirmations=[], problems=[], status="running",
    )  # fmt: skip
    t0 = time.monotonic()
    with store.recording(cfg.out, doc, t0):
        for k, cell in enumerate(cells, 1):
            why = f", as {cell.rule} would run it" if cell.rule else ""
            log(f"cell {k}/{len(cells)}: {cell.name} ({cell.concurrency} at once{why})")
            row = measure_cell(cfg, cell, log)
            row["index"] = k - 1 if not cfg.shard else cfg.shard[0] + (k - 1) * cfg.shard[1]
            doc.cells.append(row)
            store.write_atomic(cfg.out, doc)
            left = (time.monotonic() - t0) / k * (len(cells) - k)
            log(f"cell {k}/{len(cells)} done; about {left:.0f} s of cells left")
        if not cfg.shard:
            recommend(cfg, doc, log)
        doc.status = "complete"
        doc.elapsed_s = round(time.monotonic() - t0, 3)
    store.write_atomic(cfg.out, doc)
    return doc


def measure_cell(cfg: PlanConfig, cell: grid.Cell, log: Log) -> dict:
    t0 = time.monotonic()
    values = dict(cell.values)
    cmd = cell.cmd if cfg.template is not None else None
    top = max(cfg.budgets)
    spec = spec_of(cfg, values, cmd, top)
    row = {"name": cell.name, "values": values, "cmd": cell.cmd, "concurrency": cell.concurrency,
           "server": spec.server, "budgets": {}, "throughput": None, "error": None,
           "rule": cell.rule,
           "knob": grid.concurrency_knob(spec) if grid.is_async(spec) else None}  # fmt: skip
    try:
        row["idle_bytes"] = idle_charge(spec, cfg.workload)
        cal = calibrate(cfg, spec, row["idle_bytes"], log)
        fixed, per_n = cal.line()
        row["calibration"] = {"points": [list(p) for p in cal.points], "fixed_bytes": fixed,
                              "per_n_bytes": per_n}  # fmt: skip
        for budget in cfg.budgets:
            row["budgets"][str(budget)] = {
                "full_overlap_n": None, "sustained": None,
                **boundary(cfg, values, cmd, budget, cell.concurrency, cal, log),
            }  # fmt: skip
        row["throughput"] = throughput(cfg, values, cmd, cell.concurrency, row, log)
    except (ServerError, ServerStartError, CellError) as exc:
        row["error"] = str(exc).splitlines()[0]
        log(f"cell {cell.name}: {row['error']}")
    row["wall_s"] = round(time.monotonic() - t0, 3)
    return row


class CellError(RuntimeError):
    """One cell could not be measured; the plan goes on with the next."""


def idle_charge(spec: ServerSpec, workload: Workload) -> int:
    """The charge of a fresh, idle server: the tree's (probe.measure.tree), or its
    cgroup's memory.current under --budget-kind cgroup."""
    server = Server(spec, workload.fixed_env())
    try:
        server.start()
        if server.cgroup is not None:
            return server.cgroup.current() or 0
        return tree_snapshot(server.pids())["charge_bytes"]
    finally:
        server.close(grace_s=0)


@contextlib.contextmanager
def _prober(cfg: PlanConfig, spec: ServerSpec, concurrency: int) -> Iterator[Callable]:
    """n -> Probe: `concurrency` requests at once on a fresh server of `spec`, the next
    server starting while a probe runs."""
    q = question.ask(cfg.workload, spec, concurrency, precision=cfg.precision,
                     request_timeout_s=cfg.request_timeout_s, check=False)  # fmt: skip
    with maxn.prober(q) as probe:
        yield probe


def calibrate(cfg: PlanConfig, spec: ServerSpec, idle: int, log: Log) -> predict.Calibration:
    """The tree's charge at the peak of one request at three sizes (under the largest
    budget, probe.plan.predict); a size that fails is made smaller."""
    with _prober(cfg, spec, 1) as probe:
        points = _single_points(cfg, probe, idle)
    what = "cgroup" if spec.limit_kind == "cgroup" else "tree"  # memory.peak, or the tree's
    log(f"  calibration: {', '.join(f'n={n:,} {what} {c >> 20} MiB' for n, c in points)}")
    return predict.Calibration(idle, tuple(points))


def _single_points(cfg: PlanConfig, probe, idle: int) -> list[tuple[int, int]]:
    n0 = cfg.n_start
    points = []
    for _ in range(6):
        p = probe(n0)
        if p.ok and p.model_bytes:  # the tree's charge at its peak (limit kind tree)
            points.append((n0, p.model_bytes))
            break
        n0 //= 4
        if n0 < 1:
            break
    if not points:
        raise CellError(f"no calibration size succeeded under {max(cfg.budgets):,} B, down "
                        f"to n={max(1, n0):,}: the budget is below this cell's idle "
                        "tree")  # fmt: skip
    n1 = predict.second_size(points[0][0], points[0][1], idle, min(cfg.budgets))
    grown = predict.min_growth(min(cfg.budgets))
    for _ in range(8):
        p = probe(n1)
        if not (p.ok and p.model_bytes):
            n1 = max(points[0][0] + 1, (n1 + points[0][0]) // 2)
        elif p.model_bytes - points[0][1] < grown:  # too small to see the slope: go further
            n1 *= 4
        else:
            points.append((n1, p.model_bytes))
            break
    if len(points) < 2:
        raise CellError("the second calibration size kept failing; pass a smaller --n-start")
    near = predict.predicted_n(predict.Calibration(idle, tuple(points)), min(cfg.budgets))
    n2 = int(predict.NEAR_FRACTION * near) if near else 0
    for _ in range(3):
        if n2 <= points[-1][0]:
            break
        p = probe(n2)
        if p.ok and p.model_bytes:
            points.append((n2, p.model_bytes))
            break
        n2 = int(n2 * predict.NEAR_FRACTION)
    return points


def boundary(cfg: PlanConfig, values: dict, cmd: str | None, budget: int, concurrency: int,
             cal: predict.Calibration, log: Log) -> dict:  # fmt: skip
    """The largest n at full occupancy under one budget: the prediction if its check
    holds, else a search from the check's n."""
    spec = spec_of(cfg, values, cmd, budget)
    pred = predict.predicted_n(cal, budget, concurrency)
    if pred is None or pred < 1:
        if cal.idle_bytes >= budget:
            return {"predicted_n": None, "largest_n": 0, "first_failing_n": None, "probes": 0,
                    "how": "the idle tree is over the budget"}  # fmt: skip
        # the line's fixed part, C times, leaves no room: a calibration two points wide
        # can misjudge it (gthread cells measured here), so the search decides
        log(f"  {budget >> 20} MiB: the calibration predicts no room; searching")
        return search(cfg, spec, concurrency, cal, budget, None, {}, "no prediction", 0, log)
    lo, hi = predict.check_sizes(pred)
    with _prober(cfg, spec, concurrency) as probe:
        lo_ok = probe(lo).ok
        # several at once: above the bound whether the peaks meet is a rate, measured
        # by sustained runs, not by one probe's luck
        hi_ok = probe(hi).ok if lo_ok and concurrency == 1 else None
    log(f"  {budget >> 20} MiB: predicted {pred:,}; n={lo:,} {'ok' if lo_ok else 'failed'}"
        + (f", n={hi:,} {'ok' if hi_ok else 'failed'}" if hi_ok is not None else ""))  # fmt: skip
    if lo_ok and concurrency > 1:
        if not cfg.sustained_runs:
            return {"predicted_n": pred, "largest_n": lo, "full_overlap_n": lo,
                    "first_failing_n": None, "probes": 1,
                    "how": f"predicted for all {concurrency} peaks at once, checked below; "
                           "no sustained runs (--sustained-runs 0)"}  # fmt: skip
        return sustained(cfg, spec, concurrency, cal, budget, pred, lo, log)
    verdict = predict.judge(lo, hi, lo_ok, hi_ok)
    if verdict.how == "holds":
        return {"predicted_n": pred, "largest_n": lo, "first_failing_n": hi,
                "how": "predicted, checked", "probes": 2}  # fmt: skip
    bounds = {"n_max": lo} if verdict.how == "lower" else {"n_start": hi}
    why = f"the check at {lo if verdict.how == 'lower' else hi:,} disagreed"
    return search(cfg, spec, concurrency, cal, budget, pred, bounds, why,
                  2 if hi_ok is not None else 1, log)  # fmt: skip


def search(cfg: PlanConfig, spec: ServerSpec, concurrency: int, cal: predict.Calibration,
           budget: int, pred: int | None, bounds: dict, why: str, checks: int,
           log: Log) -> dict:  # fmt: skip
    """The cell's own max-n search under the budget (`bounds`: n_max or n_start); with
    several at once, the sustained rate above what it found."""
    q = question.ask(cfg.workload, spec, concurrency, precision=cfg.precision,
                     request_timeout_s=cfg.request_timeout_s, check=False, **bounds)  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="probe-plan-") as tmp:
        doc = maxn.run(q, Path(tmp) / "search.json", log=lambda line: None)
    searched = {"predicted_n": pred, "largest_n": doc["critical_n"] or 0,
                "first_failing_n": doc["first_failing_n"], "how": f"searched ({why})",
                "probes": checks + len(doc["probes"] or [])}  # fmt: skip
    if concurrency == 1 or not doc["critical_n"] or not cfg.sustained_runs:
        return searched
    # several at once: the search's C requests at once held there; above it, the rate
    rated = sustained(cfg, spec, concurrency, cal, budget, pred, doc["critical_n"], log,
                      held=f"{concurrency} at once held in the search")  # fmt: skip
    return {**rated, "how": f"{searched['how']}; {rated['how']}",
            "probes": searched["probes"] + rated["probes"] - 1}  # fmt: skip


def sustained(cfg: PlanConfig, spec: ServerSpec, concurrency: int, cal: predict.Calibration,
              budget: int, pred: int | None, bound: int, log: Log,
              held: str | None = None) -> dict:  # fmt: skip
    """Every peak at once fits up to `bound` (checked, or searched), and above it whether
    the peaks meet is timing: the answer is where sustained traffic at full occupancy
    fails at most at the risk (probe.plan.occupancy), between the bound and one
    request's own boundary. `held`: how the bound is known, where not by the check
    of every peak at once."""
    held = held or f"all {concurrency} peaks at once fit"
    single = predict.predicted_n(cal, budget, 1) or bound + 1
    over = predict.check_sizes(single)[1]  # one peak alone is over the budget there
    log(f"  {budget >> 20} MiB: {held} up to {bound:,}; above it, {occupancy.WORDS}, up "
        f"to {over:,}")  # fmt: skip
    rate = occupancy.sustained(
        bound, over, lambda n: occupancy.run_at(spec, cfg.workload, n, concurrency,
                                                cfg.request_timeout_s),
        cfg.risk, cfg.precision, log, fit_runs=cfg.sustained_runs,
    )  # fmt: skip
    failed = [r["n"] for r in rate["runs"] if not r["ok"] and r["n"] > rate["n"]]
    log(f"  {budget >> 20} MiB: at most {cfg.risk:.0%} of sustained runs fail up to "
        f"n={rate['n']:,} ({len(rate['runs'])} runs)")  # fmt: skip
    return {"predicted_n": pred, "largest_n": rate["n"], "full_overlap_n": bound,
            "first_failing_n": min(failed) if failed else None, "probes": 1 + len(rate["runs"]),
            "how": f"sustained runs fail at most {cfg.risk:.0%} up to it ({held} up to "
                   f"{bound:,})", "sustained": rate}  # fmt: skip


def throughput(cfg: PlanConfig, values: dict, cmd: str | None, concurrency: int, row: dict,
               log: Log) -> dict | None:  # fmt: skip
    """Requests per second and latency at the cell's concurrency, closed loop, under the
    first budget, at N or LOAD_FRACTION of the largest n there."""
    first = row["budgets"][str(cfg.budgets[0])]
    largest = first.get("largest_n") or 0
    n = cfg.n if cfg.n is not None else int(LOAD_FRACTION * largest)
    if n < 1 or (cfg.n is not None and cfg.n > largest):
        return None  # it does not hold N under the budget: no load at N
    spec = spec_of(cfg, values, cmd, cfg.budgets[0])
    total = cfg.load_requests or max(20, LOAD_PER_CLIENT * concurrency)
    server = Server(spec, cfg.workload.fixed_env())
    try:
        server.start()
        sizes = confirm.sizes_up_to(n, total) if cfg.mix == "uniform" else [n] * total
        records, wall = closed_loop(server.url, lambda i: cfg.workload.render(sizes[i]), total,
                                    concurrency, cfg.request_timeout_s,
                                    cfg.workload.name)  # fmt: skip
    finally:
        server.close(grace_s=0)
    ok = [r for r in records
          if cfg.workload.judge(r.status, r.text, r.body, r.n, r.area, r.found).ok]  # fmt: skip
    lat = [r.latency_s for r in ok]
    result = {"n": n, "mix": confirm.MIX if cfg.mix == "uniform" else "fixed", "requests":
              len(records), "ok": len(ok), "failed": len(records) - len(ok),
              "rps": round(len(ok) / wall, 2) if wall > 0 else None,
              "p50_s": round(stats.percentile(lat, 50), 4) if lat else None,
              "p99_s": round(stats.percentile(lat, 99), 4) if lat else None}  # fmt: skip
    log(f"  throughput at n={n:,}: {result['rps']} req/s, p50 {result['p50_s']} s")
    return result


def recommend(cfg: PlanConfig, doc: PlanDoc, log: Log) -> None:
    """With N: the best candidate under the first budget whose sustained run passes."""
    budget = cfg.budgets[0]
    doc.rules = choose.rule_rows(doc.cells, budget, doc.cores)
    doc.recommendation = None
    if cfg.n is None:
        return
    tried = choose.best(choose.candidates(doc.cells, budget, cfg.n, cfg.headroom), budget)
    if not tried:
        doc.problems.append(f"no cell holds n={cfg.n:,} with {cfg.headroom:.0%} headroom "
                            f"under {budget >> 20} MiB; try a larger budget or fewer at "
                            "once")  # fmt: skip
        return
    for row in tried:
        spec = spec_of(cfg, row["values"], row["cmd"] if cfg.template else None, budget)
        log(
            f"confirm: {row['name']}: {cfg.confirm_requests:,} requests, "
            f"{row['concurrency']} at once, sizes {confirm.MIX}"
        )
        result = confirm.run(spec, cfg.workload, cfg.n, row["concurrency"],
                             cfg.confirm_requests, cfg.headroom, cfg.request_timeout_s,
                             log)  # fmt: skip
        doc.confirmations.append({"cell": row["name"], **result.to_dict()})
        store.write_atomic(cfg.out, doc)
        if result.passed:
            doc.recommendation = {"budget_bytes": budget, "cell": row["name"],
                                  "cmd": row["cmd"], "knob": row.get("knob")}  # fmt: skip
            return
        failed = [t["name"] for t in result.thresholds if not t["passed"]]
        log(f"confirm: {row['name']} failed {', '.join(failed)}; trying the next cell")
    doc.problems.append("every candidate's sustained run failed a threshold (see confirmations)")


def merge(cfg: PlanConfig, paths: list[Path], log: Log = lambda s: None) -> PlanDoc:
    """Shards' documents, made with the same options, joined into one plan (cells in
    grid order, each once); the recommendation is then made and confirmed here, as one
    run would have."""
    docs = [PlanDoc.load(p) for p in paths]
    want = (cfg.template, [[a, list(v)] for a, v in cfg.axes], list(cfg.budgets), cfg.n)
    for path, d in zip(paths, docs, strict=True):
        if (d.template, d.axes, d.budgets_bytes, d.n) != want:
            raise PlanError(f"{path} is not a shard of this plan: its command, grid, budgets "
                            "or --n differ from the options given")  # fmt: skip
    cells = sorted((c for d in docs for c in d.cells), key=lambda c: c["index"])
    if len({c["index"] for c in cells}) != len(cells):
        raise PlanError("a cell is in two shards; merge each shard once")
    total = len(all_cells(cfg))
    if len(cells) != total:
        log(f"merge: {len(cells)} of the grid's {total} cells; the rest were not measured")
    doc = PlanDoc.new(
        template=cfg.template, axes=want[1], workload=cfg.workload.to_dict(),
        budgets_bytes=list(cfg.budgets), n=cfg.n, limit_kind=cfg.base.limit_kind,
        headroom=cfg.headroom, cores=os.cpu_count(), shard=None, cells=cells, confirmations=[],
        problems=[], status="running",
    )  # fmt: skip
    t0 = time.monotonic()
    with store.recording(cfg.out, doc, t0):
        recommend(cfg, doc, log)
    store.write_atomic(cfg.out, doc)
    return doc
