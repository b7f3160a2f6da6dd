"""The check a user makes by hand, without probe: their plain command under
`prlimit --as=BYTES` and `setarch -R`, n sent as the very first request.

Written apart from probe on purpose (its own port wait, its own process handling), so a
fault in probe's server handling cannot hide here.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time

import requests


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def listens(port: int) -> bool:
    """A LISTEN row for the port in /proc/net/tcp (no connection is made to the server)."""
    with open("/proc/net/tcp", encoding="ascii") as fh:
        rows = [line.split() for line in fh.read().splitlines()[1:]]
    return any(r[3] == "0A" and r[1].endswith(f":{port:04X}") for r in rows)


def first_request(cmd: list[str], path: str, limit_bytes: int, cwd: str | None = None,
                  env: dict | None = None, wait_s: float = 30.0) -> int | None:  # fmt: skip
    """Start `cmd` ({port} filled) capped and with a fixed layout, send GET `path` as
    its first request; the status (None: no answer, or the server never listened)."""
    port = free_port()
    argv = ["prlimit", f"--as={limit_bytes}", "setarch", "-R",
            *[w.replace("{port}", str(port)) for w in cmd]]  # fmt: skip
    proc = subprocess.Popen(argv, cwd=cwd, env={**os.environ, **(env or {})},
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)  # fmt: skip
    try:
        deadline = time.monotonic() + wait_s
        while not listens(port):
            if proc.poll() is not None or time.monotonic() > deadline:
                return None
            time.sleep(0.02)
        try:
            return requests.get(f"http://127.0.0.1:{port}{path}", timeout=60).status_code
        except requests.RequestException:
            return None
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
