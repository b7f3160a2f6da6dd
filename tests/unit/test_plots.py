"""Plots: valid PNGs for real-shaped, empty and failed data, with no time stamp inside."""

from __future__ import annotations

from pathlib import Path

import pytest

from probe import plots

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
MIB = 1024 * 1024


def _assert_png(path: Path, min_bytes: int = 5_000) -> None:
    data = path.read_bytes()
    assert data.startswith(PNG_SIGNATURE)
    assert len(data) >= min_bytes, f"{path} is only {len(data)} bytes"


def _request(area, start, end, pid, thread, kind="ok", elapsed=1.0) -> dict:
    return {
        "area": area,
        "start_s": start,
        "end_s": end,
        "kind": kind,
        "status": 200 if kind == "ok" else None,
        "pid": pid,
        "thread": thread,
        "error": None if kind == "ok" else "RemoteDisconnected",
        "server_elapsed_s": elapsed if kind == "ok" else None,
    }


def _queued_variant() -> dict:
    """Gunicorn's one sync worker: 10 requests sent at once, served one after another."""
    requests = [_request(10 * (i + 1), 0.0, i + 1.0, 41, "MainThread") for i in range(10)]
    return {
        "server": "gunicorn",
        "fn": "io_bounded",
        "n": None,
        "max_in_flight": 1,
        "requests": requests,
    }


def _maxn(fn: str, bpe: float, ns: list[int], failing: int) -> dict:
    """A max-n document whose probes lie on baseline + bpe * n, the failing one without a peak."""
    probes = [{"n": n, "outcome": "ok", "peak_rss_bytes": int(64 * MIB + bpe * n)} for n in ns] + [
        {
            "n": failing,
            "outcome": "killed",
            "peak_rss_bytes": None,
            "peak_rss_sampled_bytes": 900 * MIB,
        }
    ]
    return {
        "fn": fn,
        "server": "flask",
        "concurrency": 1,
        "limit_kind": "rss",
        "baseline_rss_bytes": 64 * MIB,
        "bytes_per_element": bpe,
        "probes": probes,
    }


def test_timeline_of_a_queued_variant(tmp_path):
    """Ten staggered bars with backlog and service parts: the shape the plot exists to show."""
    path = plots.plot_timeline(_queued_variant(), tmp_path / "timeline.png")
    assert path == tmp_path / "timeline.png"
    _assert_png(path, min_bytes=15_000)


@pytest.mark.parametrize(
    "variant",
    [
        {},
        {"server": "flask", "fn": "cpu_bounded", "n": 10, "requests": []},
        {
            "server": "flask",
            "fn": "cpu_bounded",
            "n": 10**9,
            "requests": [
                _request(10, 0.0, 0.2, None, None, kind="connection_error"),
                _request(20, 0.0, None, None, None, kind="timeout"),
                _request(30, None, None, None, None, kind="server_start_failed"),
            ],
        },
    ],
    ids=["no keys", "no requests", "all failed"],
)
def test_timeline_survives_empty_and_failed_variants(tmp_path, variant):
    """A server that never started or died mid-load still gets a (mostly empty) picture."""
    _assert_png(plots.plot_timeline(variant, tmp_path / "sub" / "t.png"), min_bytes=2_000)


def test_timeline_has_no_time_stamp(tmp_path):
    """Same variant, same bytes: a rerun without new data leaves the committed PNG unchanged."""
    a = plots.plot_timeline(_queued_variant(), tmp_path / "a.png").read_bytes()
    b = plots.plot_timeline(_queued_variant(), tmp_path / "b.png").read_bytes()
    assert a == b


def test_memory_for_both_predictors(tmp_path):
    """Pure Python (40 B/element) and numpy (8 B/element), each with ok and failed probes."""
    docs = [
        _maxn("cpu_bounded", 40.0, [1_000_000, 2_000_000, 4_000_000], 8_000_000),
        _maxn("cpu_multithread", 8.0, [4_000_000, 16_000_000, 64_000_000], 128_000_000),
    ]
    path = plots.plot_memory(docs, tmp_path / "memory.png", limit_bytes=1024 * MIB)
    _assert_png(path, min_bytes=15_000)


@pytest.mark.parametrize(
    ("docs", "limit"),
    [
        ([], None),
        ([], 512 * MIB),
        ([{"fn": "cpu_bounded", "probes": []}], None),
        ([{"fn": "cpu_bounded", "probes": [{"n": 5, "outcome": "killed"}]}], 512 * MIB),
    ],
    ids=["nothing", "cap only", "no probes", "no peaks"],
)
def test_memory_survives_missing_data(tmp_path, docs, limit):
    """Searches that never produced a peak (killed at once, never started) still plot."""
    _assert_png(plots.plot_memory(docs, tmp_path / "m.png", limit), min_bytes=2_000)
