"""`probe compare`: pure Python against numpy under one cap, alone and under the load.

One row per server x predictor x concurrency (a single request, and the matrix's
10 at once), read from results/max-n/ or searched when missing: the critical n, the
first failing n, bytes per element, baseline and peak RSS, time per million elements;
then the numpy / pure-Python ratio of critical n per server and concurrency.

The document's keys: probe.documents.compare.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from probe.documents import store
from probe.documents.compare import CompareDoc, Row, ratios_of
from probe.documents.maxn import MaxNDoc
from probe.servers.kinds import SERVERS
from probe.studies import catalog
from probe.workload.builtins import builtin
from probe.workload.model import Workload
from probe.workload.seminar import CPU_FNS


@dataclass(frozen=True)
class CompareConfig:
    """Which rows to build, under which cap."""

    catalog: catalog.CatalogConfig
    servers: tuple[str, ...] = SERVERS
    workloads: tuple[Workload, ...] = tuple(builtin(fn) for fn in CPU_FNS)
    concurrencies: tuple[int, ...] = (1, 10)


def seconds_per_million(doc: MaxNDoc) -> float | None:
    """Seconds per million elements the server built, at the critical n.

    The fastest ok probe at critical n, divided by the elements it made the server
    build: n per request times the concurrency (so rows at 1 and 10 compare).
    """
    n, c = doc.critical_n, doc.concurrency or 1
    elapsed = [
        p["elapsed_s"]
        for p in doc.probes or []
        if p.get("n") == n and p.get("outcome") == "ok" and p.get("elapsed_s")
    ]
    if not n or not elapsed:
        return None
    return min(elapsed) / (n * c) * 1e6


MIN_FIT_SPAN = 2.0  # ok probes closer together than this factor in n give a noise-made slope


def fitted_bytes_per_element(doc: MaxNDoc) -> float | None:
    """The search's fitted slope, if its ok probes span at least MIN_FIT_SPAN in n."""
    ok = [p["n"] for p in doc.probes or [] if p.get("outcome") == "ok" and p.get("n")]
    if not ok or max(ok) < MIN_FIT_SPAN * min(ok):
        return None
    return doc.bytes_per_element


def row(doc: dict, source: Path) -> Row:
    """One compare row from a max-n document."""
    doc = MaxNDoc.of(doc)
    failure = doc.failure or {}
    return Row.make(
        server=doc.server,
        fn=(doc.workload or {}).get("name") or doc.fn,
        concurrency=doc.concurrency,
        critical_n=doc.critical_n,
        first_failing_n=doc.first_failing_n,
        failure_kind=failure.get("kind"),
        stop_reason=doc.stop_reason,
        bytes_per_element=fitted_bytes_per_element(doc),
        baseline_rss_bytes=doc.baseline_rss_bytes,
        baseline_vms_bytes=doc.baseline_vms_bytes,
        peak_rss_bytes=doc.peak_rss_bytes,
        seconds_per_million=_round(seconds_per_million(doc), 6),
        probes=len(doc.probes or []),
        search_s=doc.elapsed_s,
        source=str(source),
    )


def _round(x: float | None, digits: int) -> float | None:
    return None if x is None else round(x, digits)


def new_doc(cfg: CompareConfig) -> CompareDoc:
    return CompareDoc.new(
        limit_bytes=cfg.catalog.limit_bytes,
        limit_kind=cfg.catalog.limit_kind,
        precision=cfg.catalog.precision,
        concurrencies=list(cfg.concurrencies),
        status="running",
        rows=[],
        ratios=[],
        elapsed_s=0.0,
    )


def run(cfg: CompareConfig, out: Path, log: catalog.Log = catalog.stderr) -> dict:
    """Build every row (searching where needed); rewrite `out` after each one."""
    doc = new_doc(cfg)
    t0 = time.monotonic()
    with store.recording(out, doc, t0):
        for concurrency in cfg.concurrencies:
            for server in cfg.servers:
                for w in cfg.workloads:
                    path, maxn_doc = catalog.ensure(cfg.catalog, server, w, concurrency, log)
                    doc["rows"].append(row(maxn_doc, path))
                    doc["ratios"] = ratios_of(doc["rows"])
                    doc["elapsed_s"] = round(time.monotonic() - t0, 3)
                    store.write_atomic(out, doc)
    return doc
