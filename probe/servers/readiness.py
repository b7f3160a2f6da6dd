"""Is a server up? Read from outside it, in /proc, without a request and without a hook.

A server is up when its port listens and each process that serves requests sits in
the kernel waiting for a connection: blocked in poll, select or epoll (or in accept).
That is where every server probe knows waits when it is idle, measured here with
/proc/PID/syscall (x86_64 numbers):

    gunicorn sync worker     pselect6 (270)     flask run (werkzeug)   poll (7)
    gunicorn gthread worker  epoll_wait (232)   uvicorn, uvicorn-worker epoll_wait (232)

While a worker imports the app it runs, reads files or maps them, so it is not in one
of these calls; an ASGI server binds its port only after its startup. The first request
a server sees is therefore the caller's: a probe, or a person's first request.

/proc/PID/syscall needs the right to ptrace the process, which probe has over the
servers it started (its descendants). Where the file cannot be read, a process asleep
(state S) counts as waiting: weaker, still no request.
"""

from __future__ import annotations

import contextlib
import os
import platform

# Syscalls an idle server waits in, by machine (asm/unistd_64.h; asm-generic for arm64).
_WAITS = {
    "x86_64": {7: "poll", 23: "select", 43: "accept", 232: "epoll_wait", 270: "pselect6",
               271: "ppoll", 281: "epoll_pwait", 288: "accept4", 441: "epoll_pwait2"},
    "aarch64": {22: "epoll_pwait", 72: "pselect6", 73: "ppoll", 202: "accept", 242: "accept4",
                441: "epoll_pwait2"},
}  # fmt: skip
WAIT_SYSCALLS = _WAITS.get(platform.machine(), _WAITS["x86_64"])

_LISTEN = "0A"  # TCP_LISTEN in /proc/net/tcp's st column


def waiting(pid: int) -> bool | None:
    """True if the process is blocked waiting for a connection or an event on a file;
    False if it is doing something else; None if it is gone or a zombie."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as fh:
            state = fh.read().rpartition(")")[2].split()[0]
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return None
    if state in ("Z", "X"):
        return None
    try:
        with open(f"/proc/{pid}/syscall", encoding="ascii") as fh:
            first = fh.read().split(maxsplit=1)[0]
    except (FileNotFoundError, ProcessLookupError):
        return None
    except (PermissionError, OSError, IndexError):
        return state == "S"
    return first.isdigit() and int(first) in WAIT_SYSCALLS


def listening_ports(pids: list[int]) -> set[int]:
    """The TCP ports on which any of `pids` holds a listening socket."""
    inodes: set[str] = set()
    for pid in pids:
        with contextlib.suppress(OSError):
            for fd in os.listdir(f"/proc/{pid}/fd"):
                with contextlib.suppress(OSError):
                    target = os.readlink(f"/proc/{pid}/fd/{fd}")
                    if target.startswith("socket:["):
                        inodes.add(target[8:-1])
    if not inodes:
        return set()
    ports = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for local, state, inode in _listeners(table):
            if state == _LISTEN and inode in inodes:
                ports.add(int(local.rpartition(":")[2], 16))
    return ports


def port_listens(port: int) -> bool:
    """Whether some socket on this machine listens on TCP `port` (any address)."""
    suffix = f":{port:04X}"
    return any(
        state == _LISTEN and local.endswith(suffix)
        for table in ("/proc/net/tcp", "/proc/net/tcp6")
        for local, state, _ in _listeners(table)
    )


def _listeners(table: str) -> list[tuple[str, str, str]]:
    """(local address, state, inode) of each row of a /proc/net/tcp table."""
    try:
        with open(table, encoding="ascii") as fh:
            lines = fh.read().splitlines()[1:]
    except OSError:
        return []
    rows = []
    for line in lines:
        cols = line.split()
        if len(cols) >= 10:
            rows.append((cols[1], cols[3], cols[9]))
    return rows
