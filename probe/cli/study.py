"""The study: `probe matrix`, `probe compare`, `probe report` and `probe study`."""

from __future__ import annotations

import click

from probe.cli.errors import friendly_errors
from probe.cli.options import (
    check_cap,
    format_option,
    limit_options,
    name_list,
    names_list,
    parse_n,
    parse_precision,
    results_option,
    study_options,
    workloads_option,
)
from probe.cli.workloads import chosen_workloads
from probe.defaults import (
    LOAD_CONCURRENCY,
    STUDY_BAND,
    STUDY_LIMIT,
    STUDY_PRECISION,
)
from probe.servers.kinds import SERVERS
from probe.workload.seminar import SEMINAR_FNS


def _matrix_config(n, limit, limit_kind, requests, concurrency, servers, workloads, margin,
                   precision, results_dir, log_dir):  # fmt: skip
    from probe.studies.matrix import MatrixConfig

    return MatrixConfig(
        limit_bytes=limit, limit_kind=limit_kind, n=n, requests=requests,
        concurrency=concurrency, servers=servers, workloads=workloads, margin=margin,
        precision=precision, results_dir=results_dir, log_dir=log_dir,
    )  # fmt: skip


def _catalog_config(limit, limit_kind, precision, results_dir, band=None):
    from probe.studies.catalog import CatalogConfig

    return CatalogConfig(
        limit_bytes=limit, limit_kind=limit_kind, precision=precision, results_dir=results_dir,
        band=band,
    )  # fmt: skip


def _run_matrix(cfg) -> dict:
    from probe.report.seminar_log import render_log
    from probe.studies import matrix as matrix_mod
    from probe.studies import store

    def write_log(variant: dict) -> None:
        store.write_text_atomic(variant["log"], render_log(variant))

    try:
        doc = matrix_mod.run(cfg, cfg.results_dir / "matrix.json", on_variant=write_log)
    except matrix_mod.MatrixError as exc:
        raise click.ClickException(str(exc)) from None
    failed = sum(v["failed"] for v in doc["variants"])
    if failed:
        click.echo(f"warning: {failed} request(s) failed; see the logs in {cfg.log_dir}", err=True)
    return doc


def _run_compare(cfg, concurrency: int, servers: tuple[str, ...], workloads=None) -> dict:
    from probe.studies import compare as compare_mod

    levels = tuple(dict.fromkeys((1, concurrency)))
    extra = {"workloads": workloads} if workloads else {}
    ccfg = compare_mod.CompareConfig(cfg, servers=servers, concurrencies=levels, **extra)
    return compare_mod.run(ccfg, cfg.results_dir / "compare.json")


@click.command()
@click.option(
    "--n",
    "n",
    default="auto",
    show_default=True,
    callback=parse_n,
    help="auto: margin x the critical n of each predictor on each server at this "
    "concurrency (searched if missing); a number runs every variant at that n.",
)
@click.option(
    "--fns",
    default=None,
    callback=lambda ctx, param, value: names_list(value),
    help="Comma-separated workloads: the seminar's predictors (default: "
    f"{','.join(SEMINAR_FNS)}), or names of the --workloads file (default: all of them).",
)
@workloads_option
@study_options
@limit_options(default=STUDY_LIMIT)
@format_option()
@friendly_errors
def matrix(n, fns, workloads_file, requests, concurrency, servers, margin, precision,
           results_dir, log_dir, limit, limit_kind, fmt):  # fmt: skip
    """Run the seminar's load (10 requests at once) on every server x workload.

    Each server starts as a probe's does (fresh, same cap and layout). Writes
    log/<server>_<workload>.txt and results/matrix.json after every variant.

    \b
    Example:
      probe matrix --n auto --limit 512M
      probe matrix --n 1000000 --servers flask --fns io_bounded,cpu_bounded --requests 4
      probe matrix --workloads probe.toml --n auto --limit 512M
    """
    from probe.report.tables import render_matrix

    check_cap(limit, limit_kind, needs_cap=n is None)
    if workloads_file is None and fns:
        try:
            name_list(SEMINAR_FNS, "predictor")(None, None, ",".join(fns))
        except click.BadParameter as exc:  # called by hand, so click cannot name the option
            raise click.BadParameter(exc.message, param_hint=["--fns"]) from None
    workloads = chosen_workloads(workloads_file, fns, SEMINAR_FNS)
    cfg = _matrix_config(n, limit, limit_kind, requests, concurrency, servers, workloads,
                         margin, precision, results_dir, log_dir)  # fmt: skip
    doc = _run_matrix(cfg)
    click.echo(render_matrix(doc, fmt), nl=False)
    click.echo(f"results: {results_dir / 'matrix.json'}; logs: {log_dir}/", err=True)


@click.command()
@click.option(
    "--concurrency",
    type=click.IntRange(1, 1000),
    default=LOAD_CONCURRENCY,
    show_default=True,
    help="The load's concurrency (the matrix's); the single request is always in.",
)
@click.option(
    "--servers",
    default=",".join(SERVERS),
    show_default=True,
    callback=name_list(SERVERS, "server"),
    help="Comma-separated servers.",
)
@click.option(
    "--precision",
    type=float,
    default=STUDY_PRECISION,
    show_default=True,
    callback=parse_precision,
    help="Searches stop when first_failing_n / critical_n - 1 <= this.",
)
@workloads_option
@results_option
@limit_options(default=STUDY_LIMIT)
@format_option()
@friendly_errors
def compare(concurrency, servers, precision, workloads_file, results_dir, limit, limit_kind,
            fmt):  # fmt: skip
    """Compare pure Python with numpy: critical n alone and under the load, per server.

    Reads results/max-n/ and runs the searches it lacks; writes results/compare.json.

    \b
    Example:
      probe compare --limit 512M --format markdown
    """
    from probe.report.tables import render_compare

    check_cap(limit, limit_kind, needs_cap=True)
    cfg = _catalog_config(limit, limit_kind, precision, results_dir)
    workloads = chosen_workloads(workloads_file, None, ()) if workloads_file else None
    doc = _run_compare(cfg, concurrency, servers, workloads)
    click.echo(render_compare(doc, fmt), nl=False)
    click.echo(f"results: {results_dir / 'compare.json'}", err=True)


@click.command()
@results_option
@friendly_errors
def report(results_dir):
    """Write results/REPORT.md and its plots from the results, without measuring.

    \b
    Example:
      probe report --results results
    """
    from probe.report import writer as report_mod

    path, plots = report_mod.run(results_dir)
    click.echo(f"wrote {path} and {len(plots)} plots in {path.parent / report_mod.PLOTS_DIR}")


@click.command()
@workloads_option
@study_options
@limit_options(default=STUDY_LIMIT)
@friendly_errors
def study(workloads_file, requests, concurrency, servers, margin, precision, results_dir,
          log_dir, limit, limit_kind):  # fmt: skip
    """Run the whole seminar study: compare, matrix --n auto, then the report.

    \b
    Example:
      probe study
      probe study --limit 1G --results results-1g --logs log-1g
    """
    import time

    from probe.report import writer as report_mod
    from probe.report.tables import render_compare, render_matrix

    check_cap(limit, limit_kind, needs_cap=True)
    t0 = time.monotonic()
    cfg = _catalog_config(limit, limit_kind, precision, results_dir, band=STUDY_BAND)
    workloads = chosen_workloads(workloads_file, None, SEMINAR_FNS)
    searched = [w for w in workloads if w.takes_n]
    compared = _run_compare(cfg, min(concurrency, requests), servers, tuple(searched) or None)
    mcfg = _matrix_config(None, limit, limit_kind, requests, concurrency, servers, workloads,
                          margin, precision, results_dir, log_dir)  # fmt: skip
    doc = _run_matrix(mcfg)
    path, plots = report_mod.run(results_dir)
    click.echo(render_matrix(doc, "table"))
    click.echo(render_compare(compared, "table"))
    click.echo(f"report: {path} ({len(plots)} plots); study took {time.monotonic() - t0:.0f} s")
