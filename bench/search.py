"""Model-guided search against plain bisection on a real capped server; prints JSON.

One process, one server kind and cap (gunicorn, 1 sync worker, 1G by default). Each run
starts a fresh server, searches, then measures its lower bound on that same server: the
wall time of one successful probe at the critical n plus one failing probe at the first
failing n (each repeated, median), timed exactly as the search times its probes.

Targets (issue 3): model within 1.5x of the lower bound, at least 2.5x faster than
bisect, and repeated model runs agreeing on the critical n within 1 %.

Fresh servers by default, each search starting where `probe max-n` starts. Without the
pinned MALLOC_MMAP_THRESHOLD_ (probe/server.py) a used server failed ~2 % earlier
(bisect's 0.8-3.2M probes moved glibc's threshold: 22.48M against 22.9M at 1G), so the
comparison would have been of server histories. With it, `--same-server` (everything on
one server) gave 22.80M, 22.85M, 22.82M in a row: no drop, only the list boundary's own
jitter of ~1 % (most likely where pymalloc's arenas land), which also makes the lower bound's
re-probes disagree with the search now and then ("as_expected": false).

Each config is strategy:confirm[:lanes]; with lanes > 1 the search runs on that many
servers side by side (probe max-n --lanes) and the lower bound is measured on the
first of them alone, after the search.

    python bench/search.py [--fn cpu_bounded] [--limit 1G] [--repeat 3]
        [--configs model:both:2,bisect:both:1,model:both:1,bisect:both:2] [--same-server]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import sys
import time
from collections.abc import Iterator

from probe.limits import parse_size
from probe.memory import Monitor
from probe.oracle import LaneOracle, OracleConfig, ServerOracle
from probe.search import SearchConfig, search_rounds
from probe.server import ServerSpec, launch_many


@contextlib.contextmanager
def target(spec: ServerSpec, fn: str, lanes: int = 1) -> Iterator[LaneOracle]:
    """Fresh capped servers (one per lane) with their monitors, and the oracle over them."""
    with launch_many(spec, lanes) as servers, contextlib.ExitStack() as stack:
        oracles = []
        for server in servers:
            monitor = Monitor(server.pids, kill_above_bytes=spec.watchdog_bytes)
            stack.enter_context(monitor)
            oracles.append(ServerOracle(OracleConfig(fn), server, monitor, server.url))
        yield LaneOracle(oracles)


def timed(oracle: ServerOracle, n: int) -> tuple[float, bool]:
    """Wall seconds of one oracle call (as the search pays it) and whether it succeeded."""
    t0 = time.monotonic()
    probe = oracle(n)
    return time.monotonic() - t0, probe.ok


def lower_bound(oracle: ServerOracle, ok_n: int, fail_n: int, times: int) -> dict:
    """Median wall of `times` probes at ok_n, then of `times` at fail_n (successes first,
    so a failure's leftovers cannot make the success side fail)."""
    oks = [timed(oracle, ok_n) for _ in range(times)]
    fails = [timed(oracle, fail_n) for _ in range(times)]
    ok_s = statistics.median(t for t, _ in oks)
    fail_s = statistics.median(t for t, _ in fails)
    return {
        "ok_s": [round(t, 3) for t, _ in oks],
        "fail_s": [round(t, 3) for t, _ in fails],
        "ok_outcomes": [ok for _, ok in oks],
        "fail_outcomes": [ok for _, ok in fails],
        "as_expected": all(ok for _, ok in oks) and not any(ok for _, ok in fails),
        "lower_bound_s": round(ok_s + fail_s, 3),
    }


def one_run(lanes: LaneOracle, cfg: SearchConfig, lb_times: int) -> dict:
    """One search and its lower bound on the first lane's server, probed alone."""
    t0 = time.monotonic()
    res = search_rounds(lanes, cfg)
    wall = time.monotonic() - t0
    out = {
        "strategy": cfg.strategy,
        "confirm": cfg.confirm_policy,
        "lanes": cfg.lanes,
        "probes": len(res.probes),
        "wall_s": round(wall, 3),
        "critical_n": res.critical_n,
        "first_failing_n": res.first_failing_n,
        "precision_reached": round(res.precision_reached or 0, 5),
        "predicted_critical_n": res.predicted_critical_n,
        "stop_reason": res.stop_reason,
        "sequence": [
            [p.n, p.outcome.kind.value, p.elapsed_s, p.lane, p.model_bytes, p.peak_rss_bytes]
            for p in res.probes
        ],
    }
    if res.critical_n and res.first_failing_n:
        lb = lower_bound(lanes.oracles[0], res.critical_n, res.first_failing_n, lb_times)
        out["lower_bound"] = lb
        out["ratio_to_lower_bound"] = round(wall / lb["lower_bound_s"], 3)
    return out


def spread(values: list[int]) -> float | None:
    """(max - min) / min, the relative disagreement of repeated runs."""
    return round(max(values) / min(values) - 1, 5) if values and min(values) > 0 else None


def summarize(runs: list[dict]) -> dict:
    """Medians per strategy:confirm, the model/bisect speed-up, the repeat spread."""
    by: dict[str, list[dict]] = {}
    for r in runs:
        by.setdefault(f"{r['strategy']}:{r['confirm']}:{r['lanes']}", []).append(r)
    out: dict = {}
    for key, rs in by.items():
        ratios = [r["ratio_to_lower_bound"] for r in rs if "ratio_to_lower_bound" in r]
        crit = [r["critical_n"] for r in rs if r["critical_n"]]
        out[key] = {
            "runs": len(rs),
            "wall_s_median": round(statistics.median(r["wall_s"] for r in rs), 3),
            "wall_s": [r["wall_s"] for r in rs],
            "probes": [r["probes"] for r in rs],
            "ratio_median": round(statistics.median(ratios), 3) if ratios else None,
            "ratios": ratios,
            "critical_n": crit,
            "critical_n_spread": spread(crit),
        }
    pairs = [(m, b) for m in out for b in out if m.startswith("model:") and b.startswith("bisect:")]
    for mk, bk in pairs:
        m, b = out[mk], out[bk]
        if mk.split(":")[1] == bk.split(":")[1]:  # the same confirmation policy
            speedup = round(b["wall_s_median"] / m["wall_s_median"], 3)
            out[f"speedup {mk} over {bk}"] = speedup
            out[f"targets {mk} against {bk}"] = {
                "ratio_within_1.5": m["ratio_median"] is not None and m["ratio_median"] <= 1.5,
                "speedup_at_least_2.5": speedup >= 2.5,
                "spread_within_1pct": (m["critical_n_spread"] or 0) <= 0.01,
            }
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--fn", default="cpu_bounded")
    ap.add_argument("--limit", default="1G")
    ap.add_argument("--precision", type=float, default=0.01)
    ap.add_argument("--repeat", type=int, default=1, help="runs of every config")
    ap.add_argument("--lb-times", type=int, default=3, help="lower-bound probes per side")
    ap.add_argument("--configs", default="model:both:2,bisect:both:1,model:both:1,bisect:both:2",
                    help="comma-separated strategy:confirm[:lanes]")  # fmt: skip
    ap.add_argument("--same-server", action="store_true", help="one server for every run")
    ap.add_argument("--env", action="append", default=[], metavar="KEY=VALUE",
                    help="server environment, e.g. MALLOC_MMAP_THRESHOLD_=131072")  # fmt: skip
    args = ap.parse_args()
    env = dict(kv.split("=", 1) for kv in args.env)
    spec = ServerSpec(server="gunicorn", limit_bytes=parse_size(args.limit), env=env)
    configs = [(c.split(":") + ["1"])[:3] for c in args.configs.split(",")]
    doc: dict = {
        "fn": args.fn,
        "server": "gunicorn",
        "workers": spec.workers,
        "limit_bytes": spec.limit_bytes,
        "precision": args.precision,
        "servers": "one for all runs" if args.same_server else "fresh per run",
        "server_env": env,
        "runs": [],
    }
    most = max(int(lanes) for *_, lanes in configs)
    shared = target(spec, args.fn, most) if args.same_server else contextlib.nullcontext()
    with shared as same:
        for i in range(args.repeat):
            for strategy, confirm, lanes in configs:
                cfg = SearchConfig(
                    strategy=strategy,
                    confirm=confirm,
                    precision=args.precision,
                    limit_bytes=spec.limit_bytes,
                    lanes=int(lanes),
                )
                if same:
                    fresh = contextlib.nullcontext(LaneOracle(same.oracles[: int(lanes)]))
                else:
                    fresh = target(spec, args.fn, int(lanes))
                with fresh as oracle:
                    run = one_run(oracle, cfg, args.lb_times)
                run["repeat"] = i
                doc["runs"].append(run)
                print(
                    f"{strategy}:{confirm}:{lanes} #{i}: {run['probes']} probes {run['wall_s']} s "
                    f"n={run['critical_n']} ratio={run.get('ratio_to_lower_bound')}",
                    file=sys.stderr,
                    flush=True,
                )
    doc["summary"] = summarize(doc["runs"])
    print(json.dumps(doc, indent=2))


if __name__ == "__main__":
    main()
