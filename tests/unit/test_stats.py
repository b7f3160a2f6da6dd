"""Statistics over raw samples: percentiles, latency summaries, requests in flight."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from probe import stats


def _req(area, start, end, *, pid=1, thread="T", elapsed=None, kind="ok", status=200, **extra):
    """A request record as the load runner writes it into a matrix document."""
    return {
        "area": area,
        "start_s": start,
        "end_s": end,
        "latency_s": None if start is None or end is None else end - start,
        "kind": kind,
        "status": status,
        "pid": pid,
        "thread": thread,
        "error": None if kind == "ok" else "boom",
        "server_elapsed_s": elapsed,
        **extra,
    }


def _gunicorn_one_sync_worker() -> list[dict]:
    """10 io_bounded requests sent at t=0, served one after another by one process."""
    return [
        _req(10 * (i + 1), 0.0, i + 1.0, pid=100, thread="MainThread", elapsed=1.0)
        for i in range(10)
    ]


def _flask_threaded() -> list[dict]:
    """10 io_bounded requests sent at t=0, served at once by 10 threads of one process."""
    return [
        _req(10 * (i + 1), 0.0, 1.0 + i / 100, pid=200, thread=f"Thread-{i}", elapsed=1.0)
        for i in range(10)
    ]


@pytest.mark.parametrize(
    ("values", "q", "expected"),
    [
        ([1, 2, 3, 4], 50, 2.5),  # even count: halfway between the middle two
        ([1, 2, 3, 4], 25, 1.75),  # position 0.75 between 1 and 2
        ([1, 2, 3, 4], 0, 1.0),
        ([1, 2, 3, 4], 100, 4.0),
        ([4, 1, 3, 2], 75, 3.25),  # unsorted input is sorted first
        ([10, 20, 30, 40, 50], 95, 48.0),  # position 3.8: 40 + 0.8 * 10
        ([7.5], 0, 7.5),  # a single sample is every percentile
        ([7.5], 95, 7.5),
        ([7.5], 100, 7.5),
    ],
)
def test_percentile_hand_computed(values, q, expected):
    """Small lists whose interpolation positions are easy to work out by hand."""
    assert stats.percentile(values, q) == pytest.approx(expected)


def test_percentile_of_nothing_raises():
    """No samples has no percentile; a silent 0 or NaN would end up in a report."""
    with pytest.raises(ValueError, match="no values"):
        stats.percentile([], 50)


@pytest.mark.parametrize("q", [-1, 100.5])
def test_percentile_rejects_q_outside_0_100(q):
    """q is a percentage, as for numpy; anything outside 0..100 is a caller bug."""
    with pytest.raises(ValueError, match="within 0..100"):
        stats.percentile([1, 2], q)


@settings(max_examples=200, deadline=None)
@given(
    values=st.lists(
        st.floats(min_value=-1e6, max_value=1e6, allow_nan=False), min_size=1, max_size=50
    ),
    q=st.floats(min_value=0, max_value=100),
)
def test_percentile_matches_numpy(values, q):
    """Random data of any size from 1 up: the result is numpy's default (linear) percentile."""
    assert stats.percentile(values, q) == pytest.approx(
        float(np.percentile(values, q)), rel=1e-9, abs=1e-6
    )


def test_latency_summary_of_five():
    """1..5 s: p50 is the middle sample, p95 interpolates 4.8, mean is 3."""
    assert stats.latency_summary([5, 1, 4, 2, 3]) == {
        "min": 1.0,
        "p50": 3.0,
        "p95": 4.8,
        "max": 5.0,
        "mean": 3.0,
    }


@pytest.mark.parametrize("values", [[], [None, None]])
def test_latency_summary_of_nothing_is_all_none(values):
    """A variant where every request failed has no latency; None, not 0, says so."""
    assert stats.latency_summary(values) == dict.fromkeys(("min", "p50", "p95", "max", "mean"))


def test_latency_summary_skips_none():
    """A request without timestamps must not turn the whole summary into None."""
    assert stats.latency_summary([None, 2.0])["mean"] == 2.0


@pytest.mark.parametrize(
    ("intervals", "expected"),
    [
        ([], 0),
        ([(0, 1), (1, 2), (2, 3)], 1),  # touching endpoints: one ends as the next starts
        ([(0, 10), (2, 3), (4, 5)], 2),  # two short ones nested in a long one, not in each other
        ([(0, 10), (1, 9), (2, 8)], 3),  # fully nested
        ([(0, 2), (1, 3), (2, 4)], 2),  # a chain: each overlaps only its neighbours
        ([(0.0, 1.0)] * 10, 10),  # flask threaded: 10 identical intervals
        ([(float(i), i + 1.0) for i in range(10)], 1),  # gunicorn 1 worker: 10 queued
        ([(1, 1)], 0),  # zero length is in flight for no time
        ([(0, 2), (1, 1), (1, 3)], 2),  # and adds nothing where it sits
    ],
)
def test_max_in_flight(intervals, expected):
    """Hand-built intervals covering touching, nested, fully parallel and fully queued."""
    assert stats.max_in_flight(intervals) == expected


def test_max_in_flight_rejects_reversed_interval():
    """An end before its start is a bug upstream (mixed clocks), not a request."""
    with pytest.raises(ValueError, match="ends before it starts"):
        stats.max_in_flight([(2.0, 1.0)])


def test_server_interval_uses_server_elapsed():
    """Sent at 0, answered at 3 after 1 s in the predictor: it waited 2 s in the backlog."""
    assert stats.server_interval(_req(10, 0.0, 3.0, elapsed=1.0)) == (2.0, 3.0)


def test_server_interval_is_clipped_to_the_start():
    """The server clock can claim more than the client saw; never start before sending."""
    assert stats.server_interval(_req(10, 0.5, 1.0, elapsed=2.0)) == (0.5, 1.0)


def test_server_interval_falls_back_to_the_client_interval():
    """Error answers carry no elapsed_s: the client interval is the best available."""
    assert stats.server_interval(_req(10, 0.5, 1.5)) == (0.5, 1.5)
    assert stats.server_interval(_req(10, None, None)) is None


def test_one_sync_worker_has_one_in_flight():
    """Gunicorn's default: 10 sent at once, but the server works on one at a time."""
    requests = _gunicorn_one_sync_worker()
    assert stats.max_in_flight(stats.client_intervals(requests)) == 10
    assert stats.in_flight_by_process(requests) == {"overall": 1, "per_pid": {100: 1}}


def test_flask_threads_have_ten_in_flight_in_one_pid():
    """Flask's threaded dev server: all 10 at once, in one address space."""
    requests = _flask_threaded()
    assert stats.in_flight_by_process(requests) == {"overall": 10, "per_pid": {200: 10}}
    assert stats.threads_by_pid(requests) == {200: [f"Thread-{i}" for i in range(10)]}


def test_two_workers_count_per_pid():
    """Two sync workers serving four requests in two rounds: 2 overall, 1 in each process."""
    requests = [
        _req(10, 0.0, 1.0, pid=1, elapsed=1.0),
        _req(20, 0.0, 1.0, pid=2, elapsed=1.0),
        _req(30, 0.0, 2.0, pid=1, elapsed=1.0),
        _req(40, 0.0, 2.0, pid=2, elapsed=1.0),
    ]
    assert stats.in_flight_by_process(requests) == {"overall": 2, "per_pid": {1: 1, 2: 1}}


def test_unanswered_requests_do_not_count_at_the_server():
    """A connection reset has no pid: nothing says the server was working on it."""
    requests = [*_gunicorn_one_sync_worker(), _req(110, 0.0, 0.5, pid=None, kind="killed")]
    assert stats.in_flight_by_process(requests)["overall"] == 1


def test_is_ok_prefers_the_outcome_kind():
    """A 507 carries a body and status; its kind says memory_error."""
    assert stats.is_ok(_req(10, 0, 1))
    assert not stats.is_ok(_req(10, 0, 1, kind="memory_error", status=507))
    assert stats.is_ok({"status": 200, "error": None})  # records without kind
    assert not stats.is_ok({"status": 500, "error": None})


def test_request_latency_falls_back_to_offsets():
    """Records may store only start_s and end_s; latency is their difference."""
    assert stats.request_latency({"start_s": 1.0, "end_s": 3.5}) == 2.5
    assert stats.request_latency({"start_s": 1.0, "end_s": None}) is None


@pytest.mark.parametrize(("ok", "wall", "expected"), [(10, 2.0, 5.0), (0, 2.0, 0.0), (3, 0, None)])
def test_throughput(ok, wall, expected):
    """ok / wall_s; a zero or missing wall time has no rate rather than infinity."""
    assert stats.throughput(ok, wall) == expected


def test_send_order_uses_index_when_recorded():
    """Records stored in completion order still print in send order if they carry an index."""
    requests = [{"index": 2, "area": 30}, {"index": 0, "area": 10}, {"index": 1, "area": 20}]
    assert [r["area"] for r in stats.send_order(requests)] == [10, 20, 30]
    assert stats.send_order(requests[:1] + [{"area": 5}]) == requests[:1] + [{"area": 5}]


def test_summarize_requests_gunicorn():
    """The queued variant: latencies 1..10 s, one in flight at the server, 10 at the client."""
    summary = stats.summarize_requests(_gunicorn_one_sync_worker(), wall_s=10.0)
    assert summary["ok"] == 10 and summary["failed"] == 0
    assert summary["latency_s"]["p50"] == pytest.approx(5.5)
    assert summary["latency_s"]["p95"] == pytest.approx(9.55)
    assert summary["throughput_rps"] == pytest.approx(1.0)
    assert summary["max_in_flight"] == 1
    assert summary["max_in_flight_client"] == 10
    assert summary["max_in_flight_per_pid"] == {"100": 1}


def test_summarize_requests_latency_over_successes_only():
    """A 30 s timeout is not a service time: it is counted as failed, not in the latency."""
    requests = [_req(10, 0.0, 1.0), _req(20, 0.0, 30.0, pid=None, kind="timeout", status=None)]
    summary = stats.summarize_requests(requests, wall_s=30.0)
    assert (summary["ok"], summary["failed"]) == (1, 1)
    assert summary["latency_s"]["max"] == 1.0
