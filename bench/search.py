"""Default `probe max-n` against plain doubling + bisection, cold servers; prints JSON.

Every probe runs on a fresh server (the default of probe max-n: the next server boots
while a probe runs), with a fixed layout. Each repeat, for the same cap and predictor:
- `default`: probe max-n as a user runs it (model strategy, --confirm auto, the
  default lanes, and the re-check of both ends at two timings, which counts in its
  time), timed from the start of the run (first server boot included);
- `baseline`: doubling + bisection (--strategy bisect) on one lane, same cold
  semantics and confirmation, without the re-check;
- the lower bound: one probe at the critical n plus one at the first failing n, each
  on an already started fresh server (the spare is waited for before the clock starts),
  measured alone on one lane.
Then `--band K` once on the default's answer, its cost in lower-bound units, and three
default runs of the other predictor, to check that brackets overlap.

Targets (issue "Check 'an outcome is a fact' on every search"): default, re-check
included, <= 1.5x the lower bound (median of the repeats), >= 4x faster than the
baseline, brackets of the repeats overlap (cpu_bounded and cpu_multithread).

    python bench/search.py [--limit 1G] [--repeat 3] [--band 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

from probe.measure.oracle import OracleConfig, ServerOracle
from probe.search.critical import SearchConfig
from probe.servers.pool import ServerPool
from probe.servers.spec import ServerSpec
from probe.sizes import parse_size
from probe.studies import maxn, question
from probe.workload.builtins import builtin


def run_maxn(fn: str, limit: int, strategy: str = "model", lanes: int | None = None,
             band: int | None = None, check: bool = True) -> dict:  # fmt: skip
    """One probe max-n run as the CLI makes it; the document."""
    spec = ServerSpec(limit_bytes=limit)
    lanes = question.auto_lanes(spec, 1) if lanes is None else lanes
    search = SearchConfig(strategy=strategy, limit_bytes=limit, confirm="auto", lanes=lanes)
    cfg = question.for_fn(fn, spec, search=search, band=band, check=check)
    with tempfile.TemporaryDirectory() as tmp:
        return maxn.run(cfg, Path(tmp) / "run.json", log=lambda s: None)


def summary(doc: dict) -> dict:
    band = doc.get("band") or {}
    return {
        "critical_n": doc["critical_n"],
        "first_failing_n": doc["first_failing_n"],
        "probes": len(doc["probes"]),
        "recheck_probes": len((doc.get("recheck") or {}).get("probes") or []),
        "recheck_agrees": (doc.get("recheck") or {}).get("agrees"),
        "lanes": doc["lanes"],
        "wall_s": round(doc["elapsed_s"] - (band.get("elapsed_s") or 0.0), 3),
        "layout": doc["layout"],
        "sequence": [[p["n"], p["outcome"], p["elapsed_s"], p["lane"]] for p in doc["probes"]],
    }


def ready_pool(spec: ServerSpec) -> ServerPool:
    pool = ServerPool(spec)
    pool.prime()
    pool._spare.wait_ready()  # the next server is up before the clock starts
    return pool


def lower_bound(fn: str, limit: int, ok_n: int, fail_n: int) -> dict:
    """Wall of one probe at ok_n and one at fail_n, each on an already started fresh
    server, alone (as the search pays a probe: take the server, probe, kill it)."""
    spec = ServerSpec(limit_bytes=limit)
    out = {}
    for key, n in (("ok", ok_n), ("fail", fail_n)):
        pool = ready_pool(spec)
        oracle = ServerOracle(OracleConfig(builtin(fn)), pool, watchdog_bytes=None)
        try:
            t0 = time.monotonic()
            probe = oracle(n)
            out[f"{key}_s"] = round(time.monotonic() - t0, 3)
            out[f"{key}_outcome"] = probe.outcome.kind.value
        finally:
            oracle.close()
            pool.close()
    out["lower_bound_s"] = round(out["ok_s"] + out["fail_s"], 3)
    out["as_expected"] = out["ok_outcome"] == "ok" and out["fail_outcome"] != "ok"
    return out


def overlap(brackets: list[tuple[int, int]]) -> bool:
    """Whether all [critical_n, first_failing_n) intervals share a point."""
    return max(lo for lo, _ in brackets) < min(hi for _, hi in brackets)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--fn", default="cpu_bounded")
    ap.add_argument("--other", default="cpu_multithread")
    ap.add_argument("--limit", default="1G")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--band", type=int, default=3)
    args = ap.parse_args()
    limit = parse_size(args.limit)
    runs = []
    for i in range(args.repeat):
        default = summary(run_maxn(args.fn, limit))
        baseline = summary(run_maxn(args.fn, limit, strategy="bisect", lanes=1, check=False))
        lb = lower_bound(args.fn, limit, default["critical_n"], default["first_failing_n"])
        runs.append(
            {
                "repeat": i,
                "default": default,
                "baseline": baseline,
                "lower_bound": lb,
                "ratio_to_lower_bound": round(default["wall_s"] / lb["lower_bound_s"], 3),
                "speedup_over_baseline": round(baseline["wall_s"] / default["wall_s"], 3),
            }
        )
        print(
            f"repeat {i}: default {default['wall_s']} s, baseline {baseline['wall_s']} s, "
            f"lower bound {lb['lower_bound_s']} s",
            file=sys.stderr,
            flush=True,
        )
    banded = run_maxn(args.fn, limit, band=args.band)
    band = banded["band"] or {}
    lb_s = statistics.median(r["lower_bound"]["lower_bound_s"] for r in runs)
    others = [summary(run_maxn(args.other, limit)) for _ in range(3)]
    mine = [(r["default"]["critical_n"], r["default"]["first_failing_n"]) for r in runs]
    theirs = [(o["critical_n"], o["first_failing_n"]) for o in others]
    ratios = [r["ratio_to_lower_bound"] for r in runs]
    speedups = [r["speedup_over_baseline"] for r in runs]
    print(json.dumps({
        "fn": args.fn, "limit": args.limit, "repeat": args.repeat,
        "runs": runs,
        "median_ratio_to_lower_bound": statistics.median(ratios),
        "ratio_range": [min(ratios), max(ratios)],
        "median_speedup_over_baseline": statistics.median(speedups),
        "speedup_range": [min(speedups), max(speedups)],
        "brackets": {args.fn: mine, args.other: theirs},
        "brackets_overlap": {args.fn: overlap(mine), args.other: overlap(theirs)},
        "band": {
            "layouts": args.band,
            "always_ok_n": band.get("always_ok_n"), "never_ok_n": band.get("never_ok_n"),
            "probes": len(band.get("probes") or []),
            "elapsed_s": band.get("elapsed_s"),
            "cost_in_lower_bounds": round((band.get("elapsed_s") or 0) / lb_s, 2),
            "samples": band.get("samples"),
        },
        "others": others,
        "targets": {
            "ratio_to_lower_bound_max": 1.5,
            "speedup_over_baseline_min": 4.0,
            "met": statistics.median(ratios) <= 1.5 and statistics.median(speedups) >= 4.0,
        },
    }, indent=1))  # fmt: skip


if __name__ == "__main__":
    main()
