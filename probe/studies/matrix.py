"""`probe matrix`: the seminar's load (10 requests at once) on every server x predictor.

For each variant a fresh server starts under the cap; the requests (areas 10, 20, ...,
as in the seminar's script) go out together, and each one's offsets, status, price,
serving pid and thread are recorded. Prices are checked exactly. After every variant
results/matrix.json is rewritten and the command writes the variant's seminar-style log
(log/<server>_<fn>.txt, rendered by probe.report), so an interrupted run keeps what it
measured.
"""

from __future__ import annotations

import math
import re
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

from probe import stats
from probe.defaults import (
    LOAD_CONCURRENCY,
    LOAD_REQUESTS,
    LOG_DIR,
    MARGIN,
    REQUEST_TIMEOUT_S,
    RESULTS_DIR,
    STUDY_PRECISION,
)
from probe.documents import store
from probe.documents.matrix import MatrixDoc, Variant
from probe.documents.maxn import MaxNDoc
from probe.errors import ProbeError
from probe.measure.load import RequestRecord, fire
from probe.measure.memory import Monitor
from probe.measure.tree import budget_for
from probe.servers import command
from probe.servers.kinds import KINDS, SERVERS
from probe.servers.process import Server
from probe.studies import catalog
from probe.workload import seminar
from probe.workload.builtins import builtin
from probe.workload.model import HttpRequest, Workload
from probe.workload.seminar import SEMINAR_FNS

FNS = SEMINAR_FNS
SEMINAR = tuple(builtin(fn) for fn in FNS)  # the seminar's three predictors
_EXCEPTION_LINE = re.compile(r"^[A-Za-z_][\w.]*(Error|Exception|Exit)\b.*$", re.MULTILINE)

Log = Callable[[str], None]


class MatrixError(ProbeError):
    """A matrix that cannot run as asked; the message says what to change."""


@dataclass(frozen=True)
class MatrixConfig:
    """Everything one `probe matrix` run needs."""

    limit_bytes: int | None
    limit_kind: str = "as"
    n: int | None = None  # None: --n auto
    requests: int = LOAD_REQUESTS
    concurrency: int = LOAD_CONCURRENCY
    servers: tuple[str, ...] = SERVERS
    workloads: tuple[Workload, ...] = SEMINAR
    margin: float = MARGIN
    precision: float = STUDY_PRECISION
    check: bool = True  # --n auto: re-check each search's ends (probe.search.verdict)
    results_dir: Path = Path(RESULTS_DIR)
    log_dir: Path = Path(LOG_DIR)
    request_timeout_s: float = REQUEST_TIMEOUT_S
    env: dict[str, str] = field(default_factory=dict)  # extra server environment

    @property
    def in_flight(self) -> int:
        """Requests the client keeps in flight at once: --concurrency, at most --requests."""
        return min(self.concurrency, self.requests)

    def catalog_or_cap(self) -> catalog.CatalogConfig:
        """The catalog settings, also when --n is given (then only the cap is used)."""
        return catalog.CatalogConfig(
            limit_bytes=self.limit_bytes, limit_kind=self.limit_kind,
            precision=self.precision, results_dir=self.results_dir,
            request_timeout_s=self.request_timeout_s, check=self.check,
        )  # fmt: skip

    def catalog(self) -> catalog.CatalogConfig:
        if self.limit_bytes is None:
            raise MatrixError("--n auto needs a cap to search under; pass --limit or --n INT")
        return self.catalog_or_cap()

    @property
    def fns(self) -> list[str]:
        """The workloads' names (a built-in's is its predictor)."""
        return [w.name for w in self.workloads]


def server_of(cmd: str) -> str:
    return command.server_name(cmd, tuple(KINDS))


def areas(requests: int) -> list[int]:
    """The seminar's areas 10, 20, ..., 100, continued for more requests."""
    return [10 * (i + 1) for i in range(requests)]


def choose_n(cfg: MatrixConfig, server: str, w: Workload, log: Log) -> tuple[int | None, str]:
    """The n of one variant and where it came from ("none", "--n", or the max-n file)."""
    if not w.takes_n:
        return None, "none"
    if cfg.n is not None:
        return cfg.n, "--n"
    path, doc = catalog.ensure(cfg.catalog(), server, w, cfg.in_flight, log)
    critical = safe_edge(doc)
    if not critical:
        raise MatrixError(
            f"{path}: no n succeeded for {w.name} on {server} under this cap; raise --limit"
        )
    source = "always-ok edge of the band" if critical != doc.critical_n else "critical n"
    return max(1, math.floor(cfg.margin * critical)), f"auto: {path} ({source}) x {cfg.margin:g}"


def safe_edge(doc: dict) -> int | None:
    """The n the load builds on: the band's always-ok edge where a band was measured
    (threads at concurrency > 1, or --band), else the critical n."""
    doc = MaxNDoc.of(doc)
    edge = doc.band.always_ok_n if doc.band else None
    critical = doc.critical_n
    if edge is not None and critical is not None:
        return min(edge, critical)
    return critical


def fire_in_waves(
    url: str, reqs: list[HttpRequest], in_flight: int, timeout_s: float, name: str = ""
) -> list[RequestRecord]:
    """Send the requests `in_flight` at a time; offsets count from the first wave's start."""
    t0 = time.monotonic()
    out: list[RequestRecord] = []
    for i in range(0, len(reqs), in_flight):
        shift = time.monotonic() - t0 if i else 0.0
        batch = fire(url, reqs[i : i + in_flight], timeout_s=timeout_s, name=name)
        out += [replace(r, start_s=r.start_s + shift, end_s=r.end_s + shift) for r in batch]
    return out


def request_entry(index: int, record: RequestRecord, w: Workload, n: int | None) -> dict:
    """One request of a variant, judged by its workload; a wrong answer is a failure."""
    d = record.to_dict()
    entry = {"index": index, **{k: d[k] for k in _REQUEST_KEYS}}
    if w.fn is not None:  # the seminar's predictors: the exact price, for the logs
        entry["expected_price"] = seminar.pricing().expected_price(w.fn, record.area, n or 1)
    if record.status is not None:
        outcome = w.judge(record.status, record.text, record.body, n, record.area, record.found)
        entry["answer_ok"] = outcome.ok
        if w.fn is not None:
            entry["price_ok"] = None if d["price"] is None else outcome.ok
        if entry["kind"] == "ok" and not outcome.ok:
            entry["kind"] = outcome.kind.value
            entry["error"] = outcome.detail
    elif w.fn is not None:
        entry["price_ok"] = None
    return entry


_REQUEST_KEYS = (
    "area", "start_s", "end_s", "latency_s", "kind", "status", "price", "pid", "thread",
    "server_elapsed_s", "error", "body",
)  # fmt: skip


def server_errors(log_text: str) -> dict[str, int]:
    """Exception lines in the server's log (e.g. "RuntimeError: can't start new thread")."""
    return dict(Counter(m.group(0).strip() for m in _EXCEPTION_LINE.finditer(log_text)))


def _server_side(server: Server) -> dict:
    """What the server side showed after the load: worker events, log errors, liveness."""
    time.sleep(0.2)  # let gunicorn's arbiter log a worker's fate
    events = [e.describe() for e in server.new_events() if e.kind != "booted"]
    return {
        "server_events": events,
        "server_errors": server_errors(server.log_text()),
        "server_alive_after": server.alive(),
    }


def run_variant(cfg: MatrixConfig, server: str, w: Workload, n: int | None,
                n_source: str) -> dict:  # fmt: skip
    """Start the server under the cap as a probe would, send the load, return the record."""
    spec = catalog.spec_for(cfg.catalog_or_cap(), server, w)
    if cfg.env:
        spec = replace(spec, env=cfg.env)
    env = w.server_env(n) if w.n_placement == "env" else w.server_env(None)
    reqs = [w.render(n, area) for area in areas(cfg.requests)]
    srv = Server(spec, env)
    try:
        srv.start()
        with Monitor(srv.pids, kill_above_bytes=spec.watchdog_bytes, keep_samples=False,
                     tree=budget_for(spec)) as mon:  # fmt: skip
            srv.new_events()  # the boot messages
            mon.begin_step()
            records = fire_in_waves(srv.url, reqs, cfg.in_flight, cfg.request_timeout_s, w.name)
            peak = mon.end_step().peak_rss_bytes
            side = _server_side(srv)
            side["layout"] = srv.layout
    finally:
        srv.close()
    requests = [request_entry(i, r, w, n) for i, r in enumerate(records)]
    wall = max((r["end_s"] for r in requests), default=0.0)
    variant = Variant.make(workload=w.name, server=server, fn=w.name, n=n, n_source=n_source)
    variant["wall_s"] = round(wall, 4)
    variant.update(stats.summarize_requests(requests, wall))
    threads = stats.threads_by_pid(requests)
    variant["server_pids"] = sorted(threads)
    variant["server_threads"] = sum(len(t) for t in threads.values())
    variant["peak_rss_bytes"] = peak
    variant.update(side)
    variant["requests"] = requests
    return variant


def log_path(cfg: MatrixConfig, server: str, fn: str) -> Path:
    """log/<server>_<fn>.txt: the seminar's file names."""
    return cfg.log_dir / f"{server}_{fn}.txt"


def new_doc(cfg: MatrixConfig) -> MatrixDoc:
    return MatrixDoc.new(
        limit_bytes=cfg.limit_bytes,
        limit_kind=cfg.limit_kind,
        requests=cfg.requests,
        concurrency=cfg.in_flight,
        n_requested="auto" if cfg.n is None else cfg.n,
        margin=cfg.margin if cfg.n is None else None,
        servers=list(cfg.servers),
        fns=list(cfg.fns),
        workloads=[w.to_dict() for w in cfg.workloads],
        status="running",
        variants=[],
        elapsed_s=0.0,
    )


def progress_line(v: dict) -> str:
    n = "-" if v["n"] is None else f"{v['n']:,}"
    lat = v["latency_s"]
    span = "-" if lat["min"] is None else f"{lat['min']:.2f}..{lat['max']:.2f} s"
    return (
        f"[{v['server']} {v['fn']}] n={n}: {v['ok']} ok, {v['failed']} failed, "
        f"wall {v['wall_s']:.2f} s, latency {span}, max in flight {v['max_in_flight']}"
    )


def variants(cfg: MatrixConfig) -> list[tuple[str, Workload]]:
    """(server, workload) of each variant: every workload on every server, except that
    a workload with its own command runs once, on the server its command starts."""
    pairs = [(server, w) for server in cfg.servers for w in cfg.workloads if w.cmd is None]
    return pairs + [(server_of(w.cmd), w) for w in cfg.workloads if w.cmd is not None]


def run(
    cfg: MatrixConfig,
    out: Path,
    log: Log = catalog.stderr,
    on_variant: Callable[[dict], None] = lambda variant: None,
) -> dict:
    """Run every variant; after each one, hand it to `on_variant` (the command writes its
    seminar-style log to variant["log"]) and rewrite `out`."""
    doc = new_doc(cfg)
    t0 = time.monotonic()
    with store.recording(out, doc, t0):
        for server, w in variants(cfg):
            n, source = choose_n(cfg, server, w, log)
            log(f"[{server} {w.name}] n={n} ({source}): {cfg.requests} requests, "
                f"{cfg.in_flight} at once")  # fmt: skip
            variant = run_variant(cfg, server, w, n, source)
            path = log_path(cfg, server, w.name)
            variant["log"] = str(path)
            on_variant(variant)
            doc.variants.append(variant)
            doc.elapsed_s = round(time.monotonic() - t0, 3)
            store.write_atomic(out, doc)
            log(progress_line(variant))
    return doc
