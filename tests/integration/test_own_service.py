"""Probe your own service: any WSGI app, n in the request or in the environment.

The apps are in tests/apps: query_alloc (plain WSGI, no Flask: n in a GET query, a
MemoryError escapes as a bare 500, so only the server's log says what happened) and
env_table (n from TABLE_N at import: under the cap the server fails while it boots).
Both run on both server kinds at 160M, where their boundaries are about 2.5-3M
elements. The searches run at 10 % precision: that they find a boundary and name the
failure is the point here, not its exact place (test_cold.py has the exact one).
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from probe.cli.app import main
from probe.servers.spec import ServerSpec
from probe.sizes import parse_size
from probe.studies import catalog, question
from probe.workload.files import load_workloads
from tests.integration.conftest import hidden_test_name, watching
from tests.integration.outside import first_answer, first_request, printed_command

ROOT = Path(__file__).resolve().parents[2]
APPS = ROOT / "tests" / "apps"

CAP = parse_size("160M")
SERVERS = ("gunicorn", "flask")
TOKEN = "s3cr3t-value"

# The README's forms, with --chdir relative to the repository root as a user types it.
README_FORMS = {
    "query_alloc": ["--app", "query_alloc:app", "--chdir", "tests/apps",
                    "--request", "GET /alloc?size={n}", "--expect", "size={n} sum="],
    "env_table": ["--app", "env_table:app", "--chdir", "tests/apps", "--n-env", "TABLE_N",
                  "--request", "GET /lookup?i=7", "--expect", '"entries": {n}}'],
}  # fmt: skip
FILE_NAMES = {"query_alloc": "alloc", "env_table": "lookup"}  # the same apps in probe.toml


# -- helpers -------------------------------------------------------------------------
pytestmark = pytest.mark.usefixtures("no_children_left")


@contextlib.contextmanager
def at_root():
    """Run from the repository root, where README's relative --chdir tests/apps works."""
    before = os.getcwd()
    os.chdir(ROOT)
    try:
        yield
    finally:
        os.chdir(before)


def probe_cli(*args: str, pids: list[int], env: dict | None = None):
    """`probe ARGS` in this process (CliRunner), every server it starts noted in pids."""
    with at_root(), watching(pids), hidden_test_name():
        return CliRunner().invoke(main, list(args), env=env)


def error_lines(output: str) -> list[str]:
    return [line for line in output.splitlines() if line.startswith("Error")]


@pytest.fixture(scope="module")
def found(tmp_path_factory):
    """found(app, server) -> (CLI result, document, pids seen) of one README-form run."""
    cache: dict[tuple[str, str], tuple] = {}

    def get(app: str, server: str):
        if (app, server) not in cache:
            out = tmp_path_factory.mktemp("own") / f"{server}-{app}.json"
            pids: list[int] = []
            result = probe_cli(
                "max-n", "--cold-only", "--recheck-tries", "2",
                *README_FORMS[app], "--server", server, "--limit", "160M",
                "--precision", "0.1", "--out", str(out), pids=pids,
            )  # fmt: skip
            doc = json.loads(out.read_text()) if out.exists() else None
            cache[(app, server)] = (result, doc, pids)
        return cache[(app, server)]

    return get


PAIRS = [(app, server) for app in README_FORMS for server in SERVERS]


# -- the search -----------------------------------------------------------------------------
@pytest.mark.parametrize(("app", "server"), PAIRS)
def test_max_n_finds_the_critical_n_of_your_app(app, server, found, no_leftovers):
    """The README's commands (the --request {n} form and the --n-env form), on both
    servers. The failure must be read as a memory error although no answer says so:
    query_alloc's client sees a bare 500 (the MemoryError is in the server's log);
    env_table's server dies while importing the app (its log), or, on flask, cannot
    start the request's thread (no address space left for its stack)."""
    result, doc, pids = found(app, server)
    no_leftovers += pids
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output
    assert doc["status"] == "complete", doc["status"]
    assert doc["workload"]["app"] == f"{app}:app"
    assert doc["server"] == server
    critical, failing = doc["critical_n"], doc["first_failing_n"]
    assert critical is not None and failing is not None, doc
    assert 1_000_000 < critical < failing, (critical, failing)
    failure = doc["failure"]
    assert failure["kind"] == "memory_error", failure
    assert failure["status"] in (500, None), failure  # no answer said "memory"
    if app == "query_alloc":
        assert "MemoryError in the server's log" in failure["detail"], failure
    assert pids, "no server was seen: nothing was tested"


@pytest.mark.parametrize("server", SERVERS)
def test_query_alloc_boundary_holds_on_a_fresh_server(server, found, no_leftovers):
    """By hand, without probe: the command `probe serve` prints, under prlimit and
    setarch -R; critical_n answers the exact sum as its first request, first_failing_n
    gets the bare 500 on another fresh server."""
    _, doc, pids = found("query_alloc", server)
    no_leftovers += pids
    critical, failing = doc["critical_n"], doc["first_failing_n"]
    argv, env = printed_command(ServerSpec(server=server, app="query_alloc:app"))
    ok = first_answer(argv, f"/alloc?size={critical}", CAP, cwd=str(APPS), env=env)
    assert ok is not None and ok.status_code == 200, (critical, ok)
    assert ok.text == f"size={critical} sum={critical * (critical - 1) // 2}\n"
    assert first_request(argv, f"/alloc?size={failing}", CAP, cwd=str(APPS), env=env) == 500


@pytest.mark.parametrize("server", SERVERS)
def test_env_table_boundary_holds_on_a_fresh_server(server, found, no_leftovers):
    """n at start-up, by hand as above: with TABLE_N=critical_n the plain command boots
    and answers its first lookup; with TABLE_N=first_failing_n it fails to boot, or
    boots and fails its first request (flask: no room for the request's thread)."""
    _, doc, pids = found("env_table", server)
    no_leftovers += pids
    critical, failing = doc["critical_n"], doc["first_failing_n"]
    argv, env = printed_command(ServerSpec(server=server, app="env_table:app"))
    good = first_answer(argv, "/lookup?i=7", CAP, cwd=str(APPS),
                        env={**env, "TABLE_N": str(critical)})  # fmt: skip
    assert good is not None and good.status_code == 200, (critical, good)
    assert good.json() == {"i": 7, "value": 49, "entries": critical}
    bad = first_request(argv, "/lookup?i=7", CAP, cwd=str(APPS),
                        env={**env, "TABLE_N": str(failing)})  # fmt: skip
    assert bad != 200, (failing, bad)


# -- the matrix -------------------------------------------------------------------------------
def test_matrix_runs_the_workloads_of_a_file_with_n_auto(found, tmp_path, no_leftovers):
    """`probe matrix --n auto` over probe.toml's two workloads on both servers: 4
    variants, each a fresh server under the cap with 4 requests, 2 at once; the logs.

    --n auto reads each variant's n from results/max-n/ at the load's concurrency (2).
    Searching those here would take about 40 s (flask's threads get a band of 3
    repeats per n), and the searches are tested above, so the files are seeded: each
    from the real single-request search of the same app above (the same app, request and
    expect; the README form only names the workload after its module), at a third of
    its critical n, well inside what 2 requests at once need (measured at 256M: flask,
    alloc 2.35M at 2 requests against 4.9M at 1)."""
    results_dir, log_dir = tmp_path / "results", tmp_path / "log"
    workloads = load_workloads(APPS / "probe.toml")
    cfg = catalog.CatalogConfig(limit_bytes=CAP, precision=0.1, results_dir=results_dir)
    for app, name in FILE_NAMES.items():
        for server in SERVERS:
            _, single, pids = found(app, server)
            no_leftovers += pids
            w = workloads[name]
            path = catalog.path_for(cfg, server, w, 2)
            safe = single["critical_n"] // 3
            doc = {**single, "workload": w.to_dict(), "concurrency": 2, "critical_n": safe,
                   "first_failing_n": single["critical_n"], "probes": [],
                   "seeded_by": "tests/integration/test_own_service.py"}  # fmt: skip
            if server == "flask":  # threads at concurrency 2: the catalog wants a band
                doc["band"] = {"tries_per_n": 3, "always_ok_n": safe, "samples": [],
                               "never_ok_n": single["critical_n"], "what": "seeded"}  # fmt: skip
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(doc))
            asked = catalog.question_for(cfg, server, w, 2)
            assert question.load_answer(path, asked)[0] is not None

    result = probe_cli(
        "matrix", "--n", "auto", "--workloads", "tests/apps/probe.toml", "--limit", "160M",
        "--requests", "4", "--concurrency", "2", "--precision", "0.1",
        "--results", str(results_dir), "--logs", str(log_dir), pids=no_leftovers,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "searching" not in result.output, result.output  # every n came from the files
    doc = json.loads((results_dir / "matrix.json").read_text())
    assert doc["status"] == "complete", doc["status"]
    variants = {(v["server"], v["workload"]): v for v in doc["variants"]}
    assert set(variants) == {(s, w) for s in SERVERS for w in ("alloc", "lookup")}
    for (server, name), v in variants.items():
        assert v["ok"] == 4 and v["failed"] == 0, (server, name, v["ok"], v["failed"])
        assert v["n"] > 500_000, v["n"]  # a third of a critical n of 2.5-3M
        assert "max-n" in v["n_source"], v["n_source"]
        log = log_dir / f"{server}_{name}.txt"
        assert log.is_file() and log.stat().st_size > 0, log
    assert no_leftovers, "no server was seen: nothing was tested"


# -- secrets -----------------------------------------------------------------------------------
def test_a_token_from_the_environment_stays_out_of_the_results(tmp_path, no_leftovers):
    """The seminar app enforces APP_TOKEN when its server has it (the server inherits
    probe's environment), so every probe must carry the header the template fills in;
    the results file records the template, never the value. numpy: fast, exact."""
    out = tmp_path / "token.json"
    result = probe_cli(
        "max-n", "--cold-only", "--recheck-tries", "2",
        "--app", "app.wsgi:app", "--request", "POST /predict",
        "--json", '{"area": 10, "fn": "cpu_multithread", "n": {n}}',
        "--header", "Authorization: Bearer {env:APP_TOKEN}",
        "--limit", "160M", "--precision", "0.1", "--out", str(out),
        pids=no_leftovers, env={"APP_TOKEN": TOKEN},
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    text = out.read_text()
    doc = json.loads(text)
    assert doc["critical_n"] is not None and doc["status"] == "complete", doc["status"]
    assert all(p["outcome"] != "http_error" for p in doc["probes"]), doc["probes"]
    assert TOKEN not in text
    assert TOKEN not in result.output
    assert "{env:APP_TOKEN}" in text


# -- apps that misbehave -------------------------------------------------------------------------
@pytest.mark.parametrize("server", SERVERS)
def test_an_app_that_cannot_boot_is_one_line_naming_why(server, tmp_path, no_leftovers):
    """broken_app raises at import whatever n is: no probe can run, so max-n must stop
    at once with one line that says why (the app's own message), not a traceback, and
    not advice about the cap, which is not the cause (the same app fails without one)."""
    out = tmp_path / "broken.json"
    result = probe_cli(
        "max-n", "--cold-only", "--recheck-tries", "2",
        "--app", "broken_app:app", "--chdir", "tests/apps", "--server", server,
        "--request", "GET /work?size={n}", "--limit", "160M", "--out", str(out),
        pids=no_leftovers,
    )  # fmt: skip
    assert result.exit_code != 0, result.output
    assert "Traceback" not in result.output
    errors = error_lines(result.output)
    assert len(errors) == 1, result.output
    assert "the model file models/price.bin is missing" in errors[0], errors
    assert json.loads(out.read_text())["status"].startswith("failed:")
    assert no_leftovers, "no server was seen: nothing was tested"
    assert "raise --limit" not in errors[0], errors  # the cap is not why it fails


def test_an_app_that_hangs_is_a_measured_timeout(tmp_path, no_leftovers):
    """slow_app hangs for n > 150,000, between the search's first two probes (100,000
    and 200,000), with no memory involved: with --request-timeout 0.5 those probes are
    `timeout` outcomes the search brackets like any failure, and the run completes.
    50 % precision: two rounds, and the point is the outcome, not the edge."""
    out = tmp_path / "slow.json"
    result = probe_cli(
        "max-n", "--cold-only", "--recheck-tries", "2",
        "--app", "slow_app:app", "--chdir", "tests/apps",
        "--request", "GET /sleep?s={n}", "--expect", "slept {n}", "--request-timeout", "0.5",
        "--limit", "160M", "--precision", "0.5", "--out", str(out), pids=no_leftovers,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    doc = json.loads(out.read_text())
    assert doc["status"] == "complete", doc["status"]
    assert doc["failure"]["kind"] == "timeout", doc["failure"]
    assert doc["critical_n"] <= 150_000 < doc["first_failing_n"], doc
    outcomes = {p["outcome"] for p in doc["probes"]}
    assert outcomes == {"ok", "timeout"}, outcomes


# -- bad input ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("args", "fix"),
    [
        (["--app", "notamodule"], "module:attr"),
        (["--app", "query_alloc:app", "--chdir", "tests/apps", "--request", "GET /x"], "{n}"),
    ],
    ids=["app-without-colon", "request-without-n"],
)
def test_bad_input_is_one_line_and_exit_2(args, fix, tmp_path, no_leftovers):
    """Mistakes a user makes on the first try: an app named without its attribute, and
    a request that does not say where n goes. Both are caught before any server starts."""
    out = tmp_path / "bad.json"
    result = probe_cli("max-n", *args, "--limit", "160M", "--out", str(out), pids=no_leftovers)
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.output
    assert fix in lines[0], lines
    assert not no_leftovers, f"a server started: {no_leftovers}"
    assert not out.exists()


# -- a gate for CI ------------------------------------------------------------------------------
def test_require_n_is_a_gate_that_probes_only_n(no_leftovers):
    """--require-n: exit 0 when n succeeds on a fresh server; exit 1 with one line naming
    what failed when it does not; one probe each (a failure stops the --band tries)."""
    args = [*README_FORMS["query_alloc"], "--limit", "160M"]
    ok = probe_cli("max-n", "--cold-only", *args, "--require-n", "1000000", pids=no_leftovers)
    assert ok.exit_code == 0, ok.output
    assert "ok: n=1,000,000 succeeds under 160M" in ok.output
    assert ok.output.count("gate ") == 1  # one probe, no search
    bad = probe_cli("max-n", "--cold-only", *args, "--require-n", "20000000", "--band", "3",
                    pids=no_leftovers)  # fmt: skip
    assert bad.exit_code == 1, bad.output
    [line] = error_lines(bad.output)
    assert line.startswith("Error: n=20,000,000 fails under 160M: memory_error (HTTP 500)")
    assert "1 of 3 tries" in line and bad.output.count("gate ") == 1
