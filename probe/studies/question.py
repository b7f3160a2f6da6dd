"""What a max-n run asks, and what names its answer.

A question is a workload on one server configuration under one cap, at one
concurrency, searched to some precision (`MaxNConfig`). Its answer lives in
results/max-n/ under a name built from the question (`path`), and a stored document
answers a later question only if it was made for the same workload, server
configuration, cap, layout and platform, at least as precisely (`unusable_reason`).
Everything that names a result is here, so a study's lookup reads down: question,
then the stored document, then (only if that fails) a new run.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path

import psutil

from probe.defaults import RECHECK_TRIES, REQUEST_TIMEOUT_S, RESULTS_DIR, SETTLE_S
from probe.documents import store
from probe.documents.maxn import MaxNDoc
from probe.search.critical import SearchConfig
from probe.search.rate import RISK
from probe.servers import settings
from probe.servers.kinds import PREFORK
from probe.servers.spec import ServerSpec, pinned_env
from probe.sizes import format_size
from probe.workload.builtins import builtin, is_builtin
from probe.workload.model import Workload

THREADS_BAND_LAYOUTS = 3  # repeats per n of the band for threads at concurrency > 1
PLATFORM_KEYS = ("implementation", "python", "system", "machine")  # what sizes objects


@dataclass(frozen=True)
class MaxNConfig:
    """Everything one `max-n` run needs."""

    workload: Workload
    spec: ServerSpec
    concurrency: int = 1
    search: SearchConfig = field(default_factory=SearchConfig)
    url: str | None = None  # probe a server we do not control
    request_timeout_s: float = REQUEST_TIMEOUT_S  # seconds to wait for one answer
    token: str | None = None
    fresh: bool = True  # each probe on a fresh server (--fresh, the default; --no-fresh)
    band: int | None = None  # K: measure the band on K randomized layouts per n
    check: bool = True  # re-probe both ends on fresh servers at two timings (verdict)
    settle_s: float = SETTLE_S  # the later of the re-check's two timings
    same_answer_ok: bool = False  # the same answer at every n is right (no {n} to expect)
    # the warm phase (probe.studies.warm): requests served before each warm probe; 0: cold
    # only (the library's default: studies compare cold answers; the CLI asks for warm)
    warm_requests: int = 0
    # no n_start was asked for: learn the first sizes from how the body grows
    # (probe.workload.growth), where the body is what n sizes
    learn_first_sizes: bool = False
    # where fresh servers disagree at one n: the critical n fails at most at this rate
    # (probe.search.rate), and the re-check tries the critical n this often in all
    risk: float = RISK
    recheck_tries: int = RECHECK_TRIES

    @property
    def fn(self) -> str | None:
        return self.workload.fn

    @property
    def limit_bytes(self) -> int | None:
        return self.spec.limit_bytes

    @property
    def limit_kind(self) -> str:
        return self.spec.limit_kind

    @property
    def fresh_servers(self) -> bool:
        """Every probe on a fresh server that probe starts (not --no-fresh, not --url)."""
        return self.fresh and not self.url

    @property
    def lanes(self) -> int:
        """Servers probed side by side (one for a --url server, which probe does not start)."""
        return 1 if self.url else self.search.lanes

    @property
    def threads_race(self) -> bool:
        """Concurrent requests race for one budget, so scheduling moves the outcome: as
        threads of one process, or (a tree budget) in several processes of one tree.
        Measured with gunicorn -w 2 at 2 requests at once under a 128M tree budget: the
        tree's peak Pss_Anon was 132.6 MB at 1.38M and 131.7 MB at 1.43M."""
        if self.concurrency <= 1 or self.url:
            return False
        spec = self.spec
        shared = spec.limit_kind == "tree" and spec.kind.expected_workers(spec) != 1
        return spec.threaded or shared

    @property
    def outcomes_are_facts(self) -> bool:
        """A probe's outcome repeats on the next server started the same way: fresh, a
        fixed layout, and no threads racing for the cap."""
        return self.fresh_servers and self.spec.layout == "fixed" and not self.threads_race

    @property
    def rechecks(self) -> bool:
        """Whether both ends are re-probed at two timings after the search: on servers
        probe starts fresh, where threads do not race (their band mixes the timings)."""
        return self.check and self.fresh_servers and not self.threads_race

    @property
    def warms(self) -> bool:
        """Whether the warm phase runs: asked for, on fresh servers probe starts, one
        request at a time, n in the request (a server started at n serves no other n)."""
        return (self.warm_requests > 0 and self.fresh_servers and self.concurrency == 1
                and self.workload.n_placement == "request")  # fmt: skip

    @property
    def band_layouts(self) -> int | None:
        """K of the band phase (None: no band)."""
        if self.url or not self.fresh:
            return None
        if self.band is None and self.threads_race:
            return THREADS_BAND_LAYOUTS
        return self.band

    @property
    def band_spec(self) -> ServerSpec:
        """Servers of the band: randomized layouts, or the search's layout for threads."""
        return self.spec if self.threads_race else replace(self.spec, layout="random")


def for_fn(fn: str, spec: ServerSpec, **kw) -> MaxNConfig:
    """A run of a built-in workload (one of the seminar's predictors)."""
    return MaxNConfig(workload=builtin(fn), spec=spec, **kw)


def conflict(cfg: MaxNConfig) -> tuple[str | None, str] | None:
    """(the option to change, or None for a combination; why) if the run cannot be made
    as asked, else None."""
    if cfg.workload.n_placement == "env" and (cfg.url or not cfg.fresh):
        drop = "--url" if cfg.url else "--no-fresh"
        return None, (f"n at start-up ({cfg.workload.n_at_start}) needs a fresh server per probe, "
                      f"which probe starts; drop {drop}")  # fmt: skip
    if cfg.band is not None and (cfg.url or not cfg.fresh):
        drop = "--url" if cfg.url else "--no-fresh"
        return None, f"--band measures fresh servers that probe starts; drop {drop}"
    if cfg.search.lanes > 1 and cfg.url:
        return "--lanes", ("a --url server is one server; drop --lanes or let probe start "
                           "the servers")  # fmt: skip
    port = cfg.spec.port
    if cfg.search.lanes > 1 and port:
        return "--lanes", (f"{cfg.search.lanes} servers cannot share --port {port}; drop --port "
                           "or pass --lanes 1")  # fmt: skip
    return None


def confirm_policy(requested: str, fresh: bool, layout: str) -> str:
    """--confirm auto: re-probe only non-memory failures where outcomes are facts (fresh
    servers, fixed layout); elsewhere re-probe both ends, as a warm or randomized server
    can answer differently the next time."""
    if requested != "auto":
        return requested
    return "auto" if fresh and layout == "fixed" else "both"


def auto_lanes(spec: ServerSpec, concurrency: int, url: str | None = None) -> int:
    """How many servers to probe side by side when the user does not say: 2 if it helps
    and cannot change the answer, else 1.

    Two lanes need two cores, a free choice of ports, memory for two capped servers (and
    their spares), and a probe whose requests do not share a process's time: with
    concurrency > 1 on a threaded server how many inputs coexist depends on scheduling,
    which a second busy lane would change.
    """
    if url or spec.port or (os.cpu_count() or 1) < 2:
        return 1
    if concurrency > 1 and spec.threaded:
        return 1
    per_server = (spec.limit_bytes or 0) * spec.kind.expected_workers(spec)
    return 2 if 2 * per_server <= psutil.virtual_memory().available else 1


def workload_tag(workload: Workload) -> str:
    """A built-in's predictor name; a user workload's name and identity hash."""
    return workload.fn if is_builtin(workload) else f"{workload.name}-{workload.identity()}"


def config_tag(spec: ServerSpec, fresh: bool = True) -> str:
    """What differs from the default server configuration, for file names ('' if nothing)."""
    parts = []
    if spec.kind.role == PREFORK:
        parts += settings.tags(spec, ServerSpec(server=spec.server))
    if spec.layout != "fixed":
        parts.append(spec.layout)
    if not fresh:
        parts.append("no-fresh")
    return "".join(f"-{p}" for p in parts)


def path(cfg: MaxNConfig, root: Path = Path(RESULTS_DIR)) -> Path:
    """results/max-n/<server>-<workload>-<limit>[-rss]-c<C>[-<config>].json"""
    kind = "" if cfg.limit_kind == "as" else f"-{cfg.limit_kind}"
    kind += "-oomgroup" if cfg.spec.oom_group else ""
    server = "url" if cfg.url else cfg.spec.server
    tag = "" if cfg.url else config_tag(cfg.spec, cfg.fresh)
    name = (
        f"{server}-{workload_tag(cfg.workload)}-{format_size(cfg.limit_bytes)}{kind}"
        f"-c{cfg.concurrency}{tag}.json"
    )
    return root / "max-n" / name


def unusable_reason(doc: dict, cfg: MaxNConfig) -> str | None:
    """Why a stored max-n document cannot answer the question `cfg`, or None if it can."""
    doc = MaxNDoc.of(doc)
    want = {
        **cfg.spec.config(),
        "concurrency": cfg.concurrency,
        "limit_bytes": cfg.limit_bytes,
        "limit_kind": cfg.limit_kind,
        "fresh": cfg.fresh_servers,
        "layout": cfg.spec.layout,
    }
    for key, value in want.items():
        if doc.get(key) != value:
            return f"made with {key}={doc.get(key)!r}, not {value!r}"
    if not _same_workload(doc.workload, cfg.workload):
        return "made for another workload (app, request or n placement)"
    if doc.status != "complete":
        return f"status {doc.status!r}"
    other = _other_platform(doc.platform or {})
    if other:
        return f"made on {other}, not here"
    if doc.server_env != pinned_env(cfg.spec):
        return "made with other pinned server variables (server_env); memory use differs"
    precision, wanted = doc.precision, cfg.search.precision
    if precision is None or precision > wanted + 1e-12:
        return f"precision {precision} is coarser than {wanted}"
    banded = (doc.band.tries_per_n if doc.band else None) or 0
    if cfg.band_layouts and doc.critical_n is not None and banded < cfg.band_layouts:
        return f"has no band over {cfg.band_layouts} layouts"
    return None


def load_answer(where: Path, cfg: MaxNConfig) -> tuple[dict | None, str]:
    """(the document, "") if the file at `where` answers `cfg`, else (None, why not)."""
    if not where.exists():
        return None, "missing"
    try:
        doc = MaxNDoc.load(where)
    except store.ResultsError as exc:
        return None, str(exc)
    reason = unusable_reason(doc, cfg)
    return (None, reason) if reason else (doc, "")


def _same_workload(recorded: dict | None, workload: Workload) -> bool:
    """The same app, request and n placement (the folder it was imported from aside)."""
    if not recorded:
        return False
    want = workload.to_dict()
    return all(recorded.get(k) == want[k] for k in want if k not in ("chdir",))


def _other_platform(made_on: dict) -> str | None:
    """How the platform a result was measured on differs from this one, or None."""
    here = store.platform_info()
    if all(made_on.get(k) == here[k] for k in PLATFORM_KEYS):
        return None
    return " ".join(str(made_on.get(k)) for k in PLATFORM_KEYS)


def ask(
    workload: Workload, spec: ServerSpec, concurrency: int = 1, *, precision: float,
    request_timeout_s: float, n_start: int | None = None, n_max: int | None = None,
    check: bool = True, confirm: str = "auto", band: int | None = None,
) -> MaxNConfig:  # fmt: skip
    """A max-n question on fresh servers that probe starts, with the lanes and the confirm
    policy the rules pick: what the study's catalog and the plan ask."""
    bounds = {k: v for k, v in (("n_start", n_start), ("n_max", n_max)) if v is not None}
    search = SearchConfig(
        precision=precision, limit_bytes=spec.limit_bytes,
        confirm=confirm_policy(confirm, True, spec.layout),
        lanes=auto_lanes(spec, concurrency), **bounds,
    )  # fmt: skip
    return MaxNConfig(workload=workload, spec=spec, concurrency=concurrency, search=search,
                      request_timeout_s=request_timeout_s, band=band, check=check)  # fmt: skip
