"""What a default `probe max-n` costs, against the least any checked answer can cost.

For each service, as a user runs it (the CLI, every default: the search, the re-check at
two timings, the warm phase):
- `default_s`: the whole run's wall time, and its phases' shares (the document's
  `phases`: wall time, probes, servers, time in requests, time waiting for boots);
- the lower bound: one request at the critical n and one at the first failing n, each
  as the first request of a freshly started plain server, boot included, one after the
  other (`lower_bound_s`);
- `ratio`: default_s / lower_bound_s. Target: at most 4.

Services: the built-in cpu_bounded (gunicorn) at 1G; a JSON batch of rows of four floats
(tests/apps/upload_app.py's POST /batch, gunicorn, 1 worker) at 512M; the slow-import
model server (tests/apps/slow_model.py: IMPORT_S of CPU at import, a batch of rows
per request) at 512M. Prints one JSON line per service.

    python bench/cost.py [--cases builtin,batch,slow] [--import-s 20] [--recheck-tries K]
    (K: max-n's --recheck-tries, for what fewer tries at the critical n save)
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from probe.measure.load import fire
from probe.servers.process import Server
from probe.servers.spec import ServerSpec, from_command
from probe.sizes import parse_size
from probe.workload.builtins import builtin
from probe.workload.model import Workload

APPS = Path(__file__).resolve().parents[1] / "tests" / "apps"
PY = sys.executable
ROW = "[5.1, 3.5, 1.4, 0.2]"


def cases(import_s: float) -> dict[str, dict]:
    gunicorn = f"{PY} -m gunicorn --bind 127.0.0.1:{{port}}"
    batch = '{"instances": {n*' + ROW + "}}"
    return {
        "builtin": {"args": ["--fn", "cpu_bounded", "--limit", "1G"], "limit": "1G"},
        "batch": {"args": ["--cmd", f"{gunicorn} upload_app:app", "--chdir", str(APPS),
                           "--request", "POST /batch", "--json", batch, "--n-unit", "rows",
                           "--expect", "rows={n} ", "--limit", "512M"],
                  "limit": "512M", "cmd": f"{gunicorn} upload_app:app", "request": "POST /batch",
                  "json": batch, "expect": "rows={n} "},
        "slow": {"args": ["--cmd", f"{gunicorn} --timeout 600 slow_model:app", "--chdir",
                          str(APPS), "--request", "POST /predict", "--json",
                          '{"rows": {n*[1.0, 2.0, 3.0, 4.0]}}', "--n-unit", "rows",
                          "--limit", "512M"],
                 "limit": "512M", "cmd": f"{gunicorn} --timeout 600 slow_model:app",
                 "request": "POST /predict", "json": '{"rows": {n*[1.0, 2.0, 3.0, 4.0]}}',
                 "env": {"IMPORT_S": str(import_s)}},
    }  # fmt: skip


def default_run(case: dict, env: dict, extra: list[str]) -> tuple[float, dict]:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "doc.json"
        t0 = time.monotonic()
        run = subprocess.run(["probe", "max-n", *case["args"], *extra, "--out", str(out)],
                             capture_output=True, text=True, env=env)  # fmt: skip
        wall = time.monotonic() - t0
        if run.returncode != 0:
            raise SystemExit(f"probe max-n failed: {run.stderr[-2000:]}")
        return wall, json.loads(out.read_text())


def first_request_s(case: dict, n: int) -> tuple[float, bool]:
    """Boot a fresh plain server (the cap as probe applies it) and send n as its first
    request; the whole time and whether it succeeded."""
    limit = parse_size(case["limit"])
    if "cmd" in case:
        w = Workload(name="w", cmd=case["cmd"], chdir=str(APPS), request=case["request"],
                     json=case["json"], expect=case.get("expect"))  # fmt: skip
        spec = from_command(case["cmd"], limit_bytes=limit, chdir=str(APPS))
    else:
        w, spec = builtin("cpu_bounded"), ServerSpec(limit_bytes=limit)
    t0 = time.monotonic()
    server = Server(spec, {**w.fixed_env(), **case.get("env", {})})
    try:
        server.start()
        [record] = fire(server.url, [w.render(n)], timeout_s=600, name=w.name)
    finally:
        server.close(grace_s=0)
    ok = w.judge(record.status, record.text, record.body, n, record.area, record.found).ok
    return time.monotonic() - t0, ok


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", default="builtin,batch,slow")
    ap.add_argument("--import-s", type=float, default=20.0)
    ap.add_argument("--recheck-tries", type=int, default=None)
    args = ap.parse_args()
    extra = [] if args.recheck_tries is None else ["--recheck-tries", str(args.recheck_tries)]
    for name, case in cases(args.import_s).items():
        if name not in args.cases.split(","):
            continue
        env = {**os.environ, **case.get("env", {})}
        wall, doc = default_run(case, env, extra)
        lo, hi = doc["critical_n"], doc["first_failing_n"]
        ok_s, ok = first_request_s(case, lo)
        fail_s, failed_ok = first_request_s(case, hi)
        bound = ok_s + fail_s
        print(json.dumps({
            "case": name, "recheck_tries": args.recheck_tries or "default",
            "critical_n": lo, "first_failing_n": hi,
            "default_s": round(wall, 1), "lower_bound_s": round(bound, 1),
            "ratio": round(wall / bound, 2), "target_ratio_max": 4,
            "by_hand": {"critical_n_ok": ok, "first_failing_n_failed": not failed_ok},
            "phases": doc.get("phases"),
        }), flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
