"""The max-n document of a run: made, filled with the search's answer."""

from __future__ import annotations

from probe.documents.maxn import MaxNDoc
from probe.measure.oracle import ServerOracle
from probe.outcome import Probe
from probe.search.critical import SearchResult
from probe.servers.process import launch_record
from probe.servers.spec import pinned_env
from probe.studies.question import MaxNConfig


def new_doc(cfg: MaxNConfig) -> MaxNDoc:
    server_config = cfg.spec.config() if not cfg.url else {"server": "url", "role": None}
    return MaxNDoc.new(
        workload=cfg.workload.to_dict(),
        fn=cfg.fn,
        **server_config,
        url=cfg.url,
        server_env=None if cfg.url else pinned_env(cfg.spec),
        # A --url server runs under whatever cap its owner gave it, not ours.
        limit_bytes=None if cfg.url else cfg.limit_bytes,
        limit_kind=None if cfg.url else cfg.limit_kind,
        model_limit_bytes=cfg.search.limit_bytes,
        concurrency=cfg.concurrency,
        fresh=cfg.fresh_servers,
        layout=None if cfg.url else cfg.spec.layout,
        lanes=cfg.lanes,
        strategy=cfg.search.strategy,
        confirm=cfg.search.confirm_policy,
        precision=cfg.search.precision,
        status="running",
        critical_n=None,
        first_failing_n=None,
        failure=None,
        band=None,
        safe_n_full_overlap=None,
        bytes_per_element_single=None,
        peak_rss_bytes=None,
        baseline_rss_bytes=None,
        baseline_vms_bytes=None,
        bytes_per_element=None,
        predicted_critical_n=None,
        precision_reached=None,
        stop_reason=None,
        non_monotone=[],
        recheck=None,
        launch=None if cfg.url else launch_record(cfg.spec),
        server_starts=0,
        probes=[],
        elapsed_s=0.0,
    )


def peak_at(probes: list[Probe], n: int | None) -> int | None:
    peaks = [p.peak_rss_bytes for p in probes if p.n == n and p.ok and p.peak_rss_bytes]
    return max(peaks) if peaks else None


def fill_result(doc: dict, res: SearchResult, oracle: ServerOracle) -> None:
    """Copy the search's answer into the document (baselines from the first lane)."""
    doc.update(
        critical_n=res.critical_n,
        first_failing_n=res.first_failing_n,
        failure=res.failure.to_dict() if res.failure else None,
        peak_rss_bytes=peak_at(list(res.probes), res.critical_n),
        baseline_rss_bytes=oracle.baseline_rss_bytes,
        baseline_vms_bytes=oracle.baseline_vms_bytes,
        model_baseline_bytes=_round(res.baseline_bytes),
        bytes_per_element=_round(res.bytes_per_element, 3),
        predicted_critical_n=res.predicted_critical_n,
        precision_reached=_round(res.precision_reached, 6),
        stop_reason=res.stop_reason,
        non_monotone=[{"failed_n": f, "ok_n": o} for f, o in res.non_monotone],
        probes=[p.to_dict() for p in res.probes],
    )


def _round(x: float | None, digits: int = 0) -> float | int | None:
    if x is None:
        return None
    return round(x, digits) if digits else int(round(x))


def layout_seen(layouts: list[str | None]) -> str | None:
    """The layout the probed servers had: 'fixed' only if every one had it."""
    seen = {x for x in layouts if x is not None}
    if not seen:
        return None
    return "fixed" if seen == {"fixed"} else "random"
