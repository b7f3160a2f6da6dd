"""The failure-rate phase against a simulated service whose P(fail | n) is known (a
logistic in ln n of spread S, half failing at 1M: tests/unit/test_rate.py's), over many
seeds: how often the answer failed at most at the risk ("held"), how far below the true
risk quantile it lay (median), and how many probes the phase added. Prints JSON.

    python bench/rate.py [--lanes 1] [--spread 0.01] [--seeds 150]
    python bench/rate.py --module OLD_RATE.py   # another version of probe/search/rate.py,
                                                # e.g. git show REV:probe/search/rate.py

The table in probe.search.rate.next_points comes from this, at spreads 0.003, 0.01 and
0.03, one and two lanes, for this version and the one before it.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import random
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from probe.search import rate  # noqa: E402
from tests.unit.test_rate import MU, oracle, p_fail, quantile, search_like_prior  # noqa: E402


def load(path: str | None):
    if path is None:
        return rate
    spec = importlib.util.spec_from_file_location("rate_under_test", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lanes", type=int, default=1)
    parser.add_argument("--spread", type=float, default=0.01, help="s, in ln n")
    parser.add_argument("--seeds", type=int, default=150)
    parser.add_argument("--module", default=None, help="a rate.py to run instead of probe's")
    args = parser.parse_args()
    mod = load(args.module)
    s = args.spread
    true_q = quantile(mod.RISK, MU, s)
    held, below, added_n = 0, [], []
    t0 = time.monotonic()
    for seed in range(args.seeds):
        rng = random.Random(seed)
        cfg = mod.RateConfig(lanes=args.lanes, max_probes=24)
        est, added, _ = mod.rate_search(oracle(rng, MU, s), search_like_prior(rng, MU, s), cfg)
        held += p_fail(est.n_risk_lower, MU, s) <= mod.RISK
        below.append(1 - est.n_risk_lower / true_q)
        added_n.append(len(added))
    print(json.dumps({
        "module": args.module or "probe.search.rate", "lanes": args.lanes, "spread": s,
        "runs": args.seeds, "held": held,
        "median_below_pct": round(100 * statistics.median(below), 2),
        "mean_probes_added": round(statistics.mean(added_n), 1),
        "wall_s": round(time.monotonic() - t0, 1),
    }))  # fmt: skip


if __name__ == "__main__":
    main()
