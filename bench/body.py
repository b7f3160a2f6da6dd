"""probe's own memory while it sends and receives a body of 1 GiB.

A body of n bytes (`--body-bytes`) to tests/apps/upload_app.py's `POST /echo`, which
reads it whole and answers it whole (as httpbin's echo does), on gunicorn without a
cap: probe generates the body as it sends it and reads the answer as a stream, so its
own peak RSS (VmHWM) should grow by far less than the body. Prints JSON.
Target: growth <= 64 MiB.

    python bench/body.py [--bytes 1G]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from probe.measure.load import fire
from probe.measure.memory import read_status, reset_peak
from probe.servers.pool import launch
from probe.servers.spec import ServerSpec
from probe.sizes import parse_size
from probe.workload.model import Workload

APPS = Path(__file__).resolve().parents[1] / "tests" / "apps"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bytes", default="1G")
    args = ap.parse_args()
    n = parse_size(args.bytes)
    w = Workload(name="echo", app="upload_app:app", chdir=str(APPS), request="POST /echo",
                 body_bytes=True)  # fmt: skip
    spec = ServerSpec(app=w.app, chdir=w.chdir, timeout_s=300)
    with launch(spec) as srv:
        reset_peak("self")
        before = read_status("self")
        t0 = time.monotonic()
        [record] = fire(srv.url, [w.render(n)], timeout_s=300, name=w.name)
        elapsed = time.monotonic() - t0
        after = read_status("self")
    growth = after["VmHWM"] - before["VmRSS"]
    print(json.dumps({
        "body_bytes": n, "status": record.status, "answer_bytes": record.answer_bytes,
        "elapsed_s": round(elapsed, 2), "probe_rss_before_bytes": before["VmRSS"],
        "probe_peak_rss_bytes": after["VmHWM"], "probe_rss_growth_bytes": growth,
        "target_growth_max_bytes": 64 << 20, "target_met": growth <= 64 << 20
        and record.status == 200 and record.answer_bytes == n,
    }, indent=2))  # fmt: skip


if __name__ == "__main__":
    main()
