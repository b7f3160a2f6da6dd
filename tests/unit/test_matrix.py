"""Matrix and catalog logic without processes: n auto from max-n files on disk, price checks."""

from __future__ import annotations

from pathlib import Path

import pytest

from probe.documents import store
from probe.measure.load import SEMINAR_AREAS, RequestRecord
from probe.servers.spec import ServerSpec, pinned_env
from probe.studies import catalog, maxn, question
from probe.studies.matrix import (
    MatrixConfig,
    MatrixError,
    areas,
    choose_n,
    request_entry,
    server_errors,
)
from probe.workload.builtins import builtin
from probe.workload.model import Workload

MIB = 1 << 20
CAP = 512 * MIB

# The server configuration a max-n document records (ServerSpec.config()), written out:
# the study's gunicorn is one sync worker with the default timeout, its flask one
# process of threads, for which the worker keys do not apply.
SERVER_CONFIG = {
    "gunicorn": {"role": "prefork", "workers": 1, "worker_class": "sync", "threads": 1,
                 "worker_timeout_s": 30, "preload": False},
    "flask": {"role": "threads", "workers": None, "worker_class": None, "threads": None,
              "worker_timeout_s": None, "preload": None},
}  # fmt: skip
# The band `probe max-n` measures for flask's threads under more than one request.
FLASK_BAND = {"tries_per_n": 3, "always_ok_n": 950_000, "never_ok_n": 1_050_000}


def maxn_doc(server: str, fn: str, concurrency: int, critical: int | None, **extra) -> dict:
    """A complete max-n document as `probe max-n` writes it (only the keys read here):
    the built-in workload, cold servers with the fixed layout."""
    doc = store.new_document(
        "max-n",
        workload=builtin(fn).to_dict(),
        fn=fn,
        server=server,
        **SERVER_CONFIG[server],
        server_env=pinned_env(ServerSpec(server=server)),
        limit_bytes=CAP,
        limit_kind="as",
        concurrency=concurrency,
        fresh=True,
        layout="fixed",
        precision=0.02,
        status="complete",
        critical_n=critical,
        first_failing_n=None if critical is None else critical + critical // 50,
        band=None,
        probes=[],
        elapsed_s=1.0,
    )
    doc.update(extra)
    return doc


def put(root: Path, doc: dict) -> Path:
    cfg = catalog.CatalogConfig(limit_bytes=doc["limit_bytes"], results_dir=root)
    path = catalog.path_for(cfg, doc["server"], builtin(doc["fn"]), doc["concurrency"])
    store.write_atomic(path, doc)
    return path


@pytest.fixture
def no_search(monkeypatch):
    """Fail the test if a search would start (these tests must be answered from disk)."""

    def refuse(cfg, out, log=None):
        raise AssertionError(f"unexpected search for {cfg.spec.server} {cfg.workload.name}")

    monkeypatch.setattr(maxn, "run", refuse)


def quiet(_line: str) -> None:
    pass


def test_areas_are_the_seminars_then_continue():
    assert tuple(areas(10)) == SEMINAR_AREAS
    assert areas(4) == [10, 20, 30, 40]


def test_in_flight_is_at_most_the_number_of_requests():
    """--requests 4 with the default --concurrency 10 puts 4 in flight, not 10."""
    assert MatrixConfig(limit_bytes=CAP, requests=4).in_flight == 4
    assert MatrixConfig(limit_bytes=CAP, requests=10, concurrency=3).in_flight == 3


def test_auto_n_is_margin_times_critical_n_at_the_matrix_concurrency(tmp_path, no_search):
    """Flask at 1,000,000 and gunicorn at 9,000,000 under 10 requests: the n differ per
    server; the single-request files (5M and 9.5M) must not be used for a load of 10.
    Flask's threads race, so its file has a band, and the load builds on the band's
    always-ok edge (950,000, below the critical n); gunicorn's sync worker has none."""
    cpu = builtin("cpu_bounded")
    flask_10 = maxn_doc("flask", "cpu_bounded", 10, 1_000_000, band=FLASK_BAND)
    paths = {
        ("flask", 10): put(tmp_path, flask_10),
        ("gunicorn", 10): put(tmp_path, maxn_doc("gunicorn", "cpu_bounded", 10, 9_000_000)),
    }
    put(tmp_path, maxn_doc("flask", "cpu_bounded", 1, 5_000_000))
    put(tmp_path, maxn_doc("gunicorn", "cpu_bounded", 1, 9_500_000))
    cfg = MatrixConfig(limit_bytes=CAP, results_dir=tmp_path, margin=0.9)
    assert choose_n(cfg, "flask", cpu, quiet) == (
        855_000,
        f"auto: {paths['flask', 10]} (always-ok edge of the band) x 0.9",
    )
    assert choose_n(cfg, "gunicorn", cpu, quiet) == (
        8_100_000,
        f"auto: {paths['gunicorn', 10]} (critical n) x 0.9",
    )


def test_io_bounded_has_no_n_and_an_integer_n_is_used_as_given(tmp_path, no_search):
    io = builtin("io_bounded")
    auto = MatrixConfig(limit_bytes=CAP, results_dir=tmp_path)
    assert choose_n(auto, "flask", io, quiet) == (None, "none")
    fixed = MatrixConfig(limit_bytes=CAP, results_dir=tmp_path, n=1234)
    assert choose_n(fixed, "gunicorn", builtin("cpu_multithread"), quiet) == (1234, "--n")
    assert choose_n(fixed, "gunicorn", io, quiet) == (None, "none")


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"limit_bytes": 2 * CAP}, "made with limit_bytes=1073741824, not 536870912"),
        ({"limit_kind": "rss"}, "made with limit_kind='rss', not 'as'"),
        ({"status": "interrupted: SIGINT"}, "status 'interrupted: SIGINT'"),
        ({"workers": 4}, "made with workers=4, not 1"),
        (
            {"server_env": {"MALLOC_ARENA_MAX": "8"}},
            "made with other pinned server variables (server_env); memory use differs",
        ),
        ({"precision": 0.1}, "precision 0.1 is coarser than 0.02"),
        (
            {
                "platform": {
                    "implementation": "cpython",
                    "python": "3.9.0",
                    "system": "Linux",
                    "machine": "aarch64",
                }
            },
            "made on cpython 3.9.0 Linux aarch64, not here",
        ),
    ],
)
def test_a_file_made_otherwise_is_searched_again(tmp_path, monkeypatch, change, reason):
    """Another cap, limit kind, an unfinished run, more workers, a coarser search or
    another Python do not answer the question; the search runs, seeded from the
    single-request bracket."""
    stale = maxn_doc("gunicorn", "cpu_multithread", 10, 40_000_000)
    stale.update(change)
    path = catalog.path_for(
        catalog.CatalogConfig(limit_bytes=CAP, results_dir=tmp_path),
        "gunicorn",
        builtin("cpu_multithread"),
        10,
    )
    store.write_atomic(path, stale)
    put(tmp_path, maxn_doc("gunicorn", "cpu_multithread", 1, 50_000_000))
    calls = []

    def fake_run(cfg, out, log=None):
        calls.append(cfg)
        doc = maxn_doc("gunicorn", "cpu_multithread", cfg.concurrency, 49_000_000)
        store.write_atomic(out, doc)
        return doc

    monkeypatch.setattr(maxn, "run", fake_run)
    lines: list[str] = []
    cfg = MatrixConfig(limit_bytes=CAP, results_dir=tmp_path)
    assert choose_n(cfg, "gunicorn", builtin("cpu_multithread"), lines.append)[0] == 44_100_000
    [run] = calls
    assert (run.concurrency, run.search.n_start, run.search.n_max) == (10, 50_000_000, 51_000_000)
    assert any(reason in line for line in lines), lines
    assert store.load(path)["seeded_from"] == {
        "concurrency": 1,
        "n_start": 50_000_000,
        "n_max": 51_000_000,
    }


def test_no_successful_n_is_a_clear_error(tmp_path, no_search):
    """gunicorn's sync worker: its file needs no band, so the file answers as it is."""
    put(tmp_path, maxn_doc("gunicorn", "cpu_bounded", 10, None))
    cfg = MatrixConfig(limit_bytes=CAP, results_dir=tmp_path)
    with pytest.raises(MatrixError, match="no n succeeded for cpu_bounded on gunicorn"):
        choose_n(cfg, "gunicorn", builtin("cpu_bounded"), quiet)


def test_no_successful_n_on_threads_is_a_clear_error_too(tmp_path, no_search):
    """Flask at 10 requests with no n that succeeded: max-n skips the band (there is no
    boundary to measure around), and the file must still answer, with the clear error."""
    put(tmp_path, maxn_doc("flask", "cpu_bounded", 10, None))
    cfg = MatrixConfig(limit_bytes=CAP, results_dir=tmp_path)
    with pytest.raises(MatrixError, match="no n succeeded for cpu_bounded on flask"):
        choose_n(cfg, "flask", builtin("cpu_bounded"), quiet)


def test_auto_needs_a_cap():
    with pytest.raises(MatrixError, match="--n auto needs a cap"):
        choose_n(MatrixConfig(limit_bytes=None), "flask", builtin("cpu_bounded"), quiet)


def test_seed_bounds_only_from_a_complete_bracket():
    assert catalog.seed_bounds(maxn_doc("flask", "cpu_bounded", 1, 100)) == (100, 102)
    assert catalog.seed_bounds(maxn_doc("flask", "cpu_bounded", 1, None)) is None
    assert catalog.seed_bounds({"status": "running", "critical_n": 1, "first_failing_n": 2}) is None
    assert catalog.seed_bounds(None) is None


def record(area: float, price: int | None, kind: str = "ok", status: int | None = 200):
    body = None if price is None else {"price": price, "pid": 7, "thread": "T", "elapsed_s": 0.5}
    return RequestRecord(area, "cpu_bounded", 11, 0.0, 0.6, kind, status, body, None)


def test_prices_are_checked_exactly():
    """n=11: the mean of 0..10 is 5, so area 10 must give 50; 51 is a failure."""
    cpu = builtin("cpu_bounded")
    good = request_entry(0, record(10, 50), cpu, 11)
    assert (good["kind"], good["price_ok"], good["expected_price"]) == ("ok", True, 50)
    assert good["answer_ok"] is True
    bad = request_entry(1, record(10, 51), cpu, 11)
    assert (bad["kind"], bad["price_ok"], bad["answer_ok"], bad["error"]) == (
        "http_error",
        False,
        False,
        "wrong price 51, want 50",
    )
    io = request_entry(2, record(30, 6_000_000), builtin("io_bounded"), None)
    assert io["price_ok"] is True
    failed = request_entry(3, record(10, None, "connection_error", None), cpu, 11)
    assert (failed["kind"], failed["price_ok"]) == ("connection_error", None)


def test_a_user_workload_is_judged_by_its_expect_text_not_a_price():
    """A user's app has no price: its answer must contain the expect text with n filled
    in. n=100 answered as 'size=100 sum=' passes; 'size=10 sum=' (a prefix of 100, the
    trap the expect text's ' sum=' rules out) fails, and no price keys appear."""
    alloc = Workload(name="alloc", app="query_alloc:app", request="GET /alloc?size={n}",
                     expect="size={n} sum=")  # fmt: skip

    def text_record(text: str) -> RequestRecord:
        return RequestRecord(None, "alloc", 100, 0.0, 0.1, "ok", 200, None, None, text)

    good = request_entry(0, text_record("size=100 sum=4950"), alloc, 100)
    assert (good["kind"], good["answer_ok"]) == ("ok", True)
    bad = request_entry(1, text_record("size=10 sum=45"), alloc, 100)
    assert (bad["kind"], bad["answer_ok"], bad["error"]) == (
        "http_error",
        False,
        "answer lacks 'size=100 sum='",
    )
    assert not {"price_ok", "expected_price"} & (set(good) | set(bad))


def test_server_errors_counts_exception_lines():
    log = (
        "Traceback (most recent call last):\n"
        '  File "socketserver.py", line 705, in process_request\n'
        "RuntimeError: can't start new thread\n"
        "----\n"
        "MemoryError\n"
        "RuntimeError: can't start new thread\n"
        "127.0.0.1 - - [x] POST /predict 507 -\n"
    )
    assert server_errors(log) == {"RuntimeError: can't start new thread": 2, "MemoryError": 1}


def usable(doc: dict, server: str = "gunicorn", w: Workload | None = None, c: int = 1):
    cfg = catalog.CatalogConfig(limit_bytes=CAP)
    asked = catalog.question_for(cfg, server, w or builtin("cpu_bounded"), c)
    return question.unusable_reason(doc, asked)


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        # gthread and threads race (the bug of reusing one as the study's sync worker)
        ({"worker_class": "gthread"}, "made with worker_class='gthread', not 'sync'"),
        ({"threads": 4}, "made with threads=4, not 1"),
        # a randomized layout or a warm server can answer differently
        ({"layout": "random"}, "made with layout='random', not 'fixed'"),
        ({"fresh": False}, "made with fresh=False, not True"),
        # another workload: another predictor, or the same app with another request
        ({"workload": builtin("cpu_multithread").to_dict()},
         "made for another workload (app, request or n placement)"),
        ({"workload": {**builtin("cpu_bounded").to_dict(), "app": "other.wsgi:app"}},
         "made for another workload (app, request or n placement)"),
        # a document of the previous format has no workload at all
        ({"workload": None}, "made for another workload (app, request or n placement)"),
    ],
)  # fmt: skip
def test_a_document_made_with_another_config_or_workload_is_unusable(change, reason):
    """Each change alone on a document that is usable as it is (checked first, so the
    reason is seen to come from the change): the server config, freshness, layout and
    the workload are part of what a max-n result answers."""
    doc = maxn_doc("gunicorn", "cpu_bounded", 1, 9_000_000)
    assert usable(doc) is None
    doc.update(change)
    assert usable(doc) == reason


def test_the_workloads_folder_does_not_make_another_workload():
    """The same app checked out elsewhere (chdir) is the same workload; its request is not."""
    alloc = Workload(name="alloc", app="query_alloc:app", request="GET /alloc?size={n}",
                     expect="size={n} sum=")  # fmt: skip
    doc = {**maxn_doc("gunicorn", "cpu_bounded", 1, 9_000_000), "fn": None,
           "workload": alloc.to_dict()}  # fmt: skip
    assert usable(doc, w=alloc) is None
    moved = Workload(name="alloc", app="query_alloc:app", chdir="/ci/checkout",
                     request="GET /alloc?size={n}", expect="size={n} sum=")  # fmt: skip
    assert usable(doc, w=moved) is None
    other = Workload(name="alloc", app="query_alloc:app", request="GET /alloc?n={n}",
                     expect="size={n} sum=")  # fmt: skip
    assert usable(doc, w=other) == "made for another workload (app, request or n placement)"


def test_a_threads_race_file_needs_its_band():
    """Flask at 10 requests: max-n measures a band over 3 repeats there, and the load
    builds on its edge, so a file without one (or with fewer repeats) cannot answer."""
    doc = maxn_doc("flask", "cpu_bounded", 10, 1_000_000, band=FLASK_BAND)
    assert usable(doc, "flask", c=10) is None
    assert usable({**doc, "band": None}, "flask", c=10) == "has no band over 3 layouts"
    thin = {**doc, "band": {**FLASK_BAND, "tries_per_n": 2}}
    assert usable(thin, "flask", c=10) == "has no band over 3 layouts"


def test_a_cgroup_result_shows_the_kernels_peak_and_account_at_the_critical_n():
    """A --limit-kind cgroup document's table: the limit is the kernel's memory.max, and
    the critical n's row gives memory.peak and what the cgroup held after the request."""
    from probe.documents.maxn import MaxNDoc
    from probe.report.tables import render_maxn

    account = {"peak_bytes": 64 << 20, "limit_bytes": 64 << 20,
               "events": {"max": 3, "oom_kill": 0, "oom_group_kill": 0},
               "stat": {"anon": 22 << 20, "file": 36 << 10, "kernel": 336 << 10}}  # fmt: skip
    probe = {"n": 1_000_000, "outcome": "ok", "statuses": [200], "elapsed_s": 1.0,
             "cgroup": account}  # fmt: skip
    doc = maxn_doc("gunicorn", "cpu_bounded", 1, 1_000_000, limit_kind="cgroup",
                   probes=[probe])  # fmt: skip
    table = render_maxn(MaxNDoc.of(doc), "table")
    assert "the kernel's memory.max" in table
    row = next(line for line in table.splitlines() if line.startswith("cgroup at critical n"))
    assert "memory.peak 64.0 MiB" in row and "anon 22.0 MiB" in row and "kernel 336.0 KiB" in row
    assert not any(
        line.startswith("cgroup at")
        for line in render_maxn(
            MaxNDoc.of(maxn_doc("gunicorn", "cpu_bounded", 1, 1_000_000)), "table"
        ).splitlines()
    )
