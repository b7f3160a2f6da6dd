"""The check by hand, without probe, under a real cgroup v2 memory limit: for each n, a
fresh cgroup (memory.max = the limit, memory.swap.max = 0, memory.oom.group with
--oom-group), the user's plain command started in it with the fixed layout
(`setarch -R`), the request sent as the server's first (--concurrency of them at once,
--rounds times; as soon as the port accepts, plus --settle seconds), and one JSON line:
the statuses (None: the connection dropped), memory.events' oom_kill and memory.peak.
Standard library only; run as root in the guest of tests/guest/run (its /sys/fs/cgroup
is the guest's).

    python first_request.py --limit BYTES --cmd 'gunicorn --bind 127.0.0.1:{port} a:app' \
        --chdir DIR --request 'GET /alloc?size={n}' [--settle 0 --settle 1] [--oom-group] \
        [--concurrency C] [--rounds R] [--json-rows ROW] [--n-env NAME] N [N ...]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import shlex
import signal
import socket
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path("/sys/fs/cgroup")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def first_request(args: argparse.Namespace, n: int, settle: float, number: int) -> dict:
    cg = ROOT / f"by-hand-{os.getpid()}-{number}"
    cg.mkdir()
    (cg / "memory.max").write_text(str(args.limit))
    (cg / "memory.swap.max").write_text("0")
    if args.oom_group:
        (cg / "memory.oom.group").write_text("1")
    port = free_port()
    argv = ["setarch", "-R", *shlex.split(args.cmd.replace("{port}", str(port)))]
    env = {**os.environ, **({args.n_env: str(n)} if args.n_env else {})}
    join = f'echo $$ > {cg}/cgroup.procs && exec "$@"'
    server = subprocess.Popen(["sh", "-c", join, "sh", *argv], cwd=args.chdir, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              start_new_session=True)  # fmt: skip
    t0 = time.monotonic()
    while time.monotonic() - t0 < 120 and server.poll() is None:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            time.sleep(0.02)
    time.sleep(settle)
    method, target = args.request.split(" ", 1)
    body, headers = None, {}
    if args.json_rows:  # {"rows": [ROW, ...]} as requests' json= writes it (", ", ": ")
        body = json.dumps({"rows": [json.loads(args.json_rows)] * n}).encode()
        headers = {"Content-Type": "application/json"}

    def send(_: int) -> int | None:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
            conn.request(method, target.replace("{n}", str(n)), body=body, headers=headers)
            return conn.getresponse().status
        except (OSError, http.client.HTTPException):
            return None  # the worker was killed: the connection dropped

    statuses = []
    with ThreadPoolExecutor(args.concurrency) as pool:
        for _ in range(args.rounds):  # rounds of C at once, on the same server
            statuses += pool.map(send, range(args.concurrency))
    time.sleep(0.2)
    events = dict(line.split() for line in (cg / "memory.events").read_text().splitlines())
    peak = int((cg / "memory.peak").read_text())
    os.killpg(server.pid, signal.SIGKILL)
    server.wait()
    (cg / "cgroup.kill").write_text("1")
    for _ in range(200):
        if not (cg / "cgroup.procs").read_text().strip():
            break
        time.sleep(0.01)
    cg.rmdir()
    return {"n": n, "settle_s": settle, "statuses": statuses,
            "oom_kill": int(events.get("oom_kill", 0)), "peak_bytes": peak}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--limit", type=int, required=True)
    parser.add_argument("--cmd", required=True)
    parser.add_argument("--chdir", default=".")
    parser.add_argument("--request", required=True)
    parser.add_argument(
        "--settle",
        type=float,
        action="append",
        help="seconds after the port accepts; repeat for each timing (default 0)",
    )
    parser.add_argument("--oom-group", action="store_true")
    parser.add_argument("--concurrency", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--json-rows", help='the body: {"rows": [JSON_ROWS] x n}')
    parser.add_argument("--n-env", help="n goes in the server's environment as this")
    parser.add_argument("n", type=int, nargs="+")
    args = parser.parse_args()
    if not (ROOT / "cgroup.subtree_control").exists() or os.getuid() != 0:
        raise SystemExit("first_request.py runs as root in the guest (tests/guest/run)")
    runs = [(settle, n) for settle in args.settle or [0.0] for n in args.n]
    for number, (settle, n) in enumerate(runs):
        print(json.dumps(first_request(args, n, settle, number)), flush=True)


if __name__ == "__main__":
    main()
