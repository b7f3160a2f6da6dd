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

from probe.servers.kinds import KINDS, PREFORK, THREADS
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
    """The documents one report is made from."""

    matrix: dict | None = None
    compare: dict | None = None
    maxn: dict[tuple[str, str, int], dict] = field(default_factory=dict)
    logs: dict[str, str | None] = field(default_factory=dict)  # log path -> text (None: missing)

    def variant(self, server: str, fn: str) -> dict | None:
        for v in (self.matrix or {}).get("variants") or []:
            if v.get("server") == server and v.get("fn") == fn:
                return v
        return None

    def row(self, server: str, fn: str, concurrency: int) -> dict | None:
        for r in (self.compare or {}).get("rows") or []:
            if (r.get("server"), r.get("fn"), r.get("concurrency")) == (server, fn, concurrency):
                return r
        return None

    def critical(self, server: str, fn: str, concurrency: int) -> int | None:
        r = self.row(server, fn, concurrency)
        return r.get("critical_n") if r else None

    @property
    def load_concurrency(self) -> int | None:
        """The concurrency of the load: the matrix's, else compare's largest."""
        if self.matrix and self.matrix.get("concurrency"):
            return self.matrix["concurrency"]
        levels = (self.compare or {}).get("concurrencies") or []
        return max(levels) if levels else None

    @property
    def servers(self) -> list[str]:
        seen: list[str] = []
        for doc_rows in ((self.matrix or {}).get("variants"), (self.compare or {}).get("rows")):
            for item in doc_rows or []:
                if item.get("server") not in seen:
                    seen.append(item.get("server"))
        return seen

    def role_of(self, server: str) -> str | None:
        """The server's role: as its max-n documents record it, else its kind's."""
        for (name, _, _), doc in self.maxn.items():
            if name == server and doc.get("role"):
                return doc["role"]
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
        classes = {doc.get("worker_class") for key, doc in self.maxn.items() if key[0] == server}
        classes.discard(None)
        return classes.pop() if len(classes) == 1 else None

    @property
    def cap_name(self) -> str:
        """What enforces the cap: RLIMIT_AS, or the RSS watchdog."""
        doc = self.matrix or self.compare or {}
        return "the RSS watchdog" if doc.get("limit_kind") == "rss" else "RLIMIT_AS"

    @property
    def limit_text(self) -> str:
        doc = self.matrix or self.compare or {}
        return format_bytes(doc.get("limit_bytes")) if doc.get("limit_bytes") else "no cap"


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


def io_sleep_s(variant: dict) -> float | None:
    """How long the predictor itself took per request (the sleep), as the server reported."""
    values = [r["server_elapsed_s"] for r in ok_requests(variant) if r.get("server_elapsed_s")]
    return statistics.median(values) if values else None


def ok_requests(variant: dict) -> list[dict]:
    return [r for r in variant.get("requests") or [] if r.get("kind") == "ok"]


def latencies(variant: dict) -> list[float]:
    return sorted(r["latency_s"] for r in ok_requests(variant) if r.get("latency_s") is not None)


def is_queue(lats: list[float], unit: float) -> bool:
    """The k-th fastest latency is about k units: requests served one after another."""
    return len(lats) > 1 and all(
        abs(lat - (k + 1) * unit) <= QUEUE_TOLERANCE * unit for k, lat in enumerate(lats)
    )


def is_parallel(lats: list[float], unit: float) -> bool:
    """Every latency is about one unit: requests served side by side."""
    return bool(lats) and max(lats) <= (1 + QUEUE_TOLERANCE) * unit


def flight(variant: dict | None) -> tuple[int, int, int, int]:
    """(max in flight at the server, requests, server processes, server threads)."""
    if not variant:
        return 0, 0, 0, 0
    return (
        variant.get("max_in_flight") or 0,
        len(variant.get("requests") or []),
        len(variant.get("server_pids") or []),
        variant.get("server_threads") or 0,
    )


def reference_variant(study: Study, server: str) -> dict | None:
    """The variant that shows a server's concurrency best: io_bounded (1 s each), else any."""
    found = study.variant(server, IO_FN)
    if found:
        return found
    variants = [v for v in (study.matrix or {}).get("variants") or [] if v["server"] == server]
    return max(variants, key=lambda v: v.get("max_in_flight") or 0, default=None)


def shares_one_process(study: Study, server: str) -> bool:
    """Several requests in flight at once, all in one process: they share one cap."""
    k, _, pids, _ = flight(reference_variant(study, server))
    return k > 1 and pids == 1


def one_at_a_time(study: Study, server: str) -> bool:
    k, requests, _, _ = flight(reference_variant(study, server))
    return k == 1 and requests > 1


def ambiguous_range(doc: dict | None) -> tuple[int, int] | None:
    """(smallest failing n, largest ok n) when a failure came below a success, else None."""
    probes = (doc or {}).get("probes") or []
    ok = [p["n"] for p in probes if p.get("outcome") == "ok"]
    failed = [p["n"] for p in probes if p.get("outcome") != "ok"]
    if ok and failed and min(failed) < max(ok):
        return min(failed), max(ok)
    return None


def first_end_last_start(variant: dict) -> tuple[float, float] | None:
    """(earliest end, latest start in the predictor) over the ok requests, client clock."""
    served = [r for r in ok_requests(variant) if r.get("server_elapsed_s") is not None]
    if not served:
        return None
    ends = [r["end_s"] for r in served]
    starts = [max(r["start_s"], r["end_s"] - r["server_elapsed_s"]) for r in served]
    return min(ends), max(starts)
