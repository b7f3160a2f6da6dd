"""One server in the foreground, as `probe serve` runs it: started as a probe's server
is, kept under its cap (with the RSS watchdog when the cap is on RSS), its log's events
reported as they come, until it stops by itself or probe is interrupted."""

from __future__ import annotations

from collections.abc import Callable

from probe import interrupt
from probe.measure.memory import Monitor
from probe.measure.tree import budget_for
from probe.servers.process import Server

POLL_S = 0.5  # how often the server's log is read for new events


def serve_until_stopped(
    srv: Server, on_ready: Callable[[], None], on_event: Callable[[str], None]
) -> str:
    """Start `srv`, call on_ready once it serves, report each event of its log after the
    boot's; return how it ended when it stops by itself. The server is always stopped
    (Ctrl-C and SIGTERM reach here as exceptions)."""
    try:
        srv.start()
        with Monitor(srv.pids, kill_above_bytes=srv.spec.watchdog_bytes, keep_samples=False,
                     tree=budget_for(srv.spec)):  # fmt: skip
            on_ready()
            srv.new_events()  # the boot messages of the workers on_ready listed
            while srv.alive():
                interrupt.sleep(POLL_S)
                for event in srv.new_events():
                    on_event(event.describe())
            return str(srv.exits or "no status")
    finally:
        srv.close()
