"""The report's discussion follows the numbers; report and study commands without processes.

The fixed results set is the seminar's shape: flask runs 10 requests in 10 threads of
one process, gunicorn one at a time; critical n of flask drops about 10x under the load
while gunicorn's stays; numpy's list costs 8 B per element against 40. Each test then
changes one number and checks that the statement it supports changes with it.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from probe import stats
from probe.cli.app import main
from probe.documents import store
from probe.report import facts, prose
from probe.report import writer as report
from probe.report.facts import Study
from probe.servers import kinds

MIB = 1 << 20
CAP = 512 * MIB
PARALLEL = [1.01, 1.01, 1.02, 1.02, 1.02, 1.02, 1.03, 1.03, 1.03, 1.03]
QUEUED = [1.0 * k + 0.02 for k in range(1, 11)]


def make_variant(server: str, fn: str, lats: list[float], threads: list[str], pids=(100,)) -> dict:
    """A matrix variant whose summary is computed from its raw requests, as the runner does."""
    reqs = []
    for i, (lat, thread) in enumerate(zip(lats, threads, strict=True)):
        served = 1.0 if fn == "io_bounded" else lat  # io_bounded sleeps 1 s on the server
        reqs.append({
            "index": i, "area": 10 * (i + 1), "start_s": 0.0, "end_s": lat, "latency_s": lat,
            "kind": "ok", "status": 200, "price": 1, "pid": pids[i % len(pids)],
            "thread": thread, "server_elapsed_s": served, "error": None, "body": {"price": 1},
        })  # fmt: skip
    variant = {"server": server, "fn": fn, "n": None, "n_source": "none", "wall_s": max(lats)}
    variant.update(stats.summarize_requests(reqs, variant["wall_s"]))
    by_pid = stats.threads_by_pid(reqs)
    variant["server_pids"] = sorted(by_pid)
    variant["server_threads"] = sum(len(t) for t in by_pid.values())
    variant["log"] = f"log/{server}_{fn}.txt"
    variant["requests"] = reqs
    return variant


def matrix_doc(flask_lats=PARALLEL, gunicorn_lats=QUEUED, flask_pids=(100,), gthreads=1) -> dict:
    """flask: a thread per request; gunicorn: `gthreads` threads (1: the sync worker)."""
    return store.new_document(
        "matrix", limit_bytes=CAP, limit_kind="as", requests=10, concurrency=10,
        n_requested="auto", margin=0.9, status="complete", elapsed_s=20.0,
        variants=[
            make_variant("flask", "io_bounded", flask_lats, [f"T{i}" for i in range(10)],
                         flask_pids),
            make_variant("gunicorn", "io_bounded", gunicorn_lats,
                         [f"G{i % gthreads}" for i in range(10)]),
        ],
    )  # fmt: skip


CRITICAL = {
    ("flask", "cpu_bounded", 1): 8_800_000,
    ("gunicorn", "cpu_bounded", 1): 9_800_000,
    ("flask", "cpu_multithread", 1): 42_000_000,
    ("gunicorn", "cpu_multithread", 1): 51_000_000,
    ("flask", "cpu_bounded", 10): 1_000_000,
    ("gunicorn", "cpu_bounded", 10): 9_700_000,
    ("flask", "cpu_multithread", 10): 4_400_000,
    ("gunicorn", "cpu_multithread", 10): 50_500_000,
}


def compare_doc(critical=None, bytes_per_element=None) -> dict:
    critical = {**CRITICAL, **(critical or {})}
    per_element = {"cpu_bounded": 40.0, "cpu_multithread": 8.0, **(bytes_per_element or {})}
    rows = [
        {
            "server": server, "fn": fn, "concurrency": c, "critical_n": n,
            "first_failing_n": n + n // 50, "bytes_per_element": per_element[fn] * (c if
            server == "flask" else 1), "baseline_rss_bytes": 50 * MIB,
            "baseline_vms_bytes": (190 if server == "flask" else 120) * MIB,
            "peak_rss_bytes": 400 * MIB, "seconds_per_million": 0.1 if fn ==
            "cpu_bounded" else 0.005, "source": f"results/max-n/{server}-{fn}-512M-c{c}.json",
            "stop_reason": "converged",
        }
        for (server, fn, c), n in critical.items()
    ]  # fmt: skip
    from probe.documents.compare import ratios_of

    return store.new_document(
        "compare", limit_bytes=CAP, limit_kind="as", precision=0.02, concurrencies=[1, 10],
        status="complete", rows=rows, ratios=ratios_of(rows), elapsed_s=90.0,
    )  # fmt: skip


def study(**changes) -> Study:
    return Study(
        matrix=changes.get("matrix", matrix_doc()), compare=changes.get("compare", compare_doc())
    )


def text(lines: list[str]) -> str:
    return "\n".join(lines)


# ---------------------------------------------------------------- discussion follows the data


def test_in_flight_per_server_from_threads_and_intervals():
    out = text(prose.in_flight_section(study()))
    assert (
        "**The threaded server** (flask) worked on all 10 io_bounded requests at once "
        "(10 in flight)" in out
    )
    assert "in 10 threads of 1 process." in out
    assert (
        "**The pre-fork server** (gunicorn) worked on one io_bounded request at a time "
        "(at most 1 in flight)" in out
    )


def test_flask_in_ten_processes_is_no_longer_one_shared_cap():
    """Same intervals, but each request in its own process: the 'threads of one process
    share one cap' explanation must disappear."""
    shared = text(prose.load_section(study()))
    assert "Why the threaded server: it ran the requests as 10 threads of one process" in shared
    apart = study(matrix=matrix_doc(flask_pids=tuple(range(100, 110))))
    changed = text(prose.load_section(apart))
    assert "Why the threaded server" not in changed
    assert (
        "The variants of the threaded server (flask) did not run several requests in one "
        "process here." in changed
    )
    assert "in 10 threads of 10 processes" in text(prose.in_flight_section(apart))


def test_io_latency_parallel_versus_queue():
    out = text(prose.io_section(study()))
    assert (
        "**The threaded server** (flask): every request took 1.01 to 1.03 s, about the 1.00 s"
        in out
    )
    assert (
        "**The pre-fork server** (gunicorn): the latencies were 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, "
        "7.0, 8.0, 9.0, 10.0" in out
    )
    swapped = text(prose.io_section(study(matrix=matrix_doc(QUEUED, PARALLEL))))
    assert "**The threaded server** (flask): the latencies were 1.0, 2.0" in swapped
    assert "**The pre-fork server** (gunicorn): every request took" in swapped


def test_critical_n_under_load_is_worded_from_the_ratios():
    out = text(prose.load_section(study()))
    assert (
        "alone, the threaded server (flask) 8,800,000 and the pre-fork server (gunicorn) "
        "9,800,000; with 10 at once, threaded 1,000,000 (8.8x smaller) and pre-fork "
        "9,700,000 (the same within 1%)" in out
    )
    assert (
        "Under the load the threaded server's critical n is 1/9.7 of the pre-fork server's." in out
    )
    dropped = study(compare=compare_doc({("gunicorn", "cpu_bounded", 10): 4_900_000}))
    out = text(prose.load_section(dropped))
    assert "pre-fork 4,900,000 (2.0x smaller)" in out
    assert "1/4.9 of the pre-fork server's" in out
    assert "its critical n was 2.0x smaller for cpu_bounded" in out


def test_flask_deviation_from_ten_follows_the_fitted_slopes():
    """Slope 400 B under 10 requests against 40 alone: all 10 lists at once; 200 B: 5."""
    full = text(prose.load_section(study()))
    assert "about 10.0 requests' worth held at once, close to all 10." in full
    half = study(compare=compare_doc())
    for r in half.compare["rows"]:
        if (r["server"], r["fn"], r["concurrency"]) == ("flask", "cpu_bounded", 10):
            r["bytes_per_element"] = 200.0
    out = text(prose.load_section(half))
    assert "about 5.0 requests' worth held at once, fewer than 10" in out


def test_numpy_ratio_and_its_cause():
    out = text(prose.numpy_section(study()))
    assert "numpy's critical n was 4.4x to 5.2x pure Python's" in out
    assert "The ratio of bytes, 5.0x, accounts for the ratio of critical n (4.8x)" in out
    heavier = study(compare=compare_doc(bytes_per_element={"cpu_bounded": 80.0}))
    out = text(prose.numpy_section(heavier))
    assert "The ratio of bytes, 10.0x, explains only part of the ratio of critical n" in out


def test_speed_wording_follows_seconds_per_million():
    """0.1 s against 0.005 s per million: 20x faster; swap them and numpy is 20x slower."""
    assert "elements 20x faster than pure Python (the threaded server: 0.005 s against" in text(
        prose.numpy_section(study())
    )
    slow = compare_doc()
    for r in slow["rows"]:
        r["seconds_per_million"] = 0.005 if r["fn"] == "cpu_bounded" else 0.1
    assert "elements 20x slower than pure Python" in text(prose.numpy_section(study(compare=slow)))


def test_seminar_claims_are_checked_against_the_data():
    out = text(prose.seminar_section(study()))
    assert "Measured: the threaded server (flask) had 10 requests in flight at once" in out
    assert "The threaded server ran them in parallel, the pre-fork server one after" in out
    assert "they are a queue (1.0 to 10.0 s" in out
    threaded = matrix_doc(PARALLEL, PARALLEL, gthreads=10)  # e.g. a gthread worker
    both_parallel = text(prose.seminar_section(study(matrix=threaded)))
    assert "the threaded server (flask) had 10 requests in flight at once" not in both_parallel
    assert (
        "Measured: the threaded server (flask) had at most 10, the pre-fork server (gunicorn) "
        "10 in flight." in both_parallel
    )
    assert "not a plain queue" in both_parallel


def test_students_band_within_below_above():
    out = text(prose.students_section(study()))
    assert "cpu_bounded: 9.7x here, within the students' 9-10x." in out
    low = study(compare=compare_doc({("flask", "cpu_bounded", 10): 3_000_000}))
    assert "cpu_bounded: 3.2x here, below the students' 9-10x." in text(prose.students_section(low))


def test_failures_under_the_load_follow_the_requests():
    """No failure: one sentence saying so; one MemoryError at 0.9 of the critical n under
    threads that share a cap: the sentence names it and places n against the search."""
    assert text(prose.failures_section(study())) == (
        "All 20 requests of the 2 variants succeeded, every price exact."
    )
    doc = matrix_doc()
    cpu = make_variant("flask", "cpu_bounded", PARALLEL, [f"T{i}" for i in range(10)])
    cpu["requests"][5].update(kind="memory_error", status=507, error="MemoryError")
    cpu.update(n=900_000, failed=1, ok=9)
    doc["variants"].append(cpu)
    out = text(prose.failures_section(study(matrix=doc)))
    assert out.startswith(
        "- **cpu_bounded on the threaded server** (flask): 1 of 10 failed (memory_error x1) at "
        "n = 900,000, 0.90 of its critical n under the load."
    )


def renamed(doc: dict, old: str, new: str) -> dict:
    """The same document with server `old` called `new` (in rows, variants, log paths)."""
    return json.loads(json.dumps(doc).replace(old, new))


def whole_discussion(s: Study) -> str:
    return text(report.discussion_part(s))


def test_a_threaded_server_of_another_name_gets_the_same_discussion(monkeypatch):
    """The same documents with the threaded server called waitress: every sentence is the
    flask one with the name swapped, so nothing keys on the name "flask"; the role comes
    from the kind, or from the max-n documents where the kind is unknown."""
    flask = whole_discussion(study())
    assert "Why the threaded server: it ran the requests as 10 threads" in flask
    assert "pre-fork over threaded (gunicorn over flask) under the load" in flask
    docs = {"matrix": renamed(matrix_doc(), "flask", "waitress"),
            "compare": renamed(compare_doc(), "flask", "waitress")}  # fmt: skip
    expected = flask.replace("flask", "waitress")

    monkeypatch.setitem(kinds.KINDS, "waitress", kinds.DevServer())  # a kind of role threads
    waitress = whole_discussion(study(**docs))
    assert "flask" not in waitress
    assert waitress == expected

    monkeypatch.delitem(kinds.KINDS, "waitress")
    maxn = {(r["server"], r["fn"], r["concurrency"]): {"server": r["server"], "role": "threads"}
            for r in docs["compare"]["rows"] if r["server"] == "waitress"}  # fmt: skip
    assert whole_discussion(Study(**docs, maxn=maxn)) == expected
    unknown = whole_discussion(Study(**docs))  # no kind, no role: no threaded server
    assert "these results have no threaded server (servers measured: waitress, gunicorn)" in unknown


def test_a_missing_role_is_said_to_be_missing():
    """`--servers gunicorn`: the sections that set threaded against pre-fork say so."""
    only = study(
        matrix={**matrix_doc(), "variants": matrix_doc()["variants"][1:]},
        compare={**compare_doc(), "rows": [r for r in compare_doc()["rows"]
                                           if r["server"] == "gunicorn"]},
    )  # fmt: skip
    load = text(prose.load_section(only))
    assert load == (
        "The critical n under the load sets a threaded server against a pre-fork one; these "
        "results have no threaded server (servers measured: gunicorn)."
    )
    seminar = text(prose.seminar_section(only))
    assert "these results have no threaded server (servers measured: gunicorn), so the " in seminar
    assert "Measured on the pre-fork server (gunicorn): they are a queue" in seminar
    students = text(prose.students_section(only))
    assert (
        "ratio under the load needs a pre-fork and a threaded server; these results have "
        "no threaded server" in students
    )
    assert "pre-fork over threaded" not in students
    assert "**The pre-fork server** (gunicorn) worked on one io_bounded request at a time" in (
        text(prose.in_flight_section(only))
    )


def test_relation_wording():
    assert facts.relation(100, 100) == "exactly the same"
    assert facts.relation(1000, 1001) == "the same within 0.1%"
    assert facts.relation(98, 100) == "the same within 2%"
    assert facts.relation(50, 100) == "2.0x smaller"
    assert facts.relation(300, 100) == "3.0x larger"


# ---------------------------------------------------------------- report and CLI


def write_results(root: Path) -> None:
    store.write_atomic(root / "matrix.json", matrix_doc())
    store.write_atomic(root / "compare.json", compare_doc())


def test_report_writes_markdown_and_timelines(tmp_path):
    write_results(tmp_path)
    path, plots = report.run(tmp_path)
    md = path.read_text()
    assert md.startswith("# probe report: the seminar's study under a 512.0 MiB cap\n")
    assert "| flask | io_bounded | - | none |" in md
    assert "![flask io_bounded](plots/timeline-flask_io_bounded.png)" in md
    assert "### What the seminar's report got wrong" in md
    assert sorted(p.name for p in plots) == [
        "timeline-flask_io_bounded.png",
        "timeline-gunicorn_io_bounded.png",
    ]
    assert all(p.stat().st_size > 1000 for p in plots)


def test_report_command(tmp_path):
    write_results(tmp_path)
    result = CliRunner().invoke(main, ["report", "--results", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert result.output == f"wrote {tmp_path}/REPORT.md and 2 plots in {tmp_path}/plots\n"


def test_report_without_results_fails_in_one_line(tmp_path):
    result = CliRunner().invoke(main, ["report", "--results", str(tmp_path)])
    assert result.exit_code == 1
    assert result.output == (
        f"Error: {tmp_path}: neither matrix.json nor compare.json; run `probe study` first\n"
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["matrix", "--servers", "flask,nginx"],
         "Invalid value for '--servers': unknown server 'nginx'; choose from flask, gunicorn"),
        (["matrix", "--servers", ","],
         "Invalid value for '--servers': give at least one server: flask, gunicorn"),
        (["matrix", "--fns", "cpu_bound"],
         "Invalid value for '--fns': unknown predictor 'cpu_bound'; choose from io_bounded, "
         "cpu_bounded, cpu_multithread"),
        (["matrix", "--margin", "1.5"],
         "Invalid value for '--margin': must be in (0, 1], e.g. 0.9; got 1.5"),
        (["matrix", "--margin", "0"],
         "Invalid value for '--margin': must be in (0, 1], e.g. 0.9; got 0"),
        (["matrix", "--n", "0"],
         "Invalid value for '--n': must be 'auto' or a whole number >= 1, not '0'"),
        (["matrix", "--n", "lots"],
         "Invalid value for '--n': must be 'auto' or a whole number >= 1, not 'lots'"),
        (["matrix", "--limit", "none"],
         "Invalid value for --limit: searching the critical n needs a cap; pass e.g. "
         "--limit 512M"),
        (["compare", "--precision", "1"],
         "Invalid value for '--precision': must be between 0 and 1, e.g. 0.02; got 1"),
        (["study", "--requests", "0"],
         "Invalid value for '--requests': 0 is not in the range 1<=x<=1000."),
    ],
)  # fmt: skip
def test_bad_input_is_one_line_and_exit_2(args, message):
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2, result.output
    assert result.output == f"Error: {message}\n"


def test_report_json_documents_are_plain_json(tmp_path):
    """What `probe report` reads is what the runners write: plain JSON with the header keys."""
    write_results(tmp_path)
    doc = json.loads((tmp_path / "matrix.json").read_text())
    assert {"schema_version", "kind", "created_at", "platform", "variants"} <= set(doc)
