"""Ctrl-C and SIGTERM at several moments of real `probe` runs (subprocesses).

Every run must exit 130 (SIGINT) or 143 (SIGTERM), leave no server process behind,
and leave a results file that loads and keeps every probe it reported as done.
Server processes are found by watching the probe process's descendants while it runs
(servers run in their own sessions, so process groups would miss them).
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import psutil
import pytest

from probe.documents import store
from tests.integration.conftest import descendants, gone

PROBE = [sys.executable, "-m", "probe.cli"]
MARKER = "PROBE_TEST_RUN"
EXIT = {signal.SIGINT: 130, signal.SIGTERM: 143}
MiB = 1 << 20


class Run:
    """A probe subprocess, its stderr lines as they come, and every descendant it had."""

    started: list[Run] | None = None  # set by the reap_leftovers fixture

    def __init__(self, *args: str):
        # Servers inherit probe's environment: the marker finds any of them, even one
        # that lived too briefly for the descendant watcher to see it.
        self.marker = uuid.uuid4().hex
        self.proc = subprocess.Popen(
            [*PROBE, *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, MARKER: self.marker},
        )
        self.lines: list[str] = []
        self.out: list[str] = []
        self.descendants: dict[int, str] = {}  # pid -> cmdline
        self.procs: dict[int, psutil.Process] = {}  # remember identity: pids get reused
        self._new_line = threading.Condition()
        self._threads = [
            threading.Thread(target=self._read, args=(self.proc.stderr, self.lines), daemon=True),
            threading.Thread(target=self._read, args=(self.proc.stdout, self.out), daemon=True),
            threading.Thread(target=self._watch, daemon=True),
        ]
        for t in self._threads:
            t.start()
        if Run.started is not None:
            Run.started.append(self)

    def _read(self, stream, into: list[str]) -> None:
        for line in stream:
            with self._new_line:
                into.append(line.rstrip("\n"))
                self._new_line.notify_all()
        with self._new_line:
            self._new_line.notify_all()

    def _watch(self) -> None:
        while self.proc.poll() is None:
            for pid in descendants(self.proc.pid):
                try:
                    child = self.procs.get(pid) or self.procs.setdefault(pid, psutil.Process(pid))
                    # Read again each time: a child caught between fork and exec still
                    # shows probe's own command line.
                    cmd = " ".join(child.cmdline())
                except psutil.Error:  # a child left between listing and reading it
                    continue
                if cmd and not self._is_server(self.descendants.get(pid, "")):
                    self.descendants[pid] = cmd
            time.sleep(0.005)

    def wait_line(self, pattern: str, timeout_s: float = 30) -> re.Match:
        """Block until a stderr line matches; fail with what was seen if it never does."""
        deadline = time.monotonic() + timeout_s
        seen = 0
        with self._new_line:
            while True:
                for line in self.lines[seen:]:
                    if m := re.search(pattern, line):
                        return m
                seen = len(self.lines)
                left = deadline - time.monotonic()
                if left <= 0 or (self.proc.poll() is not None and not self._reading()):
                    pytest.fail(f"no line matching {pattern!r}; stderr: {self.lines}")
                self._new_line.wait(min(left, 0.1))

    def _reading(self) -> bool:
        return any(t.is_alive() for t in self._threads[:2])

    def wait_until(self, check, timeout_s: float = 30, what: str = "") -> None:
        deadline = time.monotonic() + timeout_s
        while not check():
            if time.monotonic() > deadline or self.proc.poll() is not None:
                pytest.fail(f"never saw {what}; stderr: {self.lines}")
            time.sleep(0.002)

    def servers(self) -> dict[int, str]:
        """Descendants that are servers (gunicorn, the dev server), not the capexec shim."""
        # a copy: the watcher thread adds descendants while this runs
        seen = dict(self.descendants)
        return {pid: cmd for pid, cmd in seen.items() if self._is_server(cmd)}

    @staticmethod
    def _is_server(cmd: str) -> bool:
        # The capexec shim names the server in its argv but is not one yet: it becomes
        # the server when it execs. gunicorn names the app MODULE:ATTR; the dev server's
        # `python -c` line imports it.
        if "-m probe.servers.capexec " in cmd:
            return False
        return "app.wsgi:app" in cmd or "from app.wsgi import app" in cmd or " -m app " in cmd

    def marked(self) -> list[psutil.Process]:
        """Live processes anywhere on the machine that carry this run's marker."""
        found = []
        for proc in psutil.process_iter():
            with contextlib.suppress(psutil.Error):
                mine = proc.environ().get(MARKER) == self.marker and proc.pid != self.proc.pid
                if mine and proc.status() != psutil.STATUS_ZOMBIE:
                    found.append(proc)
        return found

    def finish(self, timeout_s: float = 20) -> int:
        try:
            rc = self.proc.wait(timeout=timeout_s)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
        for t in self._threads:
            t.join(timeout=5)
        return rc


@pytest.fixture(autouse=True)
def reap_leftovers():
    """A failing test must not leave servers running: kill what any Run left behind."""
    runs: list[Run] = []
    Run.started = runs
    yield
    Run.started = None
    for run in runs:
        if run.proc.poll() is None:
            run.proc.kill()
            run.proc.wait()
        for pid in run.servers():
            with contextlib.suppress(psutil.Error):
                run.procs[pid].kill()  # psutil checks it is still the same process
        for proc in run.marked():
            with contextlib.suppress(psutil.Error):
                proc.kill()


def wait_gone(pids, timeout_s: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while not gone(list(pids)):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def worker_rss(run: Run) -> int:
    """The largest RSS among the run's server processes (0 if none is up)."""
    best = 0
    for pid in run.servers():
        with contextlib.suppress(psutil.Error):
            best = max(best, psutil.Process(pid).memory_info().rss)
    return best


def assert_clean_exit(run: Run, sig: int) -> None:
    rc = run.finish()
    assert rc == EXIT[sig], (rc, run.lines)
    assert f"interrupted by {signal.Signals(sig).name}; servers stopped, results kept" in run.lines
    assert "Traceback" not in "\n".join(run.lines + run.out)
    assert run.servers(), "the watcher saw no server process: nothing was tested"
    assert wait_gone(run.servers()), f"left behind: {run.servers()}"
    assert not run.marked(), f"left behind: {run.marked()}"


def assert_results_keep_reported_probes(path: Path, run: Run, sig: int) -> dict:
    doc = store.load(path, kind="max-n")
    assert doc["status"] == f"interrupted: {signal.Signals(sig).name}"
    reported = [line for line in run.lines if re.match(r"probe +\d+: n=", line)]
    assert len(doc["probes"]) == len(reported)
    for line, probe in zip(reported, doc["probes"], strict=True):
        assert f"n={probe['n']:,} {probe['outcome']}" in line
    return doc


def max_n(tmp_path: Path, *extra: str) -> tuple[Run, Path]:
    out = tmp_path / "max-n.json"
    args = (
        "max-n",
        "--cold-only",
        "--fn",
        "cpu_bounded",
        "--limit",
        "512M",
        "--out",
        str(out),
        *extra,
    )
    return Run(*args), out


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_max_n_interrupted_while_the_server_starts(sig, tmp_path):
    """The signal goes out as soon as a server process exists, well before gunicorn's
    ~0.5 s boot ends: wait_ready must unwind, stop the half-started tree, and leave a
    document that loads with no probes."""
    run, out = max_n(tmp_path)
    run.wait_until(lambda: run.servers(), what="a server process")
    run.proc.send_signal(sig)
    assert_clean_exit(run, sig)
    # Cold servers print no "started" line: no probe reported means none had begun.
    assert not any(re.match(r"probe +\d+: n=", line) for line in run.lines), "signal came too late"
    doc = assert_results_keep_reported_probes(out, run, sig)
    assert doc["probes"] == []


@pytest.mark.parametrize(("sig", "twice"), [(signal.SIGINT, False), (signal.SIGTERM, True)])
def test_max_n_interrupted_mid_request(sig, twice, tmp_path):
    """The worker's RSS passing 200 MiB means it is building a list of millions of ints
    (idle it holds ~45 MiB; the calibration probes stay under 60 MiB): the signal lands
    inside a request that takes ~1 s. A second signal during cleanup must not cut it
    short. The calibration probes finished before must all be in the file, and every
    server that answered one was seen and is gone (cold: a fresh server per probe, no
    "started" line; each probe records its serving pids instead)."""
    run, out = max_n(tmp_path)
    run.wait_line(r"^gunicorn, .*, a fresh server per probe")
    run.wait_until(lambda: worker_rss(run) > 200 * MiB, what="a worker past 200 MiB")
    run.proc.send_signal(sig)
    if twice:
        time.sleep(0.05)
        run.proc.send_signal(sig)
    t0 = time.monotonic()
    assert_clean_exit(run, sig)
    assert time.monotonic() - t0 < 6
    doc = assert_results_keep_reported_probes(out, run, sig)
    assert len(doc["probes"]) >= 3 and all(p["outcome"] == "ok" for p in doc["probes"])
    serving = {pid for p in doc["probes"] for pid in p["serving_pids"]}
    assert len(serving) == len(doc["probes"]) and serving <= set(run.servers())


def test_max_n_terminated_right_after_a_probe(tmp_path):
    """SIGTERM as soon as probe 2 is reported: the next probe (n=400,000) lasts tens of
    ms, so the signal lands between probes or early in the next one; both must keep
    the two reported probes."""
    run, out = max_n(tmp_path)
    run.wait_line(r"^probe +2: n=")
    run.proc.send_signal(signal.SIGTERM)
    assert_clean_exit(run, signal.SIGTERM)
    doc = assert_results_keep_reported_probes(out, run, signal.SIGTERM)
    assert len(doc["probes"]) >= 2


@pytest.mark.parametrize(
    ("server", "sig"), [("gunicorn", signal.SIGINT), ("flask", signal.SIGTERM)]
)
def test_serve_stops_its_server_on_ctrl_c_and_sigterm(server, sig):
    """`probe serve` runs until a signal; it must then stop the whole tree (arbiter and
    worker, or the dev server) and exit 130/143."""
    run = Run("serve", "--server", server, "--limit", "512M")
    run.wait_until(lambda: any(line.startswith("pids: ") for line in run.out), what="pids")
    run.proc.send_signal(sig)
    assert_clean_exit(run, sig)
    assert len(run.servers()) == (2 if server == "gunicorn" else 1)


def test_serve_interrupted_while_the_server_starts():
    """Ctrl-C before the server is ready (its ready line, before `pids:` is printed):
    nothing must outlive probe."""
    run = Run("serve", "--server", "gunicorn", "--limit", "512M")
    run.wait_until(lambda: run.servers(), what="a server process")
    run.proc.send_signal(signal.SIGINT)
    assert_clean_exit(run, signal.SIGINT)
    assert not run.out, "signal came too late"


def matrix_available() -> bool:
    """True once `probe matrix` exists (another engineer adds it)."""
    res = subprocess.run([*PROBE, "matrix", "--help"], capture_output=True, timeout=30)
    return res.returncode == 0


needs_matrix = pytest.mark.skipif(
    not matrix_available(), reason="`probe matrix --help` fails: the matrix command is missing"
)


def matrix(tmp_path: Path, *extra: str) -> tuple[Run, Path]:
    args = ("matrix", "--limit", "512M", "--results", str(tmp_path), "--logs", str(tmp_path),
            *extra)  # fmt: skip
    return Run(*args), tmp_path / "matrix.json"


def assert_matrix_keeps_reported_variants(path: Path, run: Run) -> dict:
    doc = store.load(path, kind="matrix")
    assert doc["status"].startswith("interrupted")
    done = [line for line in run.lines if re.match(r"\[\w+ \w+\] n=[\d,-]+: \d+ ok", line)]
    assert len(doc["variants"]) == len(done)
    for v in doc["variants"]:
        assert Path(v["log"]).exists()  # the seminar-style log was written with it
    return doc


@needs_matrix
def test_matrix_interrupted_between_variants(tmp_path):
    """Two small variants (2 requests at n=100,000, ~0.1 s of load each): SIGINT as
    soon as the first is reported lands while the second server starts. The first
    variant and its log must be kept, the second server must be gone."""
    run, out = matrix(tmp_path, "--n", "100000", "--servers", "flask,gunicorn",
                      "--fns", "cpu_bounded", "--requests", "2")  # fmt: skip
    run.wait_line(r"^\[flask cpu_bounded\] n=100,000: 2 ok")
    run.proc.send_signal(signal.SIGINT)
    assert_clean_exit(run, signal.SIGINT)
    doc = assert_matrix_keeps_reported_variants(out, run)
    assert [(v["server"], v["fn"]) for v in doc["variants"]] == [("flask", "cpu_bounded")]


@needs_matrix
def test_matrix_terminated_mid_request(tmp_path):
    """n=10M ints take ~1 s and ~400 MiB per request; a worker past 200 MiB is inside
    one. Nothing was complete, so the document must load with no variants.
    (test_matrix_interrupted_between_variants covers SIGINT.)"""
    sig = signal.SIGTERM
    run, out = matrix(tmp_path, "--n", "10000000", "--servers", "gunicorn",
                      "--fns", "cpu_bounded", "--requests", "2")  # fmt: skip
    run.wait_until(lambda: worker_rss(run) > 200 * MiB, what="a worker past 200 MiB")
    run.proc.send_signal(sig)
    assert_clean_exit(run, sig)
    doc = assert_matrix_keeps_reported_variants(out, run)
    assert doc["variants"] == []


def test_servers_die_with_probe_even_when_it_is_sigkilled():
    """SIGKILL leaves probe no chance to clean up; the kernel's parent-death signal
    (set by probe.servers.capexec) must still take the arbiter down, and the reaper (a
    process outside the server, probe.servers.reaper) its worker, so a killed probe does
    not leave a capped server running; the reaper itself then exits."""
    run = Run("serve", "--server", "gunicorn", "--limit", "512M")
    run.wait_until(lambda: any(line.startswith("pids: ") for line in run.out), what="pids")
    servers = run.servers()
    assert len(servers) == 2, servers
    run.proc.kill()
    run.proc.wait(timeout=10)
    assert wait_gone(servers, timeout_s=15), f"left behind: {run.servers()}"
    deadline = time.monotonic() + 5
    while run.marked() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not run.marked(), f"left behind: {run.marked()}"
