"""The max-n results on disk: reuse one that answers the question, or run the search.

`probe matrix --n auto` and `probe compare` both need the critical n of a predictor on a
server at some concurrency under one cap. A file in results/max-n/ answers that if it
is complete and was made under the same cap, limit kind and worker count, on the same
Python and architecture, at least as precisely as asked; otherwise the search runs
(through `probe.studies.maxn.run`) and rewrites it.

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

from probe.defaults import REQUEST_TIMEOUT_S, RESULTS_DIR, STUDY_PRECISION
from probe.documents import store
from probe.documents.maxn import MaxNDoc
from probe.servers.spec import DEFAULTS, ServerSpec
from probe.studies import maxn, question
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
    results_dir: Path = Path(RESULTS_DIR)
    request_timeout_s: float = REQUEST_TIMEOUT_S
    confirm: str = "auto"  # fresh, fixed-layout outcomes are facts: re-probe only the rest
    band: int | None = None  # K layouts for the single-request searches' band
    check: bool = True  # re-check each search's ends on fresh servers (probe.search.verdict)


def spec_for(cfg: CatalogConfig, server: str, workload: Workload) -> ServerSpec:
    """The server the study measures: one process for flask, one sync worker for gunicorn;
    a workload with its own command runs that command (its kind is the command's)."""
    base = ServerSpec(
        server=server if workload.cmd is None else DEFAULTS["server"],
        limit_bytes=cfg.limit_bytes, limit_kind=cfg.limit_kind,
    )  # fmt: skip
    return base.running(workload.app, workload.chdir, workload.cmd)


def question_for(
    cfg: CatalogConfig, server: str, workload: Workload, concurrency: int,
    prior: dict | None = None,
) -> question.MaxNConfig:  # fmt: skip
    """The max-n question for one (server, workload, concurrency), seeded by a prior result."""
    seed = seed_bounds(prior)
    return question.ask(
        workload, spec_for(cfg, server, workload), concurrency, precision=cfg.precision,
        request_timeout_s=cfg.request_timeout_s, n_start=seed[0] if seed else None,
        n_max=seed[1] if seed else None, check=cfg.check, confirm=cfg.confirm,
        band=cfg.band if concurrency == 1 else None,
    )  # fmt: skip


def seed_bounds(prior: dict | None) -> tuple[int, int] | None:
    """(n_start, n_max) from a complete single-request result: its critical and failing n."""
    prior = MaxNDoc.of(prior) if prior else None
    if not prior or prior.status != "complete":
        return None
    lo, hi = prior.critical_n, prior.first_failing_n
    if not lo or not hi or hi <= lo:
        return None
    return lo, hi


def path_for(cfg: CatalogConfig, server: str, workload: Workload, concurrency: int) -> Path:
    """results/max-n/<server>-<workload>-<limit>[-rss]-c<C>.json under the configured root."""
    return question.path(question_for(cfg, server, workload, concurrency), cfg.results_dir)


def ensure(
    cfg: CatalogConfig, server: str, workload: Workload, concurrency: int, log: Log = stderr
) -> tuple[Path, dict]:
    """The max-n result for (server, workload, concurrency): read from disk, or searched.

    Walks down: the question names the file and judges a stored answer; only if there
    is none does the search run (seeded by the single-request answer, itself ensured)."""
    asked = question_for(cfg, server, workload, concurrency)
    path = question.path(asked, cfg.results_dir)
    doc, why = question.load_answer(path, asked)
    tag = f"[{server} {workload.name} c{concurrency}]"
    if doc is not None:
        log(f"{tag} using {path}: critical n {doc.critical_n}")
        return path, doc
    prior = ensure(cfg, server, workload, 1, log)[1] if concurrency > 1 else None
    seed = seed_bounds(prior)
    start = f", starting from the single-request bracket {seed}" if seed else ""
    log(f"{tag} searching ({why}){start} -> {path}")
    asked = question_for(cfg, server, workload, concurrency, prior)
    doc = MaxNDoc.of(maxn.run(asked, path, log=_prefixed(tag, log)))
    if seed is not None:
        doc.seeded_from = {"concurrency": 1, "n_start": seed[0], "n_max": seed[1]}
        store.write_atomic(path, doc)
    log(f"{tag} critical n {doc.critical_n} in {doc.elapsed_s:.1f} s")
    return path, doc


def _prefixed(tag: str, log: Log) -> Log:
    return lambda line: log(f"{tag} {line}")
