"""Plots: valid PNGs for real-shaped, empty and failed data, with no time stamp inside."""

from __future__ import annotations

from pathlib import Path

import pytest

from probe.documents.maxn import MaxNDoc
from probe.report import plots

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


def _probe(n: int, outcome: str, model_mib: float) -> dict:
    return {"n": n, "outcome": outcome, "peak_rss_bytes": None, "model_bytes": int(model_mib * MIB)}


def _boundary_doc(server: str = "gunicorn", fn: str = "cpu_bounded", **keys) -> dict:
    """Shaped like a committed single-request search at 512M: calibration probes far below,
    a doubling overshoot far above, bisection probes around critical n."""
    base, bpe = 119 * MIB, 40.4
    ok = [100_000, 200_000, 400_000, 800_000, 2_501_577, 9_838_661]
    failing = [10_035_434, 10_035_434, 10_206_438, 20_412_876]
    probes = [_probe(n, "ok", (base + bpe * n) / MIB) for n in ok]
    probes += [_probe(n, "memory_error", 512) for n in failing]
    doc = {
        "server": server,
        "fn": fn,
        "concurrency": 1,
        "limit_bytes": 512 * MIB,
        "limit_kind": "as",
        "critical_n": 9_838_661,
        "first_failing_n": 10_035_434,
        "baseline_rss_bytes": 44 * MIB,
        "model_baseline_bytes": base,
        "bytes_per_element": bpe,
        "probes": probes,
    }
    return doc | keys


_BAND = {
    "tries_per_n": 8,
    "always_ok_n": 9_789_467,
    "never_ok_n": 10_075_575,
    "samples": [
        {"n": 9_789_467, "ok": 8, "tries": 8},
        {"n": 9_900_000, "ok": 5, "tries": 8},
        {"n": 9_905_000, "ok": 4, "tries": 8},  # too close to its neighbour for a label
        {"n": 10_075_575, "ok": 0, "tries": 8},
    ],
}


def _numpy_doc(server: str = "gunicorn") -> dict:
    """numpy fails at once: its failed probes peak at the idle address space, far below."""
    probes = [_probe(800_000, "ok", 124), _probe(51_115_200, "ok", 508)]
    probes += [_probe(52_137_504, "memory_error", 118), _probe(53_837_871, "memory_error", 118)]
    return {
        "server": server,
        "fn": "cpu_multithread",
        "concurrency": 1,
        "limit_kind": "as",
        "critical_n": 51_115_200,
        "first_failing_n": 52_137_504,
        "model_baseline_bytes": 118 * MIB,
        "bytes_per_element": 8.0,
        "probes": probes,
    }


def test_memory_for_both_predictors(tmp_path):
    """Pure Python (40 B/element) and numpy (8 B/element), each with ok and failed probes."""
    docs = [
        _maxn("cpu_bounded", 40.0, [1_000_000, 2_000_000, 4_000_000], 8_000_000),
        _maxn("cpu_multithread", 8.0, [4_000_000, 16_000_000, 64_000_000], 128_000_000),
    ]
    path = plots.plot_memory(docs, tmp_path / "memory.png", limit_bytes=1024 * MIB)
    _assert_png(path, min_bytes=15_000)


def test_memory_grid_of_committed_shaped_documents(tmp_path):
    """Two servers x two predictors as report.py draws them: capped, with a missing cell too."""
    docs = [_boundary_doc("flask"), _boundary_doc(), _numpy_doc("flask"), _numpy_doc()]
    path = plots.plot_memory(docs, tmp_path / "grid.png", 512 * MIB, capped=True)
    _assert_png(path, min_bytes=30_000)
    _assert_png(plots.plot_memory(docs[1:], tmp_path / "gap.png", 512 * MIB, capped=True))


def test_memory_with_band_and_the_new_keys(tmp_path):
    """band, layout, cold and a full-overlap safe n; the same keys null in another panel."""
    threads = _boundary_doc(
        "flask", concurrency=10, band=_BAND, layout="random", fresh=True,
        safe_n_full_overlap=6_000_000,
    )  # fmt: skip
    nulls = _boundary_doc(band=None, layout=None, fresh=None, safe_n_full_overlap=None)
    for capped in (True, False):
        path = tmp_path / f"band-{capped}.png"
        _assert_png(plots.plot_memory([threads, nulls], path, 512 * MIB, capped=capped), 20_000)


def test_memory_band_without_one_edge(tmp_path):
    """Even the smallest sampled n failed sometimes: no always-ok edge, still a picture."""
    band = _BAND | {"always_ok_n": None, "samples": []}
    doc = _boundary_doc(band=band)
    _assert_png(plots.plot_memory([doc], tmp_path / "edge.png", 512 * MIB, capped=True))


def test_the_x_axis_and_the_fit_speak_the_users_unit():
    """--n-unit rows: the axis counts millions of rows and the legend's fit is per row; the
    seminar's documents (no unit) keep 'elements'."""
    from matplotlib.figure import Figure

    ax = Figure().subplots()
    plots._caption(ax, [], "rows")
    assert ax.get_xlabel() == "n (millions of rows)"
    plots._caption(ax, [], None)
    assert ax.get_xlabel() == "n (millions of elements)"
    rows = MaxNDoc.of({**_numpy_doc(), "workload": {"n_unit": "rows"}})
    _, labels = plots._legend({"fit"}, [rows], None)
    assert labels == ["fit over the probed n: baseline + B/row × n"]


def test_memory_of_a_single_document(tmp_path):
    _assert_png(plots.plot_memory([_boundary_doc()], tmp_path / "one.png", 512 * MIB, True))


def test_memory_has_no_time_stamp(tmp_path):
    docs = [_boundary_doc(band=_BAND), _numpy_doc()]
    a = plots.plot_memory(docs, tmp_path / "a.png", 512 * MIB, capped=True).read_bytes()
    b = plots.plot_memory(docs, tmp_path / "b.png", 512 * MIB, capped=True).read_bytes()
    assert a == b


@pytest.mark.parametrize(
    ("docs", "limit"),
    [
        ([], None),
        ([], 512 * MIB),
        ([{"fn": "cpu_bounded", "probes": []}], None),
        ([{"fn": "cpu_bounded", "probes": [{"n": 5, "outcome": "killed"}]}], 512 * MIB),
        ([{"server": "flask", "fn": "cpu_bounded", "critical_n": None, "probes": None}], None),
        ([_boundary_doc(probes=[]), _numpy_doc()], 512 * MIB),
    ],
    ids=["nothing", "cap only", "no probes", "no peaks", "null probes", "one without probes"],
)
def test_memory_survives_missing_data(tmp_path, docs, limit):
    """Searches that never produced a peak (killed at once, never started) still plot."""
    _assert_png(plots.plot_memory(docs, tmp_path / "m.png", limit), min_bytes=2_000)


def test_zoom_contains_the_boundary_and_counts_the_far_probes():
    """Calibration probes (0.1-2.5 M) and the 20 M overshoot are out, and counted."""
    zoom = plots.zoom_window(_boundary_doc())
    assert zoom.lo < 9_838_661 < 10_035_434 < zoom.hi
    assert zoom.lo > 2_501_577 and zoom.hi < 20_412_876
    assert (zoom.below, zoom.above) == (5, 1)  # 10_206_438 is near enough to stay
    assert zoom.hi > 10_206_438


def test_zoom_spans_the_band_and_a_near_safe_n():
    band = _BAND | {"never_ok_n": 11_000_000}
    zoom = plots.zoom_window(_boundary_doc(band=band, safe_n_full_overlap=6_000_000))
    assert zoom.lo < 6_000_000 and zoom.hi > 11_000_000
    far = plots.zoom_window(_boundary_doc(safe_n_full_overlap=1_000_000))
    assert far.lo > 1_000_000  # noted under the panel instead of squeezing it


def test_zoom_ignores_a_far_band_sample():
    """A speculative sample at twice the boundary does not squeeze the band."""
    far = {"n": 20_000_000, "ok": 0, "tries": 8}
    zoom = plots.zoom_window(_boundary_doc(band=_BAND | {"samples": [*_BAND["samples"], far]}))
    assert zoom.hi < 13_000_000
    assert zoom.lo < _BAND["always_ok_n"] and zoom.hi > _BAND["never_ok_n"]


def test_zoom_without_a_boundary_spans_every_probe():
    doc = {"probes": [{"n": 1_000, "outcome": "ok"}, {"n": 4_000, "outcome": "killed"}]}
    zoom = plots.zoom_window(doc)
    assert zoom.lo < 1_000 and zoom.hi > 4_000 and (zoom.below, zoom.above) == (0, 0)
    assert plots.zoom_window({"probes": []}) is None
    assert plots.zoom_window({}) is None


def test_y_window_leaves_out_failures_that_never_grew():
    """numpy's refused allocation peaks at the idle 118 MiB: the cap stays readable."""
    lo, hi = plots.y_window(ok=[508.0], failed=[118.0, 511.0], fit=[505.0, 530.0], cap=512.0)
    assert 118 < lo < 505 and 530 < hi < 540
    assert plots.y_window([], [], [], None) == (0.0, 1.0)


def test_labels_keep_clear_of_the_probes_on_their_line():
    assert plots.label_at(0.5, [(0.5, 0.9)]) < 0.5  # probe at the top: label from the bottom
    assert plots.label_at(0.5, [(0.5, 0.2)]) > 0.5
    assert plots.label_at(0.5, [(0.1, 0.9)]) > 0.5  # far from the line: does not matter
