"""The check a user makes by hand, without probe: their plain command under
`prlimit --as=BYTES` and `setarch -R`, n sent as the very first request. For a tree
budget: the plain command under `setarch -R` and a watcher of this module's own that
SIGKILLs the largest process once the tree's summed Pss_Anon passes the budget.

Written apart from probe on purpose (its own port wait, its own process handling), so a
fault in probe's server handling cannot hide here.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import requests

from tests.integration.conftest import descendants


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def listens(port: int) -> bool:
    """A LISTEN row for the port in /proc/net/tcp (no connection is made to the server)."""
    with open("/proc/net/tcp", encoding="ascii") as fh:
        rows = [line.split() for line in fh.read().splitlines()[1:]]
    return any(r[3] == "0A" and r[1].endswith(f":{port:04X}") for r in rows)


class TreeWatcher(threading.Thread):
    """Sums Pss_Anon (smaps_rollup) over a process tree every few milliseconds; past
    the budget, SIGKILLs the process with the largest RSS, as the kernel's OOM killer."""

    def __init__(self, top: int, budget_bytes: int):
        super().__init__(daemon=True)
        self.top, self.budget = top, budget_bytes
        self.stop = threading.Event()
        self.kills: list[int] = []

    @staticmethod
    def _field(pid: int, name: str) -> int:
        try:
            with open(f"/proc/{pid}/smaps_rollup", encoding="ascii") as fh:
                for line in fh:
                    if line.startswith(name + ":"):
                        return int(line.split()[1]) * 1024
        except OSError:
            pass
        return 0

    def run(self) -> None:
        while not self.stop.is_set():
            if not os.path.exists(f"/proc/{self.top}"):
                return
            procs = [p for p in (self.top, *descendants(self.top)) if p not in self.kills]
            charge = sum(self._field(p, "Pss_Anon") for p in procs)
            if charge > self.budget and procs:
                victim = max(procs, key=lambda p: self._field(p, "Rss"))
                with contextlib.suppress(OSError):
                    os.kill(victim, signal.SIGKILL)
                    self.kills.append(victim)
            time.sleep(0.002)


def _log_file():
    """Where a server started by hand writes its output: a file, as probe's servers do.
    An idle worker maps exactly what probe's maps only then: with its output to
    /dev/null its heap was 20 KiB larger or smaller (test_commands.py), and at 256M the
    list's boundary near 3.51M moved with that."""
    return tempfile.TemporaryFile()


def _environ() -> dict[str, str]:
    """This process's environment without pytest's per-test variable
    (tests/integration/conftest.py, hidden_test_name)."""
    return {k: v for k, v in os.environ.items() if k != "PYTEST_CURRENT_TEST"}


def first_statuses(cmd: list[str], path: str, tree_budget_bytes: int, concurrency: int,
                   cwd: str | None = None, env: dict | None = None,
                   wait_s: float = 30.0, rounds: int = 1) -> list[int | None]:  # fmt: skip
    """`cmd` under setarch -R and a TreeWatcher, `concurrency` GETs of `path` at once as
    its first requests (with `rounds` > 1, each of the `concurrency` clients sends its
    next as soon as its last is answered, `rounds` in all: sustained traffic at full
    occupancy); their statuses (None: no answer)."""
    port = free_port()
    argv = ["setarch", "-R", *[w.replace("{port}", str(port)) for w in cmd]]
    log = _log_file()
    proc = subprocess.Popen(argv, cwd=cwd, env={**_environ(), **(env or {})},
                            stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)  # fmt: skip
    watcher = TreeWatcher(proc.pid, tree_budget_bytes)
    watcher.start()
    try:
        deadline = time.monotonic() + wait_s
        while not listens(port):
            if proc.poll() is not None or time.monotonic() > deadline:
                return [None] * concurrency
            time.sleep(0.02)
        time.sleep(1.0)  # every worker booted: the budget counts all of them

        def one(_: int) -> list[int | None]:
            out: list[int | None] = []
            for _round in range(rounds):
                try:
                    url = f"http://127.0.0.1:{port}{path}"
                    out.append(requests.get(url, timeout=60).status_code)
                except requests.RequestException:
                    out.append(None)
            return out

        with ThreadPoolExecutor(concurrency) as pool:
            return [s for client in pool.map(one, range(concurrency)) for s in client]
    finally:
        watcher.stop.set()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        watcher.join(timeout=5)


def first_request(cmd: list[str], path: str, limit_bytes: int, cwd: str | None = None,
                  env: dict | None = None, wait_s: float = 30.0, method: str = "GET",
                  json: dict | None = None, settle_s: float = 0.0) -> int | None:  # fmt: skip
    """Start `cmd` ({port} filled) capped and with a fixed layout, send `method path` as
    its first request, as soon as the port accepts or `settle_s` later; the status
    (None: no answer, or the server never listened)."""
    answer = first_answer(cmd, path, limit_bytes, cwd, env, wait_s, method, json,
                          settle_s=settle_s)  # fmt: skip
    return answer.status_code if answer is not None else None


def first_answer(cmd: list[str], path: str, limit_bytes: int, cwd: str | None = None,
                 env: dict | None = None, wait_s: float = 30.0, method: str = "GET",
                 json: dict | None = None, settle_s: float = 0.0,
                 **send) -> requests.Response | None:  # fmt: skip
    """first_request's whole answer (None: none); `send`: requests' data=, files=."""
    port = free_port()
    argv = ["prlimit", f"--as={limit_bytes}", "setarch", "-R",
            *[w.replace("{port}", str(port)) for w in cmd]]  # fmt: skip
    log = _log_file()
    proc = subprocess.Popen(argv, cwd=cwd, env={**_environ(), **(env or {})},
                            stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)  # fmt: skip
    try:
        deadline = time.monotonic() + wait_s
        while not listens(port):
            if proc.poll() is not None or time.monotonic() > deadline:
                return None
            time.sleep(0.005)
        time.sleep(settle_s)
        try:
            return requests.request(method, f"http://127.0.0.1:{port}{path}", json=json,
                                    timeout=60, **send)  # fmt: skip
        except requests.RequestException:
            return None
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def statuses_in_turn(cmd: list[str], paths: list[str], limit_bytes: int,
                     cwd: str | None = None, wait_s: float = 30.0) -> list[int | None]:  # fmt: skip
    """Start `cmd` capped with a fixed layout, send GET of each path one at a time on one
    server (a warm server's history); each status (None: no answer), stopping at the
    first that is not 200."""
    port = free_port()
    argv = ["prlimit", f"--as={limit_bytes}", "setarch", "-R",
            *[w.replace("{port}", str(port)) for w in cmd]]  # fmt: skip
    log = _log_file()
    proc = subprocess.Popen(argv, cwd=cwd, env=_environ(), stdout=log,
                            stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip
    out: list[int | None] = []
    try:
        deadline = time.monotonic() + wait_s
        while not listens(port):
            if proc.poll() is not None or time.monotonic() > deadline:
                return [None]
            time.sleep(0.005)
        for path in paths:
            try:
                out.append(requests.get(f"http://127.0.0.1:{port}{path}", timeout=60).status_code)
            except requests.RequestException:
                out.append(None)
            if out[-1] != 200:
                break
        return out
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
