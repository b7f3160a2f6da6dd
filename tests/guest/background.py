"""The guest's cases (cgroup_cases.py), run in the background while the rest of the suite
runs: a user-mode-linux guest uses one core, mostly waiting on its emulated page faults,
and its cases take a few minutes, too long to run after the other tests.

The suite's controller starts it (tests/conftest.py, before xdist's workers exist, which
inherit GUEST_DIR_VAR); test_cgroup.py waits for its answer.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
GUEST_DIR_VAR = "PROBE_TEST_GUEST_DIR"
# the cases cgroup_cases.py runs, in its order
CASES = ("gunicorn", "uvicorn", "oom-group")
MISSING = "user-mode-linux is not installed (apt-get install -y user-mode-linux)"
PREFIX = "probe-guest-cases-"  # the folder of a run's answers, in the temporary directory


def available() -> str | None:
    """Why the guest cannot run here (None: it can)."""
    if sys.platform != "linux":
        return "the guest is a Linux kernel run as a process: Linux only"
    if shutil.which("linux.uml") is None:
        return MISSING
    return None


def start() -> Path | None:
    """Start the guest's cases in the background; the folder their answers go to."""
    if available() is not None:
        return None
    out = Path(tempfile.mkdtemp(prefix=PREFIX))
    argv = [str(HERE / "run"), sys.executable, str(HERE / "cgroup_cases.py"), str(out / "docs"),
            *CASES]  # fmt: skip
    with open(out / "out.jsonl", "wb") as stdout, open(out / "err.txt", "wb") as stderr:
        proc = subprocess.Popen(argv, stdout=stdout, stderr=stderr, stdin=subprocess.DEVNULL,
                                start_new_session=True, cwd=HERE.parent.parent)  # fmt: skip
    (out / "pid").write_text(str(proc.pid))
    (out / "rc").unlink(missing_ok=True)
    _watch(proc, out)
    return out


def _watch(proc: subprocess.Popen, out: Path) -> None:
    """Write the guest's exit status to out/rc when it ends (a thread of the controller)."""

    def wait() -> None:
        (out / "rc").write_text(str(proc.wait()))

    threading.Thread(target=wait, daemon=True).start()


def stop(out: Path | None) -> None:
    """Kill the guest if it is still running (the suite ended or was interrupted)."""
    if out is None or (out / "rc").exists():
        return
    with contextlib.suppress(OSError, ValueError):
        os.killpg(int((out / "pid").read_text()), signal.SIGKILL)


def results(out: Path, timeout_s: float = 900) -> tuple[int, list[str], str]:
    """Wait for the guest to end: its exit status, its JSON lines, its stderr."""
    deadline = time.monotonic() + timeout_s
    while not (out / "rc").exists() and time.monotonic() < deadline:
        time.sleep(0.5)
    rc = int((out / "rc").read_text()) if (out / "rc").exists() else -1
    lines = (out / "out.jsonl").read_text().splitlines()
    return rc, lines, (out / "err.txt").read_text()[-3000:]
