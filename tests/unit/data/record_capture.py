"""Records the memray captures tests/unit/test_sites.py reads: tests/apps/query_alloc
under gunicorn, the request `GET /alloc?size=N` at N = 400,000 and 200,000, each the first
request of a fresh traced server (probe.studies.explain._traced_run), trimmed to the
allocations alive in the idle interval or at the request's peak, 4 frames each.

    python tests/unit/data/record_capture.py   # from the repository's root
"""

from __future__ import annotations

import json
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

from probe.profile.reader import Capture
from probe.profile.sites import peak_interval
from probe.search.critical import SearchConfig
from probe.servers.spec import from_command
from probe.studies.explain import _traced_run
from probe.studies.question import MaxNConfig
from probe.workload.model import Workload

HERE = Path(__file__).parent
APPS = HERE.parent.parent / "apps"


def main() -> None:
    cmd = f"{sys.executable} -m gunicorn --bind 127.0.0.1:{{port}} query_alloc:app"
    spec = from_command(cmd, chdir=str(APPS), limit_bytes=256 << 20)
    work = Workload(name="alloc", cmd=cmd, chdir=str(APPS), request="GET /alloc?size={n}")
    q = MaxNConfig(workload=work, spec=spec, search=SearchConfig(limit_bytes=256 << 20))
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        for n in (400_000, 200_000):
            run = _traced_run(q, n, Path(tmp) / f"{n}.bin", print)
            cap, win = run["capture"], run["window"]
            keep = {win.idle, peak_interval(cap, win)}
            allocs = tuple(replace(a, stack=a.stack[:4]) for a in cap.allocs
                           if any(a.bytes_at(k) for k in keep))  # fmt: skip
            trimmed: Capture = replace(cap, allocs=allocs)
            window = [win.idle, win.first, win.last]
            out[str(n)] = {"capture": trimmed.to_dict(), "window": window, "root": str(APPS)}
    (HERE / "capture_query_alloc.json").write_text(json.dumps(out) + "\n")
    print({n: len(v["capture"]["allocs"]) for n, v in out.items()})


if __name__ == "__main__":
    main()
