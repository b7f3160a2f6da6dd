"""The max-n results on disk: reuse one that answers the question, or run the search.

`probe matrix --n auto` and `probe compare` both need the critical n of a predictor on a
server at some concurrency under one cap. A file in results/max-n/ answers that if it
is complete and was made under the same cap, limit kind and worker count, on the same
Python and architecture, at least as precisely as asked; otherwise the search runs
(through `probe.maxn.run`) and rewrites it.

A search at concurrency C > 1 starts from the single-request bracket of the same
server and predictor: concurrency can only add memory to a process, so the answer is
at most the single-request critical n. On gunicorn's one sync worker, which serves
the C requests one after another, the first two probes (at that critical n and at
its first failing n) usually settle it; each probe there costs C requests in a row,
so this saves most of the search's time. Where the requests share a process (Flask's
threads) the first probe fails and the search descends from it as usual.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from probe.defaults import REQUEST_TIMEOUT_S, STUDY_PRECISION
from probe.search.critical import SearchConfig
from probe.servers.spec import ServerSpec, pinned_env
from probe.studies import maxn
from probe.studies import store as results
from probe.workload.model import Workload

Log = Callable[[str], None]


def stderr(line: str) -> None:
    """Progress goes to stderr, so stdout keeps only the command's output."""
    print(line, file=sys.stderr, flush=True)


@dataclass(frozen=True)
class CatalogConfig:
    """The cap and search settings every max-n result in one study shares."""

    limit_bytes: int
    limit_kind: str = "as"
    precision: float = STUDY_PRECISION
    results_dir: Path = Path("results")
    timeout_s: float = REQUEST_TIMEOUT_S
    confirm: str = "auto"  # cold, fixed-layout outcomes are facts: re-probe only the rest
    band: int | None = None  # K layouts for the single-request searches' band


def spec_for(cfg: CatalogConfig, server: str, workload: Workload) -> ServerSpec:
    """The server the study measures: one process for flask, one sync worker for gunicorn."""
    return ServerSpec(
        server=server, limit_bytes=cfg.limit_bytes, limit_kind=cfg.limit_kind,
        app=workload.app, chdir=workload.chdir,
    )  # fmt: skip


def maxn_config(
    cfg: CatalogConfig, server: str, workload: Workload, concurrency: int,
    prior: dict | None = None,
) -> maxn.MaxNConfig:  # fmt: skip
    """The max-n run for one (server, workload, concurrency), seeded by a prior result."""
    seed = seed_bounds(prior)
    bounds = {"n_start": seed[0], "n_max": seed[1]} if seed else {}
    spec = spec_for(cfg, server, workload)
    search = SearchConfig(
        precision=cfg.precision,
        limit_bytes=cfg.limit_bytes,
        confirm=maxn.confirm_policy(cfg.confirm, True, spec.layout),
        lanes=maxn.auto_lanes(spec, concurrency),
        **bounds,
    )
    return maxn.MaxNConfig(
        workload=workload,
        spec=spec,
        concurrency=concurrency,
        search=search,
        timeout_s=cfg.timeout_s,
        band=cfg.band if concurrency == 1 else None,
    )


def seed_bounds(prior: dict | None) -> tuple[int, int] | None:
    """(n_start, n_max) from a complete single-request result: its critical and failing n."""
    if not prior or prior.get("status") != "complete":
        return None
    lo, hi = prior.get("critical_n"), prior.get("first_failing_n")
    if not lo or not hi or hi <= lo:
        return None
    return lo, hi


def path_for(cfg: CatalogConfig, server: str, workload: Workload, concurrency: int) -> Path:
    """results/max-n/<server>-<workload>-<limit>[-rss]-c<C>.json under the configured root."""
    return maxn.default_path(maxn_config(cfg, server, workload, concurrency), cfg.results_dir)


def _same_workload(recorded: dict | None, workload: Workload) -> bool:
    """The same app, request and n placement (the folder it was imported from aside)."""
    if not recorded:
        return False
    want = workload.to_dict()
    return all(recorded.get(k) == want[k] for k in want if k not in ("chdir",))


def unusable_reason(
    doc: dict, cfg: CatalogConfig, server: str, workload: Workload, concurrency: int
) -> str | None:
    """Why a max-n document cannot answer this question, or None if it can."""
    mcfg = maxn_config(cfg, server, workload, concurrency)
    want = {
        **mcfg.spec.config(),
        "concurrency": concurrency,
        "limit_bytes": cfg.limit_bytes,
        "limit_kind": cfg.limit_kind,
        "cold": True,
        "layout": mcfg.spec.layout,
    }
    for key, value in want.items():
        if doc.get(key) != value:
            return f"made with {key}={doc.get(key)!r}, not {value!r}"
    if not _same_workload(doc.get("workload"), workload):
        return "made for another workload (app, request or n placement)"
    if doc.get("status") != "complete":
        return f"status {doc.get('status')!r}"
    other = _other_platform(doc.get("platform") or {})
    if other:
        return f"made on {other}, not here"
    if doc.get("server_env") != pinned_env(mcfg.spec):
        return "made with other pinned server variables (server_env); memory use differs"
    precision = doc.get("precision")
    if precision is None or precision > cfg.precision + 1e-12:
        return f"precision {precision} is coarser than {cfg.precision}"
    banded = (doc.get("band") or {}).get("layouts") or 0
    if mcfg.band_layouts and doc.get("critical_n") is not None and banded < mcfg.band_layouts:
        return f"has no band over {mcfg.band_layouts} layouts"
    return None


PLATFORM_KEYS = ("implementation", "python", "system", "machine")  # what sizes objects


def _other_platform(made_on: dict) -> str | None:
    """How the platform a result was measured on differs from this one, or None."""
    here = results.platform_info()
    if all(made_on.get(k) == here[k] for k in PLATFORM_KEYS):
        return None
    return " ".join(str(made_on.get(k)) for k in PLATFORM_KEYS)


def load_usable(
    path: Path, cfg: CatalogConfig, server: str, workload: Workload, concurrency: int
) -> tuple[dict | None, str]:
    """(the document, "") if the file answers the question, else (None, why not)."""
    if not path.exists():
        return None, "missing"
    try:
        doc = results.load(path, kind="max-n")
    except results.ResultsError as exc:
        return None, str(exc)
    reason = unusable_reason(doc, cfg, server, workload, concurrency)
    return (None, reason) if reason else (doc, "")


def ensure(
    cfg: CatalogConfig, server: str, workload: Workload, concurrency: int, log: Log = stderr
) -> tuple[Path, dict]:
    """The max-n result for (server, workload, concurrency): read from disk, or searched."""
    path = path_for(cfg, server, workload, concurrency)
    doc, why = load_usable(path, cfg, server, workload, concurrency)
    tag = f"[{server} {workload.name} c{concurrency}]"
    if doc is not None:
        log(f"{tag} using {path}: critical n {doc['critical_n']}")
        return path, doc
    prior = ensure(cfg, server, workload, 1, log)[1] if concurrency > 1 else None
    seed = seed_bounds(prior)
    start = f", starting from the single-request bracket {seed}" if seed else ""
    log(f"{tag} searching ({why}){start} -> {path}")
    mcfg = maxn_config(cfg, server, workload, concurrency, prior)
    doc = maxn.run(mcfg, path, log=_prefixed(tag, log))
    if seed is not None:
        doc["seeded_from"] = {"concurrency": 1, "n_start": seed[0], "n_max": seed[1]}
        results.write_atomic(path, doc)
    log(f"{tag} critical n {doc['critical_n']} in {doc['elapsed_s']:.1f} s")
    return path, doc


def _prefixed(tag: str, log: Log) -> Log:
    return lambda line: log(f"{tag} {line}")
