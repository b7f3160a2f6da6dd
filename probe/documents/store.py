"""Versioned JSON results documents: atomic writes, loading with a version check."""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
import os
import platform as _platform
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import psutil

from probe import __version__
from probe.errors import ProbeError
from probe.interrupt import Interrupted

# Format history:
#   1: first version (max-n, matrix, compare documents; keys in shared/design.md).
#   2: max-n gains `workload` (app, request, n_env, ...: templates as written), the whole
#      server config (`role`, `worker_class`, `threads`, `timeout_s`, `preload`), `cold`,
#      `layout`, `band` (layouts, always_ok_n, never_ok_n, samples, probes, ...),
#      `safe_n_full_overlap`, `bytes_per_element_single`, per probe `serving_pids`;
#      confirm may be "auto"; matrix variants gain `workload` and `layout`, the document
#      `workloads`; file names carry what differs from the default server config.
#   3: max-n gains `non_monotone` ([{"failed_n", "ok_n"}]): on cold fixed-layout servers
#      without threads racing a failure below a success is a fact, so critical_n lies
#      below every failure and such pairs are recorded instead of forgiven as flukes.
#   4: max-n gains `cmd` (the user's start command as written, or None) and its workload
#      `cmd`; `server` may be "uvicorn" or "command" (a --cmd probe does not know);
#      `server_env` is {} for a --cmd (probe adds no variable to the user's command);
#      `limit_kind` may be "tree" (one budget for the process tree), with `oom_group`;
#      each probe gains `tree_peak` (each process's RSS, PSS, private bytes, the charge);
#      the workload gains `body_bytes`, `upload`, `n_param` (bodies sized by n, n in the
#      code), max-n `n_param_cost_bytes`; an outcome may be "rejected", a stop reason too.
#   5: max-n gains `recheck` (both ends re-probed at two timings of the first request;
#      `band` then may be over those timings), `body_bytes_at_critical_n` and
#      `body_bytes_at_first_failing_n`; the stop reason may be "refused" or "not_reached";
#      each probe gains `timing_s`; the workload gains `json_separators` ("spaced" as
#      json.dumps writes a body, or "compact"; a batch's identity changes with it);
#      `launch` (how probe started the servers: wrapper, cwd, stdin, output, session,
#      port, environ_bytes); `warm` (the answer on a server that served N requests
#      first) and, where the warm answer is lower, `cold_critical_n` and
#      `cold_first_failing_n`.
#   6: a new kind, explain (results/explain/<name>.json: a request's peak per source
#      line at two sizes, per owner; probe.documents.explain); max-n's workload gains
#      `content`, `filename`, `content_type`, `n_unit` and `body_fn` (bodies from a
#      template of the real input or the user's function, n in the user's unit);
#      max-n's `cold` is named `fresh` (every probe on a fresh server: --fresh, as
#      the option and the config say it; "cold" now means only not warmed up, as in
#      `cold_critical_n`), and a --no-fresh result's file name ends in -no-fresh.
#   From here on each kind has its own version (VERSIONS); the others stay at 6.
#   max-n 7: gains `first_sizes` (the first sizes learned from the body at small n),
#      `body_fn_cap_bytes`, `own_peak_rss_bytes` (probe's own peak and its body
#      builder's), `phases` (where the run's time went); `warm` gains `design`; `rate`
#      (the failure-rate answer where fresh servers disagreed at one n: it replaces the
#      band over the re-check's timings), `recheck` tries the critical n 8 times in all;
#      `launch` gains `ready_by` (how readiness was read on that kernel).
#   max-n 8: `limit_kind` may be "cgroup" (a real cgroup v2 per server, the kernel's
#      memory.max), with `oom_group`; each probe gains `cgroup` (memory.peak, the
#      memory.events of the probe, memory.stat at its end; None for the other kinds).
#   plan 7: gains `limit_kind` ("tree", or "cgroup": the budgets are each server's real
#      cgroup v2 memory.max; `probe plan --budget-kind`); older plans read as "tree".
#   max-n 9: `timeout_s` (gunicorn's worker timeout) is named `worker_timeout_s`: the
#      request timeout is request_timeout_s everywhere, and a key said neither; the
#      band's `layouts` is `tries_per_n` (a band over the re-check's timings tried
#      servers, not layouts).
#   plan 8: `margin` is named `headroom` (matrix's margin is a fraction of the critical n,
#      the plan's the room above N and under the budget: two words for two things).
#   plan 9: a cell of several requests at once answers where sustained traffic at full
#      occupancy fails at most at the risk (probe.plan.occupancy): each of its budgets
#      gains `full_overlap_n` (every peak at once fits up to it: the answer before) and
#      `sustained` (the runs, the fit, the risk); older plans read them as None, or, where
#      only below was checked, full_overlap_n as their largest_n.
SCHEMA_VERSION = 6  # the version of every kind whose format has not changed since 6
VERSIONS = {"max-n": 9, "matrix": 6, "compare": 6, "explain": 6, "plan": 9}


def _rename(old: str, new: str):
    def step(doc: dict) -> None:
        if old in doc and new not in doc:
            doc[new] = doc.pop(old)

    return step


def _default(**keys):
    def step(doc: dict) -> None:
        for name, value in keys.items():
            doc.setdefault(name, value)

    return step


def _workload_of_fn(doc: dict) -> None:
    """Version 1 had no workload: a built-in's, from its predictor."""
    if doc.get("workload") is None and doc.get("fn"):
        doc["workload"] = {"name": doc["fn"], "fn": doc["fn"]}


def _none(doc: dict) -> None:
    """Keys added, none renamed: an absent key reads as None."""


def _budget_entries(doc: dict) -> None:
    """plan 8 to 9: each budget entry gains full_overlap_n (the answer, where only below
    was checked: every peak at once) and sustained (None: no runs were made)."""
    for cell in doc.get("cells") or []:
        for entry in (cell.get("budgets") or {}).values():
            if entry is None:
                continue
            bound = "did not all meet" in (entry.get("how") or "")
            entry.setdefault("full_overlap_n", entry.get("largest_n") if bound else None)
            entry.setdefault("sustained", None)


# Upgrade steps, as pyperf reads its old files: UPGRADES[kind][v] turns a document of
# version v into one of version v + 1, in memory (the file is left as it was written).
UPGRADES = {
    "max-n": {
        1: lambda d: (_workload_of_fn(d), _default(band=None, layout=None)(d)),
        2: _default(non_monotone=[]),
        3: _default(cmd=None, limit_kind="as"),
        4: _none,
        5: _rename("cold", "fresh"),
        6: _none,
        7: _none,
        8: lambda d: (
            _rename("timeout_s", "worker_timeout_s")(d),
            _rename("layouts", "tries_per_n")(d.get("band") or {}),
        ),
    },
    "matrix": {v: _none for v in range(1, 6)},
    "compare": {v: _none for v in range(1, 6)},
    "explain": {},
    "plan": {6: _default(limit_kind="tree"), 7: _rename("margin", "headroom"), 8: _budget_entries},
}


def upgrade(doc: dict, kind: str) -> dict:
    """The document at its kind's current version, stepped up from the one it was
    written at; `schema_version_read` keeps the one it was written at."""
    version = doc["schema_version"]
    steps = UPGRADES.get(kind, {})
    while version < VERSIONS[kind]:
        if version not in steps:
            raise ResultsError(f"{kind} documents were never written at version {version}")
        steps[version](doc)
        version += 1
    if version != doc["schema_version"]:
        doc["schema_version_read"] = doc["schema_version"]
        doc["schema_version"] = version
    return doc


class ResultsError(ProbeError):
    """A results file that cannot be used: missing, corrupt, or of another version."""


def now_rfc3339() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def platform_info() -> dict:
    return {
        "python": _platform.python_version(),
        "implementation": sys.implementation.name,
        "system": _platform.system(),
        "machine": _platform.machine(),
        "cpu_count": os.cpu_count(),
        "total_memory_bytes": psutil.virtual_memory().total,
    }


def new_document(kind: str, **fields) -> dict:
    """A document with the common header keys, then `fields`."""
    doc = {
        "schema_version": VERSIONS[kind],
        "kind": kind,
        "probe_version": __version__,
        "created_at": now_rfc3339(),
        "platform": platform_info(),
    }
    doc.update(fields)
    return doc


def ended_by(exc: BaseException) -> str:
    """The status of a run that ended by an exception: 'interrupted: SIGINT', 'failed: ...'."""
    if isinstance(exc, Interrupted):
        return f"interrupted: {exc}"
    if isinstance(exc, KeyboardInterrupt):
        return "interrupted: SIGINT"
    return f"failed: {type(exc).__name__}: {exc}"


@contextlib.contextmanager
def recording(path: str | os.PathLike, doc: dict, t0: float) -> Iterator[dict]:
    """Run a measurement that fills `doc`; whatever happens, stamp how it ended and how
    long it took (monotonic, from t0) and write it, so an interrupted run keeps its data."""
    try:
        yield doc
        doc["status"] = "complete"
    except BaseException as exc:
        doc["status"] = ended_by(exc)
        raise
    finally:
        doc["elapsed_s"] = round(time.monotonic() - t0, 3)
        write_atomic(path, doc)


def write_atomic(path: str | os.PathLike, doc: dict) -> Path:
    """Write `doc` as JSON to `path` atomically (temp file, fsync, os.replace)."""
    return write_text_atomic(path, json.dumps(doc, indent=2, sort_keys=False) + "\n")


def write_text_atomic(path: str | os.PathLike, text: str) -> Path:
    """Write `text` to `path` atomically (temp file in the same folder, fsync, os.replace)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    return path


def load(path: str | os.PathLike, kind: str | None = None) -> dict:
    """Load a results document; refuse corrupt files and unknown versions."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ResultsError(f"{path}: no such results file") from None
    except OSError as exc:
        raise ResultsError(f"{path}: cannot read ({exc.strerror})") from None
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ResultsError(
            f"{path}: not valid JSON (line {exc.lineno}); delete it or rerun the command"
        ) from None
    if not isinstance(doc, dict) or "schema_version" not in doc:
        raise ResultsError(f"{path}: not a probe results document (no schema_version)")
    version, found = doc["schema_version"], doc.get("kind")
    if kind is not None and found != kind:
        raise ResultsError(f"{path}: a {found!r} document, expected {kind!r}")
    newest = VERSIONS.get(found)
    if newest is None or not isinstance(version, int) or version < 1:
        raise ResultsError(f"{path}: not a probe results document (kind {found!r}, "
                           f"schema_version {version!r})")  # fmt: skip
    if version > newest:
        raise ResultsError(
            f"{path}: schema_version {version} is newer than probe {__version__} reads "
            f"({found} {newest}); upgrade probe (pip install -U probe) to read it"
        )
    return upgrade(doc, found)
