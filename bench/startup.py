"""What a server still does after its port accepts: the window a first request shares.

For gunicorn sync, gthread, uvicorn and gunicorn's uvicorn workers (the apps of
tests/apps), each started REPEAT times by its plain command under `prlimit --as` and
`setarch -R` (no probe code in it; probe.servers.Server starts it, as max-n does):
- listen_to_ready_ms: from the port accepting to every serving process waiting for a
  connection (probe's readiness, read from /proc);
- vmsize_at_listen_kib / at_ready / one second after ready: the serving process's
  address space (the capped quantity) at each moment; what grows after the port
  accepts is what an early first request shares its cap with.
Prints JSON, one object per server.

    python bench/startup.py [--limit 512M] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import shlex
import statistics
import sys
import time
from pathlib import Path

from probe.measure.memory import read_status
from probe.servers.process import Server
from probe.servers.readiness import port_listens
from probe.servers.spec import from_command
from probe.sizes import parse_size

APPS = Path(__file__).resolve().parent.parent / "tests" / "apps"
PY = shlex.quote(sys.executable)
COMMANDS = {
    "gunicorn sync": f"{PY} -m gunicorn --bind 127.0.0.1:{{port}} query_alloc:app",
    "gunicorn gthread": f"{PY} -m gunicorn -k gthread --threads 2 --bind 127.0.0.1:{{port}} "
    "query_alloc:app",
    "uvicorn": f"{PY} -m uvicorn --port {{port}} asgi_alloc:app",
    "gunicorn uvicorn worker": f"{PY} -m gunicorn -k uvicorn_worker.UvicornWorker "
    "--bind 127.0.0.1:{port} asgi_alloc:app",
}


def vmsize(server: Server) -> int | None:
    pids = server.worker_pids()
    status = read_status(pids[0]) if pids else None
    return status["VmSize"] // 1024 if status else None


def once(cmd: str, limit: int) -> dict:
    spec = from_command(cmd, limit_bytes=limit, chdir=str(APPS))
    server = Server(spec)
    try:
        server.spawn()
        while not port_listens(server.port):
            time.sleep(0.001)
        t_listen = time.monotonic()
        at_listen = vmsize(server)
        while not server.ready():
            time.sleep(0.002)
        t_ready = time.monotonic()
        at_ready = vmsize(server)
        time.sleep(1.0)
        return {"listen_to_ready_ms": round((t_ready - t_listen) * 1000, 1),
                "vmsize_at_listen_kib": at_listen, "vmsize_at_ready_kib": at_ready,
                "vmsize_1s_after_ready_kib": vmsize(server)}  # fmt: skip
    finally:
        server.close(grace_s=0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--limit", default="512M")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    limit = parse_size(args.limit)
    for name, cmd in COMMANDS.items():
        runs = [once(cmd, limit) for _ in range(args.repeat)]
        grew = [r["vmsize_1s_after_ready_kib"] - r["vmsize_at_ready_kib"] for r in runs
                if r["vmsize_1s_after_ready_kib"] and r["vmsize_at_ready_kib"]]  # fmt: skip
        print(json.dumps({
            "server": name, "limit": args.limit, "runs": runs,
            "median_listen_to_ready_ms": statistics.median(r["listen_to_ready_ms"] for r in runs),
            "vmsize_growth_after_ready_kib": grew,
        }), flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
