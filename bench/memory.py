"""Sampled peak RSS against the kernel's VmHWM, one request each at n = 20M on gunicorn.

Prints JSON. Target: the psutil sampler's peak within 2% of VmHWM.

    python bench/memory.py [--n 20000000] [--limit 2G] [--interval-ms 2]
"""

from __future__ import annotations

import argparse
import json
import time

import requests

from app.pricing import expected_price
from probe.measure.memory import Monitor
from probe.servers.pool import launch
from probe.servers.spec import ServerSpec
from probe.sizes import parse_size


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=20_000_000)
    ap.add_argument("--limit", default="2G")
    ap.add_argument("--interval-ms", type=float, default=2.0)
    args = ap.parse_args()
    spec = ServerSpec(server="gunicorn", limit_bytes=parse_size(args.limit))
    out = {"server": "gunicorn", "limit_bytes": spec.limit_bytes, "n": args.n,
           "interval_ms": args.interval_ms, "runs": []}  # fmt: skip
    with launch(spec) as srv, Monitor(srv.pids, interval_s=args.interval_ms / 1000) as mon:
        for fn in ("cpu_bounded", "cpu_multithread"):
            mon.begin_step()
            t0 = time.monotonic()
            r = requests.post(f"{srv.url}/predict", json={"area": 10, "fn": fn, "n": args.n})
            elapsed = time.monotonic() - t0
            step = mon.end_step()
            assert r.status_code == 200 and r.json()["price"] == expected_price(
                "cpu_bounded", 10, args.n
            ), r.text
            sampled, hwm = step.peak_rss_sampled_bytes, step.peak_rss_hwm_bytes
            out["runs"].append({
                "fn": fn,
                "elapsed_s": round(elapsed, 3),
                "samples": len(step.samples),
                "peak_rss_sampled_bytes": sampled,
                "peak_rss_hwm_bytes": hwm,
                "sampled_over_hwm": round(sampled / hwm, 5),
                "within_2pct": abs(sampled / hwm - 1) <= 0.02,
            })  # fmt: skip
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
