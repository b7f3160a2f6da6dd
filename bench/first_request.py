"""Check a boundary from outside, as a user would; prints JSON.

Starts `probe serve` (the same cap, layout and environment as max-n's probes) once per
try, sends the first request at each n, stops the server with Ctrl-C (SIGINT) and
records the HTTP status. A critical n must answer 200 on every try, a first failing n
507 on every try.

    python bench/first_request.py --limit 2G --fn cpu_bounded --n 49186666,49598992 [--tries 3]
"""

from __future__ import annotations

import argparse
import json
import re
import signal
import subprocess

import requests


def first_request(n: int, fn: str, limit: str, server: str) -> int:
    """The status of the first request at n to a fresh `probe serve`."""
    cmd = ["probe", "serve", "--server", server, "--limit", limit]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        url = None
        for line in proc.stdout:
            m = re.search(r"serving .* at (http://\S+)", line)
            url = m.group(1) if m else url
            if line.startswith("command:"):
                break
        body = {"area": 10, "fn": fn, "n": n}
        return requests.post(f"{url}/predict", json=body, timeout=120).status_code
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(30)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--limit", default="512M")
    ap.add_argument("--fn", default="cpu_bounded")
    ap.add_argument("--server", default="gunicorn")
    ap.add_argument("--n", required=True, help="comma-separated n")
    ap.add_argument("--tries", type=int, default=3)
    args = ap.parse_args()
    out = {
        n: [first_request(int(n), args.fn, args.limit, args.server) for _ in range(args.tries)]
        for n in args.n.split(",")
    }
    print(json.dumps({"limit": args.limit, "fn": args.fn, "server": args.server,
                      "statuses": out}, indent=1))  # fmt: skip


if __name__ == "__main__":
    main()
