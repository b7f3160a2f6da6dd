"""Option groups shared by the commands, and the parameter types they read; every
default comes from probe.defaults or ServerSpec.

A group reaches its command as one object (`group`): the limit options as a `Cap`,
the server options as `ServerFlags`, the workload options as `WorkloadFlags`, the
study options as `StudyFlags`, so a command takes a handful of values, not thirty.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import click

from probe.cli.sections import (
    ANSWER,
    INTERNALS,
    LIMIT,
    OUTPUT,
    REQUEST,
    SERVER,
    WHAT,
    SectionedOption,
)
from probe.cli.workloads import WorkloadFlags
from probe.defaults import (
    LOAD_CONCURRENCY,
    LOAD_REQUESTS,
    LOG_DIR,
    MARGIN,
    MAXN_LIMIT,
    REQUEST_TIMEOUT_S,
    RESULTS_DIR,
    STUDY_PRECISION,
)
from probe.report.cells import FORMATS
from probe.servers import cgroup, settings
from probe.servers.capexec import LAYOUTS
from probe.servers.kinds import KINDS, SERVERS
from probe.servers.limits import LIMIT_KINDS
from probe.servers.process import is_loopback
from probe.servers.spec import DEFAULTS, ServerSpec
from probe.sizes import SizeError, parse_size
from probe.workload.bodies import SEPARATORS
from probe.workload.seminar import BUILTIN_FNS


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


def group(into: str, make: Callable[..., object], opts: list[Callable]) -> Callable:
    """Options that reach the command as one keyword argument, `into` = make(**values).

    Options are listed bottom-up (the last one shows first in --help), as they stack."""

    def deco(f):
        @functools.wraps(f)
        def command(*args, **kwargs):
            kwargs[into] = make(**{name: kwargs.pop(name) for name in names})
            return f(*args, **kwargs)

        before = len(getattr(command, "__click_params__", []))
        for opt in opts:
            command = opt(command)
        names = [p.name for p in command.__click_params__[before:]]
        return command

    return deco


@dataclass(frozen=True)
class Cap:
    """--limit, --limit-kind and --oom-group."""

    limit: int | None
    limit_kind: str
    oom_group: bool = False
    cgroup_parent: str | None = None

    def __post_init__(self) -> None:
        """--limit-kind cgroup: where the servers' cgroups go, found now (or one line
        that says what gives one)."""
        if self.cgroup_parent is not None and self.limit_kind != "cgroup":
            raise click.BadParameter("applies to --limit-kind cgroup only",
                                     param_hint="--cgroup-parent")  # fmt: skip
        if self.limit_kind == "cgroup":
            try:
                cgroup.choose(self.cgroup_parent)
            except cgroup.CgroupUnavailable as exc:
                raise click.BadParameter(str(exc), param_hint="--limit-kind") from None

    def check(self, needs_cap: bool) -> None:
        """A search needs a cap, and the rss watchdog a size to watch for."""
        if self.limit is None and (needs_cap or self.limit_kind != "as"):
            raise click.BadParameter(
                "searching the critical n needs a cap; pass e.g. --limit 512M",
                param_hint="--limit",
            )


def limit_options(default: str = MAXN_LIMIT):
    """--limit and --limit-kind, shared by every command that measures: `cap`, a Cap."""

    def kind(f):
        return click.option(
            "--limit-kind",
            cls=SectionedOption,
            section=LIMIT,
            type=click.Choice(LIMIT_KINDS),
            default=DEFAULTS["limit_kind"],
            show_default=True,
            help="as: RLIMIT_AS on every server process (MemoryError inside Python). "
            "rss: a watchdog SIGKILLs a process whose RSS passes the cap, "
            "emulating a container's OOM killer. tree: one budget for the server's whole "
            "process tree, counted as a container's memory cgroup counts it (anonymous "
            "memory, pages the processes share once); past it, the largest process is "
            "SIGKILLed, as the kernel's OOM killer picks. cgroup: each server in a real "
            "cgroup v2 of its own with memory.max = the limit; the kernel reclaims and "
            "OOM-kills (needs root or a delegated cgroup; see --cgroup-parent).",
        )(f)

    def parent(f):
        return click.option(
            "--cgroup-parent", metavar="PATH",
            help="With --limit-kind cgroup: the cgroup (under /sys/fs/cgroup) to make "
            "each server's cgroup in; its cgroup.subtree_control must name memory. "
            "Default: the cgroup probe runs in (the root cgroup as root in a VM or "
            "container, or a scope from systemd-run --user --scope -p Delegate=yes).",
        )(f)  # fmt: skip

    def group_kill(f):
        return click.option(
            "--oom-group", cls=SectionedOption, section=LIMIT, is_flag=True,
            help="With --limit-kind tree or cgroup: past the budget, kill the whole tree, as "
            "Kubernetes does on cgroup v2 (memory.oom.group).",
        )(f)  # fmt: skip

    size = click.option(
        "--limit",
        cls=SectionedOption,
        section=LIMIT,
        type=SIZE,
        default=default,
        show_default=True,
        help="Memory cap per server process (with --limit-kind tree or cgroup: for the whole "
        "server): 512M, 2G, 1.5GiB, bytes, or none. "
        "K/M/G are powers of two.",
    )
    return group("cap", Cap, [parent, group_kill, kind, size])


# Options of the servers probe builds, which a --cmd sets itself: (option, its name in
# ServerFlags, what to do instead).
BUILT_SERVER_ONLY = (
    ("--server", "server", "your command names its server"),
    *((x.flag, x.param, x.with_cmd) for x in settings.PREFORK),
)


def setting_option(x: settings.Setting):
    """The option of one pre-fork setting, its default the ServerSpec's."""
    if x.kind is bool:
        return click.option(x.flag, x.param, cls=SectionedOption, section=SERVER,
                            is_flag=True, help=x.help)  # fmt: skip
    kind = click.IntRange(1) if x.kind is int else str
    return click.option(x.flag, x.param, cls=SectionedOption, section=SERVER, type=kind,
                        default=DEFAULTS[x.field], show_default=True, help=x.help)  # fmt: skip


def given_on_command_line(name: str) -> bool:
    """Whether the option named `name` (its Python name) was typed, not defaulted."""
    ctx = click.get_current_context(silent=True)
    source = ctx.get_parameter_source(name) if ctx is not None else None
    return source is click.core.ParameterSource.COMMANDLINE


@dataclass(frozen=True)
class ServerFlags:
    """The server options, as given."""

    server: str
    layout: str
    host: str
    port: int
    start_timeout: float
    prefork: Mapping[str, object]  # each pre-fork setting's option value, by its param

    @classmethod
    def given(cls, **values) -> ServerFlags:
        """From the options' values: the pre-fork settings' gathered (settings.PREFORK)."""
        prefork = {x.param: values.pop(x.param) for x in settings.PREFORK}
        return cls(**values, prefork=prefork)

    def spec(self, cap: Cap, workload=None) -> ServerSpec:
        """The frozen ServerSpec; warns about a host other than loopback; a usage error
        for an option of the built-in servers given with a --cmd, which sets its own."""
        if workload is not None and workload.cmd:
            self.refuse_with_cmd()
        if not is_loopback(self.host):
            click.echo(
                f"warning: binding {self.host}: the service (and its memory) is reachable "
                "from other machines; use --host 127.0.0.1 unless you mean it",
                err=True,
            )
        spec = ServerSpec(
            server=self.server, limit_bytes=cap.limit, limit_kind=cap.limit_kind,
            host=self.host, port=self.port, layout=self.layout,
            ready_timeout_s=self.start_timeout, oom_group=cap.oom_group,
            **{x.field: self.prefork[x.param] for x in settings.PREFORK},
        )  # fmt: skip
        if workload is None:
            return spec
        return spec.running(workload.app, workload.chdir, workload.cmd)

    def refuse_with_cmd(self) -> None:
        """A usage error naming the first built-in-server option given with --cmd."""
        for flag, name, instead in BUILT_SERVER_ONLY:
            if given_on_command_line(name):
                raise click.UsageError(f"{flag} does not apply to --cmd, which starts the server "
                                       f"as written: {instead}")  # fmt: skip


def server_options(f):
    """--server, --layout, the pre-fork settings (--workers, ...), --host, --port,
    --start-timeout: `server_flags`, a ServerFlags."""
    opts = [
        click.option("--start-timeout", cls=SectionedOption, section=SERVER,
                     type=click.FloatRange(0.1), show_default=True,
                     default=DEFAULTS["ready_timeout_s"],
                     help="Seconds a starting server may sit idle (its processes using "
                     "no CPU) before probe says it did not start. A server that keeps "
                     "computing (importing a model for minutes) is waited for; progress "
                     "says so every 10 s."),
        click.option("--port", cls=SectionedOption, section=SERVER,
                     type=click.IntRange(0, 65535), default=DEFAULTS["port"],
                     show_default=True,
                     help="Port to bind; 0 picks a free one."),
        click.option("--host", cls=SectionedOption, section=SERVER,
                     default=DEFAULTS["host"], show_default=True,
                     help="Address to bind. Anything but loopback exposes the service."),
        *(setting_option(x) for x in reversed(settings.PREFORK) if x.kind is not bool),
        click.option("--layout", cls=SectionedOption, section=SERVER,
                     type=click.Choice(LAYOUTS), default=DEFAULTS["layout"],
                     show_default=True, help="fixed: start the server with address-space "
                     "randomization off (as setarch -R), so a boundary repeats exactly; "
                     "random: the kernel's randomized layout, as a production server runs."),
        *(setting_option(x) for x in settings.PREFORK if x.kind is bool),
        click.option("--server", cls=SectionedOption, section=SERVER,
                     type=click.Choice(SERVERS), default=DEFAULTS["server"],
                     show_default=True, help="The server probe builds for --app or --fn: "
                     + "; ".join(f"{k.name}: {k.help}" for k in KINDS.values()
                                 if k.name in SERVERS)),
    ]  # fmt: skip
    return group("server_flags", ServerFlags.given, opts)(f)


def format_option(choices=FORMATS, default="table"):
    return click.option(
        "--format", "fmt", cls=SectionedOption, section=OUTPUT,
            type=click.Choice(choices), default=default, show_default=True,
        help="table for people; " + ", ".join(
            {"json": "json (the whole results document)", "csv": "csv",
             "markdown": "markdown"}[c] for c in choices if c != "table") + " for programs.",
    )  # fmt: skip


def workload_options(f):
    """--fn | --app or --cmd (--chdir, --request, --json, --header, --n-env, --expect) |
    --workloads FILE --workload NAME: what to probe, as `workload_flags`."""
    opts = [
        click.option("--workload", "workload_name", cls=SectionedOption, section=WHAT,
                     default=None, metavar="NAME",
                     help="The workload of --workloads to probe."),
        click.option("--workloads", "workloads_file", cls=SectionedOption, section=WHAT,
                     default=None, metavar="FILE",
                     type=click.Path(dir_okay=False, path_type=Path),
                     help="A workload file: probe.toml ([workloads.NAME] tables) or a "
                     "pyproject.toml ([tool.probe.workloads.NAME])."),
        click.option("--expect", cls=SectionedOption, section=REQUEST, default=None, metavar="TEXT",
                     help="The answer body must contain TEXT ({n} filled in), e.g. "
                     "'size={n} '. Default: any 2xx answer is right."),
        click.option("--n-param", cls=SectionedOption, section=REQUEST,
                     default=None, metavar="MODULE:FUNCTION.PARAM",
                     help="n is fixed in your code: each probe's server starts with this "
                     "parameter's default (MODULE:FUNCTION.PARAM) or module constant "
                     "(MODULE:NAME) set to n, your files unchanged, e.g. "
                     "utils:predict_cpu_bounded.n."),
        click.option("--n-env", cls=SectionedOption, section=REQUEST, default=None, metavar="NAME",
                     help="n reaches the app at start-up as environment variable NAME: "
                     "each probe starts its server with NAME=n."),
        click.option("--header", "headers", cls=SectionedOption, section=REQUEST,
                     multiple=True, metavar="'NAME: VALUE'",
                     help="A request header; {n} and {env:VAR} are filled in (a token "
                     "as {env:APP_TOKEN} is read from probe's environment, never recorded)."),
        click.option("--upload", cls=SectionedOption, section=REQUEST,
                     default=None, metavar="FIELD",
                     help="The body is multipart/form-data with a file of n bytes (the "
                     "letter x) in form field FIELD, as a browser uploads it."),
        click.option("--body-bytes", cls=SectionedOption, section=REQUEST, is_flag=True,
                     help="The body is n bytes (the letter x, application/octet-stream), "
                     "generated as it is sent."),
        click.option("--body-fn", cls=SectionedOption, section=REQUEST,
                     default=None, metavar="MODULE:FUNCTION",
                     help="The body (or the --upload file) from your own function, "
                     "imported from --chdir and called in probe's process: FUNCTION(n) "
                     "returns bytes or yields chunks, optionally as (body, content_type, "
                     "filename), e.g. bodies:png for an image of n x n pixels."),
        click.option("--n-unit", cls=SectionedOption, section=REQUEST, default=None, metavar="UNIT",
                     help="What n counts, in your words (rows, pixels per side, items): "
                     "the table labels n with it."),
        click.option("--content-type", cls=SectionedOption, section=REQUEST,
                     default=None, metavar="TYPE",
                     help="The content type of --content, --body-bytes or the --upload "
                     "file, e.g. text/csv."),
        click.option("--filename", cls=SectionedOption, section=REQUEST,
                     default=None, metavar="NAME",
                     help="The --upload file's name, e.g. data.csv (default upload.bin)."),
        click.option("--content", cls=SectionedOption, section=REQUEST,
                     default=None, metavar="TEMPLATE",
                     help="The body (or the --upload file) from a template that repeats "
                     "one piece n times, {n*PIECE}, e.g. a CSV header and n rows: "
                     "'a,b,c\\n{n*1.5,2.5,3.5\\n}' (\\n, \\t are unescaped)."),
        click.option("--json-separators", cls=SectionedOption, section=REQUEST, default=None,
                     type=click.Choice(list(SEPARATORS)),
                     help="How the --json body is written: spaced (default: ', ' and ': ', "
                     "as Python's json.dumps, requests and httpx send it) or compact (',' "
                     "and ':', as JavaScript's JSON.stringify and orjson do). The server "
                     "holds the body, so the two forms have different boundaries."),
        click.option("--json", "json_body", cls=SectionedOption, section=REQUEST,
                     default=None, metavar="TEMPLATE",
                     help="JSON body template, e.g. '{\"area\": 50, \"n\": {n}}'; "
                     "{n*ITEM} is an array of n copies of ITEM, a batch of n rows: "
                     "'{\"instances\": {n*[5.1, 3.5, 1.4, 0.2]}}'."),
        click.option("--request", "request_line", cls=SectionedOption, section=REQUEST,
                     default=None, metavar="'METHOD /PATH'",
                     help="The request, with {n} where n goes, e.g. 'GET /predict?batch={n}'."),
        click.option("--chdir", cls=SectionedOption, section=WHAT, default=None, metavar="DIR",
                     type=click.Path(file_okay=False, path_type=Path),
                     help="Folder to import --app from, or to run --cmd in "
                     "(default: the current folder)."),
        click.option("--app", cls=SectionedOption, section=WHAT,
                     default=None, metavar="MODULE:ATTR",
                     help="Your WSGI app, named as gunicorn names it, e.g. mymodel.wsgi:app; "
                     "probe starts it with --server."),
        click.option("--cmd", cls=SectionedOption, section=WHAT, default=None, metavar="'COMMAND'",
                     help="Your service's start command, as your Procfile or Dockerfile has "
                     "it, with {port} where the port goes: 'gunicorn -w 2 --bind "
                     "127.0.0.1:{port} myapp:app', 'uvicorn --port {port} main:app'. Run as "
                     "written (no shell), in your environment, under the cap and layout; "
                     "--server and its gunicorn options do not apply."),
        click.option("--fn", cls=SectionedOption, section=WHAT,
                     default=None, type=click.Choice(BUILTIN_FNS),
                     help="A built-in workload: the seminar's predictor cpu_bounded (a "
                     "Python list of n ints), cpu_multithread (numpy.arange(n)) or "
                     "io_bounded (a 1 s sleep, no n)."),
    ]  # fmt: skip
    return group("workload_flags", WorkloadFlags, opts)(f)


def name_list(allowed: tuple[str, ...], what: str):
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


def names_list(value: str | None) -> tuple[str, ...] | None:
    """A comma-separated list of names (None if not given)."""
    if value is None:
        return None
    names = tuple(dict.fromkeys(x.strip() for x in value.split(",") if x.strip()))
    if not names:
        raise click.BadParameter("give at least one name")
    return names


def parse_n(ctx, param, value: str) -> int | None:
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


def parse_precision(ctx, param, value: float) -> float:
    if not 0 < value < 1:
        raise click.BadParameter(f"must be between 0 and 1, e.g. {param.default:g}; got {value:g}")
    return value


def results_option(f):
    return click.option(
        "--results", "results_dir", type=click.Path(file_okay=False, path_type=Path),
        default=Path(RESULTS_DIR), show_default=True,
        help="Folder of the results documents (max-n/, matrix.json, compare.json, REPORT.md).",
    )(f)  # fmt: skip


@dataclass(frozen=True)
class StudyFlags:
    """The options every study command shares."""

    requests: int
    concurrency: int
    servers: tuple[str, ...]
    margin: float
    precision: float
    results_dir: Path
    log_dir: Path
    no_check: bool


def precision_option(default: float):
    """--precision, declared once for every command that searches; its default is the
    command's (max-n: MAXN_PRECISION, the study's searches: STUDY_PRECISION)."""
    return click.option(
        "--precision", cls=SectionedOption, section=ANSWER,
            type=float, default=default, show_default=True,
        callback=parse_precision,
        help="Searches stop when first_failing_n / critical_n - 1 <= this.",
    )  # fmt: skip


def servers_option(f):
    """--servers, declared once for the study's commands."""
    return click.option(
        "--servers", default=",".join(SERVERS), show_default=True,
        callback=name_list(SERVERS, "server"), help="Comma-separated servers.",
    )(f)  # fmt: skip


def concurrency_option(default: int, help: str):
    """--concurrency, declared once: requests at once, what they mean the command's."""
    return click.option("--concurrency", cls=SectionedOption, section=ANSWER,
                        type=click.IntRange(1, 1000), default=default,
                        show_default=True, help=help)  # fmt: skip


# --request-timeout: declared once, joined into max-n's search options, explain and plan.
request_timeout_option = click.option(
    "--request-timeout", cls=SectionedOption, section=INTERNALS,
        type=click.FloatRange(0.1), default=REQUEST_TIMEOUT_S,
    show_default=True, help="Seconds to wait for one answer.",
)  # fmt: skip


def risk_option(help: str):
    """--risk, declared once: the failure rate an answer may carry (probe.search.rate);
    what fails at that rate is the command's (`help`)."""
    from probe.search import rate

    return click.option("--risk", cls=SectionedOption, section=ANSWER,
                        type=click.FloatRange(0.001, 0.5), default=rate.RISK,
                        show_default=True, metavar="P", help=help)  # fmt: skip


# --no-check: declared once, joined into max-n's search options and the study commands'.
no_check_option = click.option(
    "--no-check", cls=SectionedOption, section=ANSWER, is_flag=True,
    help="Skip the re-check: by default both ends of every search are probed again on "
    "fresh servers, the first request as soon as the port accepts and --settle s after "
    "the workers wait (max-n), and where an outcome moves the band is measured.",
)  # fmt: skip


def study_options(f):
    """--requests, --concurrency, --servers, --margin, --precision, --no-check, --results,
    --logs: `study_flags`, a StudyFlags."""
    opts = [
        no_check_option,
        click.option("--logs", "log_dir", type=click.Path(file_okay=False, path_type=Path),
                     default=Path(LOG_DIR), show_default=True,
                     help="Folder of the seminar-style logs <server>_<fn>.txt."),
        results_option,
        precision_option(STUDY_PRECISION),
        click.option("--margin", type=float, default=MARGIN, show_default=True,
                     callback=_parse_fraction,
                     help="--n auto runs each variant at margin x its critical n."),
        servers_option,
        concurrency_option(LOAD_CONCURRENCY, "Requests in flight at once (at most --requests)."),
        click.option("--requests", type=click.IntRange(1, 1000), default=LOAD_REQUESTS,
                     show_default=True,
                     help="Requests per variant, with areas 10, 20, 30, ..."),
    ]  # fmt: skip
    return group("study_flags", StudyFlags, opts)(f)


def workloads_option(f):
    return click.option(
        "--workloads", "workloads_file", cls=SectionedOption, section=WHAT,
            default=None, metavar="FILE",
        type=click.Path(dir_okay=False, path_type=Path),
        help="Run the workloads of this file (probe.toml, or a pyproject.toml with "
        "[tool.probe.workloads.NAME]) instead of the seminar's predictors.",
    )(f)  # fmt: skip
