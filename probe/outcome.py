"""Typed outcomes of one probe: what happened when the server was asked for n."""

from __future__ import annotations

import enum
import signal as _signal
from dataclasses import asdict, dataclass, field

from probe.errors import ProbeError


class CannotProbe(ProbeError):
    """The run cannot give a right answer (a wrong path or body, n that never reaches the
    app): the message says what was seen and what to check. Exit code 3."""

    exit_code = 3


class Kind(str, enum.Enum):
    """How one request (or one probe of C requests) ended."""

    OK = "ok"
    MEMORY_ERROR = "memory_error"  # the app caught MemoryError and answered 507 JSON
    KILLED = "killed"  # the serving process died by a signal (OOM kill, SIGKILL, abort)
    TIMEOUT = "timeout"  # no answer within the per-request timeout
    CONNECTION_ERROR = "connection_error"  # connection refused/reset/aborted
    HTTP_ERROR = "http_error"  # any other non-2xx answer
    SERVER_START_FAILED = "server_start_failed"  # the server never became ready
    REJECTED = "rejected"  # the app refused the size by a limit of its own (413): no memory

    def __str__(self) -> str:
        return self.value


# When a probe of C requests has several kinds of failure, report the most telling one.
_SEVERITY = {
    Kind.OK: 0,
    Kind.HTTP_ERROR: 1,
    Kind.REJECTED: 1,
    Kind.CONNECTION_ERROR: 2,
    Kind.TIMEOUT: 3,
    Kind.MEMORY_ERROR: 4,
    Kind.KILLED: 5,
    Kind.SERVER_START_FAILED: 6,
}


def signal_name(signum: int | None) -> str | None:
    """'SIGKILL' for 9, None for None; falls back to 'SIG<n>' for unknown numbers."""
    if signum is None:
        return None
    try:
        return _signal.Signals(signum).name
    except ValueError:
        return f"SIG{signum}"


@dataclass(frozen=True)
class Outcome:
    """The typed result of a request or a probe; never a bare bool."""

    kind: Kind
    status: int | None = None  # HTTP status when there was an answer
    detail: str = ""  # human-readable: error text, signal, exception
    signal: int | None = None  # for KILLED: the signal number

    @property
    def ok(self) -> bool:
        return self.kind is Kind.OK

    def to_dict(self) -> dict:
        return {
            "kind": self.kind.value,
            "status": self.status,
            "detail": self.detail,
            "signal": signal_name(self.signal),
        }

    @classmethod
    def from_dict(cls, d: dict) -> Outcome:
        sig = d.get("signal")
        if isinstance(sig, str):
            sig = getattr(_signal, sig, None)
            sig = int(sig) if sig is not None else None
        return cls(Kind(d["kind"]), d.get("status"), d.get("detail", ""), sig)


def worst(outcomes: list[Outcome]) -> Outcome:
    """The most telling outcome of several (ok only if all are ok)."""
    if not outcomes:
        raise ValueError("worst() of no outcomes")
    return max(outcomes, key=lambda o: _SEVERITY[o.kind])


@dataclass(frozen=True)
class Probe:
    """One step of a search: C identical requests at size n, and what they cost.

    `model_bytes` is the peak of the quantity the cap limits (address space for
    RLIMIT_AS, resident memory for the rss watchdog) of the serving process
    during the probe; the model-guided search fits it against n.
    """

    n: int
    outcome: Outcome
    elapsed_s: float = 0.0
    peak_rss_bytes: int | None = None  # kernel VmHWM, max over server processes
    peak_rss_sampled_bytes: int | None = None  # psutil sampler, max over server processes
    model_bytes: int | None = None
    restarts: int = 0  # server restarts this probe caused or needed
    statuses: list[int | None] = field(default_factory=list)  # one per request
    # Serving processes that appeared because of this probe: gunicorn's respawned
    # worker, or the relaunched dev server (empty when nothing died).
    new_worker_pids: list[int] = field(default_factory=list)
    lane: int = 0  # which server process answered (probe max-n --lanes)
    serving_pids: list[int] = field(default_factory=list)  # the server's serving processes
    # limit kind tree: each process's RSS, PSS, private memory and the tree's charge, read
    # exactly nearest the tree's peak (probe.measure.tree.tree_snapshot)
    tree_peak: dict | None = None
    # limit kind cgroup: the kernel's account at the probe's end: memory.peak, memory.events
    # (what happened during the probe) and memory.stat (the charge's parts)
    cgroup: dict | None = None
    # when the request went out: None as the search sends it (a fresh server whose
    # workers wait), 0.0 as soon as the port accepted, s > 0 s after the workers waited
    timing_s: float | None = None
    # measured: seconds from the server's workers first waiting to the request's send
    # (None: sent before they waited, as the port opened, or a server probe did not start)
    after_ready_s: float | None = None
    # the first answer's text, up to ANSWER_CHARS: kept for judging the run, never written
    # to results (an app may echo what it was sent)
    answer: str | None = field(default=None, repr=False)
    # the whole first answer's length and hash ("LENGTH:HASH"), for the same-answer check
    answer_id: str | None = field(default=None, repr=False)
    log_tail: str | None = field(default=None, repr=False)  # a failure's server log, the end

    @property
    def ok(self) -> bool:
        return self.outcome.ok

    def to_dict(self) -> dict:
        d = asdict(self)
        del d["answer"], d["answer_id"], d["log_tail"]
        d["outcome"] = self.outcome.kind.value
        d["status"] = self.outcome.status
        d["detail"] = self.outcome.detail
        d["signal"] = signal_name(self.outcome.signal)
        return d


ANSWER_CHARS = 300  # how much of an answer a probe keeps (and a message shows)

# Statuses by which an app refuses a request for its size, by a limit of its own.
REJECTING = {
    413: "the app refuses a body this large (a limit of its own, e.g. MAX_CONTENT_LENGTH)",
    414: "the app refuses a URI this long (a limit of its own)",
    431: "the app refuses headers this large (a limit of its own)",
}


def failed_answer(status: int, body: object) -> Outcome:
    """A non-2xx answer; a JSON {"error": "memory_error"} (the seminar app's 507, and any
    app that says so the same way) is a memory error."""
    error = body.get("error") if isinstance(body, dict) else None
    if status in REJECTING:
        return Outcome(Kind.REJECTED, status, REJECTING[status])
    if error == "memory_error":
        detail = body.get("detail") or "MemoryError"
        text = f"MemoryError: {detail}" if detail != "MemoryError" else detail
        return Outcome(Kind.MEMORY_ERROR, status, text)
    return Outcome(
        Kind.HTTP_ERROR, status, f"HTTP {status}: {error}" if error else f"HTTP {status}"
    )
