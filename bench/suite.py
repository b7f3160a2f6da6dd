"""Where README's test command spends its time: wall, core-seconds, per worker and module.

Runs `pytest -q` as README's test command does (pyproject's addopts: two workers on two
cores, modules longest first), with a small plugin that records each test's start, end,
worker and CPU time (its process's and its reaped children's, `resource.getrusage`),
and prints one JSON object:
- `wall_s`, `core_s`: the whole run's wall time, and the user + system time of pytest's
  process tree (the guest's cases included: the controller's child);
- `workers`: per xdist worker, the seconds in tests (`busy_s`) and when its last test
  ended (`last_end_s`): a worker that ends far before the other is a scheduling tail;
- `guest_end_s`: when the user-mode-linux guest's cases ended (tests/guest/background.py);
- `modules`: the `--top` modules by core-seconds, with their wall seconds and tests.

    python bench/suite.py [--workers N] [--no-guest] [--top 12] [-- PYTEST_ARGS...]
    (--no-guest: without the guest's cases and test_cgroup.py, the rest's own floor)

The machine is shared: compare figures of one run, or of runs minutes apart.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.guest import background  # noqa: E402

PLUGIN = """
import json, os, resource, time
import pytest

def _cpu():
    s, c = (resource.getrusage(w) for w in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))
    return s.ru_utime + s.ru_stime + c.ru_utime + c.ru_stime

@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item, nextitem):
    c0, t0 = _cpu(), time.time()
    yield
    row = {"id": item.nodeid, "cpu": _cpu() - c0, "t0": t0, "t1": time.time(),
           "worker": os.environ.get("PYTEST_XDIST_WORKER", "main")}
    with open(os.path.join(os.environ["BENCH_SUITE_DIR"], f"{os.getpid()}.jsonl"), "a") as f:
        f.write(json.dumps(row) + "\\n")
"""


def run(workers: str | None, no_guest: bool, extra: list[str], out: Path) -> dict:
    (out / "bench_suite_plugin.py").write_text(PLUGIN)
    env = {**os.environ, "BENCH_SUITE_DIR": str(out),
           "PYTHONPATH": os.pathsep.join([str(out), os.environ.get("PYTHONPATH", "")])}  # fmt: skip
    argv = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
            "-p", "bench_suite_plugin", *(["-n", workers] if workers else []), *extra]  # fmt: skip
    if no_guest:  # the controller starts no guest (tests/conftest.py), the module waits on none
        env["PROBE_TEST_GUEST_DIR"] = str(out / "no-guest")
        argv += ["--ignore", "tests/integration/test_cgroup.py"]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.time()
    done = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True)
    wall = time.time() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    core = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    last = (done.stdout.strip().splitlines() or [""])[-1]
    return {"rc": done.returncode, "summary": last, "wall_s": round(wall, 1),
            "core_s": round(core, 1), "t0": t0}  # fmt: skip


def guest_end(t0: float) -> float | None:
    """When the newest guest folder's cases ended (its rc file), seconds after t0."""
    dirs = [d for d in Path(tempfile.gettempdir()).glob(f"{background.PREFIX}*")
            if (d / "rc").exists() and d.stat().st_mtime >= t0 - 60]  # fmt: skip
    if not dirs:
        return None
    newest = max(dirs, key=lambda d: d.stat().st_mtime)
    return round((newest / "rc").stat().st_mtime - t0, 1)


def summarize(out: Path, t0: float, top: int) -> dict:
    rows = [json.loads(line) for f in out.glob("*.jsonl") for line in f.read_text().splitlines()]
    workers: dict[str, dict] = defaultdict(lambda: {"busy_s": 0.0, "last_end_s": 0.0, "tests": 0})
    modules: dict[str, dict] = defaultdict(lambda: {"core_s": 0.0, "wall_s": 0.0, "tests": 0})
    for r in rows:
        w = workers[r["worker"]]
        w["busy_s"] += r["t1"] - r["t0"]
        w["last_end_s"] = max(w["last_end_s"], r["t1"] - t0)
        w["tests"] += 1
        m = modules[r["id"].split("::")[0]]
        m["core_s"] += r["cpu"]
        m["wall_s"] += r["t1"] - r["t0"]
        m["tests"] += 1
    ranked = sorted(modules.items(), key=lambda kv: -kv[1]["core_s"])[:top]
    return {"tests_core_s": round(sum(r["cpu"] for r in rows), 1),
            "workers": {k: _rounded(w) for k, w in workers.items()},
            "modules": [{"module": k, **_rounded(m)} for k, m in ranked]}  # fmt: skip


def _rounded(d: dict) -> dict:
    return {k: round(v, 1) if isinstance(v, float) else v for k, v in d.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", help="xdist workers (-n); default: pyproject's addopts")
    parser.add_argument("--no-guest", action="store_true",
                        help="without the guest's cases and test_cgroup.py")  # fmt: skip
    parser.add_argument("--top", type=int, default=12, help="modules listed, by core-seconds")
    args, extra = parser.parse_known_args()
    extra = [a for a in extra if a != "--"]
    with tempfile.TemporaryDirectory(prefix="bench-suite-") as tmp:
        out = Path(tmp)
        result = run(args.workers, args.no_guest, extra, out)
        report = {"command": "pytest -q" + (f" -n {args.workers}" if args.workers else ""),
                  "guest": not args.no_guest, **{k: v for k, v in result.items() if k != "t0"},
                  "guest_end_s": None if args.no_guest else guest_end(result["t0"]),
                  **summarize(out, result["t0"], args.top)}  # fmt: skip
    print(json.dumps(report, indent=1))
    sys.exit(0 if result["rc"] == 0 else 1)


if __name__ == "__main__":
    main()
