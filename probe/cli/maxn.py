"""`probe max-n`: the critical n of one workload on one server configuration."""

from __future__ import annotations

import os
from pathlib import Path

import click

from probe.cli.errors import friendly_errors
from probe.cli.options import (
    format_option,
    limit_options,
    make_spec,
    server_options,
    workload_options,
)
from probe.cli.workloads import make_workload
from probe.defaults import MAXN_LIMIT, MAXN_PRECISION, REQUEST_TIMEOUT_S


@click.command("max-n")
@workload_options
@server_options
@limit_options(default=MAXN_LIMIT)
@click.option("--concurrency", type=click.IntRange(1, 1000), default=1, show_default=True,
              help="Identical requests fired at once per probe; a probe succeeds only if "
              "all do.")  # fmt: skip
@click.option(
    "--precision",
    type=float,
    default=MAXN_PRECISION,
    show_default=True,
    help="Stop when first_failing_n / critical_n - 1 <= this.",
)
@click.option("--strategy", type=click.Choice(["model", "bisect"]), default="model",
              show_default=True, help="model: calibrate memory per element at small n, "
              "predict, then bracket; bisect: plain doubling then bisection.")  # fmt: skip
@click.option("--confirm", type=click.Choice(["auto", "both", "fail", "none"]), default="auto",
              show_default=True, help="Re-probe the answer before reporting it. auto: on "
              "fresh fixed-layout servers an outcome is a fact, so only a failure that was "
              "not a memory outcome (timeout, dropped connection, start failure) is "
              "re-probed; elsewhere both. both: the critical n succeeds again and the "
              "first failing n fails again; fail: only the failure; none.")  # fmt: skip
@click.option(
    "--no-fresh",
    "warm",
    is_flag=True,
    help="Keep one long-lived server per lane (a warm server's answer, which "
    "depends on what it served before) instead of a fresh server per probe.",
)
@click.option(
    "--band",
    type=click.IntRange(2, 50),
    default=None,
    metavar="K",
    help="After the search, measure where the boundary lies under randomized "
    "layouts: candidate n each on K fresh servers with the kernel's layout, "
    "until the largest n ok on all K and the smallest failing on all K are known.",
)
@click.option("--lanes", type=click.IntRange(1, 8), default=None,
              help="Servers probed side by side, each its own process under its own cap "
              "(they share CPU, not memory). Default: 2 when there are 2 cores and the "
              "load is not threaded concurrency, else 1.")  # fmt: skip
@click.option("--max-probes", type=click.IntRange(2, 500), default=40, show_default=True)
@click.option("--request-timeout", type=click.FloatRange(0.1), default=REQUEST_TIMEOUT_S,
              show_default=True, help="Seconds to wait for one answer.")  # fmt: skip
@click.option("--url", default=None, help="Probe a running server you started yourself "
              "(no cap, no fresh servers, no restarts), e.g. http://127.0.0.1:8000.")  # fmt: skip
@click.option(
    "--token",
    envvar="APP_TOKEN",
    default=None,
    help="Bearer token for --url servers that require one (env APP_TOKEN).",
)
@format_option(choices=("table", "json"))
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Results file (default results/max-n/<server>-<workload>-<limit>-c<C>.json).",
)
@friendly_errors
def max_n(fn, app, chdir, request_line, json_body, headers, n_env, expect, workloads_file,
          workload_name, server, preload, layout, limit, limit_kind, host, port, workers,
          worker_class, threads, worker_timeout, concurrency, precision, strategy, confirm,
          warm, band, lanes, max_probes, request_timeout, url, token, fmt, out):  # fmt: skip
    """Find the largest n the server answers under the cap, exactly and fast.

    Each probe runs on a fresh server (started while the previous probe ran) with a
    fixed address-space layout, so the answer holds on the next server started the
    same way (probe serve). Records every probe and rewrites the results file after
    each one, so an interrupted search keeps what it measured.

    \b
    Example:
      probe max-n --fn cpu_bounded --limit 2G
      probe max-n --fn cpu_bounded --limit 512M --band 3
      probe max-n --app mymodel.wsgi:app --request 'GET /predict?batch={n}' --limit 2G
      probe max-n --app cache:app --n-env CACHE_ENTRIES --request 'GET /get?key=1'
      probe max-n --workloads probe.toml --workload alloc --server flask --concurrency 10
    """
    from probe.report.tables import render_maxn
    from probe.search.critical import SearchConfig
    from probe.studies import maxn, question

    workload = make_workload(fn, app, chdir, request_line, json_body, headers, n_env, expect,
                             workloads_file, workload_name)  # fmt: skip
    if not workload.takes_n:
        raise click.BadParameter(
            "io_bounded has no n (it sleeps 1 s); use cpu_bounded or cpu_multithread",
            param_hint="--fn",
        )
    if not 0 < precision < 1:
        raise click.BadParameter("must be between 0 and 1, e.g. 0.01", param_hint="--precision")
    if limit is None and url is None:
        raise click.BadParameter(
            "max-n needs a cap to find a limit; pass e.g. --limit 1G", param_hint="--limit"
        )
    if url and not url.startswith(("http://", "https://")):
        raise click.BadParameter("use a URL like http://127.0.0.1:8000", param_hint="--url")
    if workload.n_placement == "env" and (url or warm):
        raise click.UsageError(
            f"n at start-up ({workload.n_env}) needs a fresh server per probe, which probe "
            "starts; drop " + ("--url" if url else "--no-fresh")
        )
    if band is not None and (url or warm):
        raise click.UsageError("--band measures fresh servers that probe starts; drop "
                               + ("--url" if url else "--no-fresh"))  # fmt: skip
    spec = make_spec(server, limit, host, port, workers, worker_class, threads, worker_timeout,
                     limit_kind, layout, preload, workload)  # fmt: skip
    if lanes is not None and lanes > 1 and url:
        raise click.BadParameter(
            "a --url server is one server; drop --lanes or let probe start the servers",
            param_hint="--lanes",
        )
    if port and not url and not warm:
        raise click.BadParameter(
            f"a fresh server per probe cannot keep --port {port}; drop --port, or pass "
            "--no-fresh to probe one server on that port",
            param_hint="--port",
        )
    if lanes is not None and lanes > 1 and port:
        raise click.BadParameter(
            f"{lanes} servers cannot share --port {port}; drop --port or pass --lanes 1",
            param_hint="--lanes",
        )
    if lanes is None:
        lanes = question.auto_lanes(spec, concurrency, url)
    cold = not warm and not url
    cfg = question.MaxNConfig(
        workload=workload,
        spec=spec,
        concurrency=concurrency,
        search=SearchConfig(
            strategy=strategy,
            precision=precision,
            max_probes=max_probes,
            limit_bytes=limit,
            confirm=question.confirm_policy(confirm, cold, layout),
            lanes=lanes,
        ),
        url=url,
        timeout_s=request_timeout,
        token=token,
        fresh=not warm,
        band=band,
    )
    path = out or question.path(cfg)
    check_writable(path)
    doc = maxn.run(cfg, path)
    click.echo(render_maxn(doc, fmt), nl=False)
    click.echo(f"results: {path}", err=True)
    if doc.get("critical_n") is None:
        raise click.ClickException("no n succeeded: even the smallest probe failed (see above)")


def check_writable(path: Path) -> None:
    """Fail early, with the fix, if the results file cannot be written."""
    parent = path.parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        raise click.BadParameter(
            f"cannot write {path}: {parent} is a file, not a folder; choose another path",
            param_hint="--out",
        )
    if not os.access(parent, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise click.BadParameter(f"cannot write {path}; choose another path", param_hint="--out")
    if path.is_dir():
        raise click.BadParameter(f"{path} is a directory; give a file name", param_hint="--out")
