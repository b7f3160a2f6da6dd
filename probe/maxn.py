"""`probe max-n`: find the critical n under a cap, recording every probe as it goes."""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from probe import results
from probe.limits import format_bytes, format_size
from probe.memory import Monitor
from probe.oracle import OracleConfig, ServerOracle, reach
from probe.outcome import Probe
from probe.search import SearchConfig, SearchResult, find_critical_n
from probe.server import ServerSpec, launch, pinned_env

CPU_FNS = ("cpu_bounded", "cpu_multithread")


@dataclass(frozen=True)
class MaxNConfig:
    """Everything one `max-n` run needs."""

    fn: str
    spec: ServerSpec
    concurrency: int = 1
    search: SearchConfig = field(default_factory=SearchConfig)
    url: str | None = None  # probe a server we do not control
    timeout_s: float = 120.0
    token: str | None = None

    @property
    def limit_bytes(self) -> int | None:
        return self.spec.limit_bytes

    @property
    def limit_kind(self) -> str:
        return self.spec.limit_kind


def default_path(cfg: MaxNConfig, root: Path = Path("results")) -> Path:
    """results/max-n/<server>-<fn>-<limit>[-rss]-c<C>.json"""
    kind = "" if cfg.limit_kind == "as" else f"-{cfg.limit_kind}"
    server = "url" if cfg.url else cfg.spec.server
    name = f"{server}-{cfg.fn}-{format_size(cfg.limit_bytes)}{kind}-c{cfg.concurrency}.json"
    return root / "max-n" / name


def new_doc(cfg: MaxNConfig) -> dict:
    return results.new_document(
        "max-n",
        fn=cfg.fn,
        server="url" if cfg.url else cfg.spec.server,
        url=cfg.url,
        workers=None if cfg.url or cfg.spec.server != "gunicorn" else cfg.spec.workers,
        server_env=None if cfg.url else pinned_env(cfg.spec),
        # A --url server runs under whatever cap its owner gave it, not ours.
        limit_bytes=None if cfg.url else cfg.limit_bytes,
        limit_kind=None if cfg.url else cfg.limit_kind,
        model_limit_bytes=cfg.search.limit_bytes,
        concurrency=cfg.concurrency,
        strategy=cfg.search.strategy,
        confirm=cfg.search.confirm_policy,
        precision=cfg.search.precision,
        status="running",
        critical_n=None,
        first_failing_n=None,
        failure=None,
        peak_rss_bytes=None,
        baseline_rss_bytes=None,
        baseline_vms_bytes=None,
        bytes_per_element=None,
        predicted_critical_n=None,
        precision_reached=None,
        stop_reason=None,
        server_starts=0,
        probes=[],
        elapsed_s=0.0,
    )


def _peak_at(probes: list[Probe], n: int | None) -> int | None:
    peaks = [p.peak_rss_bytes for p in probes if p.n == n and p.ok and p.peak_rss_bytes]
    return max(peaks) if peaks else None


def fill_result(doc: dict, res: SearchResult, oracle: ServerOracle) -> None:
    """Copy the search's answer into the document."""
    doc.update(
        critical_n=res.critical_n,
        first_failing_n=res.first_failing_n,
        failure=res.failure.to_dict() if res.failure else None,
        peak_rss_bytes=_peak_at(list(res.probes), res.critical_n),
        baseline_rss_bytes=oracle.baseline_rss_bytes,
        baseline_vms_bytes=oracle.baseline_vms_bytes,
        model_baseline_bytes=_round(res.baseline_bytes),
        bytes_per_element=_round(res.bytes_per_element, 3),
        predicted_critical_n=res.predicted_critical_n,
        precision_reached=_round(res.precision_reached, 6),
        stop_reason=res.stop_reason,
        probes=[p.to_dict() for p in res.probes],
    )


def _round(x: float | None, digits: int = 0) -> float | int | None:
    if x is None:
        return None
    return round(x, digits) if digits else int(round(x))


def progress_line(i: int, probe: Probe, bracket: tuple[int | None, int | None]) -> str:
    lo, hi = bracket
    peak = format_bytes(probe.peak_rss_bytes)
    extra = f" ({probe.outcome.detail[:60]})" if not probe.ok and probe.outcome.detail else ""
    rs = f" restarts={probe.restarts}" if probe.restarts else ""
    ok_txt = f"ok<={lo:,}" if lo is not None else "ok<=?"
    fail_txt = f"fails>={hi:,}" if hi is not None else "no failure yet"
    return (
        f"probe {i:2d}: n={probe.n:,} {probe.outcome.kind.value}{extra} "
        f"{probe.elapsed_s:.2f}s peak {peak}{rs} | {ok_txt} {fail_txt}"
    )


@contextlib.contextmanager
def _target(cfg: MaxNConfig) -> Iterator[tuple]:
    """The server (started here, under the cap) or the given URL, with a memory monitor."""
    if cfg.url:
        pid = reach(cfg.url)
        local = [pid] if pid and Path(f"/proc/{pid}").exists() else []
        with Monitor(lambda: local) as monitor:
            yield None, monitor, cfg.url
        return
    with (
        launch(cfg.spec) as server,
        Monitor(server.pids, kill_above_bytes=cfg.spec.watchdog_bytes) as monitor,
    ):
        yield server, monitor, server.url


def run(
    cfg: MaxNConfig,
    out: Path,
    log: Callable[[str], None] = lambda s: print(s, file=sys.stderr, flush=True),
) -> dict:
    """Run the search; rewrite `out` after every probe; return the final document."""
    doc = new_doc(cfg)
    results.write_atomic(out, doc)
    t0 = time.monotonic()
    probes: list[Probe] = []
    server_box: list = [None]
    monitor_box: list = [None]

    def on_probe(probe: Probe, bracket: tuple[int | None, int | None]) -> None:
        probes.append(probe)
        lo, hi = bracket
        doc.update(
            critical_n=lo,
            first_failing_n=hi,
            probes=[p.to_dict() for p in probes],
            elapsed_s=round(time.monotonic() - t0, 3),
            server_starts=server_box[0].starts if server_box[0] else 0,
        )
        if monitor_box[0] is not None and cfg.limit_kind == "rss":
            doc["rss_watchdog_kills"] = [k.to_dict() for k in monitor_box[0].kills]
        results.write_atomic(out, doc)
        log(progress_line(len(probes), probe, bracket))

    with results.recording(out, doc, t0), _target(cfg) as (server, monitor, url):
        server_box[0], monitor_box[0] = server, monitor
        if server is not None:
            log(f"started {server.spec.describe()} at {server.url} pids {server.pids()}")
        oracle = ServerOracle(
            OracleConfig(cfg.fn, cfg.concurrency, cfg.timeout_s, cfg.limit_kind, cfg.token),
            server,
            monitor,
            url,
        )
        res = find_critical_n(oracle, cfg.search, on_probe=on_probe)
        fill_result(doc, res, oracle)
        doc["server_starts"] = server.starts if server else 0
        doc["rss_watchdog_kills"] = [k.to_dict() for k in monitor.kills]
    return doc
