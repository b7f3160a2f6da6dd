"""`probe matrix` against real servers under a 512M cap, writing into tmp_path only."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from app.pricing import expected_price
from probe.cli.app import main
from tests.integration.conftest import gone

N = 100_001  # mean 50_000 exactly: every price is an integer multiple of it


def run_matrix(tmp_path: Path, *args: str, limit: str = "512M") -> dict:
    results_dir, log_dir = tmp_path / "results", tmp_path / "log"
    cli = ["matrix", "--limit", limit, "--requests", "4", "--results", str(results_dir),
           "--logs", str(log_dir), "--format", "json", *args]  # fmt: skip
    result = CliRunner().invoke(main, cli)
    assert result.exit_code == 0, result.output
    doc = json.loads((results_dir / "matrix.json").read_text())
    assert json.loads(result.stdout) == doc  # --format json prints the document itself
    return doc


def test_small_matrix_exact_prices_logs_and_document(tmp_path):
    """Six variants at n=100_001 with 4 requests (areas 10..40): small enough to pass on
    both servers in seconds; io_bounded shows 4 in flight on flask, 1 on gunicorn."""
    doc = run_matrix(tmp_path, "--n", str(N))
    assert (doc["kind"], doc["status"], doc["requests"], doc["concurrency"]) == (
        "matrix", "complete", 4, 4,
    )  # fmt: skip
    assert doc["limit_bytes"] == 512 << 20 and doc["limit_kind"] == "as"
    fns = ("io_bounded", "cpu_bounded", "cpu_multithread")
    assert [(v["server"], v["fn"]) for v in doc["variants"]] == [
        (s, f) for s in ("flask", "gunicorn") for f in fns
    ]
    for v in doc["variants"]:
        io = v["fn"] == "io_bounded"
        assert (v["n"], v["n_source"]) == ((None, "none") if io else (N, "--n"))
        assert (v["ok"], v["failed"]) == (4, 0)
        assert [r["area"] for r in v["requests"]] == [10, 20, 30, 40]
        for r in v["requests"]:
            assert r["price"] == expected_price(v["fn"], r["area"], N) == r["expected_price"]
            assert r["price_ok"] and r["pid"] in v["server_pids"] and r["thread"]
            assert 0 <= r["start_s"] < r["end_s"] <= v["wall_s"] + 1e-4  # wall_s is rounded
        assert set(v["latency_s"]) == {"min", "p50", "p95", "max", "mean"}
        assert gone(v["server_pids"])
        log = Path(v["log"]).read_text()
        assert Path(v["log"]) == tmp_path / "log" / f"{v['server']}_{v['fn']}.txt"
        waited = [line for line in log.splitlines() if line.startswith("Waited ")]
        assert len(waited) == 4
        assert f'"price": {v["requests"][0]["price"]}' in waited[0]
        assert f"# server={v['server']} fn={v['fn']} " in log
        assert "# requests=4 ok=4 failed=0" in log
    flask_io, gunicorn_io = doc["variants"][0], doc["variants"][3]
    assert flask_io["max_in_flight"] == 4 and flask_io["server_threads"] == 4
    assert gunicorn_io["max_in_flight"] == 1 and gunicorn_io["server_threads"] == 1
    assert flask_io["wall_s"] < 1.5 and 3.9 < gunicorn_io["wall_s"] < 5.0


def test_auto_n_differs_between_flask_and_gunicorn_under_concurrency(tmp_path):
    """cpu_multithread fails at once (one allocation), so its searches are quick; with 4
    requests at once flask's 4 threads share one cap, gunicorn's worker takes them in
    turn: the n auto picks for flask must be well below gunicorn's.

    auto builds on the safe edge of each max-n file: for flask's threads at concurrency
    4, max-n also measures the band, and the load uses its always-ok edge where that is
    below the critical n (the source says which); gunicorn's sync worker has no band.
    The last line is the seminar's finding: flask's threads share one cap, so at once
    they take far less than gunicorn's sync worker, which takes them in turn."""
    doc = run_matrix(tmp_path, "--n", "auto", "--fns", "cpu_multithread", "--precision", "0.1",
                     "--no-check",
                     limit="192M")  # a smaller cap: smaller n, shorter probes  # fmt: skip
    flask, gunicorn = doc["variants"]
    for v in (flask, gunicorn):
        source = tmp_path / "results" / "max-n" / f"{v['server']}-cpu_multithread-192M-c4.json"
        found = json.loads(source.read_text())
        critical = found["critical_n"]
        if v["server"] == "flask":
            edge = found["band"]["always_ok_n"]
            assert edge is not None, found["band"]
            edge = min(edge, critical)
        else:
            assert found["band"] is None
            edge = critical
        what = "critical n" if edge == critical else "always-ok edge of the band"
        assert v["n_source"] == f"auto: {source} ({what}) x 0.9"
        assert v["n"] == int(0.9 * edge)
        assert (v["ok"], v["failed"]) == (4, 0)
    assert flask["n"] < 0.5 * gunicorn["n"], (flask["n"], gunicorn["n"])
    assert (tmp_path / "results" / "max-n" / "gunicorn-cpu_multithread-192M-c1.json").exists()


@pytest.mark.parametrize("server", ["flask"])
def test_report_from_a_real_matrix(tmp_path, server):
    """The report reads what the runner wrote: timelines and links for each variant."""
    run_matrix(tmp_path, "--n", "1000", "--servers", server, "--fns", "io_bounded")
    result = CliRunner().invoke(main, ["report", "--results", str(tmp_path / "results")])
    assert result.exit_code == 0, result.output
    md = (tmp_path / "results" / "REPORT.md").read_text()
    assert (
        "**The threaded server** (flask) worked on all 4 io_bounded requests at once "
        "(4 in flight)" in md
    )
    assert (tmp_path / "results" / "plots" / "timeline-flask_io_bounded.png").stat().st_size > 0
