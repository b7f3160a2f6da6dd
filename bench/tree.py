"""The tree budget's overshoot at the kill, and its sampler's CPU cost.

One gunicorn sync worker under --limit-kind tree; requests at n past the budget, on a
fresh server each (pure-Python list and numpy); each kill's charge past the budget as a
share of the budget. Prints JSON. Target: every overshoot under 2 % of the budget.

    python bench/tree.py [--limit 512M] [--repeats 3]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import resource
import time

import requests

from probe.measure.memory import Monitor
from probe.measure.tree import budget_for
from probe.servers.pool import launch
from probe.servers.spec import ServerSpec
from probe.sizes import parse_size

# n well past a 512M budget for each predictor (critical n there: ~10M list, ~50M numpy)
PAST = {"cpu_bounded": 20_000_000, "cpu_multithread": 120_000_000}


def cpu_s() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--limit", default="512M")
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    limit = parse_size(args.limit)
    spec = ServerSpec(server="gunicorn", limit_bytes=limit, limit_kind="tree")
    runs = []
    for fn, n in PAST.items():
        for _ in range(args.repeats):
            with launch(spec) as srv:
                mon = Monitor(srv.pids, tree=budget_for(spec), keep_samples=False)
                mon.start()
                c0, t0 = cpu_s(), time.monotonic()
                mon.begin_step()
                with contextlib.suppress(requests.RequestException):  # the kill resets it
                    requests.post(f"{srv.url}/predict", json={"area": 10, "fn": fn, "n": n},
                                  timeout=60)  # fmt: skip
                step = mon.end_step()
                wall, cpu = time.monotonic() - t0, cpu_s() - c0
                mon.stop()
            kill = step.kills[0] if step.kills else None
            runs.append({
                "fn": fn, "n": n, "killed": kill is not None,
                "charge_at_kill_bytes": kill.rss_bytes if kill else None,
                "over_bytes": kill.over_bytes if kill else None,
                "over_share": round(kill.over_bytes / limit, 5) if kill else None,
                "wall_s": round(wall, 3), "probe_cpu_share": round(cpu / wall, 3),
            })  # fmt: skip
    shares = [r["over_share"] for r in runs if r["over_share"] is not None]
    print(json.dumps({
        "limit_bytes": limit, "runs": runs,
        "max_over_share": max(shares) if shares else None,
        "all_killed": all(r["killed"] for r in runs),
        "target_met": bool(shares) and len(shares) == len(runs) and max(shares) < 0.02,
    }, indent=2))  # fmt: skip


if __name__ == "__main__":
    main()
