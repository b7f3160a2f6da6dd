"""Statistics over raw samples: percentiles, latency summaries, requests in flight.

Every function takes raw values (no buckets) and is pure. Request records are the
dicts the load runner writes into a matrix document; the keys read here are
`start_s`, `end_s` (offsets from the start of the load, client clock),
`latency_s`, `kind`, `status`, `error`, `pid`, `thread` and, when the app reports it,
`server_elapsed_s` (seconds the server spent in the predictor).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

Interval = tuple[float, float]


def catch_probability(tries: int, rate: float) -> float:
    """How often `tries` independent tries show at least one failure where a share
    `rate` fails: 1 - 0.75^8 = 0.90 for the re-check's 8 tries of a 1-in-4 failure."""
    return 1 - (1 - rate) ** tries


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100) with linear interpolation, like numpy's default."""
    if not values:
        raise ValueError("percentile() of no values")
    if not 0 <= q <= 100:
        raise ValueError(f"percentile q must be within 0..100, got {q}")
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100
    lo = math.floor(pos)
    hi = min(lo + 1, len(ordered) - 1)
    frac = pos - lo
    if frac == 0:
        return float(ordered[lo])
    return ordered[lo] + (ordered[hi] - ordered[lo]) * frac


def latency_summary(values: Iterable[float | None]) -> dict[str, float | None]:
    """min, p50, p95, max and mean of the values, skipping None; all None when empty."""
    samples = [v for v in values if v is not None]
    if not samples:
        return {"min": None, "p50": None, "p95": None, "max": None, "mean": None}
    return {
        "min": float(min(samples)),
        "p50": percentile(samples, 50),
        "p95": percentile(samples, 95),
        "max": float(max(samples)),
        "mean": math.fsum(samples) / len(samples),
    }


def max_in_flight(intervals: Iterable[Interval]) -> int:
    """Most intervals open at one instant; one ending exactly when another starts does not count."""
    events: list[tuple[float, int]] = []
    for start, end in intervals:
        if end < start:
            raise ValueError(f"interval ends before it starts: ({start}, {end})")
        events.append((start, 1))
        events.append((end, -1))
    # At equal times -1 sorts before +1: close before opening, so touching is not overlap.
    events.sort()
    open_now = best = 0
    for _, delta in events:
        open_now += delta
        best = max(best, open_now)
    return best


def client_intervals(requests: Iterable[dict]) -> list[Interval]:
    """[start_s, end_s] of each request that has both, as the client saw it (queueing included)."""
    return [
        (r["start_s"], r["end_s"])
        for r in requests
        if r.get("start_s") is not None and r.get("end_s") is not None
    ]


def server_interval(request: dict) -> Interval | None:
    """Approximate server-side interval of one request, or None without timestamps.

    The app reports how long the predictor ran (`server_elapsed_s`), not when it
    started, so the interval is taken as [end_s - server_elapsed_s, end_s] on the
    client clock, clipped to start at or after start_s. This drops the time the
    request waited in the socket backlog (what makes gunicorn's one sync worker look
    parallel from the client) and shifts the interval late by the response's
    transfer time, which on localhost is well under a millisecond. Without
    `server_elapsed_s` the client interval is used as is.
    """
    start, end = request.get("start_s"), request.get("end_s")
    if start is None or end is None:
        return None
    elapsed = request.get("server_elapsed_s")
    if elapsed is None:
        return (start, end)
    return (max(start, end - elapsed), end)


def in_flight_by_process(requests: Sequence[dict]) -> dict:
    """Most requests in flight at the server at once: overall and per pid.

    Returns {"overall": int, "per_pid": {pid: int}}. Only requests the server
    answered (a `pid` in the record) count: for one that got no answer there is no
    telling whether, or how long, the server worked on it.
    """
    answered = [r for r in requests if r.get("pid") is not None]
    by_pid: dict[int, list[dict]] = {}
    for r in answered:
        by_pid.setdefault(r["pid"], []).append(r)
    return {
        "overall": busy_threads(answered),
        "per_pid": {pid: busy_threads(rs) for pid, rs in sorted(by_pid.items())},
    }


def busy_threads(requests: Sequence[dict]) -> int:
    """Most server threads busy at one instant, from the approximate server intervals.

    A thread serves one request at a time, so intervals of the same (pid, thread) that
    overlap by the client clock's noise (a sync worker's next request starts while the
    previous answer is still on its way to the client) count once. Requests without a
    reported thread count on their own.
    """
    events: list[tuple[float, int, object]] = []
    for i, r in enumerate(requests):
        interval = server_interval(r)
        if interval is not None:
            key = (r.get("pid"), r["thread"]) if r.get("thread") is not None else i
            events += [(interval[0], 1, key), (interval[1], -1, key)]
    events.sort(key=lambda e: (e[0], e[1]))  # close before opening, as in max_in_flight
    open_by_key: dict[object, int] = {}
    best = 0
    for _, delta, key in events:
        open_by_key[key] = open_by_key.get(key, 0) + delta
        if not open_by_key[key]:
            del open_by_key[key]
        best = max(best, len(open_by_key))
    return best


def threads_by_pid(requests: Iterable[dict]) -> dict[int, list]:
    """The distinct threads seen in each server process, from the answered requests."""
    seen: dict[int, set] = {}
    for r in requests:
        if r.get("pid") is not None:
            seen.setdefault(r["pid"], set()).add(r.get("thread"))
    return {pid: sorted(threads, key=str) for pid, threads in sorted(seen.items())}


def send_order(requests: Sequence[dict]) -> list[dict]:
    """Requests in the order they were sent: by `index` when every record has one, else as stored.

    The load runner stores records in send order (areas 10, 20, ..., 100).
    """
    if requests and all("index" in r for r in requests):
        return sorted(requests, key=lambda r: r["index"])
    return list(requests)


def is_ok(request: dict) -> bool:
    """A request succeeded: its outcome `kind` is "ok" (else: no error and a 2xx status)."""
    if request.get("kind") is not None:
        return request["kind"] == "ok"
    status = request.get("status")
    return request.get("error") is None and status is not None and 200 <= status < 300


def request_latency(request: dict) -> float | None:
    """The request's latency_s, or end_s - start_s when only the offsets are stored."""
    if request.get("latency_s") is not None:
        return request["latency_s"]
    start, end = request.get("start_s"), request.get("end_s")
    return None if start is None or end is None else end - start


def throughput(ok: int, wall_s: float | None) -> float | None:
    """Successful requests per second of wall time; None when wall time is unknown or zero."""
    if not wall_s or wall_s <= 0:
        return None
    return ok / wall_s


def summarize_requests(requests: Sequence[dict], wall_s: float | None) -> dict:
    """The per-variant figures of a matrix document, computed from raw request records.

    Latency is summarised over successful requests only: a failure's latency is
    the time until it failed (a timeout, a reset), not a service time.
    """
    ok = [r for r in requests if is_ok(r)]
    flight = in_flight_by_process(requests)
    # An app that does not report its pid and time in the predictor (any app but the
    # seminar's) gives no server-side interval: the server's in-flight count is unknown.
    unknown = bool(ok) and all(r.get("pid") is None for r in ok)
    return {
        "ok": len(ok),
        "failed": len(requests) - len(ok),
        "latency_s": latency_summary(request_latency(r) for r in ok),
        "throughput_rps": throughput(len(ok), wall_s),
        "max_in_flight": None if unknown else flight["overall"],
        "max_in_flight_client": max_in_flight(client_intervals(requests)),
        "max_in_flight_per_pid": {str(pid): k for pid, k in flight["per_pid"].items()},
    }
