"""Facts derived from the results documents, for the prose: who is who, what a variant's
requests did, and the sizes of Python's objects that explain bytes per element.

`Study` holds the documents one report is made from and answers lookups (a variant, a
compare row, a critical n, a server's role). The functions below read numbers and
name what they show (a queue, parallel requests, the same or a smaller critical n);
probe.report.prose words them.
"""

from __future__ import annotations

import statistics
import struct
import sys
from dataclasses import dataclass, field

from probe.documents.compare import CompareDoc, Ratio, Row
from probe.documents.matrix import MatrixDoc, Variant
from probe.documents.maxn import MaxNDoc
from probe.servers.kinds import KINDS, PREFORK, THREADS
from probe.servers.limits import limit
from probe.sizes import format_bytes
from probe.workload.seminar import IO_FN

SAME_WITHIN = 0.05  # two critical n closer than this (relative) are "the same"
QUEUE_TOLERANCE = 0.25  # the k-th latency within this share of a sleep of k sleeps: a queue
POINTER_BYTES = struct.calcsize("P")
INT_OBJECT_BYTES = sys.getsizeof(10**6)  # a Python int below 2**30: header + one digit
INT64_BYTES = 8

Lines = list[str]

ROLE_WORDS = {THREADS: "threaded", PREFORK: "pre-fork"}  # role -> adjective in the prose


@dataclass(frozen=True)
class Study:
    """The documents one report is made from (plain dicts are read as their documents)."""

    matrix: MatrixDoc | None = None
    compare: CompareDoc | None = None
    maxn: dict[tuple[str, str, int], MaxNDoc] = field(default_factory=dict)
    logs: dict[str, str | None] = field(default_factory=dict)  # log path -> text (None: missing)
    explain: dict[str, dict] = field(default_factory=dict)  # results/explain/*.json by name
    plan: dict | None = None  # results/plan.json, when there is one

    def __post_init__(self) -> None:
        if self.matrix is not None:
            object.__setattr__(self, "matrix", MatrixDoc.of(self.matrix))
        if self.compare is not None:
            object.__setattr__(self, "compare", CompareDoc.of(self.compare))
        maxn = {k: MaxNDoc.of(doc) for k, doc in self.maxn.items()}
        object.__setattr__(self, "maxn", maxn)

    @property
    def variants(self) -> list[Variant]:
        return (self.matrix.variants if self.matrix else None) or []

    @property
    def rows(self) -> list[Row]:
        return (self.compare.rows if self.compare else None) or []

    @property
    def ratios(self) -> list[Ratio]:
        return (self.compare.ratios if self.compare else None) or []

    def variant(self, server: str, fn: str) -> Variant | None:
        return next((v for v in self.variants if (v.server, v.fn) == (server, fn)), None)

    def row(self, server: str, fn: str, concurrency: int) -> Row | None:
        want = (server, fn, concurrency)
        return next((r for r in self.rows if (r.server, r.fn, r.concurrency) == want), None)

    def critical(self, server: str, fn: str, concurrency: int) -> int | None:
        r = self.row(server, fn, concurrency)
        return r.critical_n if r else None

    @property
    def load_concurrency(self) -> int | None:
        """The concurrency of the load: the matrix's, else compare's largest."""
        if self.matrix and self.matrix.concurrency:
            return self.matrix.concurrency
        levels = (self.compare.concurrencies if self.compare else None) or []
        return max(levels) if levels else None

    @property
    def servers(self) -> list[str]:
        seen: list[str] = []
        for item in [*self.variants, *self.rows]:
            if item.server not in seen:
                seen.append(item.server)
        return seen

    def role_of(self, server: str) -> str | None:
        """The server's role: as its max-n documents record it, else its kind's."""
        for (name, _, _), doc in self.maxn.items():
            if name == server and doc.role:
                return doc.role
        kind = KINDS.get(server)
        return kind.role if kind and kind.role else None

    def by_role(self, role: str) -> str | None:
        """The first server in the documents whose role is `role`, or None."""
        for server in self.servers + [key[0] for key in self.maxn]:
            if self.role_of(server) == role:
                return server
        return None

    def worker_class(self, server: str) -> str | None:
        """The worker class the server's max-n documents name, if they agree on one."""
        classes = {doc.worker_class for key, doc in self.maxn.items() if key[0] == server}
        classes.discard(None)
        return classes.pop() if len(classes) == 1 else None

    @property
    def _capped(self) -> MatrixDoc | CompareDoc | None:
        return self.matrix or self.compare

    @property
    def cap_name(self) -> str:
        """What enforces the cap: RLIMIT_AS, the RSS watchdog, ... (probe.servers.limits)."""
        doc = self._capped
        return limit(doc.limit_kind if doc else None).enforced_by

    @property
    def limit_text(self) -> str:
        doc = self._capped
        return format_bytes(doc.limit_bytes) if doc and doc.limit_bytes else "no cap"


# ---------------------------------------------------------------- who is who


def role_word(study: Study, server: str) -> str:
    """'threaded' or 'pre-fork'; the server's name when its role is unknown or shared."""
    role = study.role_of(server)
    peers = [s for s in study.servers if study.role_of(s) == role]
    return ROLE_WORDS[role] if role in ROLE_WORDS and len(peers) <= 1 else server


def short_name(study: Study, server: str) -> str:
    """'the threaded server', or the server's name when the role does not name it."""
    word = role_word(study, server)
    return server if word == server else f"the {word} server"


def long_name(study: Study, server: str) -> str:
    """'the threaded server (flask)': the role first, the name as the example."""
    short = short_name(study, server)
    return server if short == server else f"{short} ({server})"


def opening_name(study: Study, server: str) -> str:
    """'The threaded server' to open a sentence; a bare name keeps its case."""
    short = short_name(study, server)
    return server if short == server else short[:1].upper() + short[1:]


def bold_name(study: Study, server: str) -> str:
    """'**The threaded server** (flask)' to open a list item."""
    opening = opening_name(study, server)
    return f"**{server}**" if opening == server else f"**{opening}** ({server})"


def possessive(name: str) -> str:
    return f"{name}'" if name.endswith("s") else f"{name}'s"


def missing_roles(study: Study, *roles: str) -> str | None:
    """'no threaded server (servers measured: gunicorn)' when a role has no server."""
    absent = [f"no {ROLE_WORDS.get(r, r)} server" for r in roles if study.by_role(r) is None]
    if not absent:
        return None
    measured = ", ".join(study.servers) or "none"
    return f"{' and '.join(absent)} (servers measured: {measured})"


def worker_text(study: Study, server: str) -> str:
    """'sync worker' when the max-n documents name the worker class, else 'worker'."""
    cls = study.worker_class(server)
    return f"{cls} worker" if cls else "worker"


# ---------------------------------------------------------------- small helpers


def relation(new: int, old: int, within: float = SAME_WITHIN) -> str:
    """How `new` relates to `old`: 'exactly the same', 'the same within 2%', '6.4x smaller'."""
    change = new / old - 1
    if new == old:
        return "exactly the same"
    if abs(change) <= within:
        return f"the same within {max(abs(change), 0.001):.1%}".replace(".0%", "%")
    return f"{old / new:.1f}x smaller" if new < old else f"{new / old:.1f}x larger"


def io_sleep_s(variant: Variant) -> float | None:
    """How long the predictor itself took per request (the sleep), as the server reported."""
    values = [r["server_elapsed_s"] for r in ok_requests(variant) if r.get("server_elapsed_s")]
    return statistics.median(values) if values else None


def ok_requests(variant: Variant) -> list[dict]:
    return [r for r in Variant.of(variant).requests or [] if r.get("kind") == "ok"]


def latencies(variant: Variant) -> list[float]:
    return sorted(r["latency_s"] for r in ok_requests(variant) if r.get("latency_s") is not None)


def is_queue(lats: list[float], unit: float) -> bool:
    """The k-th fastest latency is about k units: requests served one after another."""
    return len(lats) > 1 and all(
        abs(lat - (k + 1) * unit) <= QUEUE_TOLERANCE * unit for k, lat in enumerate(lats)
    )


def is_parallel(lats: list[float], unit: float) -> bool:
    """Every latency is about one unit: requests served side by side."""
    return bool(lats) and max(lats) <= (1 + QUEUE_TOLERANCE) * unit


def flight(variant: Variant | None) -> tuple[int, int, int, int]:
    """(max in flight at the server, requests, server processes, server threads)."""
    if not variant:
        return 0, 0, 0, 0
    v = Variant.of(variant)
    return (
        v.max_in_flight or 0,
        len(v.requests or []),
        len(v.server_pids or []),
        v.server_threads or 0,
    )


def reference_variant(study: Study, server: str) -> Variant | None:
    """The variant that shows a server's concurrency best: io_bounded (1 s each), else any."""
    found = study.variant(server, IO_FN)
    if found:
        return found
    variants = [v for v in study.variants if v.server == server]
    return max(variants, key=lambda v: v.max_in_flight or 0, default=None)


def shares_one_process(study: Study, server: str) -> bool:
    """Several requests in flight at once, all in one process: they share one cap."""
    k, _, pids, _ = flight(reference_variant(study, server))
    return k > 1 and pids == 1


def one_at_a_time(study: Study, server: str) -> bool:
    k, requests, _, _ = flight(reference_variant(study, server))
    return k == 1 and requests > 1


def ambiguous_range(doc: MaxNDoc | None) -> tuple[int, int] | None:
    """(smallest failing n, largest ok n) when a failure came below a success, else None."""
    probes = (doc.probes if doc else None) or []
    ok = [p["n"] for p in probes if p.get("outcome") == "ok"]
    failed = [p["n"] for p in probes if p.get("outcome") != "ok"]
    if ok and failed and min(failed) < max(ok):
        return min(failed), max(ok)
    return None


def first_end_last_start(variant: Variant) -> tuple[float, float] | None:
    """(earliest end, latest start in the predictor) over the ok requests, client clock."""
    served = [r for r in ok_requests(variant) if r.get("server_elapsed_s") is not None]
    if not served:
        return None
    ends = [r["end_s"] for r in served]
    starts = [max(r["start_s"], r["end_s"] - r["server_elapsed_s"]) for r in served]
    return min(ends), max(starts)
