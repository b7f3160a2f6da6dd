"""The tree budget against the real kernel: for each test app with a server kind each,
probe's answer under `--limit-kind tree` (the emulation) and under `--limit-kind cgroup`
(a real cgroup v2 memory.max), both in the same user-mode-linux guest (tests/guest/run),
and the tree's answer checked by hand without probe in fresh real cgroups
(tests/guest/first_request.py: the first request as the port accepts and 1 s later).
Prints one JSON object: per app, both answers, the gap, and whether the tree's critical
n held under the kernel. Target: it holds, within 1 % below the kernel's boundary.

    python bench/kernel.py [--apps gunicorn,uvicorn,preload,json-batch,flask,n-at-start]
                           [--precision P]   (both searches'; default 0.01)

Takes a few minutes (the guest faults memory in 14-20x slower than the machine).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
APPS = ROOT / "tests" / "apps"
GUEST = ROOT / "tests" / "guest"
PY = sys.executable
MIB = 1 << 20

# name: (start command, probe's options for n and the answer, the same for the check by
# hand (tests/guest/first_request.py), the limit in bytes)
ALLOC = ["--request", "GET /alloc?size={n}", "--expect", "size={n}"]
ROW = '{"area": 10.0, "rooms": 3}'
CASES = {
    "gunicorn": (f"{PY} -m gunicorn --bind 127.0.0.1:{{port}} query_alloc:app", ALLOC,
                 ["--request", "GET /alloc?size={n}"], 96 * MIB),
    "uvicorn": (f"{PY} -m uvicorn --port {{port}} asgi_alloc:app", ALLOC,
                ["--request", "GET /alloc?size={n}"], 96 * MIB),
    "preload": (f"{PY} -m gunicorn -w 2 --preload --bind 127.0.0.1:{{port}} shared_table:app",
                ["--request", "GET /?size={n}", "--expect", "size={n}"],
                ["--request", "GET /?size={n}"], 192 * MIB),
    "json-batch": (f"{PY} -m uvicorn --port {{port}} fastapi_batch:app",
                   ["--request", "POST /predict", "--json", '{"rows": {n*' + ROW + "}}",
                    "--expect", '"count":{n},'],
                   ["--request", "POST /predict", "--json-rows", ROW], 128 * MIB),
    # Flask's dev server as app.run() starts it: threads of one process (werkzeug)
    "flask": (f"{PY} -c 'from query_alloc import app; from werkzeug.serving import run_simple; "
              "run_simple(\"127.0.0.1\", {port}, app, threaded=True)'", ALLOC,
              ["--request", "GET /alloc?size={n}"], 96 * MIB),
    "n-at-start": (f"{PY} -m gunicorn --bind 127.0.0.1:{{port}} env_table:app",
                   ["--n-env", "TABLE_N", "--request", "GET /lookup?i=7",
                    "--expect", '"entries": {n}}'],
                   ["--n-env", "TABLE_N", "--request", "GET /lookup?i=7"], 96 * MIB),
}  # fmt: skip


def answer(name: str, kind: str, out: Path, precision: float) -> dict:
    cmd, how, _, limit = CASES[name]
    doc = out / f"{name}-{kind}.json"
    argv = [PY, "-m", "probe.cli", "max-n", "--cmd", cmd, "--chdir", str(APPS), *how,
            "--limit", str(limit), "--limit-kind", kind, "--cold-only", "--no-check",
            "--precision", str(precision), "--out", str(doc)]  # fmt: skip
    t0 = time.monotonic()
    ran = subprocess.run(argv, capture_output=True, text=True)
    if ran.returncode != 0:
        return {"error": ran.stderr.strip().splitlines()[-1:]}
    d = json.loads(doc.read_text())
    return {"critical_n": d["critical_n"], "first_failing_n": d["first_failing_n"],
            "wall_s": round(time.monotonic() - t0, 1)}  # fmt: skip


def by_hand(name: str, ns: list[int]) -> list[dict]:
    cmd, _, how, limit = CASES[name]
    argv = [PY, str(GUEST / "first_request.py"), "--limit", str(limit), "--cmd", cmd,
            "--chdir", str(APPS), *how, "--settle", "0", "--settle", "1",
            *map(str, ns)]  # fmt: skip
    out = subprocess.run(argv, capture_output=True, text=True).stdout
    return [json.loads(line) for line in out.splitlines()]


def in_guest(names: list[str], out: Path, precision: float) -> dict:
    results = {}
    for name in names:
        tree = answer(name, "tree", out, precision)
        kernel = answer(name, "cgroup", out, precision)
        row = {"command": CASES[name][0].replace(PY, "python"), "limit_bytes": CASES[name][3],
               "tree": tree, "kernel": kernel}  # fmt: skip
        if "error" not in tree and "error" not in kernel:
            checks = by_hand(name, [tree["critical_n"], kernel["first_failing_n"]])
            held = [c for c in checks if c["n"] == tree["critical_n"]]
            row["tree_critical_n_held"] = all(c["statuses"] == [200] for c in held)
            row["kernel_first_failing_n_killed"] = all(
                c["oom_kill"] >= 1 for c in checks if c["n"] == kernel["first_failing_n"]
            )
            row["gap_pct"] = round(100 * (tree["critical_n"] / kernel["critical_n"] - 1), 2)
            row["by_hand"] = checks
        results[name] = row
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--apps", default=",".join(CASES), help=", ".join(CASES))
    parser.add_argument("--out", default="/tmp/probe-bench-kernel")
    parser.add_argument("--precision", type=float, default=0.01)
    args = parser.parse_args()
    names = args.apps.split(",")
    if os.environ.get("PROBE_IN_GUEST") != "1":  # boot the guest and run this inside
        argv = [str(GUEST / "run"), "env", "PROBE_IN_GUEST=1", PY, __file__, "--apps",
                args.apps, "--out", args.out, "--precision", str(args.precision)]  # fmt: skip
        sys.exit(subprocess.run(argv).returncode)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    print(json.dumps({"precision": args.precision, "apps": in_guest(names, out, args.precision)},
                     indent=1))  # fmt: skip


if __name__ == "__main__":
    main()
