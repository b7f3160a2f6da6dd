"""`probe max-n`: find the critical n under a cap, recording every probe as it goes."""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

import psutil

from probe import results
from probe.limits import format_bytes, format_size
from probe.memory import Monitor
from probe.oracle import LaneOracle, OracleConfig, ServerOracle, reach
from probe.outcome import Probe
from probe.search import SearchConfig, SearchResult, search_rounds
from probe.server import ServerSpec, launch_many, pinned_env

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

    @property
    def lanes(self) -> int:
        """Servers probed side by side (one for a --url server, which probe does not start)."""
        return 1 if self.url else self.search.lanes


def auto_lanes(spec: ServerSpec, concurrency: int, url: str | None = None) -> int:
    """How many servers to probe side by side when the user does not say: 2 if it helps
    and cannot change the answer, else 1.

    Two lanes need two cores, a free choice of ports, memory for two capped servers, and
    a probe whose requests do not share a process's time: with concurrency > 1 on a
    threaded server (flask, gunicorn with threads) how many inputs coexist depends on
    scheduling, which a second busy lane would change.
    """
    if url or spec.port or (os.cpu_count() or 1) < 2:
        return 1
    threaded = spec.server == "flask" or spec.threads > 1 or spec.worker_class != "sync"
    if concurrency > 1 and threaded:
        return 1
    need = 2 * (spec.limit_bytes or 0) * (spec.workers if spec.server == "gunicorn" else 1)
    return 2 if need <= psutil.virtual_memory().available else 1


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
        lanes=cfg.lanes,
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
    """Copy the search's answer into the document (baselines from the first lane)."""
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
def _targets(cfg: MaxNConfig) -> Iterator[list[tuple]]:
    """One (server, monitor, url) per lane: servers started here under the cap, or the
    given URL (one lane, no server of ours)."""
    if cfg.url:
        pid = reach(cfg.url)
        local = [pid] if pid and Path(f"/proc/{pid}").exists() else []
        with Monitor(lambda: local) as monitor:
            yield [(None, monitor, cfg.url)]
        return
    with contextlib.ExitStack() as stack:
        servers = stack.enter_context(launch_many(cfg.spec, cfg.lanes))
        yield [
            (s, stack.enter_context(Monitor(s.pids, kill_above_bytes=cfg.spec.watchdog_bytes)),
             s.url)
            for s in servers
        ]  # fmt: skip


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
    with results.recording(out, doc, t0), _targets(cfg) as targets:

        def starts() -> int:
            return sum(server.starts for server, _, _ in targets if server is not None)

        def kills() -> list[dict]:
            return [k.to_dict() for _, monitor, _ in targets for k in monitor.kills]

        def on_probe(probe: Probe, bracket: tuple[int | None, int | None]) -> None:
            probes.append(probe)
            lo, hi = bracket
            doc.update(
                critical_n=lo,
                first_failing_n=hi,
                probes=[p.to_dict() for p in probes],
                elapsed_s=round(time.monotonic() - t0, 3),
                server_starts=starts(),
            )
            if cfg.limit_kind == "rss":
                doc["rss_watchdog_kills"] = kills()
            results.write_atomic(out, doc)
            lane = f" (lane {probe.lane})" if cfg.lanes > 1 else ""
            log(progress_line(len(probes), probe, bracket) + lane)

        for i, (server, _, _) in enumerate(targets):
            if server is not None:
                lane = f" (lane {i})" if cfg.lanes > 1 else ""
                log(f"started {server.spec.describe()} at {server.url} pids {server.pids()}{lane}")
        oracle_cfg = OracleConfig(cfg.fn, cfg.concurrency, cfg.timeout_s, cfg.limit_kind, cfg.token)
        oracles = [ServerOracle(oracle_cfg, s, m, url) for s, m, url in targets]
        search = replace(cfg.search, lanes=len(oracles))
        res = search_rounds(LaneOracle(oracles), search, on_probe=on_probe)
        fill_result(doc, res, oracles[0])
        doc["server_starts"] = starts()
        doc["rss_watchdog_kills"] = kills()
    return doc
