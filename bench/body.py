"""probe's own memory per body kind at a large n, and its body builder's.

Each kind of body a user can ask for (a raw body of n bytes, an upload, a JSON batch of n
rows, a CSV from a --content template, a --body-fn generator, a --body-fn that holds an
n x n image at once) is sent to tests/apps/upload_app.py's `POST /echo` (it reads the
body whole and answers it whole) on gunicorn without a cap, C requests at once, at two
sizes: one that probe holds whole for one write (about 200 MiB) and one that it streams
(about 1 GiB). probe's own peak RSS (VmHWM, reset before each kind) must grow by at most
the stated bound, load.HELD_MAX_BYTES, plus 64 MiB whatever the kind and C; a body
function's memory is its builder's (a child process under its own cap), reported
beside it. Prints JSON.

    python bench/body.py [--concurrency 4] [--held 200M] [--streamed 1G]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from probe.measure import load
from probe.measure.memory import read_status, reset_peak
from probe.servers.pool import launch
from probe.servers.spec import ServerSpec
from probe.sizes import parse_size
from probe.workload import bodyfn
from probe.workload.model import Workload

APPS = Path(__file__).resolve().parents[1] / "tests" / "apps"
SLACK_BYTES = 64 << 20
ROW = "[5.1, 3.5, 1.4, 0.2]"
CSV = r"a,b,c\n{n*1.5,2.5,3.5\n}"

# kind: (workload fields, bytes per unit of n, or None where n is an image's side)
KINDS = {
    "raw": ({"body_bytes": True}, 1),
    "upload": ({"upload": "file"}, 1),
    "batch": ({"json": '{"instances": {n*' + ROW + "}}"}, len(ROW) + 2),
    "content": ({"content": CSV}, 12),
    "body_fn_stream": ({"body_fn": "bodies:csv_rows"}, 12),
    "body_fn_held_image": ({"body_fn": "bodies:png_held"}, None),
}


def n_for(per_unit: int | None, size: int) -> int:
    """n whose body (or, for an image, whose pixels held at once) is about `size`."""
    return size // per_unit if per_unit else int((size / 3) ** 0.5)


def measure(url: str, w: Workload, n: int, concurrency: int) -> dict:
    req = w.render(n)  # a body function's body is made here, in the builder
    reset_peak("self")
    before = read_status("self")
    t0 = time.monotonic()
    records = load.fire(url, [req] * concurrency, worker_timeout_s=600, name=w.name)
    after = read_status("self")
    growth = after["VmHWM"] - before["VmRSS"]
    sent = len(req.body) if req.body is not None else 0
    ok = all(r.status == 200 and r.answer_bytes == sent for r in records)
    return {
        "n": n, "body_bytes": sent, "concurrency": concurrency, "all_echoed": ok,
        "elapsed_s": round(time.monotonic() - t0, 2),
        "probe_rss_before_bytes": before["VmRSS"], "probe_peak_rss_bytes": after["VmHWM"],
        "probe_rss_growth_bytes": growth,
        "builder_peak_rss_bytes": bodyfn.builder_peak_rss_bytes() if w.body_fn else None,
    }  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--concurrency", type=int, default=4)
    ap.add_argument("--held", default="200M")
    ap.add_argument("--streamed", default="1G")
    args = ap.parse_args()
    sizes = {"held": parse_size(args.held), "streamed": parse_size(args.streamed)}
    bound = load.HELD_MAX_BYTES + SLACK_BYTES
    spec = ServerSpec(app="upload_app:app", chdir=str(APPS), worker_timeout_s=600)
    rows = []
    with launch(spec) as srv:
        for kind, (fields, per_unit) in KINDS.items():
            w = Workload(name=kind, app=spec.app, chdir=str(APPS), request="POST /echo",
                         **fields)  # fmt: skip
            for label, size in sizes.items():
                row = {
                    "kind": kind,
                    "size": label,
                    **measure(srv.url, w, n_for(per_unit, size), args.concurrency),
                }
                row["within_bound"] = row["probe_rss_growth_bytes"] <= bound
                rows.append(row)
                print(json.dumps(row), flush=True)
    bodyfn.stop()
    print(json.dumps({
        "bound_bytes": bound, "held_max_bytes": load.HELD_MAX_BYTES,
        "builder_cap_bytes": bodyfn.cap_bytes(),
        "max_probe_rss_growth_bytes": max(r["probe_rss_growth_bytes"] for r in rows),
        "target_met": all(r["within_bound"] and r["all_echoed"] for r in rows),
    }, indent=2))  # fmt: skip


if __name__ == "__main__":
    main()
