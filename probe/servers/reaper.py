"""Stop probe's servers when probe dies, from outside them: `python -m probe.servers.reaper`.

One reaper per probe process, in a session of its own, reads lines from a pipe whose
other end only probe holds: `+PGID` when probe starts a server (each server leads its
own process group), `-PGID` when it has stopped it. When the pipe ends (probe exited,
crashed or was SIGKILLed), the reaper SIGKILLs every group still listed and exits. So a
server's workers go with probe at once, and nothing of probe runs inside a server:
gunicorn's workers used to get a hook for this (a post_fork prctl) that loaded ctypes
into every worker and moved an app's boundary.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading


def main() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches probe, which stops them
    groups: set[int] = set()
    for line in sys.stdin:
        text = line.strip()
        with contextlib.suppress(ValueError):
            if text.startswith("+"):
                groups.add(int(text[1:]))
            elif text.startswith("-"):
                groups.discard(int(text[1:]))
    for pgid in groups:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, signal.SIGKILL)


class Reaper:
    """probe's side: starts a reaper with the first server, tells it of each server's
    group, and ends it (closing the pipe) when the last server is stopped, so probe
    leaves no process of its own behind between runs."""

    def __init__(self) -> None:
        self._proc: subprocess.Popen | None = None
        self._groups: set[int] = set()
        self._lock = threading.Lock()

    def _send(self, line: str) -> None:
        with contextlib.suppress(BrokenPipeError, OSError):
            self._proc.stdin.write(line + "\n")
            self._proc.stdin.flush()

    def watch(self, pgid: int) -> None:
        with self._lock:
            if self._proc is None or self._proc.poll() is not None:
                self._proc = subprocess.Popen(
                    [sys.executable, "-m", "probe.servers.reaper"],
                    stdin=subprocess.PIPE,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                    start_new_session=True,
                    text=True,
                )
                for old in self._groups:
                    self._send(f"+{old}")
            self._groups.add(pgid)
            self._send(f"+{pgid}")

    def forget(self, pgid: int) -> None:
        with self._lock:
            self._groups.discard(pgid)
            if self._proc is None:
                return
            self._send(f"-{pgid}")
            if not self._groups:
                with contextlib.suppress(OSError):
                    self._proc.stdin.close()
                with contextlib.suppress(subprocess.TimeoutExpired):
                    self._proc.wait(timeout=5)
                self._proc = None


REAPER = Reaper()

if __name__ == "__main__":
    main()
