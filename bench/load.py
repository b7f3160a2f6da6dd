"""The load runner's overhead: 10 io_bounded requests at once, on flask and on gunicorn.

Prints JSON. Each request sleeps 1 s on the server, so the ideal wall time is 1.0 s on
Flask's threaded dev server (all 10 in parallel) and 10.0 s on gunicorn's one sync worker
(one after another). Overhead = wall / ideal - 1. Target: within 5% on flask.

    python bench/load.py [--repeat 3] [--limit 512M]
"""

from __future__ import annotations

import argparse
import json
import statistics

from app.pricing import expected_price
from probe.measure.load import SEMINAR_AREAS, fire
from probe.servers.pool import launch
from probe.servers.spec import ServerSpec
from probe.sizes import parse_size
from probe.workload.builtins import builtin

IDEAL_S = {"flask": 1.0, "gunicorn": 10.0}  # 10 sleeps of 1 s: side by side, or in a row


def one_load(url: str) -> tuple[float, float]:
    """(wall time of the 10 requests, median sleep the server reported), prices checked."""
    io = builtin("io_bounded")
    records = fire(url, [io.render(None, area) for area in SEMINAR_AREAS])
    for r in records:
        want = expected_price("io_bounded", r.area, 1)
        assert r.kind == "ok" and r.body["price"] == want, (r.kind, r.body, r.error)
    wall = max(r.end_s for r in records)  # offsets count from the moment the load started
    return wall, statistics.median(r.body["elapsed_s"] for r in records)


def bench(server: str, limit: int | None, repeat: int) -> dict:
    ideal = IDEAL_S[server]
    with launch(ServerSpec(server=server, limit_bytes=limit)) as srv:
        runs = [one_load(srv.url) for _ in range(repeat)]
    walls = [w for w, _ in runs]
    best, median = min(walls), statistics.median(walls)
    return {
        "ideal_s": ideal,
        "wall_s": [round(w, 4) for w in walls],
        "best_wall_s": round(best, 4),
        "median_wall_s": round(median, 4),
        "server_sleep_s": round(statistics.median(s for _, s in runs), 6),
        "overhead_best": round(best / ideal - 1, 4),
        "overhead_median": round(median / ideal - 1, 4),
        "within_5pct": median / ideal - 1 <= 0.05,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--limit", default="512M")
    args = ap.parse_args()
    limit = parse_size(args.limit)
    out = {"requests": len(SEMINAR_AREAS), "limit_bytes": limit, "repeat": args.repeat}
    for server in IDEAL_S:
        out[server] = bench(server, limit, args.repeat)
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
