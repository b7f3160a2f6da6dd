"""What a run says as it goes: one line per probe, the timing of a first request, the start."""

from __future__ import annotations

from collections.abc import Callable

from probe.outcome import Probe
from probe.servers.spec import ServerSpec
from probe.sizes import format_bytes
from probe.studies.question import MaxNConfig

Log = Callable[[str], None]


def progress_line(i: int, probe: Probe, bracket: tuple[int | None, int | None]) -> str:
    lo, hi = bracket
    peak = format_bytes(probe.peak_rss_bytes)
    # the detail's first clause, whole: a number is never cut
    first = (probe.outcome.detail or "").split("; ")[0]
    extra = f" ({first})" if not probe.ok and first else ""
    rs = f" restarts={probe.restarts}" if probe.restarts else ""
    ok_txt = f"ok<={lo:,}" if lo is not None else "ok<=?"
    fail_txt = f"fails>={hi:,}" if hi is not None else "no failure yet"
    return (
        f"probe {i:2d}: n={probe.n:,} {probe.outcome.kind.value}{extra} "
        f"{probe.elapsed_s:.2f}s peak {peak}{rs} | {ok_txt} {fail_txt}"
    )


def when(probe: Probe) -> str:
    if probe.timing_s is None:
        return "once ready"
    return "as the port opened" if probe.timing_s == 0 else f"{probe.timing_s:g} s after ready"


def describe_start(cfg: MaxNConfig, spec: ServerSpec) -> str:
    if cfg.url:
        return f"probing {cfg.url} (no cap of ours, no restarts)"
    how = "a fresh server per probe" if cfg.fresh else "one long-lived server per lane"
    lanes = f", {cfg.lanes} lanes" if cfg.lanes > 1 else ""
    what = f"command {spec.cmd}" if spec.cmd else f"app {spec.app}"
    return f"{spec.describe()}, layout {spec.layout}, {how}{lanes}; {what}"
