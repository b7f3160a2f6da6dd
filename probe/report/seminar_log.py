"""The seminar-style log of one matrix variant (log/<server>_<fn>.txt): one "Waited ..."
line per request in the order they were sent, as the seminar's script printed them,
then a "# key=value" summary.
"""

from __future__ import annotations

import json

from probe import stats
from probe.report.cells import dash, num, one_line


def _log_line(r: dict) -> str:
    """'Waited 1.13 sec {"price": ...}', or the error text for a failed request."""
    latency = stats.request_latency(r)
    waited = "?" if latency is None else f"{latency:.2f}"
    if r.get("error"):
        what = one_line(r["error"], width=1000)
    elif r.get("body") is not None:
        what = json.dumps(r["body"])
    else:
        what = f"(no body, HTTP {r.get('status')})"
    return f"Waited {waited} sec {what}"


def _log_summary(v: dict) -> list[str]:
    """The '# key=value' block under a variant's log lines."""
    requests = v.get("requests") or []
    latency = v.get("latency_s") or stats.latency_summary(
        stats.request_latency(r) for r in requests if stats.is_ok(r)
    )
    workers = stats.threads_by_pid(requests)
    threads = sum(len(t) for t in workers.values())
    ok = v.get("ok", sum(stats.is_ok(r) for r in requests))
    failed = v.get("failed", len(requests) - ok)
    flight = v.get("max_in_flight", stats.in_flight_by_process(requests)["overall"])
    lat = " ".join(f"{k}={num(latency.get(k), 2)}" for k in ("min", "p50", "p95", "max"))
    return [
        "# " + " ".join(f"{k}={dash(v.get(k))}" for k in ("server", "fn", "n", "n_source")),
        f"# requests={len(requests)} ok={ok} failed={failed} wall={num(v.get('wall_s'), 2)} s",
        f"# latency s: {lat}",
        f"# max in flight at the server={dash(flight)} pids={len(workers)} threads={threads}",
    ]


def render_log(variant: dict) -> str:
    """The seminar-style log of one matrix variant: one 'Waited ...' line per request."""
    lines = [_log_line(r) for r in stats.send_order(variant.get("requests") or [])]
    return "\n".join([*lines, "", *_log_summary(variant)]) + "\n"
