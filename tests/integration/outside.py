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
                  env: dict | None = None, wait_s: float = 30.0, method: str = "GET",
                  json: dict | None = None) -> int | None:  # fmt: skip
    """Start `cmd` ({port} filled) capped and with a fixed layout, send `method path` as
    its first request; the status (None: no answer, or the server never listened)."""
    answer = first_answer(cmd, path, limit_bytes, cwd, env, wait_s, method, json)
    return answer.status_code if answer is not None else None


def first_answer(cmd: list[str], path: str, limit_bytes: int, cwd: str | None = None,
                 env: dict | None = None, wait_s: float = 30.0, method: str = "GET",
                 json: dict | None = None) -> requests.Response | None:  # fmt: skip
    """first_request's whole answer (None: none)."""
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
            return requests.request(method, f"http://127.0.0.1:{port}{path}", json=json,
                                    timeout=60)  # fmt: skip
        except requests.RequestException:
            return None
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


SENTINEL_PORT = 65432  # replaced by {port}: the built-in kinds build their argv for a port


def printed_command(spec) -> tuple[list[str], dict[str, str]]:
    """What `probe serve` prints for a built-in kind: its command with {port} where the
    port goes, and the variables probe adds for it."""
    from probe.servers.spec import pinned_env

    argv = [w.replace(str(SENTINEL_PORT), "{port}") for w in spec.argv(SENTINEL_PORT)]
    return argv, pinned_env(spec)
