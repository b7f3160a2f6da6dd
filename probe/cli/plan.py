"""`probe plan`: which workers x threads to run in a memory budget."""

from __future__ import annotations

from pathlib import Path

import click

from probe.cli.errors import friendly_errors
from probe.cli.options import (
    SIZE,
    ServerFlags,
    format_option,
    request_timeout_option,
    risk_option,
    server_options,
    workload_options,
)
from probe.cli.workloads import WorkloadFlags
from probe.defaults import (
    PLAN_CONFIRM_REQUESTS,
    PLAN_HEADROOM,
    PLAN_N_START,
    RESULTS_DIR,
    STUDY_PRECISION,
)
from probe.plan.occupancy import RATE, WORDS
from probe.search import rate
from probe.servers.limits import WHOLE_SERVER


def _shard(ctx, param, value):
    if value is None:
        return None
    i, slash, count = value.partition("/")
    if not (slash and i.isdigit() and count.isdigit() and 0 <= int(i) < int(count)):
        raise click.BadParameter("write I/N with 0 <= I < N, e.g. 0/4", ctx, param)
    return int(i), int(count)


@click.command()
@workload_options
@server_options
@click.option("--grid", "axes", multiple=True, metavar="NAME=V1,V2",
              help="An axis of the grid: a placeholder of --cmd and its values "
              "(workers=1,2,4); with --app/--fn: workers, threads, worker_class. "
              "concurrency=... sets the requests at once of an async server.")  # fmt: skip
@click.option("--budget", "budgets", multiple=True, type=SIZE, metavar="SIZE",
              help="A memory budget over the whole process tree, as a container counts "
              "it (repeatable; the first is the one the recommendation is for).")  # fmt: skip
@click.option("--budget-kind", type=click.Choice(WHOLE_SERVER), default="tree",
              show_default=True,
              help="tree: probe's emulation of a container's memory cgroup (anywhere). "
              "cgroup: each server in a real cgroup v2 with memory.max = the budget, the "
              "kernel reclaiming and killing (root or a delegated cgroup: see max-n's "
              "--limit-kind cgroup).")  # fmt: skip
@click.option("--n", "n", type=click.IntRange(1), default=None,
              help="The input the service must take: which cells hold it, their "
              "throughput at it, and the recommendation, confirmed by a sustained "
              "run.")  # fmt: skip
@click.option("--headroom", "--margin", "headroom", type=click.FloatRange(0, 1),
              default=PLAN_HEADROOM, show_default=True,
              help="A cell must hold N x (1 + headroom); the confirmation's peak must "
              "stay under the budget less the headroom (--margin: its earlier "
              "name).")  # fmt: skip
@click.option(
    "--confirm-requests",
    type=click.IntRange(1),
    default=PLAN_CONFIRM_REQUESTS,
    show_default=True,
    help="Requests of the sustained run, sizes drawn from 10 % to 100 % of N.",
)
@click.option(
    "--load-requests",
    type=click.IntRange(1),
    default=None,
    help="Requests of each cell's throughput load (default 10 per client).",
)
@click.option(
    "--n-start",
    type=click.IntRange(1),
    default=PLAN_N_START,
    show_default=True,
    help="The first calibration size.",
)
@click.option(
    "--precision",
    type=click.FloatRange(0.001, 1),
    default=STUDY_PRECISION,
    show_default=True,
    help="Where a check disagrees, the search stops this close.",
)
@request_timeout_option
@risk_option(
    "A cell of several requests at once: its largest n is where at most this "
    "share of sustained runs at full occupancy fails (" + WORDS + "), fitted "
    f"over every run at {rate.CONFIDENCE:.0%} confidence; never below the n at "
    "which all its peaks at once fit."
)
@click.option("--sustained-runs", type=click.IntRange(0, 100), default=RATE.max_probes,
              show_default=True, metavar="K",
              help="A cell of several at once: the runs the failure-rate fit may place "
              "after a bisection of a few runs; fewer cost less and keep the answer "
              "nearer the n at which every peak at once fits; 0 answers that n.")  # fmt: skip
@click.option("--shard", callback=_shard, default=None, metavar="I/N",
              help="Run every N-th cell from I and write that part (results/plan-I-of-N.json); "
              "join the parts with --merge.")  # fmt: skip
@click.option("--merge", "merge_paths", multiple=True, metavar="DOC",
              type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Join shards' documents (made with these same options) into one plan, "
              "then recommend and confirm as one run would.")  # fmt: skip
@click.option("--mix", type=click.Choice(("fixed", "uniform")), default="fixed",
              show_default=True,
              help="Sizes of the throughput load: fixed (every request at N, or half the "
              "largest n), uniform (10-100 % of it, seed 0, as the confirmation's).")  # fmt: skip
@click.option("--rules/--no-rules", default=True, show_default=True,
              help="Also measure the cells gunicorn's (2 x cores) + 1 and Heroku's "
              "WEB_CONCURRENCY would run, where the grid lacks them (needs a workers "
              "axis).")  # fmt: skip
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="The plan's document (default results/plan.json).",
)
@format_option(choices=("table", "json"))
@friendly_errors
def plan(workload_flags: WorkloadFlags, server_flags: ServerFlags, axes, budgets, budget_kind,
         n, headroom,
         confirm_requests, load_requests, n_start, precision, request_timeout, risk,
         sustained_runs, shard,
         merge_paths, mix, rules, out, fmt):  # fmt: skip
    """Which configuration to run in a memory budget: workers x threads, measured.

    Each cell of the grid is your command with its placeholders filled. Under each
    budget (the whole process tree, as a container counts it, the largest process
    killed past it) the plan gives the cell's idle memory, the largest n at full
    occupancy and its throughput; with --n, the cell to run, confirmed by a sustained
    run of that exact command. A cell of several requests at once holds every peak at
    once up to one n, and above it fails only when its peaks meet: its answer is where
    sustained traffic fails at most at --risk.

    \b
    Examples:
      probe plan --cmd 'gunicorn -w {workers} -k gthread --threads {threads} \\
                        --bind 127.0.0.1:{port} app:app' --grid workers=1,2,4 \\
                 --grid threads=1,4 --request 'GET /predict?n={n}' --budget 2G --n 1000000
      probe plan --cmd 'uvicorn --workers {workers} --port {port} main:app' \\
                 --grid workers=1,2 --grid concurrency=4 --budget 1G --request 'GET /p?n={n}'
      probe plan --fn cpu_bounded --grid workers=1,2 --budget 1G --budget 2G --n 2000000
      probe plan --fn cpu_bounded --grid workers=1,2 --budget 1G --shard 0/2   # one machine
      probe plan --fn cpu_bounded --grid workers=1,2 --budget 1G --shard 1/2   # another
      probe plan --fn cpu_bounded --grid workers=1,2 --budget 1G \\
                 --merge results/plan-0-of-2.json results/plan-1-of-2.json
    """
    from probe.plan import grid
    from probe.report.plan import plot_plan, render_plan
    from probe.studies import plan as study

    if merge_paths and shard:
        raise click.UsageError("--merge joins shards; drop --shard")
    if not budgets:
        raise click.BadParameter(
            "give at least one budget, e.g. --budget 1G", param_hint="--budget"
        )
    if None in budgets:
        raise click.BadParameter("a budget is a size, not none", param_hint="--budget")
    try:
        parsed = tuple(grid.parse_axis(a) for a in axes)
    except grid.GridError as exc:
        raise click.BadParameter(str(exc), param_hint="--grid") from None
    if not parsed:
        raise click.BadParameter("give the grid, e.g. --grid workers=1,2,4", param_hint="--grid")
    workload = workload_flags.workload()
    if not workload.takes_n:
        raise click.BadParameter("io_bounded has no n", param_hint="--fn")
    base = _base_spec(server_flags, workload, budgets[0], budget_kind)
    path = out or (Path(RESULTS_DIR) / (f"plan-{shard[0]}-of-{shard[1]}.json" if shard
                                      else "plan.json"))  # fmt: skip
    cfg = study.PlanConfig(
        workload=workload, template=workload.cmd, axes=parsed, budgets=tuple(budgets),
        base=base, n=n, headroom=headroom, precision=precision, request_timeout_s=request_timeout,
        n_start=n_start, confirm_requests=confirm_requests, load_requests=load_requests,
        shard=shard, out=path, rules=rules, mix=mix, risk=risk, sustained_runs=sustained_runs,
    )  # fmt: skip
    log = lambda line: click.echo(line, err=True)  # noqa: E731
    doc = study.merge(cfg, list(merge_paths), log) if merge_paths else study.run(cfg, log)
    click.echo(render_plan(doc, fmt), nl=False)
    if not shard:
        click.echo(f"plot: {plot_plan(doc, path.with_suffix('.png'))}", err=True)
    click.echo(f"results: {path}", err=True)
    _exit_status(doc, n, shard)


def _base_spec(server_flags: ServerFlags, workload, budget, kind: str):
    from probe.cli.options import Cap

    if workload.cmd:
        server_flags.refuse_with_cmd()
    try:
        cap = Cap(budget, kind)
    except click.BadParameter as exc:
        raise click.BadParameter(exc.message, param_hint="--budget-kind") from None
    return server_flags.spec(cap, workload)


def _exit_status(doc, n, shard) -> None:
    """Exit 1 when N was asked and nothing can be recommended (one line why)."""
    if n is None or shard:
        return
    if doc.recommendation is None:
        why = "; ".join(doc.problems or []) or "no cell could be recommended"
        raise click.ClickException(why)
