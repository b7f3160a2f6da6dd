"""The CLI's answers to bad input, through CliRunner: exit 2 or 1, one line, no traceback.

No process starts here: every case fails while parsing or checking options, before a
server would be launched (the one that gets further has `launch` replaced).
"""

from __future__ import annotations

import os

import pytest
from click.testing import CliRunner

from probe import __version__
from probe.cli import app as cli
from probe.documents.store import SCHEMA_VERSION as SCHEMA
from probe.servers.spec import ServerError

SIZES = "use a size like 512M, 2G, 1.5GiB, 1073741824 or none"
FNS = "'cpu_bounded', 'cpu_multithread', 'io_bounded'"


def invoke(*args: str):
    return CliRunner().invoke(cli.main, list(args))


def assert_one_line(result, code: int, message: str) -> None:
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert result.output == f"Error: {message}\n"


MAX_N = ("max-n", "--fn", "cpu_bounded")


BAD = "Invalid value for "
NEEDS_CAP = f"{BAD}--limit: max-n needs a cap to find a limit; pass e.g. --limit 1G"
PRECISION = f"{BAD}'--precision': must be between 0 and 1, e.g. 0.01; got "
SERVERS = "is not one of 'flask', 'gunicorn'."


@pytest.mark.parametrize(
    ("args", "message"),
    [
        # sizes: an unknown unit, zero, a sign, fractional bytes, not a number, exponent
        ((*MAX_N, "--limit", "12Q"), f"{BAD}'--limit': cannot read size '12Q'; {SIZES}"),
        ((*MAX_N, "--limit", "0"),
         f"{BAD}'--limit': size '0' must be greater than zero; {SIZES}"),
        ((*MAX_N, "--limit", "-5M"), f"{BAD}'--limit': cannot read size '-5M'; {SIZES}"),
        ((*MAX_N, "--limit", "1.5"),
         f"{BAD}'--limit': cannot read size '1.5': fractional bytes; {SIZES}"),
        ((*MAX_N, "--limit", "nan"), f"{BAD}'--limit': cannot read size 'nan'; {SIZES}"),
        (("serve", "--limit", "1e9"), f"{BAD}'--limit': cannot read size '1e9'; {SIZES}"),
        # unknown predictor or server; a predictor without n
        (("max-n", "--fn", "nope"), f"{BAD}'--fn': 'nope' is not one of {FNS}."),
        ((*MAX_N, "--server", "uwsgi"), f"{BAD}'--server': 'uwsgi' {SERVERS}"),
        (("serve", "--server", "uwsgi"), f"{BAD}'--server': 'uwsgi' {SERVERS}"),
        (("max-n", "--fn", "io_bounded"),
         f"{BAD}--fn: io_bounded has no n (it sleeps 1 s); use cpu_bounded or cpu_multithread"),
        # conflicting flags: no cap to search under, an rss watchdog without a cap
        ((*MAX_N, "--limit", "none"), NEEDS_CAP),
        ((*MAX_N, "--limit", "none", "--limit-kind", "rss"), NEEDS_CAP),
        (("serve", "--limit", "none", "--limit-kind", "rss"),
         "--limit-kind rss needs a --limit; pass e.g. --limit 1G"),
        ((*MAX_N, "--limit-kind", "memcg"),
         f"{BAD}'--limit-kind': 'memcg' is not one of 'as', 'rss', 'tree', 'cgroup'."),
        # precision must be in (0, 1)
        ((*MAX_N, "--precision", "-0.1"), PRECISION + "-0.1"),
        ((*MAX_N, "--precision", "0"), PRECISION + "0"),
        ((*MAX_N, "--precision", "1"), PRECISION + "1"),
        ((*MAX_N, "--precision", "abc"), f"{BAD}'--precision': 'abc' is not a valid float."),
        # other ranges, shapes and typos
        ((*MAX_N, "--concurrency", "0"),
         f"{BAD}'--concurrency': 0 is not in the range 1<=x<=1000."),
        ((*MAX_N, "--port", "70000"), f"{BAD}'--port': 70000 is not in the range 0<=x<=65535."),
        ((*MAX_N, "--url", "ftp://x"), f"{BAD}--url: use a URL like http://127.0.0.1:8000"),
        ((*MAX_N, "--limt", "1G"),
         "No such option '--limt'. (Did you mean one of: '--limit', '--limit-kind', '--timeout'?)"),
        (("frobnicate",), "No such command 'frobnicate'."),
    ],
)  # fmt: skip
def test_usage_errors_are_one_line_exit_2(args, message):
    """One case per kind of mistake the issue names (sizes, names, conflicts, precision)
    plus click's own range and typo errors: all must be a single "Error:" line."""
    assert_one_line(invoke(*args), 2, message)


def test_out_under_a_file_is_refused_before_anything_runs(tmp_path):
    """A results path whose folder is a file cannot be written by anyone, root included."""
    blocker = tmp_path / "results"
    blocker.write_text("not a folder")
    out = blocker / "max-n.json"
    assert_one_line(
        invoke(*MAX_N, "--out", str(out)),
        2,
        f"Invalid value for --out: cannot write {out}: {blocker} is a file, not a folder; "
        "choose another path",
    )


def test_out_that_is_a_folder_is_refused(tmp_path):
    """click's own path check names the folder."""
    assert_one_line(
        invoke(*MAX_N, "--out", str(tmp_path)),
        2,
        f"Invalid value for '--out': File '{tmp_path}' is a directory.",
    )


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write into a read-only folder")
def test_out_in_a_read_only_folder_is_refused(tmp_path):
    """Mode 0o500 takes write permission away from the owner (not from root)."""
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        out = ro / "r.json"
        assert_one_line(
            invoke(*MAX_N, "--out", str(out)),
            2,
            f"Invalid value for --out: cannot write {out}; choose another path",
        )
    finally:
        ro.chmod(0o700)


def test_missing_workload_is_one_line():
    """max-n without anything to probe: exit 2, no usage block, no traceback, and the one
    line names the four ways to say what to probe."""
    result = invoke("max-n")
    assert result.exit_code == 2
    assert result.output.splitlines() == [
        "Error: say what to probe: --fn cpu_bounded, --cmd 'gunicorn --bind "
        "127.0.0.1:{port} myapp:app' --request 'GET /path?n={n}', --app MODULE:ATTR, "
        "or --workloads probe.toml --workload NAME"
    ]
    assert "Usage:" not in result.output and "Traceback" not in result.output


def refuse_to_start(monkeypatch, message: str = "not started in a unit test") -> None:
    """Make `Server.start` (what `probe serve` calls) fail at once, so no process starts
    and no socket opens; the message names the host the server would have bound."""

    def refuse(self):
        raise ServerError(f"{message} (host {self.spec.host})")

    monkeypatch.setattr("probe.servers.process.Server.start", refuse)


def test_non_loopback_host_is_warned_about_before_starting(monkeypatch):
    """--host 0.0.0.0 exposes the service: the warning must come first. `Server.start` is
    replaced by a failure so no server starts and no socket opens."""
    refuse_to_start(monkeypatch)
    result = invoke("serve", "--host", "0.0.0.0")
    assert result.exit_code == 3  # could not probe
    assert result.output.splitlines() == [
        "warning: binding 0.0.0.0: the service (and its memory) is reachable from other "
        "machines; use --host 127.0.0.1 unless you mean it",
        "Error: not started in a unit test (host 0.0.0.0)",
    ]


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "::1", "localhost"])
def test_loopback_hosts_are_not_warned_about(host, monkeypatch):
    """All of 127.0.0.0/8 and ::1 stay on this machine; warning there would be noise."""
    refuse_to_start(monkeypatch, "x")
    result = invoke("serve", "--host", host)
    assert result.exit_code == 3 and result.output == f"Error: x (host {host})\n"


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (f'{{"schema_version": {SCHEMA}, "kind": "matrix", "variants": [',
         "not valid JSON (line 1); delete it or rerun the command"),
        ("", "not valid JSON (line 1); delete it or rerun the command"),
        ('{"schema_version": 99, "kind": "matrix"}',
         f"schema_version 99 is newer than probe {__version__} reads (matrix {SCHEMA}); "
         "upgrade probe (pip install -U probe) to read it"),
        ('{"schema_version": 0, "kind": "matrix", "variants": []}',
         "not a probe results document (kind 'matrix', schema_version 0)"),
        ('["a", "list"]', "not a probe results document (no schema_version)"),
        (f'{{"schema_version": {SCHEMA}, "kind": "max-n"}}',
         "a 'max-n' document, expected 'matrix'"),
    ],
)  # fmt: skip
def test_report_refuses_a_bad_results_file_in_one_line(tmp_path, content, problem):
    """A run cut short mid-write (impossible with atomic writes, possible by hand), an
    empty file, a file from a future probe, a version no probe wrote, some other JSON,
    and a document of the wrong kind in the matrix's place: probe report must name the
    file and the fix. (Every earlier version is read: tests/unit/test_old_results.py.)"""
    (tmp_path / "matrix.json").write_text(content)
    result = invoke("report", "--results", str(tmp_path))
    assert_one_line(result, 1, f"{tmp_path / 'matrix.json'}: {problem}")


def test_report_without_results_says_what_to_run(tmp_path):
    """An empty results folder: nothing to report, and the fix is `probe study`."""
    result = invoke("report", "--results", str(tmp_path))
    assert_one_line(result, 1, f"{tmp_path}: neither matrix.json nor compare.json; "
                    "run `probe study` first")  # fmt: skip


@pytest.mark.parametrize(
    ("extra", "says"),
    [
        (["--workers", "2"], "--workers does not apply to --cmd"),
        (["--timeout", "5"], "probe's own wait for an answer is --request-timeout"),
        (["--server", "flask"], "--server does not apply to --cmd"),
        (["--preload"], "--preload does not apply to --cmd"),
        (["--token", "t0k3n"], "--token is sent only to a --url server"),
    ],
)
def test_an_option_that_would_do_nothing_is_a_usage_error(extra, says):
    """With --cmd the command sets its own server options; --token goes only to --url:
    exit 2, one line, nothing started."""
    result = invoke("max-n", "--cmd", "gunicorn --bind 127.0.0.1:{port} m:app",
                    "--request", "GET /?n={n}", *extra)  # fmt: skip
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and says in lines[0], result.output
    assert "t0k3n" not in result.output
