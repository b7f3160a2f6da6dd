"""How the size of a server's environment moves the list's boundary under a fixed layout.

gunicorn's plain command under `prlimit --as` and `setarch -R` (no probe in it), with
the variables probe pins plus PAD of 0, 1, 10, ... bytes, each n sent as the first
request of a fresh server; its output to a file. Prints JSON: the status per (pad, n).

    python bench/environment.py [--limit 256M] [--n 3480000,3515121,3525000]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import tempfile
import time

import requests

from probe.servers.readiness import port_listens
from probe.servers.spec import ServerSpec, pinned_env
from probe.sizes import parse_size

PADS = (0, 1, 10, 100, 1000, 4000, 8000)


def status(argv: list[str], env: dict, n: int) -> int | None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    argv = [w.replace("65432", str(port)) for w in argv]
    with tempfile.TemporaryFile() as log:
        proc = subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)  # fmt: skip
        try:
            while not port_listens(port):
                time.sleep(0.02)
            body = {"area": 10, "fn": "cpu_bounded", "n": n}
            return requests.post(f"http://127.0.0.1:{port}/predict", json=body,
                                 timeout=60).status_code  # fmt: skip
        except requests.RequestException:
            return None
        finally:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--limit", default="256M")
    ap.add_argument("--n", default="3480000,3515121,3525000")
    args = ap.parse_args()
    cap = parse_size(args.limit)
    spec = ServerSpec(limit_bytes=cap)
    argv = ["prlimit", f"--as={cap}", "setarch", "-R", *spec.argv(65432)]
    base = {**os.environ, **pinned_env(spec)}
    ns = [int(x) for x in args.n.split(",")]
    rows = {pad: [status(argv, {**base, "PAD": "x" * pad}, n) for n in ns] for pad in PADS}
    print(json.dumps({"limit_bytes": cap, "n": ns, "status_by_pad_bytes": rows}, indent=2))


if __name__ == "__main__":
    main()
