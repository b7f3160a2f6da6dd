"""`probe max-n`: the critical n of one workload on one server configuration."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import click

from probe import stats
from probe.cli.errors import friendly_errors
from probe.cli.options import (
    Cap,
    ServerFlags,
    concurrency_option,
    format_option,
    group,
    limit_options,
    no_check_option,
    precision_option,
    request_timeout_option,
    risk_option,
    server_options,
    workload_options,
)
from probe.cli.sections import (
    ANSWER,
    INTERNALS,
    OUTPUT,
    SectionedCommand,
    SectionedOption,
)
from probe.cli.workloads import WorkloadFlags
from probe.defaults import (
    MAXN_LIMIT,
    MAXN_PRECISION,
    RECHECK_RATE,
    RECHECK_TRIES,
    SETTLE_S,
    WARM_REQUESTS,
)
from probe.outcome import CannotProbe, Kind
from probe.search import rate
from probe.search.critical import CONFIRM_POLICIES, STRATEGIES, SearchConfig
from probe.studies import warm
from probe.workload import growth


@dataclass(frozen=True)
class SearchFlags:
    """max-n's own options: how to search, and on which servers."""

    concurrency: int
    precision: float
    strategy: str
    confirm: str
    fresh: bool
    band: int | None
    lanes: int | None
    max_probes: int
    request_timeout: float
    url: str | None
    token: str | None
    settle: float
    no_check: bool
    recheck_tries: int
    same_answer_ok: bool
    warm_requests: int
    cold_only: bool
    n_start: int | None
    risk: float

    def config(self, workload, spec, limit: int | None):
        """The run these options ask for; lanes and the confirm policy as the rules pick."""
        from probe.cli.options import given_on_command_line
        from probe.search.critical import SearchConfig
        from probe.studies import question

        if self.token and not self.url and given_on_command_line("token"):
            raise click.UsageError(
                "--token is sent only to a --url server; for a server probe starts, put it "
                "in a header: --header 'Authorization: Bearer {env:APP_TOKEN}'"
            )
        lanes = self.lanes or question.auto_lanes(spec, self.concurrency, self.url)
        fresh_servers = self.fresh and not self.url
        search = SearchConfig(
            strategy=self.strategy, precision=self.precision, max_probes=self.max_probes,
            limit_bytes=limit,
            confirm=question.confirm_policy(self.confirm, fresh_servers, spec.layout),
            lanes=lanes, n_start=self.n_start or SearchConfig.n_start,
        )  # fmt: skip
        return question.MaxNConfig(
            workload=workload, spec=spec, concurrency=self.concurrency, search=search,
            url=self.url, request_timeout_s=self.request_timeout, token=self.token,
            fresh=self.fresh, band=self.band, check=not self.no_check,
            settle_s=self.settle, same_answer_ok=self.same_answer_ok,
            warm_requests=0 if self.cold_only else self.warm_requests,
            learn_first_sizes=self.n_start is None, risk=self.risk,
            recheck_tries=self.recheck_tries,
        )  # fmt: skip


# --recheck-tries: the tries at the critical n, and what they buy and cost.
recheck_tries_option = click.option(
    "--recheck-tries", cls=SectionedOption, section=ANSWER, type=click.IntRange(2, 100),
    default=RECHECK_TRIES, show_default=True, metavar="K",
    help="The re-check tries the critical n on K fresh servers in all (the search's own "
    f"probe and both timings counted). {RECHECK_TRIES} catch a service failing there 1 "
    f"time in {round(1 / RECHECK_RATE)} with probability "
    f"{stats.catch_probability(RECHECK_TRIES, RECHECK_RATE):.2f}; each try costs a boot and "
    "a request, so a slow service may take fewer (2: the two timings).",
)  # fmt: skip


def search_options(f):
    """max-n's own options, as `search`: a SearchFlags."""
    opts = [
        click.option(
            "--n-start",
            cls=SectionedOption,
            section=ANSWER,
            type=click.IntRange(1),
            default=None,
            metavar="N",
            help=f"The first n probed (then 2N, 4N, ...). Default: {SearchConfig.n_start:,}, "
            "or where the body is what n sizes, learned from the body at small n so that "
            f"4N sends at most 1/{round(1 / growth.START_SHARE)} of the limit and builds "
            f"within {growth.START_BUILD_S:g} s (an image of N x N pixels starts at a few "
            "thousand).",
        ),
        risk_option(
            "Where fresh servers disagree at one n (the re-check saw it move), the "
            "critical n is the n at which at most this share of fresh servers fails its "
            "first request, fitted to every probe near the boundary, at "
            f"{rate.CONFIDENCE:.0%} confidence. 0.05: a rolling restart of 20 servers "
            "meets about one such failure at that n."
        ),
        click.option(
            "--cold-only",
            cls=SectionedOption,
            section=ANSWER,
            is_flag=True,
            help="Skip the warm phase: the answer is for a server's first request only "
            "(faster; a server that served other requests may take less).",
        ),
        click.option(
            "--warm-requests",
            cls=SectionedOption,
            section=ANSWER,
            type=click.IntRange(1, 10_000),
            default=WARM_REQUESTS,
            show_default=True,
            metavar="N",
            help="The warm phase: after the search, the critical n is probed on a fresh "
            "server that first served N " + warm.WORDS + "; where that fails, the "
            "warm boundary is found and is the answer (the cold one kept beside it). "
            "One request at a time, n in the request.",
        ),
        click.option(
            "--same-answer-ok",
            cls=SectionedOption,
            section=ANSWER,
            is_flag=True,
            help="The app's answer is right although it is the same at every n. Without "
            "it a run whose answers never change (and whose --expect has no {n}) stops: "
            "the app may never have read n.",
        ),
        no_check_option,
        recheck_tries_option,
        click.option(
            "--settle",
            cls=SectionedOption,
            section=ANSWER,
            type=click.FloatRange(0.05, 600),
            default=SETTLE_S,
            show_default=True,
            metavar="S",
            help="The re-check's later timing: the first request S seconds after the "
            "server's workers wait for connections.",
        ),
        click.option(
            "--token",
            cls=SectionedOption,
            section=INTERNALS,
            envvar="APP_TOKEN",
            default=None,
            help="Bearer token for --url servers that require one (env APP_TOKEN).",
        ),
        click.option(
            "--url",
            cls=SectionedOption,
            section=INTERNALS,
            default=None,
            help="Probe a running server you started yourself "
            "(no cap, no fresh servers, no restarts), e.g. http://127.0.0.1:8000.",
        ),
        request_timeout_option,
        click.option(
            "--max-probes",
            cls=SectionedOption,
            section=INTERNALS,
            type=click.IntRange(2, 500),
            default=40,
            show_default=True,
            help="Stop the search after this many probes (the bracket so far is "
            "reported, with stop reason max_probes).",
        ),
        click.option(
            "--lanes",
            cls=SectionedOption,
            section=INTERNALS,
            type=click.IntRange(1, 8),
            default=None,
            help="Servers probed side by side, each its own process under its own cap "
            "(they share CPU, not memory). Default: 2 when there are 2 cores and the "
            "load is not threaded concurrency, else 1.",
        ),
        click.option(
            "--band",
            cls=SectionedOption,
            section=INTERNALS,
            type=click.IntRange(2, 50),
            default=None,
            metavar="K",
            help="After the search, measure where the boundary lies under randomized "
            "layouts: candidate n each on K fresh servers with the kernel's layout, "
            "until the largest n ok on all K and the smallest failing on all K are known.",
        ),
        click.option(
            "--fresh/--no-fresh",
            "fresh",
            cls=SectionedOption,
            section=INTERNALS,
            default=True,
            show_default=True,
            help="A fresh server per probe; --no-fresh keeps one long-lived server per "
            "lane (its answer depends on what it served before).",
        ),
        click.option(
            "--confirm",
            cls=SectionedOption,
            section=INTERNALS,
            type=click.Choice(CONFIRM_POLICIES),
            default="auto",
            show_default=True,
            help="Re-probe the answer before reporting it. auto: on "
            "fresh fixed-layout servers an outcome is a fact, so only a failure that was "
            "not a memory outcome (timeout, dropped connection, start failure) is "
            "re-probed; elsewhere both. both: the critical n succeeds again and the "
            "first failing n fails again; fail: only the failure; none.",
        ),
        click.option(
            "--strategy",
            cls=SectionedOption,
            section=INTERNALS,
            type=click.Choice(STRATEGIES),
            default="model",
            show_default=True,
            help="model: calibrate memory per element at small n, "
            "predict, then bracket; bisect: plain doubling then bisection.",
        ),
        precision_option(MAXN_PRECISION),
        concurrency_option(
            1, "Identical requests fired at once per probe; a probe succeeds only if all do."
        ),
    ]
    return group("search", SearchFlags, opts)(f)


@click.command("max-n", cls=SectionedCommand)
@click.option(
    "--require-n",
    cls=SectionedOption,
    section=ANSWER,
    type=click.IntRange(1),
    default=None,
    metavar="N",
    help="A gate for CI: probe n = N only (one fresh server with the fixed layout; with "
    "--band K, K with randomized layouts). Exit 0 if it succeeds, 1 if it fails for "
    "memory (or the app's own size limit), 3 if it could not be probed (the server did "
    "not start, a wrong path or answer). Nothing is searched.",
)
@workload_options
@server_options
@limit_options(default=MAXN_LIMIT)
@search_options
@format_option(choices=("table", "json"))
@click.option(
    "--out",
    cls=SectionedOption,
    section=OUTPUT,
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Results file (default results/max-n/<server>-<workload>-<limit>-c<C>.json).",
)
@friendly_errors
def max_n(require_n: int | None, workload_flags: WorkloadFlags, server_flags: ServerFlags,
          cap: Cap, search: SearchFlags, fmt: str, out: Path | None):  # fmt: skip
    """The largest input your service takes under a memory limit, as a user would reach it.

    Give the command that starts your service ({port} where its port goes) and the
    request, with n where the size goes. Each probe runs on a fresh server started by
    your command under the limit, with a fixed address-space layout; both ends of the
    answer are probed again as a user's first request would come (as the port opens
    and a second later), and on a server that first served other requests. Every probe
    is written to the results file as it goes, so an interrupted run keeps its data.

    \b
    Examples:
      probe max-n --cmd 'uvicorn --port {port} main:app' --request 'GET /predict?n={n}'
      probe max-n --cmd 'gunicorn -w 2 --bind 127.0.0.1:{port} app:app' --limit 1G \\
                  --limit-kind tree --concurrency 2 --request 'GET /predict?n={n}'
      probe max-n --cmd 'gunicorn --bind 127.0.0.1:{port} app:app' --request 'POST /rows' \\
                  --upload file --content 'a,b\\n{n*1.5,2.5\\n}' --n-unit rows
      probe max-n --cmd 'gunicorn --bind 127.0.0.1:{port} app:app' --request 'POST /resize' \\
                  --upload image --body-fn bodies:png --n-unit 'pixels per side' --n-start 500
      probe max-n --app app:app --request 'POST /batch' \\
                  --json '{"instances": {n*[5.1, 3.5, 1.4, 0.2]}}'
      probe max-n --app cache:app --n-env CACHE_ENTRIES --request 'GET /get?key=1'
      probe max-n --app predict_app:app --n-param utils:predict_cpu_bounded.n \\
                  --request 'GET /predict?area=2'
      probe max-n --cmd 'gunicorn --bind 127.0.0.1:{port} app:app' --upload file \\
                  --request 'POST /upload' --limit 512M --require-n 100000000
    \b
    The seminar's study it ships with:
      probe max-n --fn cpu_bounded --limit 2G
      probe max-n --workloads probe.toml --workload alloc --server flask --concurrency 10

    Exit codes: 0 done (a gate: n holds), 1 n fails for memory (a gate), 2 usage,
    3 could not probe (the server did not start, a wrong path or answer).
    """
    from probe.report.tables import render_maxn
    from probe.studies import maxn, question

    workload = workload_flags.workload()
    if not workload.takes_n:
        raise click.BadParameter(
            "io_bounded has no n (it sleeps 1 s); use cpu_bounded or cpu_multithread",
            param_hint="--fn",
        )
    if cap.limit is None and search.url is None:
        raise click.BadParameter(
            "max-n needs a cap to find a limit; pass e.g. --limit 1G", param_hint="--limit"
        )
    if search.url and not search.url.startswith(("http://", "https://")):
        raise click.BadParameter("use a URL like http://127.0.0.1:8000", param_hint="--url")
    spec = server_flags.spec(cap, workload)
    cfg = search.config(workload, spec, cap.limit)
    conflict = question.conflict(cfg)
    if conflict:
        flag, message = conflict
        if flag is None:
            raise click.UsageError(message)
        raise click.BadParameter(message, param_hint=flag)
    if require_n is not None:
        return _gate(cfg, require_n)
    path = out or question.path(cfg)
    check_writable(path)
    doc = maxn.run(cfg, path)
    click.echo(render_maxn(doc, fmt), nl=False)
    click.echo(f"results: {path}", err=True)
    if doc.critical_n is None:
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


# The gate's exit 1: n failed for memory, or by the app's own size limit. Anything else
# (the server did not start, a wrong path or answer, a timeout) is exit 3: could not probe.
GATE_FAILS = (Kind.MEMORY_ERROR, Kind.KILLED, Kind.REJECTED)


def _gate(cfg, n: int) -> None:
    """--require-n: exit 0 if n succeeds on every try, 1 if it fails for memory (or the
    app's own limit), 3 if it could not be probed (CannotProbe)."""
    from probe.report.cells import format_n
    from probe.sizes import format_size
    from probe.studies import maxn

    if cfg.url:
        raise click.BadParameter("the gate starts fresh servers; drop --url", param_hint="--url")
    probes = maxn.gate(cfg, n, log=lambda line: click.echo(line, err=True))
    where = (f"{cfg.spec.describe()}, {cfg.concurrency} request(s) at once; "
             f"{len(probes)} of {cfg.band or 1} tries")  # fmt: skip
    failed = next((p for p in probes if not p.ok), None)
    n_text = format_n(n, cfg.workload.n_unit)
    if failed is None:
        click.echo(f"ok: n={n_text} succeeds under {format_size(cfg.limit_bytes)} ({where})")
        return
    o = failed.outcome
    what = (f"{o.kind.value}{f' (HTTP {o.status})' if o.status else ''}: "
            f"{o.detail or 'no detail'} ({where})")  # fmt: skip
    if o.kind in GATE_FAILS:
        raise click.ClickException(
            f"n={n_text} fails under {format_size(cfg.limit_bytes)}: {what}; probe max-n "
            "without --require-n finds the largest n that succeeds"
        )
    raise CannotProbe(f"could not probe n={n_text}: {what}; fix the command or the request, "
                      "then run the gate again (exit 3: not a memory failure)")  # fmt: skip
