"""Run inside the guest (tests/guest/run): for each case, `probe max-n --limit-kind cgroup`
as a user types it, then its answer checked by hand without probe (first_request.py):
the critical n and the first failing n each as the first request of a fresh server in a
fresh real cgroup, as soon as the port accepts and a second later. One JSON line per case.

    python cgroup_cases.py OUT_DIR CASE [CASE ...] [--probe-option ...]
    (cases: CASES' keys; options such as --cold-only go to every probe max-n)
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
APPS = HERE.parent / "apps"
PY = sys.executable
ALLOC = "GET /alloc?size={n}"
MIB = 1 << 20
FAST = ["--n-start", "250000"]

# name: (the start command, the limit in bytes, probe's options, where probe runs). Near
# memory.max the kernel's boundary moves from server to server by about half the 1 %
# precision (how much page cache it finds to reclaim; a few hundred KiB decide at these
# limits), so the answer of a search is checked by hand one precision outside each end
# (below the critical n, above the first failing n), and probe's own re-check (8 fresh
# servers at the critical n, tested on this machine's limits) is skipped: it cost half of
# the guest's time in the suite. A server costs about 5 s in the guest (a boot of 2 s, a
# million-element list of 3 s: its page faults), so the search starts at 250,000 (FAST),
# whose calibration (250k, 500k, 1M) reaches the boundaries (1.1M-1.9M): 5 probes a case
# where 100,000 took 5-7. At 48M two workers thrashed their file pages for minutes
# instead of being killed; these limits were killed promptly in every run here.
CASES = {
    "gunicorn": (f"{PY} -m gunicorn --bind 127.0.0.1:{{port}} query_alloc:app", 64 * MIB,
                 [*FAST, "--cold-only", "--no-check"], "root"),
    "uvicorn": (f"{PY} -m uvicorn --port {{port}} asgi_alloc:app", 80 * MIB,
                [*FAST, "--cold-only", "--no-check"], "delegated"),
    "oom-group": (f"{PY} -m gunicorn -w 2 --bind 127.0.0.1:{{port}} query_alloc:app",
                  96 * MIB, [*FAST, "--oom-group", "--cold-only", "--no-check"], "root"),
}  # fmt: skip


def delegated(argv: list[str]) -> list[str]:
    """argv run from a cgroup of its own (as `systemd-run --scope -p Delegate=yes` gives):
    probe finds the memory controller there not yet enabled for children."""
    scope = Path("/sys/fs/cgroup/probe-test.scope")
    scope.mkdir(exist_ok=True)
    join = f'echo $$ > {scope}/cgroup.procs && exec "$@"'
    return ["sh", "-c", join, "sh", *argv]


def run_case(name: str, out: Path, fast: list[str]) -> dict:
    cmd, limit, extra, where = CASES[name]
    doc_path = out / f"{name}.json"
    argv = [PY, "-m", "probe.cli", "max-n", "--cmd", cmd, "--chdir", str(APPS),
            "--request", ALLOC, "--expect", "size={n}", "--limit", str(limit),
            "--limit-kind", "cgroup", "--out", str(doc_path), *extra, *fast]  # fmt: skip
    t0 = time.monotonic()
    ran = subprocess.run(delegated(argv) if where == "delegated" else argv,
                         capture_output=True, text=True)  # fmt: skip
    result = {"case": name, "rc": ran.returncode, "probe_s": round(time.monotonic() - t0, 1),
              "stderr_tail": ran.stderr[-2000:], "checks": []}  # fmt: skip
    if ran.returncode != 0 or not doc_path.exists():
        return result
    doc = json.loads(doc_path.read_text())
    result["doc"] = doc
    # fresh servers' ends (a warm answer, lower, is for a server that served traffic),
    # each one precision outside probe's answer (the kernel's boundary moves by about
    # half of it between fresh servers: docs/limits.md)
    crit = doc.get("cold_critical_n") or doc["critical_n"]
    fail = doc.get("cold_first_failing_n") or doc["first_failing_n"]
    p = doc["precision"]
    result["checked_ends"] = ends = [int(crit * (1 - p)), int(fail * (1 + p)) + 1]
    check = [PY, str(HERE / "first_request.py"), "--limit", str(limit), "--cmd", cmd,
             "--chdir", str(APPS), "--request", ALLOC, "--settle", "0", "--settle", "1",
             *(["--oom-group"] if "--oom-group" in extra else []),
             "--concurrency", str(doc["concurrency"]), *(str(n) for n in ends)]  # fmt: skip
    lines = subprocess.run(check, capture_output=True, text=True).stdout.splitlines()
    result["checks"] = [json.loads(line) for line in lines]
    return result


def main() -> None:
    out = Path(sys.argv[1])
    out.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    names = [a for a in sys.argv[2:] if not a.startswith("--")]
    fast = [a for a in sys.argv[2:] if a.startswith("--")]  # e.g. --cold-only --no-check
    for name in names:
        print(json.dumps(run_case(name, out, fast)), flush=True)


if __name__ == "__main__":
    main()
