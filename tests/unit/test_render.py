"""Renderers: exact text for small fixed documents, and each format's own rules."""

# ruff: noqa: E501  (the expected outputs below are wide tables, kept verbatim)

from __future__ import annotations

import csv
import io
import json
import re

import pytest

from probe.documents.compare import ratios_of
from probe.documents.store import SCHEMA_VERSION
from probe.report import cells, seminar_log
from probe.report import tables as render
from probe.sizes import format_bytes
from probe.workload.builtins import builtin
from probe.workload.model import Workload

MIB = 1024 * 1024

MAXN_TABLE = r"""
workload                 cpu_bounded
server                   flask (threads of one process)
servers                  a fresh server per probe, layout fixed
concurrency              10
limit                    1.00 GiB (as: address space per process, as prlimit --as; a container's limit is --limit-kind tree)
critical n               2,000,000
first failing n          2,500,000
precision                500,000 (25.0% of critical n)
failure                  memory_error, HTTP 507: MemoryError
band                     ok on all 3 repeats on fresh servers up to 1,900,000, fails on all from 2,500,000 (-5.00% .. +25.00% of critical n)
safe n, all overlapping  1,200,000
peak RSS at critical n   900.0 MiB
baseline RSS             64.0 MiB
bytes per element        40.5
predicted critical n     2,100,000 (found/predicted 0.95)
strategy                 model
probes                   3
lanes                    2
wall time                12.3 s

#          n  outcome       status  elapsed s   peak RSS  sampled RSS  restarts  lane  detail
1  1,000,000  ok               200       0.50  500.0 MiB    480.0 MiB         0     0  -
2  2,500,000  memory_error     507       1.25          -   1000.0 MiB         1     1  MemoryError | x
3  2,000,000  ok               200       1.00  900.0 MiB            -         0     0  -
"""[1:]

MAXN_CSV = r"""
fn,server,limit_bytes,limit_kind,concurrency,critical_n,first_failing_n,probe,n,outcome,status,elapsed_s,peak_rss_bytes,peak_rss_sampled_bytes,restarts,lane,detail
cpu_bounded,flask,1073741824,as,10,2000000,2500000,1,1000000,ok,200,0.5,524288000,503316480,0,0,
cpu_bounded,flask,1073741824,as,10,2000000,2500000,2,2500000,memory_error,507,1.25,,1048576000,1,1,MemoryError | x
cpu_bounded,flask,1073741824,as,10,2000000,2500000,3,2000000,ok,200,1.0,943718400,,0,0,
"""[1:]

MAXN_MARKDOWN = r"""
| quantity | value |
| --- | --- |
| workload | cpu_bounded |
| server | flask (threads of one process) |
| servers | a fresh server per probe, layout fixed |
| concurrency | 10 |
| limit | 1.00 GiB (as: address space per process, as prlimit --as; a container's limit is --limit-kind tree) |
| critical n | 2,000,000 |
| first failing n | 2,500,000 |
| precision | 500,000 (25.0% of critical n) |
| failure | memory_error, HTTP 507: MemoryError |
| band | ok on all 3 repeats on fresh servers up to 1,900,000, fails on all from 2,500,000 (-5.00% .. +25.00% of critical n) |
| safe n, all overlapping | 1,200,000 |
| peak RSS at critical n | 900.0 MiB |
| baseline RSS | 64.0 MiB |
| bytes per element | 40.5 |
| predicted critical n | 2,100,000 (found/predicted 0.95) |
| strategy | model |
| probes | 3 |
| lanes | 2 |
| wall time | 12.3 s |

| # | n | outcome | status | elapsed s | peak RSS | sampled RSS | restarts | lane | detail |
| ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |
| 1 | 1,000,000 | ok | 200 | 0.50 | 500.0 MiB | 480.0 MiB | 0 | 0 | - |
| 2 | 2,500,000 | memory_error | 507 | 1.25 | - | 1000.0 MiB | 1 | 1 | MemoryError \| x |
| 3 | 2,000,000 | ok | 200 | 1.00 | 900.0 MiB | - | 0 | 0 | - |
"""[1:]

MATRIX_TABLE = r"""
requests=4  concurrency=4  limit=1.00 GiB (as)

server    fn                   n  n source  wall s  ok  failed  min s  p50 s  p95 s  max s  mean s  req/s  in flight
flask     cpu_bounded  2,000,000  max-n       0.41   2       0  0.395  0.400  0.405  0.405   0.400   4.88          2
gunicorn  io_bounded           -  fixed       3.02   3       1  1.004  2.008  2.911  3.011   2.008   0.99          1
"""[1:]

MATRIX_CSV = r"""
server,fn,n,n_source,wall_s,ok,failed,latency_min_s,latency_p50_s,latency_p95_s,latency_max_s,latency_mean_s,throughput_rps,max_in_flight,log
flask,cpu_bounded,2000000,max-n,0.41,2,0,0.395,0.4,0.4045,0.405,0.4,4.878,2,log/flask_cpu_bounded.txt
gunicorn,io_bounded,,fixed,3.02,3,1,1.004,2.008,2.9107,3.011,2.0077,0.993,1,log/gunicorn_io_bounded.txt
"""[1:]

MATRIX_MARKDOWN = r"""
requests=4  concurrency=4  limit=1.00 GiB (as)

| server | fn | n | n source | wall s | ok | failed | min s | p50 s | p95 s | max s | mean s | req/s | in flight |
| --- | --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |
| flask | cpu_bounded | 2,000,000 | max-n | 0.41 | 2 | 0 | 0.395 | 0.400 | 0.405 | 0.405 | 0.400 | 4.88 | 2 |
| gunicorn | io_bounded | - | fixed | 3.02 | 3 | 1 | 1.004 | 2.008 | 2.911 | 3.011 | 2.008 | 0.99 | 1 |
"""[1:]

COMPARE_TABLE = r"""
limit=1.00 GiB (as)

server    concurrency  fn               critical n  first failing n  bytes/element  baseline RSS    peak RSS  s per 1M  source
flask              10  cpu_bounded      10,000,000       10,100,000           40.3      64.0 MiB  1000.0 MiB     0.050  results/max-n/flask-cpu_bounded.json
flask              10  cpu_multithread  46,000,000       46,460,000            8.0      64.0 MiB  1000.0 MiB     0.050  results/max-n/flask-cpu_multithread.json
gunicorn            1  cpu_bounded      90,000,000       90,900,000           39.9      64.0 MiB  1000.0 MiB     0.050  results/max-n/gunicorn-cpu_bounded.json
gunicorn            1  cpu_multithread           -                -              -      64.0 MiB           -     0.050  results/max-n/gunicorn-cpu_multithread.json

server    concurrency  numpy / pure Python critical n
flask              10                           4.60x
gunicorn            1                               -
"""[1:]

COMPARE_CSV = r"""
server,concurrency,fn,critical_n,first_failing_n,bytes_per_element,baseline_rss_bytes,peak_rss_bytes,seconds_per_million,source,numpy_over_python
flask,10,cpu_bounded,10000000,10100000,40.31,67108864,1048576000,0.05,results/max-n/flask-cpu_bounded.json,4.6
flask,10,cpu_multithread,46000000,46460000,8.0,67108864,1048576000,0.05,results/max-n/flask-cpu_multithread.json,4.6
gunicorn,1,cpu_bounded,90000000,90900000,39.9,67108864,1048576000,0.05,results/max-n/gunicorn-cpu_bounded.json,
gunicorn,1,cpu_multithread,,,,67108864,,0.05,results/max-n/gunicorn-cpu_multithread.json,
"""[1:]

COMPARE_MARKDOWN = r"""
limit=1.00 GiB (as)

| server | concurrency | fn | critical n | first failing n | bytes/element | baseline RSS | peak RSS | s per 1M | source |
| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |
| flask | 10 | cpu_bounded | 10,000,000 | 10,100,000 | 40.3 | 64.0 MiB | 1000.0 MiB | 0.050 | results/max-n/flask-cpu_bounded.json |
| flask | 10 | cpu_multithread | 46,000,000 | 46,460,000 | 8.0 | 64.0 MiB | 1000.0 MiB | 0.050 | results/max-n/flask-cpu_multithread.json |
| gunicorn | 1 | cpu_bounded | 90,000,000 | 90,900,000 | 39.9 | 64.0 MiB | 1000.0 MiB | 0.050 | results/max-n/gunicorn-cpu_bounded.json |
| gunicorn | 1 | cpu_multithread | - | - | - | 64.0 MiB | - | 0.050 | results/max-n/gunicorn-cpu_multithread.json |

| server | concurrency | numpy / pure Python critical n |
| --- | ---: | ---: |
| flask | 10 | 4.60x |
| gunicorn | 1 | - |
"""[1:]

GUNICORN_LOG = r"""
Waited 1.00 sec {"price": 1000000, "fn": "io_bounded", "n": null, "pid": 41, "thread": "MainThread", "elapsed_s": 1.0}
Waited 2.01 sec {"price": 2000000, "fn": "io_bounded", "n": null, "pid": 41, "thread": "MainThread", "elapsed_s": 1.0}
Waited 3.01 sec {"price": 3000000, "fn": "io_bounded", "n": null, "pid": 41, "thread": "MainThread", "elapsed_s": 1.0}
Waited 0.50 sec ConnectionResetError: [Errno 104] reset

# server=gunicorn fn=io_bounded n=- n_source=fixed
# requests=4 ok=3 failed=1 wall=3.02 s
# latency s: min=1.00 p50=2.01 p95=2.91 max=3.01
# max in flight at the server=1 pids=1 threads=1
"""[1:]

FLASK_LOG = r"""
Waited 0.40 sec {"price": 1000000, "fn": "cpu_bounded", "n": 2000000, "pid": 7, "thread": "Thread-1", "elapsed_s": 0.39}
Waited 0.41 sec {"price": 2000000, "fn": "cpu_bounded", "n": 2000000, "pid": 7, "thread": "Thread-2", "elapsed_s": 0.4}

# server=flask fn=cpu_bounded n=2000000 n_source=max-n
# requests=2 ok=2 failed=0 wall=0.41 s
# latency s: min=0.40 p50=0.40 p95=0.40 max=0.41
# max in flight at the server=2 pids=1 threads=2
"""[1:]


def _probe(n, outcome, status, elapsed, peak, sampled, restarts, detail, lane=0) -> dict:
    return {
        "n": n,
        "outcome": outcome,
        "status": status,
        "elapsed_s": elapsed,
        "peak_rss_bytes": peak,
        "peak_rss_sampled_bytes": sampled,
        "restarts": restarts,
        "lane": lane,
        "detail": detail,
    }


def _maxn_doc() -> dict:
    """Three probes out of search order (ok, fail, ok), a missing peak and a pipe in a detail.
    Flask's threads at 10 requests on cold fixed-layout servers, so the document has what
    max-n measures for a threads race: a band (its always-ok edge 5 % below the critical n,
    its never-ok edge at the first failing n) and the full-overlap bound."""
    return {
        "schema_version": SCHEMA_VERSION,
        "kind": "max-n",
        "workload": builtin("cpu_bounded").to_dict(),
        "fn": "cpu_bounded",
        "server": "flask",
        "role": "threads",
        "workers": None,
        "worker_class": None,
        "threads": None,
        "worker_timeout_s": None,
        "preload": None,
        "limit_bytes": 1024 * MIB,
        "limit_kind": "as",
        "concurrency": 10,
        "fresh": True,
        "layout": "fixed",
        "critical_n": 2_000_000,
        "first_failing_n": 2_500_000,
        "failure": {"kind": "memory_error", "status": 507, "detail": "MemoryError"},
        "band": {
            "tries_per_n": 3,
            "layout": "fixed",
            "what": "repeats on fresh servers",
            "always_ok_n": 1_900_000,
            "never_ok_n": 2_500_000,
            "stop_reason": "converged",
        },
        "safe_n_full_overlap": 1_200_000,
        "bytes_per_element_single": 40.1,
        "peak_rss_bytes": 900 * MIB,
        "baseline_rss_bytes": 64 * MIB,
        "bytes_per_element": 40.5,
        "predicted_critical_n": 2_100_000,
        "strategy": "model",
        "lanes": 2,
        "probes": [
            _probe(1_000_000, "ok", 200, 0.5, 500 * MIB, 480 * MIB, 0, ""),
            _probe(2_500_000, "memory_error", 507, 1.25, None, 1000 * MIB, 1, "MemoryError | x", 1),
            _probe(2_000_000, "ok", 200, 1.0, 900 * MIB, None, 0, ""),
        ],
        "elapsed_s": 12.34,
    }


def _request(area, start, end, pid, thread, *, fn="io_bounded", n=None, elapsed=1.0, error=None):
    """A request record as the load runner stores it; a failure has no body and no pid."""
    body = None
    if error is None:
        body = {"price": area * 100_000, "fn": fn, "n": n, "pid": pid, "thread": thread}
        body["elapsed_s"] = elapsed
    return {
        "area": area,
        "start_s": start,
        "end_s": end,
        "latency_s": round(end - start, 6),
        "kind": "ok" if error is None else "connection_error",
        "status": None if body is None else 200,
        "price": None if body is None else body["price"],
        "expected_price": area * 100_000,
        "pid": pid,
        "thread": thread,
        "error": error,
        "server_elapsed_s": None if body is None else body["elapsed_s"],
        "body": body,
    }


def _gunicorn_variant() -> dict:
    """One sync worker: three io_bounded requests queue (1, 2, 3 s); a fourth is reset."""
    return {
        "server": "gunicorn",
        "fn": "io_bounded",
        "n": None,
        "n_source": "fixed",
        "wall_s": 3.02,
        "ok": 3,
        "failed": 1,
        "latency_s": {"min": 1.004, "p50": 2.008, "p95": 2.9107, "max": 3.011, "mean": 2.0077},
        "throughput_rps": 0.993,
        "max_in_flight": 1,
        "log": "log/gunicorn_io_bounded.txt",
        "requests": [
            _request(10, 0.0, 1.004, 41, "MainThread"),
            _request(20, 0.001, 2.009, 41, "MainThread"),
            _request(30, 0.002, 3.013, 41, "MainThread"),
            _request(40, 0.003, 0.5, None, None, error="ConnectionResetError: [Errno 104] reset"),
        ],
    }


def _flask_variant() -> dict:
    """Flask threaded: two requests at once in two threads of one process, n in the millions."""
    return {
        "server": "flask",
        "fn": "cpu_bounded",
        "n": 2_000_000,
        "n_source": "max-n",
        "wall_s": 0.41,
        "ok": 2,
        "failed": 0,
        "latency_s": {"min": 0.395, "p50": 0.4, "p95": 0.4045, "max": 0.405, "mean": 0.4},
        "throughput_rps": 4.878,
        "max_in_flight": 2,
        "log": "log/flask_cpu_bounded.txt",
        "requests": [
            _request(10, 0.0, 0.395, 7, "Thread-1", fn="cpu_bounded", n=2_000_000, elapsed=0.39),
            _request(20, 0.0, 0.405, 7, "Thread-2", fn="cpu_bounded", n=2_000_000, elapsed=0.4),
        ],
    }


def _matrix_doc() -> dict:
    return {
        "schema_version": SCHEMA_VERSION,
        "kind": "matrix",
        "limit_bytes": 1024 * MIB,
        "limit_kind": "as",
        "requests": 4,
        "concurrency": 4,
        "variants": [_flask_variant(), _gunicorn_variant()],
    }


def _compare_row(server, fn, concurrency, critical, bpe) -> dict:
    return {
        "server": server,
        "fn": fn,
        "concurrency": concurrency,
        "critical_n": critical,
        "first_failing_n": None if critical is None else critical + critical // 100,
        "bytes_per_element": bpe,
        "baseline_rss_bytes": 64 * MIB,
        "peak_rss_bytes": None if critical is None else 1000 * MIB,
        "seconds_per_million": 0.05,
        "source": f"results/max-n/{server}-{fn}.json",
    }


def _compare_doc() -> dict:
    """Flask at concurrency 10 with both predictors; gunicorn's numpy row never succeeded."""
    rows = [
        _compare_row("flask", "cpu_bounded", 10, 10_000_000, 40.31),
        _compare_row("flask", "cpu_multithread", 10, 46_000_000, 8.0),
        _compare_row("gunicorn", "cpu_bounded", 1, 90_000_000, 39.9),
        _compare_row("gunicorn", "cpu_multithread", 1, None, None),
    ]
    return {
        "schema_version": SCHEMA_VERSION,
        "kind": "compare",
        "limit_bytes": 1024 * MIB,
        "limit_kind": "as",
        "rows": rows,
        "ratios": ratios_of(rows),
    }


@pytest.mark.parametrize(
    ("render_fn", "make_doc", "fmt", "expected"),
    [
        (render.render_maxn, _maxn_doc, "table", MAXN_TABLE),
        (render.render_maxn, _maxn_doc, "csv", MAXN_CSV),
        (render.render_maxn, _maxn_doc, "markdown", MAXN_MARKDOWN),
        (render.render_matrix, _matrix_doc, "table", MATRIX_TABLE),
        (render.render_matrix, _matrix_doc, "csv", MATRIX_CSV),
        (render.render_matrix, _matrix_doc, "markdown", MATRIX_MARKDOWN),
        (render.render_compare, _compare_doc, "table", COMPARE_TABLE),
        (render.render_compare, _compare_doc, "csv", COMPARE_CSV),
        (render.render_compare, _compare_doc, "markdown", COMPARE_MARKDOWN),
    ],
)
def test_exact_text(render_fn, make_doc, fmt, expected):
    """The fixed documents exercise missing values, a pipe in a detail and a 1,000 MiB size."""
    assert render_fn(make_doc(), fmt) == expected


RENDERERS = [
    (render.render_maxn, _maxn_doc),
    (render.render_matrix, _matrix_doc),
    (render.render_compare, _compare_doc),
]


@pytest.mark.parametrize(("render_fn", "make_doc"), RENDERERS)
def test_json_round_trips(render_fn, make_doc):
    """JSON output is the document itself, indented: loading it gives the document back."""
    text = render_fn(make_doc(), "json")
    assert json.loads(text) == make_doc()
    assert text == json.dumps(make_doc(), indent=2) + "\n"


@pytest.mark.parametrize(("render_fn", "make_doc"), RENDERERS)
def test_csv_parses_back_with_one_width(render_fn, make_doc):
    """Quoting is the csv module's: every row parses to as many fields as the header."""
    rows = list(csv.reader(io.StringIO(render_fn(make_doc(), "csv"))))
    assert len(rows) > 1
    assert {len(r) for r in rows} == {len(rows[0])}


def test_csv_keeps_raw_numbers():
    """csv is for machines: bytes and n stay plain integers, missing values stay empty."""
    rows = list(csv.DictReader(io.StringIO(render.render_maxn(_maxn_doc(), "csv"))))
    assert rows[1]["peak_rss_sampled_bytes"] == str(1000 * MIB)
    assert rows[1]["peak_rss_bytes"] == ""
    assert rows[1]["detail"] == "MemoryError | x"


_UNESCAPED_PIPE = re.compile(r"(?<!\\)\|")


@pytest.mark.parametrize(("render_fn", "make_doc"), RENDERERS)
def test_markdown_tables_are_well_formed(render_fn, make_doc):
    """Each GFM table: same number of unescaped pipes on every row, a rule row second."""
    text = render_fn(make_doc(), "markdown")
    tables = [
        [line for line in block.splitlines() if line.startswith("|")]
        for block in text.split("\n\n")
    ]
    tables = [t for t in tables if t]
    assert tables
    for table in tables:
        counts = {len(_UNESCAPED_PIPE.findall(line)) for line in table}
        assert len(counts) == 1, table
        assert re.fullmatch(r"\|( -{3}:? \|)+", table[1]), table[1]


@pytest.mark.parametrize(("render_fn", "make_doc"), RENDERERS)
def test_unknown_format_is_refused(render_fn, make_doc):
    """The CLI limits --format to a choice; a library caller gets the choices in the error."""
    with pytest.raises(ValueError, match="unknown format 'xml'; choose one of table, json, csv"):
        render_fn(make_doc(), "xml")


def test_log_gunicorn_exact():
    """Queued requests show 1, 2, 3 s; the reset shows its error; one pid, one thread."""
    assert seminar_log.render_log(_gunicorn_variant()) == GUNICORN_LOG


def test_log_flask_exact():
    """Two threads of one process, both in flight at once; n printed raw for grep."""
    assert seminar_log.render_log(_flask_variant()) == FLASK_LOG


def test_log_keeps_send_order():
    """Records stored in completion order but carrying an index print in send order."""
    variant = _gunicorn_variant()
    for i, r in enumerate(variant["requests"]):
        r["index"] = i
    variant["requests"].reverse()
    assert seminar_log.render_log(variant) == GUNICORN_LOG


def test_log_computes_what_the_variant_lacks():
    """A bare variant (requests only) still gets its summary, from the raw records."""
    variant = {
        "server": "gunicorn",
        "fn": "io_bounded",
        "requests": _gunicorn_variant()["requests"],
    }
    summary = seminar_log.render_log(variant).split("\n\n")[1]
    assert "# requests=4 ok=3 failed=1 wall=- s" in summary
    assert "# latency s: min=1.00 p50=2.01 p95=2.91 max=3.01" in summary
    assert "# max in flight at the server=1 pids=1 threads=1" in summary


def test_log_of_no_requests():
    """A variant whose server never started has no lines, only the summary."""
    text = seminar_log.render_log({"server": "flask", "fn": "cpu_bounded", "n": 5, "requests": []})
    assert text.startswith("\n# server=flask fn=cpu_bounded n=5 n_source=-\n")


@pytest.mark.parametrize(
    ("n", "expected"),
    [
        (None, "-"),
        (0, "0 B"),
        (1023, "1023 B"),
        (1024, "1.00 KiB"),
        (1536, "1.50 KiB"),
        (512 * MIB, "512.0 MiB"),
        (1024 * MIB, "1.00 GiB"),
        (1024 * MIB - 1, "1.00 GiB"),  # 1023.99... MiB: one unit up, not "1024.0 MiB"
        (int(7.45 * 1024 * MIB), "7.45 GiB"),  # the seminar's numpy MemoryError size
        (20 * 1024 * MIB, "20.0 GiB"),
    ],
)
def test_format_bytes(n, expected):
    """Binary units, two decimals under 10 units and one above; boundaries at 1024 and 10."""
    assert format_bytes(n) == expected


@pytest.mark.parametrize(("n", "expected"), [(None, "-"), (0, "0"), (12_345_678, "12,345,678")])
def test_format_n(n, expected):
    """Thousands separators make 10M vs 100M readable at a glance."""
    assert cells.format_n(n) == expected


def test_format_n_in_the_users_unit():
    assert cells.format_n(11_150_000, "rows") == "11,150,000 rows"
    assert cells.format_n(None, "rows") == "-"


@pytest.mark.parametrize(
    ("unit", "expected"),
    [(None, "element"), ("rows", "row"), ("items", "item"),
     ("pixels per side", "unit of n (pixels per side)"), ("MB", "unit of n (MB)")],
)  # fmt: skip
def test_per_n_names_one_unit_of_n(unit, expected):
    """ "bytes per row" for a plural word; where singular is guesswork, the unit as given."""
    assert cells.per_n(unit) == expected


def test_maxn_in_the_users_unit_labels_n_the_batch_and_the_slope():
    """--n-unit rows: the critical n, the batch and bytes per row speak of rows."""
    batch = Workload(name="batch", app="api:app", request="POST /predict",
                     json='{"rows": {n*[1, 2]}}', n_unit="rows")  # fmt: skip
    doc = {**_maxn_doc(), "fn": None, "workload": batch.to_dict(), "bytes_per_element": 88.0}
    head = render.render_maxn(doc, "table").split("\n\n")[0]  # the key-value rows
    rows = dict(re.split(r"\s{2,}", line, maxsplit=1) for line in head.splitlines())
    assert rows["critical n"] == f"{doc['critical_n']:,} rows"
    assert rows["workload"].endswith("(a batch of n rows)") and rows["bytes per row"] == "88.0"


def test_ratios_of():
    """numpy over pure Python per (server, concurrency); None when either side is unknown."""
    assert ratios_of(_compare_doc()["rows"]) == [
        {"server": "flask", "concurrency": 10, "numpy_over_python": 4.6},
        {"server": "gunicorn", "concurrency": 1, "numpy_over_python": None},
    ]


def test_maxn_without_failure_or_probes():
    """A search stopped before any probe: every derived value shows as '-', nothing raises."""
    doc = {"fn": "cpu_bounded", "server": "flask", "limit_bytes": None, "probes": []}
    text = render.render_maxn(doc, "table")
    assert "limit                   none\n" in text
    assert "precision               -\n" in text
    assert "failure                 -\n" in text
    assert text.endswith(
        "#  n  outcome  status  elapsed s  peak RSS  sampled RSS  restarts  lane  detail\n"
    )


_ALLOC = Workload(name="alloc", app="query_alloc:app", request="GET /alloc?size={n}",
                  expect="size={n} sum=")  # fmt: skip
_LOOKUP = Workload(name="lookup", app="env_table:app", request="GET /lookup?i=7",
                   n_env="TABLE_N")  # fmt: skip


@pytest.mark.parametrize(
    ("change", "row"),
    [
        # the study's gunicorn: one sync worker, no threads, no preload
        ({"server": "gunicorn", "role": "prefork", "workers": 1, "worker_class": "sync",
          "threads": 1, "preload": False},
         "| server | gunicorn (1 sync worker(s)) |"),
        # every optional part of the gunicorn line at once
        ({"server": "gunicorn", "role": "prefork", "workers": 2, "worker_class": "gthread",
          "threads": 4, "preload": True},
         "| server | gunicorn (2 gthread worker(s) x 4 threads, preload) |"),
        # --no-fresh on a machine that randomizes the layout
        ({"fresh": False, "layout": "random"},
         "| servers | long-lived servers (--no-fresh), layout random |"),
        # --url: probe started nothing, so it cannot say how the server was started
        ({"server": "url", "role": None, "url": "http://127.0.0.1:8000", "cold": False,
          "layout": None},
         "| servers | a server you started (--url): history and layout unknown |"),
        # a user's workloads: n in the request, or n in the server's environment
        ({"fn": None, "workload": _ALLOC.to_dict()},
         "| workload | alloc: query_alloc:app, GET /alloc?size={n} (n in the request) |"),
        ({"fn": None, "workload": _LOOKUP.to_dict()},
         "| workload | lookup: env_table:app, GET /lookup?i=7 (n in env TABLE_N) |"),
    ],
)  # fmt: skip
def test_maxn_says_which_server_how_it_was_started_and_what_was_probed(change, row):
    """The document's server config, freshness and workload each become one row; the
    changes cover both server roles' shapes, warm and --url servers, and both places a
    user's workload can put n."""
    doc = {**_maxn_doc(), **change}
    assert row in render.render_maxn(doc, "markdown").splitlines()


def test_maxn_without_a_band_has_no_band_rows():
    """A single-request search measures no band and no full-overlap bound: no row for
    either, rather than a row of dashes."""
    doc = {**_maxn_doc(), "band": None, "safe_n_full_overlap": None}
    labels = [line.split("  ")[0] for line in render.render_maxn(doc, "table").splitlines()]
    assert "band" not in labels and "safe n, all overlapping" not in labels
    assert "critical n" in labels  # the labels were read right


def test_a_boundary_that_is_not_monotone_gets_one_line():
    """The pairs max-n recorded (a failure below a success, on servers where outcomes are
    facts) are said in one line of the table, and no line when there are none."""
    doc = {**_maxn_doc(), "non_monotone": [{"failed_n": 5_850_000, "ok_n": 5_912_000},
                                           {"failed_n": 5_888_000, "ok_n": 5_912_000}]}  # fmt: skip
    lines = [x for x in render.render_maxn(doc, "table").splitlines() if "not monotone" in x]
    assert len(lines) == 1
    assert lines[0].split("  ", 1)[1].strip() == (
        "5,850,000 failed, 5,912,000 ok; 5,888,000 failed, 5,912,000 ok: critical n is below "
        "every failure"
    )
    assert "not monotone" not in render.render_maxn(_maxn_doc(), "table")


@pytest.mark.parametrize(("tries", "said"), [(8, "0.90"), (5, "0.76")])
def test_an_agreeing_recheck_says_the_rate_its_tries_would_have_caught(tries, said):
    """Where every re-probe agreed, the table says how surely the tries at the critical
    n would have shown a service failing there 1 time in 4 (1 - 0.75^tries): computed
    from what the document records was tried, not assumed."""
    doc = _maxn_doc()
    doc["recheck"] = {"settle_s": 1.0, "agrees": True, "probes": [],
                      "critical_n": {"ok": tries, "tries": tries},
                      "first_failing_n": {"ok": 0, "tries": 2}}  # fmt: skip
    [line] = [x for x in render.render_maxn(doc, "table").splitlines() if "re-checked" in x]
    assert f"critical n ok {tries} of {tries}" in line
    assert f"failing 1 time in 4 there shows it in {tries} tries with probability {said}" in line
