"""The seminar app's predictors as workloads (their answers checked against the exact price)."""

from __future__ import annotations

from probe.workload.model import Workload, WorkloadError
from probe.workload.seminar import BUILTIN_APP, BUILTIN_FNS, IO_FNS


def builtin(fn: str) -> Workload:
    """The seminar app's predictor `fn` as a workload: POST /predict with area, fn and n."""
    if fn not in BUILTIN_FNS:
        raise WorkloadError(f"fn must be one of {', '.join(BUILTIN_FNS)}, got {fn!r}")
    n_part = "" if fn in IO_FNS else ', "n": {n}'
    body = '{"area": {area}, "fn": "' + fn + '"' + n_part + "}"
    return Workload(name=fn, app=BUILTIN_APP, request="POST /predict", json=body, fn=fn)


def is_builtin(w: Workload) -> bool:
    """Is this one of the seminar's predictors (answers checked against the exact price)?"""
    return w.fn is not None


BUILTINS: dict[str, Workload] = {fn: builtin(fn) for fn in BUILTIN_FNS}
