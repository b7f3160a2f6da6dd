"""The study: `probe matrix`, `probe compare`, `probe report` and `probe study`."""

from __future__ import annotations

import click

from probe.cli.errors import friendly_errors
from probe.cli.options import (
    Cap,
    StudyFlags,
    concurrency_option,
    format_option,
    limit_options,
    name_list,
    names_list,
    no_check_option,
    parse_n,
    precision_option,
    results_option,
    servers_option,
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
from probe.workload.seminar import SEMINAR_FNS


def _matrix_config(n, cap: Cap, flags: StudyFlags, workloads):
    from probe.studies.matrix import MatrixConfig

    return MatrixConfig(
        limit_bytes=cap.limit, limit_kind=cap.limit_kind, n=n, requests=flags.requests,
        concurrency=flags.concurrency, servers=flags.servers, workloads=workloads,
        margin=flags.margin, precision=flags.precision, results_dir=flags.results_dir,
        log_dir=flags.log_dir, check=not flags.no_check,
    )  # fmt: skip


def _catalog_config(cap: Cap, precision, results_dir, band=None, check=True):
    from probe.studies.catalog import CatalogConfig

    return CatalogConfig(
        limit_bytes=cap.limit, limit_kind=cap.limit_kind, precision=precision,
        results_dir=results_dir, band=band, check=check,
    )  # fmt: skip


def _run_matrix(cfg) -> dict:
    from probe.documents import store
    from probe.report.seminar_log import render_log
    from probe.studies import matrix as matrix_mod

    def write_log(variant: dict) -> None:
        store.write_text_atomic(variant["log"], render_log(variant))

    doc = matrix_mod.run(cfg, cfg.results_dir / "matrix.json", on_variant=write_log)
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
def matrix(n, fns, workloads_file, study_flags: StudyFlags, cap: Cap, fmt):
    """Run a load (10 requests at once) on every server x workload of your file.

    Your workloads (--workloads probe.toml) on each server kind, or the seminar's three
    predictors it ships with. Each server starts as a probe's does (fresh, same cap and
    layout). Writes log/<server>_<workload>.txt and results/matrix.json after every
    variant.

    \b
    Examples:
      probe matrix --workloads probe.toml --n auto --limit 512M
      probe matrix --n auto --limit 512M          # the seminar's predictors
      probe matrix --n 1000000 --servers flask --fns io_bounded,cpu_bounded --requests 4
    """
    from probe.report.tables import render_matrix

    cap.check(needs_cap=n is None)
    if workloads_file is None and fns:
        try:
            name_list(SEMINAR_FNS, "predictor")(None, None, ",".join(fns))
        except click.BadParameter as exc:  # called by hand, so click cannot name the option
            raise click.BadParameter(exc.message, param_hint=["--fns"]) from None
    workloads = chosen_workloads(workloads_file, fns, SEMINAR_FNS)
    cfg = _matrix_config(n, cap, study_flags, workloads)
    doc = _run_matrix(cfg)
    click.echo(render_matrix(doc, fmt), nl=False)
    click.echo(f"results: {cfg.results_dir / 'matrix.json'}; logs: {cfg.log_dir}/", err=True)


@click.command()
@concurrency_option(
    LOAD_CONCURRENCY, "The load's concurrency (the matrix's); the single request is always in."
)
@servers_option
@precision_option(STUDY_PRECISION)
@no_check_option
@workloads_option
@results_option
@limit_options(default=STUDY_LIMIT)
@format_option()
@friendly_errors
def compare(concurrency, servers, precision, no_check, workloads_file, results_dir, cap: Cap, fmt):
    """Compare workloads' critical n, alone and under the load, per server.

    Your workloads (--workloads probe.toml), or the seminar's pure Python against numpy.
    Reads results/max-n/ and runs the searches it lacks; writes results/compare.json.

    \b
    Examples:
      probe compare --workloads probe.toml --limit 512M
      probe compare --limit 512M --format markdown   # the seminar's predictors
    """
    from probe.report.tables import render_compare

    cap.check(needs_cap=True)
    cfg = _catalog_config(cap, precision, results_dir, check=not no_check)
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
def study(workloads_file, study_flags: StudyFlags, cap: Cap):
    """Run a whole study: compare, matrix --n auto, then the report.

    Of your workloads (--workloads probe.toml), or of the seminar's house-price service
    it ships with (the default).

    \b
    Examples:
      probe study --workloads probe.toml --limit 512M --results my-results --logs my-logs
      probe study                                  # the seminar's study
      probe study --limit 1G --results results-1g --logs log-1g
    """
    import time

    from probe.report import writer as report_mod
    from probe.report.tables import render_compare, render_matrix

    cap.check(needs_cap=True)
    t0 = time.monotonic()
    flags = study_flags
    cfg = _catalog_config(cap, flags.precision, flags.results_dir, band=STUDY_BAND,
                          check=not flags.no_check)  # fmt: skip
    workloads = chosen_workloads(workloads_file, None, SEMINAR_FNS)
    searched = tuple(w for w in workloads if w.takes_n) or None
    compared = _run_compare(cfg, min(flags.concurrency, flags.requests), flags.servers, searched)
    doc = _run_matrix(_matrix_config(None, cap, flags, workloads))
    path, plots = report_mod.run(flags.results_dir)
    click.echo(render_matrix(doc, "table"))
    click.echo(render_compare(compared, "table"))
    click.echo(f"report: {path} ({len(plots)} plots); study took {time.monotonic() - t0:.0f} s")
