"""`probe serve`: one server under a cap in the foreground."""

from __future__ import annotations

from pathlib import Path

import click

from probe.cli.errors import friendly_errors
from probe.cli.options import Cap, ServerFlags, limit_options, server_options
from probe.defaults import MAXN_LIMIT
from probe.sizes import format_size


@click.command()
@click.option(
    "--env",
    "env_pairs",
    multiple=True,
    metavar="NAME=VALUE",
    help="Set a variable in the server's environment, e.g. a workload's n at "
    "start-up: --env CACHE_ENTRIES=1000000.",
)
@click.option(
    "--chdir",
    default=None,
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder to import --app from (default: the current folder).",
)
@click.option(
    "--app",
    default=None,
    metavar="MODULE:ATTR",
    help="Your WSGI app (default: the seminar's service, app.wsgi:app).",
)
@click.option(
    "--cmd",
    default=None,
    metavar="'COMMAND'",
    help="Your service's own start command, {port} where the port goes, e.g. "
    "'uvicorn --port {port} main:app'; run as written, in your environment.",
)
@server_options
@limit_options(default=MAXN_LIMIT)
@friendly_errors
def serve(env_pairs, chdir, app, cmd, server_flags: ServerFlags, cap: Cap):
    """Run one server under a cap in the foreground until Ctrl-C.

    It starts exactly as max-n starts each probe's server (same cap, layout and
    environment), and prints the command, so a person can check any probe by hand: start
    it, send the first request at the reported n.

    \b
    Example:
      probe serve --server flask --limit 1G --port 5000
      curl -s -X POST localhost:5000/predict -H 'Content-Type: application/json' \\
           -d '{"area": 50, "fn": "cpu_bounded", "n": 1000000}'
      probe serve --app cache:app --env CACHE_ENTRIES=1000000 --limit 512M --port 8000
      probe serve --cmd 'uvicorn --port {port} main:app' --limit 512M
    """
    from probe.measure.foreground import serve_until_stopped
    from probe.servers.limits import limit
    from probe.servers.process import Server

    if cap.limit_kind != "as" and cap.limit is None:
        raise click.UsageError(
            f"--limit-kind {cap.limit_kind} needs a --limit; pass e.g. --limit 1G"
        )
    extra = {}
    for pair in env_pairs:
        name, eq, value = pair.partition("=")
        if not eq or not name:
            raise click.BadParameter(f"{pair!r} is not NAME=VALUE", param_hint="--env")
        extra[name] = value
    spec = server_flags.spec(cap)
    if app is not None or cmd is not None:
        spec = spec.running(app, str((chdir or Path.cwd()).resolve()), cmd)
    srv = Server(spec, extra)

    def ready() -> None:
        how = limit(spec.limit_kind).enforced_by
        what = spec.cmd or spec.app
        click.echo(f"{spec.server} serving {what} at {srv.url} (layout {srv.layout})")
        click.echo(f"pids: {srv.pids()} (workers: {srv.worker_pids()})")
        click.echo(f"memory cap: {format_size(spec.limit_bytes)} ({how}); Ctrl-C stops it")
        added = srv.added_env()
        click.echo("variables probe adds: " + (" ".join(f"{k}={v}" for k, v in added.items())
                                               or "none"))  # fmt: skip
        click.echo(f"command: {srv.shell_command()}")

    ended = serve_until_stopped(srv, ready, lambda e: click.echo(f"{spec.server}: {e}", err=True))
    raise click.ClickException(f"the server stopped by itself ({ended})")
