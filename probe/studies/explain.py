"""`probe explain`: where one request's memory goes, per source line, per unit of n.

1. The request at n on a fresh, untraced server under the cap (as max-n probes it): it
   must succeed, and its peak is what the traced run is compared with.
2. The same request at n and at n_small, each the first request of a fresh server run
   under `memray run` (probe.profile.command) with no cap: memray's own buffers would
   move a boundary, so the traced runs never feed a cap or a search.
3. Each capture read (probe.profile.reader): the request's peak per line, less the idle
   worker's (probe.profile.sites), the slope per line between the two sizes, the sum
   per owner; memray's flame graph of the run at n. (The plot of the top lines is the
   report's: probe.report.explain, drawn by the command.)
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import sysconfig
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from probe.defaults import RESULTS_DIR
from probe.documents import store
from probe.documents.explain import ExplainDoc
from probe.documents.maxn import MaxNDoc
from probe.errors import ProbeError
from probe.measure.oracle import OracleConfig, ServerOracle
from probe.outcome import Probe
from probe.profile import sites as sitesmod
from probe.profile.command import TraceError, check_memray, interpreter_of, traced_argv
from probe.profile.reader import read
from probe.search.estimate import fit_line
from probe.servers.process import Server
from probe.studies import maxn, question

Log = Callable[[str], None]

TOP_SITES = 10  # lines in the table and the document


class ExplainError(ProbeError):
    """The request cannot be explained as asked; the message says what to do."""


@dataclass(frozen=True)
class ExplainConfig:
    question: question.MaxNConfig  # the service, the request and the cap, as max-n asks
    n: int
    n_small: int
    n_source: str = "--n"
    out_dir: Path = Path(RESULTS_DIR) / "explain"
    top: int = TOP_SITES
    maxn_doc: Path | None = None  # a max-n document to compare the slope with


class TracedServer(Server):
    """The server's own command under `memray run`, writing `capture` (and
    `capture.<pid>` per forked worker)."""

    def __init__(self, spec, capture: Path, extra_env=None):
        super().__init__(spec, extra_env)
        self.capture = capture

    def command(self) -> list[str]:
        return traced_argv(super().command(), self.capture, self.cwd)

    def capture_of(self, pid: int) -> Path:
        """The file memray wrote for `pid`: the top process's own, or a forked worker's."""
        forked = self.capture.with_name(f"{self.capture.name}.{pid}")
        return forked if forked.exists() else self.capture


def name_for(cfg: ExplainConfig) -> str:
    """The document's file name: what max-n's file for the same question is called."""
    return question.path(cfg.question).stem


def run(cfg: ExplainConfig, log: Log = lambda s: None) -> tuple[ExplainDoc, Path]:
    """The explain document, written to results/explain/<name>.json, and its path."""
    if importlib.util.find_spec("memray") is None:
        raise ExplainError("probe explain reads memray's files: pip install 'probe[explain]' "
                           "(or pip install memray) where probe runs")  # fmt: skip
    q = cfg.question
    if q.workload.n_placement != "request":
        raise ExplainError("explain sends n in the request; n at start-up (--n-env, "
                           "--n-param) is not supported yet")  # fmt: skip
    python = interpreter_of(q.spec.argv(0)[0], q.spec.chdir)
    if python is None:
        raise ExplainError(f"{q.spec.argv(0)[0]!r} is not a Python program that memray can run")
    try:
        check_memray(python[0], q.spec.chdir)
    except TraceError as exc:
        raise ExplainError(str(exc)) from None
    t0 = time.monotonic()
    name = name_for(cfg)
    path = cfg.out_dir / f"{name}.json"
    doc = ExplainDoc.new(
        workload=q.workload.to_dict(), server=q.spec.server, cmd=q.spec.cmd,
        limit_bytes=q.spec.limit_bytes, limit_kind=q.limit_kind, n=cfg.n,
        n_small=cfg.n_small, n_source=cfg.n_source, status="running",
    )  # fmt: skip
    untraced = maxn.gate(q, cfg.n, log=lambda line: log(f"untraced: {line}"))[-1]
    doc.untraced = {"outcome": untraced.outcome.to_dict(),
                    "peak_rss_bytes": untraced.peak_rss_bytes}  # fmt: skip
    if not untraced.ok:
        raise ExplainError(
            f"n={cfg.n:,} fails even untraced under the cap ({untraced.outcome.kind.value}: "
            f"{untraced.outcome.detail or 'no detail'}); pass a smaller --n"
        )
    with tempfile.TemporaryDirectory(prefix="probe-explain-") as tmp:
        runs = {}
        for label, n in (("n", cfg.n), ("n_small", cfg.n_small)):
            runs[label] = _traced_run(q, n, Path(tmp) / f"{label}.bin", log)
        roots, installed = _roots(q), _installed(python[0])
        big, small = (sitesmod.request_sites(runs[k]["capture"], runs[k]["window"], roots,
                                             installed) for k in ("n", "n_small"))  # fmt: skip
        rows = sitesmod.slopes(big, small, cfg.n, cfg.n_small)
        cfg.out_dir.mkdir(parents=True, exist_ok=True)
        flame = cfg.out_dir / f"{name}-flamegraph.html"
        _flamegraph(python[0], runs["n"]["file"], flame, log)
    doc.traced = {label: _run_record(r) for label, r in runs.items()}
    doc.traced_command = runs["n"]["command"]
    total = sum(r.site.bytes for r in rows) or 1
    doc.sites = [_site_record(r, total, roots[0]) for r in rows[: cfg.top]]
    doc.sites_total = len(rows)
    doc.owners = sitesmod.by_owner(rows)
    big_heap, small_heap = (runs[k]["peak"]["heap_bytes"] for k in ("n", "n_small"))
    doc.bytes_per_n = (big_heap - small_heap) / (cfg.n - cfg.n_small)
    doc.maxn_bytes_per_n, doc.maxn_source = _maxn_slope(cfg)
    doc.flamegraph = str(flame) if flame.exists() else None
    doc.status = "complete"
    doc.elapsed_s = round(time.monotonic() - t0, 3)
    store.write_atomic(path, doc)
    return doc, path


def _traced_run(q: question.MaxNConfig, n: int, capture: Path, log: Log) -> dict:
    """One fresh traced server, the request at n as its first, stopped so memray ends
    its file; what the request did and its capture."""
    spec = replace(q.spec, limit_bytes=None, port=0)
    server = TracedServer(spec, capture, q.workload.server_env(None))
    oracle = None
    try:
        try:
            server.start()
        except Exception as exc:
            raise ExplainError(f"the server did not start under memray: {exc}") from None
        ocfg = OracleConfig(q.workload, 1, q.request_timeout_s, q.limit_kind, q.token)
        oracle = ServerOracle(ocfg, server=server)
        sent = time.time() * 1000
        probe: Probe = oracle(n)
        answered = time.time() * 1000
        command = server.command()
        log(f"traced: n={n:,} {probe.outcome.kind.value} {probe.elapsed_s:.2f}s")
        if not probe.ok:
            raise ExplainError(
                f"the traced request at n={n:,} did not succeed ({probe.outcome.kind.value}: "
                f"{probe.outcome.detail or 'no detail'}); the server crashed under memray, "
                "or n is past what it takes without a cap; pass a smaller --n"
            )
        pid = (probe.serving_pids or server.worker_pids() or [server.proc.pid])[0]
        top = server.proc.pid
    finally:
        if oracle is not None:
            oracle.close()  # SIGTERM and the grace period: memray closes its file
        server.close()
    file = server.capture_of(pid)
    cap = read(file) if pid == top or file != server.capture else None
    win = sitesmod.window(cap.times_ms, sent, answered) if cap is not None else None
    if cap is None or not cap.hwm_bytes or win.idle >= len(cap.hwm_bytes) - 1:
        # memray follows fork, not exec: a worker spawned anew (uvicorn --workers N), or a
        # server a launcher starts through a shell (mlflow models serve execs uvicorn),
        # has no capture, and the top process's own says nothing of the request
        raise ExplainError(
            f"memray did not trace the process that served the request (pid {pid}; "
            f"memray traced {spec.argv(0)[0]!r}, pid {top}): memray follows forked "
            "processes only, not a program started anew (uvicorn --workers N spawns its "
            "workers; a launcher such as mlflow models serve runs uvicorn through a "
            "shell); explain the server's own start command (e.g. --cmd 'uvicorn --port "
            "{port} module:app') with one worker process"
        )
    return {"n": n, "pid": pid, "probe": probe, "capture": cap, "window": win, "file": file,
            "peak": sitesmod.request_peak(cap, win), "command": command}  # fmt: skip


def _run_record(run: dict) -> dict:
    probe = run["probe"]
    return {"n": run["n"], "pid": run["pid"], "outcome": probe.outcome.kind.value,
            "peak_rss_bytes": probe.peak_rss_bytes, **run["peak"]}  # fmt: skip


def _site_record(row: sitesmod.Slope, total: int, root: str) -> dict:
    """One line of the table; the user's files relative to their folder (the document
    names no folder of this machine that the user did not give)."""
    s = row.site
    via = [s.via[0], _shown(s.via[1], root), s.via[2]] if s.via else None
    file = _shown(s.file, root)
    return {"function": s.function, "file": file, "line": s.line, "owner": s.owner,
            "kind": s.kind, "via": via, "bytes": s.bytes,
            "bytes_small": row.bytes_small, "share": s.bytes / total,
            "bytes_per_n": row.per_n, "fixed_bytes": row.fixed}  # fmt: skip


def _shown(path: str, root: str) -> str:
    """A source file as the table names it: the user's relative to their folder, an
    installed package's from its own folder (pydantic/main.py), the standard library's
    from its (json/decoder.py); anything else as memray gave it."""
    for marker in ("/site-packages/", "/dist-packages/"):
        if marker in path:
            return path.split(marker, 1)[1]
    for base in (root, sysconfig.get_paths()["stdlib"]):
        if path.startswith(base.rstrip("/") + "/"):
            return os.path.relpath(path, base)
    return path


def _roots(q: question.MaxNConfig) -> tuple[str, ...]:
    """Where the user's code lives: the folder the app is imported from."""
    return (os.path.abspath(q.spec.chdir or os.getcwd()),)


def _installed(python: str) -> tuple[str, ...]:
    """The server's environment (its console scripts are not the user's code), and this
    one's."""
    prefix = os.path.dirname(os.path.dirname(os.path.abspath(python)))
    return tuple(dict.fromkeys((prefix, sys.prefix)))


def _flamegraph(python: str, capture: Path, out: Path, log: Log) -> None:
    """memray's own flame graph of the run at n: the heap at its high-water mark."""
    done = subprocess.run([python, "-m", "memray", "flamegraph", "-f", "-o", str(out),
                           str(capture)], capture_output=True, text=True, timeout=300)  # fmt: skip
    if done.returncode != 0:
        log(f"memray flamegraph failed: {done.stderr.strip().splitlines()[-1:]}")


def _maxn_slope(cfg: ExplainConfig) -> tuple[float | None, str | None]:
    """The peak RSS per unit of n over the ok probes of this service's max-n document
    (a least-squares line through them), where it has two or more sizes. Not its model's
    slope: under `as` that counts address space, which a thread's arena reservation moves
    by 64 MiB at once; the traced heap is compared with what the kernel saw resident."""
    path = cfg.maxn_doc or question.path(cfg.question)
    if not path.exists():
        return None, None
    try:
        doc = MaxNDoc.load(path)
    except (store.ResultsError, KeyError, ValueError):
        return None, None
    points = [(p["n"], p["peak_rss_bytes"]) for p in doc.probes or []
              if p.get("outcome") == "ok" and p.get("n") and p.get("peak_rss_bytes")]  # fmt: skip
    if len({n for n, _ in points}) < 2:
        return None, None
    return fit_line(points)[1], str(path)
