"""A fresh server of a plan's cell under its budget, watched as a container would be.

The confirmation (confirm.py) and the sustained runs (occupancy.py) each start the
plain command under the budget, read its idle tree, watch it (the tree sampler kills
the largest process past the budget, as the kernel's OOM killer picks; under
--budget-kind cgroup the kernel's memory.max does), send their traffic, count what was
killed for memory and stop it: that lifecycle is here, once.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from probe.measure.tree import budget_for, tree_snapshot
from probe.servers.process import Server
from probe.workload.model import Workload

if TYPE_CHECKING:
    from probe.measure.memory import Monitor


@dataclass(frozen=True)
class Watched:
    server: Server
    monitor: Monitor  # watching the server's tree
    idle: dict  # the idle tree's exact read (tree_snapshot), before the watcher started

    def memory_kills(self) -> int:
        """Processes killed for memory while watched: the kernel's OOM kills in the
        server's cgroup (limit kind cgroup), else the tree sampler's."""
        kernel = self.server.cgroup
        return kernel.oom_kills() if kernel is not None else len(self.monitor.tree.kills)


@contextlib.contextmanager
def watched(spec, workload: Workload, grace_s: float | None = None) -> Iterator[Watched]:
    """Start a fresh server of `spec` (its budget the spec's limit), read its idle tree,
    then watch it; stopped on leaving, the watcher first. A server that cannot start
    raises ServerStartError from the `with`. `grace_s`: Server.close's."""
    from probe.measure.memory import Monitor

    server = Server(spec, workload.fixed_env())
    monitor = None
    try:
        server.start()
        idle = tree_snapshot(server.pids())
        monitor = Monitor(server.pids, tree=budget_for(spec))
        monitor.start()
        yield Watched(server, monitor, idle)
    finally:
        if monitor is not None:
            monitor.stop()
        server.close(grace_s)
