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
servers it started (its descendants). Where the file cannot be read, or the kernel has
none (user-mode Linux, gVisor), a process asleep (state S) counts as waiting: weaker,
still no request.

A server that is not up yet but whose processes keep using CPU (importing a model for
25 s) is starting, not stuck: `cpu_seconds` tells the two apart.
"""

from __future__ import annotations

import contextlib
import os
import platform
import socket
import struct

# Syscalls an idle server waits in, by machine (asm/unistd_64.h; asm-generic for arm64).
_WAITS = {
    "x86_64": {7: "poll", 23: "select", 43: "accept", 232: "epoll_wait", 270: "pselect6",
               271: "ppoll", 281: "epoll_pwait", 288: "accept4", 441: "epoll_pwait2"},
    "aarch64": {22: "epoll_pwait", 72: "pselect6", 73: "ppoll", 202: "accept", 242: "accept4",
                441: "epoll_pwait2"},
}  # fmt: skip
WAIT_SYSCALLS = _WAITS.get(platform.machine(), _WAITS["x86_64"])

_LISTEN = "0A"  # TCP_LISTEN in /proc/net/tcp's st column


def _state(pid: int) -> str | None:
    """The process's state letter (R, S, D, Z, ...), None if it is gone or a zombie."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as fh:
            state = fh.read().rpartition(")")[2].split()[0]
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return None
    return None if state in ("Z", "X") else state


def waiting(pid: int) -> bool | None:
    """True if the process is blocked waiting for a connection or an event on a file;
    False if it is doing something else; None if it is gone or a zombie."""
    state = _state(pid)
    if state is None:
        return None
    try:
        with open(f"/proc/{pid}/syscall", encoding="ascii") as fh:
            first = fh.read().split(maxsplit=1)[0]
    except (FileNotFoundError, ProcessLookupError):
        # gone, or a kernel without the file (user-mode Linux, gVisor): asleep is waiting
        state = _state(pid)
        return None if state is None else state == "S"
    except (PermissionError, OSError, IndexError):
        return state == "S"
    return first.isdigit() and int(first) in WAIT_SYSCALLS


def signal() -> str:
    """How readiness is read on this kernel, in words, for the results' launch record."""
    if os.path.exists("/proc/self/syscall"):
        return "the syscall each serving process waits in (/proc/PID/syscall)"
    return "each serving process asleep (/proc/PID/stat; this kernel has no /proc/PID/syscall)"


_TICK_S = 1 / os.sysconf("SC_CLK_TCK")


def cpu_seconds(pids: list[int]) -> float:
    """The CPU time (user + system) the processes have used so far; the gone count 0."""
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as fh:
                fields = fh.read().rpartition(")")[2].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14, 15)
        except (OSError, IndexError, ValueError):
            continue
    return total * _TICK_S


class Proc:
    """A process of a tree as the kinds read it: its pid and its parent's."""

    __slots__ = ("pid", "_ppid")

    def __init__(self, pid: int, ppid: int):
        self.pid, self._ppid = pid, ppid

    def ppid(self) -> int:
        return self._ppid


def tree(top: int) -> list[Proc]:
    """The process `top` and its descendants, top first, from /proc/PID/task/TID/children
    (a few small reads, where psutil would read every process on the machine); [] if
    `top` is gone. Zombies are left out."""
    out, todo = [], [(top, 0)]
    while todo:
        pid, ppid = todo.pop(0)
        try:
            tids = os.listdir(f"/proc/{pid}/task")
        except OSError:
            continue
        if _state(pid) is None:  # a zombie: no longer part of the server
            continue
        out.append(Proc(pid, ppid))
        for tid in tids:
            path = f"/proc/{pid}/task/{tid}/children"
            with contextlib.suppress(OSError), open(path, encoding="ascii") as fh:
                todo += [(int(c), pid) for c in fh.read().split()]
    return out


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
    return {port for port, inode in _listening() if inode in inodes}


def port_listens(port: int) -> bool:
    """Whether some socket on this machine listens on TCP `port` (any address)."""
    return any(p == port for p, _ in _listening())


def _listening() -> list[tuple[int, str]]:
    """(port, inode) of every listening TCP socket: by netlink's sock_diag, as `ss -ltn`
    asks (tens of microseconds; reading /proc/net/tcp walks the kernel's whole table,
    4-5 ms here, and cost a server start more CPU than the start itself), else from
    /proc/net/tcp."""
    try:
        return _sock_diag_listening()
    except OSError:
        rows = []
        for table in ("/proc/net/tcp", "/proc/net/tcp6"):
            for local, state, inode in _listeners(table):
                if state == _LISTEN:
                    rows.append((int(local.rpartition(":")[2], 16), inode))
        return rows


_NETLINK_INET_DIAG, _SOCK_DIAG_BY_FAMILY, _NLMSG_DONE, _NLMSG_ERROR = 4, 20, 3, 2
_TCP_LISTEN_STATE = 10


def _sock_diag_listening() -> list[tuple[int, str]]:
    out = []
    with socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, _NETLINK_INET_DIAG) as nl:
        for family in (socket.AF_INET, socket.AF_INET6):
            # inet_diag_req_v2: family, protocol, ext, pad, states; a zeroed inet_diag_sockid
            req = struct.pack("=BBBBI", family, socket.IPPROTO_TCP, 0, 0,
                              1 << _TCP_LISTEN_STATE) + bytes(48)  # fmt: skip
            head = struct.pack("=IHHII", 16 + len(req), _SOCK_DIAG_BY_FAMILY, 0x301, 1, 0)
            nl.send(head + req)
            done = False
            while not done:
                data = nl.recv(65536)
                if not data:
                    break
                off = 0
                while off + 16 <= len(data):
                    length, kind = struct.unpack_from("=IH", data, off)
                    if kind == _NLMSG_DONE:
                        done = True
                        break
                    if kind == _NLMSG_ERROR:
                        raise OSError("sock_diag refused the request")
                    msg = off + 16  # inet_diag_msg: 4 bytes, sockid (48), 4 x u32, inode
                    sport = struct.unpack_from("!H", data, msg + 4)[0]
                    inode = struct.unpack_from("=I", data, msg + 4 + 48 + 16)[0]
                    out.append((sport, str(inode)))
                    off += (length + 3) & ~3
                    if length == 0:
                        break
    return out


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
