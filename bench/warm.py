"""Does a server that has served other requests take less than a fresh one? Prints JSON.

Production servers have served many requests before the big one. For the built-in app
(cpu_bounded under gunicorn) and two apps of tests/apps (query_alloc under gunicorn,
asgi_alloc under uvicorn), each under the cap with a fixed layout:
1. the cold critical n: `probe max-n` as a user runs it (re-check off: it is the
   search's answer that is compared);
2. warm probes: a fresh server that first serves WARMUP requests of sizes drawn
   uniformly from 5-100 % of the cold critical n (seeded, one at a time, each must
   succeed), then n. The cold critical n first; if the warm server fails there, the
   warm boundary is bisected down to the search's precision.
Reports both and whether the warm answer is lower by more than the precision, for each
warm-up design asked for (`--designs`): `uniform:K`, K sizes drawn as above; `low:K`, K
sizes drawn from 5-25 % of n; `mix:K`, max-n's own warm-up of K requests
(probe.studies.warm.fractions: one in five as uniform, the others as low); `top:K`, K
sizes n, n/2, n/4, ... largest first (cost about 2 requests at n whatever K); the warm
answer of each design beside the cost of its warm-up in requests at n.

    python bench/warm.py [--limit 160M] [--designs uniform:50,top:2] [--seed 1]
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

from probe.measure.load import fire
from probe.search.critical import SearchConfig
from probe.servers.process import Server
from probe.servers.spec import ServerSpec, from_command
from probe.sizes import parse_size
from probe.studies import maxn, question
from probe.studies.warm import fractions as maxn_warmup
from probe.workload.builtins import builtin
from probe.workload.model import Workload

APPS = Path(__file__).resolve().parent.parent / "tests" / "apps"
PY = sys.executable
PRECISION = 0.01


def cases(limit: int) -> dict[str, tuple[Workload, ServerSpec]]:
    def own(cmd: str, name: str) -> tuple[Workload, ServerSpec]:
        w = Workload(name=name, cmd=cmd, chdir=str(APPS), request="GET /alloc?size={n}",
                     expect="size={n} sum=")  # fmt: skip
        return w, from_command(cmd, limit_bytes=limit, chdir=str(APPS))

    return {
        "builtin cpu_bounded, gunicorn": (builtin("cpu_bounded"), ServerSpec(limit_bytes=limit)),
        "query_alloc, gunicorn": own(f"{PY} -m gunicorn --bind 127.0.0.1:{{port}} query_alloc:app",
                                     "query_alloc"),
        "asgi_alloc, uvicorn": own(f"{PY} -m uvicorn --port {{port}} asgi_alloc:app",
                                   "asgi_alloc"),
    }  # fmt: skip


def cold(workload: Workload, spec: ServerSpec, limit: int) -> dict:
    cfg = question.MaxNConfig(
        workload=workload, spec=spec, check=False,
        search=SearchConfig(limit_bytes=limit, precision=PRECISION, lanes=2),
    )  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        return maxn.run(cfg, Path(tmp) / "cold.json", log=lambda s: None)


def ok(server: Server, workload: Workload, n: int) -> bool:
    [record] = fire(server.url, [workload.render(n)], timeout_s=120.0, name=workload.name)
    judged = workload.judge(record.status, record.text, record.body, n, record.area,
                            record.found)  # fmt: skip
    return judged.ok


def warm(workload: Workload, spec: ServerSpec, n: int, sizes: list[int]) -> dict:
    server = Server(spec, workload.fixed_env())
    try:
        server.start()
        warmed = sum(ok(server, workload, s) for s in sizes)
        return {"n": n, "warmup_ok": warmed, "ok": ok(server, workload, n)}
    finally:
        server.close(grace_s=0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--limit", default="160M")
    ap.add_argument("--designs", default="uniform:50,uniform:8,top:2,top:1")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--cases", default="", help="only the cases whose name holds this")
    args = ap.parse_args()
    limit = parse_size(args.limit)
    for name, (workload, spec) in cases(limit).items():
        if args.cases not in name:
            continue
        spec = replace(spec, layout="fixed")
        doc = cold(workload, spec, limit)
        for design in args.designs.split(","):
            fractions = design_fractions(design, args.seed)
            row = warm_boundary(workload, spec, doc, fractions)
            print(json.dumps({
                "case": name, "limit": args.limit, "design": design,
                "warmup_requests": len(fractions),
                "warmup_cost_in_requests_at_n": round(sum(fractions), 2), **row,
            }), flush=True)  # fmt: skip


def design_fractions(design: str, seed: int) -> list[float]:
    """The warm-up's sizes as fractions of n: uniform:K or top:K."""
    kind, _, k = design.partition(":")
    if kind == "uniform":
        rng = random.Random(seed)
        return [rng.uniform(0.05, 1.0) for _ in range(int(k))]
    if kind == "low":
        rng = random.Random(seed)
        return [rng.uniform(0.05, 0.25) for _ in range(int(k))]
    if kind == "mix":  # probe's own design (probe.studies.warm): mix:K, K requests
        return list(maxn_warmup(int(k), seed))
    if kind == "top":
        return [0.5**i for i in range(int(k))]
    raise SystemExit(f"--designs: uniform:K, low:K or top:K, not {design!r}")


def warm_boundary(workload: Workload, spec: ServerSpec, doc: dict, fractions) -> dict:
    """The warm critical n under one warm-up design (sizes as fractions of the cold n)."""
    critical, failing = doc["critical_n"], doc["first_failing_n"]
    sizes = [max(1, int(critical * f)) for f in fractions]
    probes = [warm(workload, spec, critical, sizes)]
    lo, hi = None, None
    if probes[0]["ok"]:
        lo = critical
    else:
        hi, lo_try = critical, int(critical * 0.8)
        while hi / lo_try - 1 > PRECISION:
            mid = int((lo_try * hi) ** 0.5)
            p = warm(workload, spec, mid, sizes)
            probes.append(p)
            if p["ok"]:
                lo_try = lo = mid
            else:
                hi = mid
    lower = lo is None or lo < critical / (1 + PRECISION)
    return {
        "cold_critical_n": critical, "cold_first_failing_n": failing,
        "warm_critical_n": lo, "warm_first_failing_n": hi,
        "warm_lower_by_more_than_precision": lower, "warm_probes": probes,
    }  # fmt: skip


if __name__ == "__main__":
    main()
