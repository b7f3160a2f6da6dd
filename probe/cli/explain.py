"""`probe explain`: where one request's memory goes, per source line, per unit of n."""

from __future__ import annotations

from pathlib import Path

import click

from probe.cli.errors import friendly_errors
from probe.cli.options import (
    Cap,
    ServerFlags,
    format_option,
    limit_options,
    request_timeout_option,
    server_options,
    workload_options,
)
from probe.cli.workloads import WorkloadFlags
from probe.defaults import RESULTS_DIR


@click.command()
@workload_options
@server_options
@limit_options()
@click.option("--n", "n", type=click.IntRange(2), default=None,
              help="The request to explain (default: the critical n of this service's "
              "max-n document, from `probe max-n` with the same options).")  # fmt: skip
@click.option(
    "--n-small",
    type=click.IntRange(1),
    default=None,
    help="The second size, for bytes per unit of n (default n/2).",
)
@click.option(
    "--top",
    type=click.IntRange(1, 100),
    default=10,
    show_default=True,
    help="Lines shown and kept in the document.",
)
@click.option("--results", "results_dir", type=click.Path(file_okay=False, path_type=Path),
              default=Path(RESULTS_DIR), show_default=True,
              help="Where max-n documents are read and explain/ is written.")  # fmt: skip
@request_timeout_option
@format_option(choices=("table", "json", "markdown"))
@friendly_errors
def explain(workload_flags: WorkloadFlags, server_flags: ServerFlags, cap: Cap, n, n_small,
            top, results_dir, request_timeout, fmt):  # fmt: skip
    """Which lines of your service hold the memory of one request, and how each grows with n.

    Runs your service as max-n does, under memray (install it where the server runs:
    pip install memray), sends the request at n and at a second size to two fresh
    servers, and attributes each request's own peak (its high-water mark less the idle
    worker's memory) to source lines: bytes at n, share, bytes per unit of n, and the
    sum per owner (your code, a framework or server, a library). The request at n is
    first checked untraced under --limit; the traced runs have no cap (memray's own
    buffers would move the boundary) and never feed a search. Writes
    results/explain/<name>.json, memray's flame graph (HTML) and a plot.

    \b
    Examples:
      probe explain --cmd 'gunicorn --bind 127.0.0.1:{port} app:app' \\
                    --request 'GET /predict?n={n}' --n 2000000 --limit 512M
      probe explain --fn cpu_bounded --limit 512M     # after probe max-n --fn cpu_bounded
    """
    from probe.documents import store
    from probe.report.explain import plot_sites, render_explain
    from probe.search.critical import SearchConfig
    from probe.studies import explain as study
    from probe.studies import question

    workload = workload_flags.workload()
    if not workload.takes_n:
        raise click.BadParameter("io_bounded has no n; use cpu_bounded or cpu_multithread",
                                 param_hint="--fn")  # fmt: skip
    cap.check(needs_cap=True)
    spec = server_flags.spec(cap, workload)
    asked = question.MaxNConfig(workload=workload, spec=spec, concurrency=1,
                                search=SearchConfig(limit_bytes=cap.limit),
                                request_timeout_s=request_timeout)  # fmt: skip
    source = "--n"
    if n is None:
        n, source = _critical_n(question.path(asked, results_dir))
    small = n_small or n // 2
    if not 0 < small < n:
        raise click.BadParameter(f"must be below --n ({n:,})", param_hint="--n-small")
    cfg = study.ExplainConfig(question=asked, n=n, n_small=small, n_source=source,
                              out_dir=results_dir / "explain", top=top,
                              maxn_doc=question.path(asked, results_dir))  # fmt: skip
    doc, path = study.run(cfg, log=lambda line: click.echo(line, err=True))
    doc.plot = str(plot_sites(doc, path.with_name(f"{path.stem}-sites.png")))
    store.write_atomic(path, doc)
    click.echo(render_explain(doc, fmt), nl=False)
    click.echo(f"results: {path}", err=True)


def _critical_n(path: Path) -> tuple[int, str]:
    """The critical n of a complete max-n document, or a usage error with the fix."""
    from probe.documents.maxn import MaxNDoc
    from probe.documents.store import ResultsError

    try:
        doc = MaxNDoc.load(path)
    except (ResultsError, OSError):
        raise click.BadParameter(f"no max-n result at {path} to take n from; pass --n N or "
                                 "run probe max-n with the same options first",
                                 param_hint="--n") from None  # fmt: skip
    if not doc.critical_n:
        raise click.BadParameter(f"{path} has no critical n; pass --n N", param_hint="--n")
    return doc.critical_n, str(path)
