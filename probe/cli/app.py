"""The `probe` command line: serve, max-n, matrix, compare, report, study."""

from __future__ import annotations

import functools
import os
import sys
from pathlib import Path

import click

from probe import __version__, interrupt
from probe.measure.memory import MonitorError
from probe.servers.capexec import LAYOUTS
from probe.servers.kinds import KINDS, SERVERS
from probe.servers.process import is_loopback
from probe.servers.spec import LIMIT_KINDS, ServerError, ServerSpec
from probe.sizes import SizeError, format_size, parse_size
from probe.studies import store as results
from probe.workload.builtins import builtin
from probe.workload.files import find_workloads_file, load_workloads
from probe.workload.model import Workload, WorkloadError, parse_header
from probe.workload.seminar import BUILTIN_FNS, SEMINAR_FNS

FORMATS = ("table", "json", "csv", "markdown")


# -- shared option groups ----------------------------------------------------------
class SizeParam(click.ParamType):
    """A memory size: 512M, 2G, 1.5GiB, 1073741824 or none (powers of two)."""

    name = "SIZE"

    def convert(self, value, param, ctx):
        if value is None or isinstance(value, int):
            return value
        try:
            return parse_size(value)
        except SizeError as exc:
            self.fail(str(exc), param, ctx)


SIZE = SizeParam()


def limit_options(default: str = "1G"):
    """--limit and --limit-kind, shared by every command that measures."""

    def deco(f):
        f = click.option(
            "--limit-kind",
            type=click.Choice(LIMIT_KINDS),
            default="as",
            show_default=True,
            help="as: RLIMIT_AS on every server process (MemoryError inside Python). "
            "rss: a watchdog SIGKILLs a process whose RSS passes the cap, "
            "emulating a container's OOM killer.",
        )(f)
        return click.option(
            "--limit",
            type=SIZE,
            default=default,
            show_default=True,
            help="Memory cap per server process: 512M, 2G, 1.5GiB, bytes, or none. "
            "K/M/G are powers of two.",
        )(f)

    return deco


def server_options(f):
    """--server, --preload, --layout, --workers, --worker-class, --threads, --timeout,
    --host, --port."""
    opts = [
        click.option("--port", type=click.IntRange(0, 65535), default=0, show_default=True,
                     help="Port to bind; 0 picks a free one."),
        click.option("--host", default="127.0.0.1", show_default=True,
                     help="Address to bind. Anything but loopback exposes the service."),
        click.option("--timeout", "worker_timeout", type=click.IntRange(1), default=30,
                     show_default=True, help="gunicorn's worker timeout, seconds."),
        click.option("--threads", type=click.IntRange(1), default=1, show_default=True,
                     help="gunicorn threads per worker (more than 1 means gthread)."),
        click.option("--worker-class", default="sync", show_default=True,
                     help="gunicorn worker class (sync, gthread)."),
        click.option("--workers", type=click.IntRange(1), default=1, show_default=True,
                     help="gunicorn worker processes (each gets the whole cap)."),
        click.option("--layout", type=click.Choice(LAYOUTS), default="fixed",
                     show_default=True, help="fixed: start the server with address-space "
                     "randomization off (as setarch -R), so a boundary repeats exactly; "
                     "random: the kernel's randomized layout, as a production server runs."),
        click.option("--preload", is_flag=True,
                     help="gunicorn --preload: import the app in the arbiter before forking."),
        click.option("--server", type=click.Choice(SERVERS), default="gunicorn",
                     show_default=True, help="; ".join(f"{k.name}: {k.help}"
                                                        for k in KINDS.values())),
    ]  # fmt: skip
    for opt in opts:
        f = opt(f)
    return f


def format_option(choices=FORMATS, default="table"):
    return click.option(
        "--format", "fmt", type=click.Choice(choices), default=default, show_default=True,
        help="table for people; json (the whole results document), csv or markdown for programs.",
    )  # fmt: skip


def make_spec(server, limit, host, port, workers, worker_class, threads, worker_timeout,
              limit_kind="as", layout="fixed", preload=False, workload=None
              ) -> ServerSpec:  # fmt: skip
    """Turn the parsed options into a frozen ServerSpec; warn about a non-loopback host."""
    if not is_loopback(host):
        click.echo(
            f"warning: binding {host}: the service (and its memory) is reachable from "
            "other machines; use --host 127.0.0.1 unless you mean it",
            err=True,
        )
    return ServerSpec(
        server=server,
        limit_bytes=limit,
        limit_kind=limit_kind,
        host=host,
        port=port,
        workers=workers,
        worker_class=worker_class,
        threads=threads,
        timeout_s=worker_timeout,
        layout=layout,
        preload=preload,
        **({"app": workload.app, "chdir": workload.chdir} if workload is not None else {}),
    )


def workload_options(f):
    """--fn | --app (--chdir, --request, --json, --header, --n-env, --expect) |
    --workloads FILE --workload NAME: what to probe."""
    opts = [
        click.option("--workload", "workload_name", default=None, metavar="NAME",
                     help="The workload of --workloads to probe."),
        click.option("--workloads", "workloads_file", default=None, metavar="FILE",
                     type=click.Path(dir_okay=False, path_type=Path),
                     help="A workload file: probe.toml ([workloads.NAME] tables) or a "
                     "pyproject.toml ([tool.probe.workloads.NAME])."),
        click.option("--expect", default=None, metavar="TEXT",
                     help="The answer body must contain TEXT ({n} filled in), e.g. "
                     "'size={n} '. Default: any 2xx answer is right."),
        click.option("--n-env", default=None, metavar="NAME",
                     help="n reaches the app at start-up as environment variable NAME: "
                     "each probe starts its server with NAME=n."),
        click.option("--header", "headers", multiple=True, metavar="'NAME: VALUE'",
                     help="A request header; {n} and {env:VAR} are filled in (a token "
                     "as {env:APP_TOKEN} is read from probe's environment, never recorded)."),
        click.option("--json", "json_body", default=None, metavar="TEMPLATE",
                     help="JSON body template, e.g. '{\"area\": 50, \"n\": {n}}'."),
        click.option("--request", "request_line", default=None, metavar="'METHOD /PATH'",
                     help="The request, with {n} where n goes, e.g. 'GET /predict?batch={n}'."),
        click.option("--chdir", default=None, metavar="DIR",
                     type=click.Path(file_okay=False, path_type=Path),
                     help="Folder to import --app from (default: the current folder)."),
        click.option("--app", default=None, metavar="MODULE:ATTR",
                     help="Your WSGI app, named as gunicorn names it, e.g. mymodel.wsgi:app."),
        click.option("--fn", default=None, type=click.Choice(BUILTIN_FNS),
                     help="A built-in workload: the seminar's predictor cpu_bounded (a "
                     "Python list of n ints), cpu_multithread (numpy.arange(n)) or "
                     "io_bounded (a 1 s sleep, no n)."),
    ]  # fmt: skip
    for opt in opts:
        f = opt(f)
    return f


def make_workload(fn, app, chdir, request_line, json_body, headers, n_env, expect,
                  workloads_file, workload_name):  # fmt: skip
    """The Workload the options name; a one-line usage error if they name none or two."""
    custom = any(x for x in (app, chdir, request_line, json_body, headers, n_env, expect))
    given = [x for x in (fn and "--fn", app and "--app", workloads_file and "--workloads") if x]
    if len(given) > 1:
        raise click.UsageError(f"{' and '.join(given)} both name a workload; pass one of them")
    try:
        if workloads_file is not None or workload_name is not None:
            return _from_file(workloads_file, workload_name)
        if fn is not None:
            if custom:
                raise click.UsageError(
                    "--fn is a built-in workload; --request, --json, --header, --n-env, "
                    "--expect and --chdir describe your own --app"
                )
            return builtin(fn)
        if app is None:
            raise click.UsageError(
                "say what to probe: --fn cpu_bounded, --app MODULE:ATTR --request "
                "'GET /path?n={n}', or --workloads probe.toml --workload NAME"
            )
        where = (chdir or Path.cwd()).resolve()
        return Workload(
            name=app.partition(":")[0],
            app=app,
            chdir=str(where),
            request=request_line or "GET /",
            json=json_body,
            headers=tuple(parse_header(h) for h in headers),
            n_env=n_env,
            expect=expect,
        )
    except WorkloadError as exc:
        raise click.UsageError(str(exc)) from None


def _from_file(path, name):
    path = path or find_workloads_file(Path.cwd())
    if path is None:
        raise click.UsageError(
            "--workload needs a workload file: pass --workloads probe.toml, or put probe.toml here"
        )
    found = load_workload_file(path)
    if name is None:
        if len(found) == 1:
            return next(iter(found.values()))
        raise click.UsageError(f"{path} has workloads {', '.join(found)}; pass --workload NAME")
    if name not in found:
        raise click.UsageError(f"{path} has no workload {name!r}; it has {', '.join(found)}")
    return found[name]


def load_workload_file(path: Path) -> dict:
    if not path.is_file():
        raise click.UsageError(f"{path}: no such workload file; pass --workloads FILE")
    try:
        found = load_workloads(path)
    except WorkloadError as exc:
        raise click.UsageError(str(exc)) from None
    if not found:
        raise click.UsageError(f"{path} defines no workloads; add a [workloads.NAME] table")
    return found


def friendly_errors(f):
    """Turn the library's user-facing errors into one-line exits; signals into 130/143."""

    @functools.wraps(f)
    def wrapper(*args, **kwargs):
        try:
            with interrupt.handling():
                return f(*args, **kwargs)
        except interrupt.Interrupted as exc:
            click.echo(f"interrupted by {exc}; servers stopped, results kept", err=True)
            sys.exit(exc.exit_code)
        except KeyboardInterrupt:
            click.echo("interrupted; servers stopped, results kept", err=True)
            sys.exit(130)
        except (ServerError, results.ResultsError, MonitorError, WorkloadError) as exc:
            tail = getattr(exc, "log_tail", "")
            if tail and click.get_current_context().find_root().params.get("verbose"):
                click.echo(f"Error: {exc}\n{tail}", err=True)  # the one line first
                sys.exit(1)
            raise click.ClickException(str(exc)) from None
        except OSError as exc:
            where = f" {exc.filename}" if exc.filename else ""
            raise click.ClickException(f"{exc.strerror or exc}:{where}") from None

    return wrapper


class OneLineUsageError(click.ClickException):
    """A usage error shown as its one-line message, without click's usage block."""

    exit_code = 2


class ProbeGroup(click.Group):
    """Prints every usage error as one line "Error: <what is wrong; what to do>", exit 2."""

    def make_context(self, *args, **kwargs):
        try:
            return super().make_context(*args, **kwargs)
        except click.UsageError as exc:
            raise _one_line(exc) from None

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except click.UsageError as exc:
            raise _one_line(exc) from None


def _one_line(exc: click.UsageError) -> click.ClickException:
    if type(exc).__name__ == "NoArgsIsHelpError":  # click >= 8.2 shows help for bare `probe`
        return exc
    return OneLineUsageError(exc.format_message())


# -- commands ----------------------------------------------------------------------
@click.group(cls=ProbeGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="probe")
@click.option("-v", "--verbose", is_flag=True, help="On errors, also print the server's log.")
def main(verbose):
    """Find how large an input a Python web service can take before it runs out of memory.

    probe starts the seminar's house-price service under Flask's dev server or gunicorn
    with a memory cap, searches the critical n exactly, and explains the difference
    between servers and concurrency from measured data.

    \b
    Example:
      probe max-n --fn cpu_bounded --limit 2G
      probe study
    """


@main.command()
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
@server_options
@limit_options(default="1G")
@friendly_errors
def serve(env_pairs, chdir, app, server, preload, layout, limit, limit_kind, host, port, workers,
          worker_class, threads, worker_timeout):  # fmt: skip
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
    """
    from probe.measure.memory import Monitor
    from probe.servers.process import Server

    if limit_kind == "rss" and limit is None:
        raise click.UsageError("--limit-kind rss needs a --limit; pass e.g. --limit 1G")
    extra = {}
    for pair in env_pairs:
        name, eq, value = pair.partition("=")
        if not eq or not name:
            raise click.BadParameter(f"{pair!r} is not NAME=VALUE", param_hint="--env")
        extra[name] = value
    spec = make_spec(server, limit, host, port, workers, worker_class, threads, worker_timeout,
                     limit_kind, layout, preload)  # fmt: skip
    if app is not None:
        from dataclasses import replace

        spec = replace(spec, app=app, chdir=str((chdir or Path.cwd()).resolve()))
    srv = Server(spec, extra)
    try:
        srv.start()
        with Monitor(srv.pids, kill_above_bytes=spec.watchdog_bytes, keep_samples=False):
            how = "RLIMIT_AS" if limit_kind == "as" else "RSS watchdog"
            click.echo(f"{server} serving {spec.app} at {srv.url} (layout {srv.layout})")
            click.echo(f"pids: {srv.pids()} (workers: {srv.worker_pids()})")
            click.echo(f"memory cap: {format_size(limit)} ({how}) per process; Ctrl-C stops it")
            click.echo(f"command: {shell_command(srv)}")
            srv.new_events()  # the boot messages of the workers listed above
            while srv.alive():
                interrupt.sleep(0.5)
                for event in srv.new_events():
                    click.echo(f"{server}: {event.describe()}", err=True)
            raise click.ClickException(f"the server stopped by itself ({srv.exits or 'no status'})")
    finally:
        srv.close()


def shell_command(srv) -> str:
    """The server's command line as a shell would run it, with the variables probe sets."""
    import shlex

    from probe.servers.spec import pinned_env

    env = {**pinned_env(srv.spec), **srv.extra_env}
    env["PYTHONPATH"] = srv.env()["PYTHONPATH"]
    assigns = " ".join(f"{k}={shlex.quote(v)}" for k, v in env.items())
    return f"env {assigns} {shlex.join(srv.argv())}"


@main.command("max-n")
@workload_options
@server_options
@limit_options(default="1G")
@click.option("--concurrency", type=click.IntRange(1, 1000), default=1, show_default=True,
              help="Identical requests fired at once per probe; a probe succeeds only if "
              "all do.")  # fmt: skip
@click.option(
    "--precision",
    type=float,
    default=0.01,
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
@click.option("--request-timeout", type=click.FloatRange(0.1), default=120.0,
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
    from probe.studies import maxn

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
        lanes = maxn.auto_lanes(spec, concurrency, url)
    cold = not warm and not url
    cfg = maxn.MaxNConfig(
        workload=workload,
        spec=spec,
        concurrency=concurrency,
        search=SearchConfig(
            strategy=strategy,
            precision=precision,
            max_probes=max_probes,
            limit_bytes=limit,
            confirm=maxn.confirm_policy(confirm, cold, layout),
            lanes=lanes,
        ),
        url=url,
        timeout_s=request_timeout,
        token=token,
        fresh=not warm,
        band=band,
    )
    path = out or maxn.default_path(cfg)
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


# -- the study: matrix, compare, report --------------------------------------------
# `probe study` at this cap took 105 s on 2 cores, 223 s at 1G (README); every study
# command shares it, so they find each other's max-n results.
STUDY_LIMIT = "512M"
STUDY_FNS = SEMINAR_FNS
STUDY_BAND = 3  # layouts per n of the band of the study's single-request searches


def _name_list(allowed: tuple[str, ...], what: str):
    """A callback reading a comma-separated list of names from `allowed`."""

    def parse(ctx, param, value: str) -> tuple[str, ...]:
        names = tuple(dict.fromkeys(x.strip() for x in value.split(",") if x.strip()))
        if not names:
            raise click.BadParameter(f"give at least one {what}: {', '.join(allowed)}")
        for name in names:
            if name not in allowed:
                raise click.BadParameter(
                    f"unknown {what} {name!r}; choose from {', '.join(allowed)}"
                )
        return names

    return parse


def _names(value: str | None) -> tuple[str, ...] | None:
    """A comma-separated list of names (None if not given)."""
    if value is None:
        return None
    names = tuple(dict.fromkeys(x.strip() for x in value.split(",") if x.strip()))
    if not names:
        raise click.BadParameter("give at least one name")
    return names


def _parse_n(ctx, param, value: str) -> int | None:
    """--n: 'auto' (None) or a whole number >= 1."""
    if value.strip().lower() == "auto":
        return None
    try:
        n = int(value.replace("_", ""))
    except ValueError:
        n = 0
    if n < 1:
        raise click.BadParameter(f"must be 'auto' or a whole number >= 1, not {value!r}")
    return n


def _parse_fraction(ctx, param, value: float) -> float:
    """--margin: a share of the critical n in (0, 1]."""
    if not 0 < value <= 1:
        raise click.BadParameter(f"must be in (0, 1], e.g. 0.9; got {value:g}")
    return value


def _parse_precision(ctx, param, value: float) -> float:
    if not 0 < value < 1:
        raise click.BadParameter(f"must be between 0 and 1, e.g. 0.02; got {value:g}")
    return value


def results_option(f):
    return click.option(
        "--results", "results_dir", type=click.Path(file_okay=False, path_type=Path),
        default=Path("results"), show_default=True,
        help="Folder of the results documents (max-n/, matrix.json, compare.json, REPORT.md).",
    )(f)  # fmt: skip


def study_options(f):
    """--requests, --concurrency, --servers, --margin, --precision, --results, --logs."""
    opts = [
        click.option("--logs", "log_dir", type=click.Path(file_okay=False, path_type=Path),
                     default=Path("log"), show_default=True,
                     help="Folder of the seminar-style logs <server>_<fn>.txt."),
        results_option,
        click.option("--precision", type=float, default=0.02, show_default=True,
                     callback=_parse_precision,
                     help="Searches stop when first_failing_n / critical_n - 1 <= this."),
        click.option("--margin", type=float, default=0.9, show_default=True,
                     callback=_parse_fraction,
                     help="--n auto runs each variant at margin x its critical n."),
        click.option("--servers", default=",".join(SERVERS), show_default=True,
                     callback=_name_list(SERVERS, "server"), help="Comma-separated servers."),
        click.option("--concurrency", type=click.IntRange(1, 1000), default=10,
                     show_default=True, help="Requests in flight at once (at most --requests)."),
        click.option("--requests", type=click.IntRange(1, 1000), default=10, show_default=True,
                     help="Requests per variant, with areas 10, 20, 30, ..."),
    ]  # fmt: skip
    for opt in opts:
        f = opt(f)
    return f


def _check_cap(limit: int | None, limit_kind: str, needs_cap: bool) -> None:
    if limit is None and (needs_cap or limit_kind == "rss"):
        raise click.BadParameter(
            "searching the critical n needs a cap; pass e.g. --limit 512M", param_hint="--limit"
        )


def workloads_option(f):
    return click.option(
        "--workloads", "workloads_file", default=None, metavar="FILE",
        type=click.Path(dir_okay=False, path_type=Path),
        help="Run the workloads of this file (probe.toml, or a pyproject.toml with "
        "[tool.probe.workloads.NAME]) instead of the seminar's predictors.",
    )(f)  # fmt: skip


def chosen_workloads(workloads_file, names, default: tuple[str, ...]) -> tuple:
    """The workloads to run: the file's (all, or --fns NAMES of them), else built-ins."""
    from probe.workload.builtins import builtin

    if workloads_file is None:
        return tuple(builtin(fn) for fn in (names or default))
    found = load_workload_file(workloads_file)
    for name in names or ():
        if name not in found:
            raise click.BadParameter(
                f"{workloads_file} has no workload {name!r}; it has {', '.join(found)}",
                param_hint="--fns",
            )
    return tuple(found[name] for name in (names or found))


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
    from probe.studies import matrix as matrix_mod

    try:
        doc = matrix_mod.run(cfg, cfg.results_dir / "matrix.json")
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


@main.command()
@click.option(
    "--n",
    "n",
    default="auto",
    show_default=True,
    callback=_parse_n,
    help="auto: margin x the critical n of each predictor on each server at this "
    "concurrency (searched if missing); a number runs every variant at that n.",
)
@click.option(
    "--fns",
    default=None,
    callback=lambda ctx, param, value: _names(value),
    help="Comma-separated workloads: the seminar's predictors (default: "
    f"{','.join(STUDY_FNS)}), or names of the --workloads file (default: all of them).",
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

    _check_cap(limit, limit_kind, needs_cap=n is None)
    if workloads_file is None and fns:
        try:
            _name_list(STUDY_FNS, "predictor")(None, None, ",".join(fns))
        except click.BadParameter as exc:  # called by hand, so click cannot name the option
            raise click.BadParameter(exc.message, param_hint=["--fns"]) from None
    workloads = chosen_workloads(workloads_file, fns, STUDY_FNS)
    cfg = _matrix_config(n, limit, limit_kind, requests, concurrency, servers, workloads,
                         margin, precision, results_dir, log_dir)  # fmt: skip
    doc = _run_matrix(cfg)
    click.echo(render_matrix(doc, fmt), nl=False)
    click.echo(f"results: {results_dir / 'matrix.json'}; logs: {log_dir}/", err=True)


@main.command()
@click.option(
    "--concurrency",
    type=click.IntRange(1, 1000),
    default=10,
    show_default=True,
    help="The load's concurrency (the matrix's); the single request is always in.",
)
@click.option(
    "--servers",
    default=",".join(SERVERS),
    show_default=True,
    callback=_name_list(SERVERS, "server"),
    help="Comma-separated servers.",
)
@click.option(
    "--precision",
    type=float,
    default=0.02,
    show_default=True,
    callback=_parse_precision,
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

    _check_cap(limit, limit_kind, needs_cap=True)
    cfg = _catalog_config(limit, limit_kind, precision, results_dir)
    workloads = chosen_workloads(workloads_file, None, ()) if workloads_file else None
    doc = _run_compare(cfg, concurrency, servers, workloads)
    click.echo(render_compare(doc, fmt), nl=False)
    click.echo(f"results: {results_dir / 'compare.json'}", err=True)


@main.command()
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


@main.command()
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

    _check_cap(limit, limit_kind, needs_cap=True)
    t0 = time.monotonic()
    cfg = _catalog_config(limit, limit_kind, precision, results_dir, band=STUDY_BAND)
    workloads = chosen_workloads(workloads_file, None, STUDY_FNS)
    searched = [w for w in workloads if w.takes_n]
    compared = _run_compare(cfg, min(concurrency, requests), servers, tuple(searched) or None)
    mcfg = _matrix_config(None, limit, limit_kind, requests, concurrency, servers, workloads,
                          margin, precision, results_dir, log_dir)  # fmt: skip
    doc = _run_matrix(mcfg)
    path, plots = report_mod.run(results_dir)
    click.echo(render_matrix(doc, "table"))
    click.echo(render_compare(compared, "table"))
    click.echo(f"report: {path} ({len(plots)} plots); study took {time.monotonic() - t0:.0f} s")


if __name__ == "__main__":  # pragma: no cover
    main()
