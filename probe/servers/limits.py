"""The kinds of memory limit probe can put on a server: one entry per kind, with every
word the rest of probe says about it (the option's choices, descriptions, tables, plots).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class LimitKind:
    name: str  # --limit-kind's value, and the documents' limit_kind
    enforced_by: str  # what enforces it, as descriptions and reports say
    counts: str  # what it counts, as a table prints beside the limit
    whole_server: bool  # one budget for the whole server (else one cap per process)
    plotted: str | None = None  # the capped quantity on a plot's axis (None: generic)
    caps: str | None = None  # the plot's title: "Peak {caps} against n"


KINDS = (
    LimitKind(
        "as", "RLIMIT_AS",
        "address space per process, as prlimit --as; a container's limit is --limit-kind tree",
        whole_server=False, plotted="peak address space (MiB)",
        caps="address space (what RLIMIT_AS caps)",
    ),
    LimitKind(
        "rss", "an RSS watchdog (emulated OOM kill)",
        "resident memory of each process (probe kills one past it)",
        whole_server=False, plotted="peak RSS (MiB)", caps="RSS (what the watchdog caps)",
    ),
    # one budget for the whole process tree, as a container's memory cgroup
    # (probe.measure.tree)
    LimitKind(
        "tree", "one budget for the process tree (an emulated memory cgroup)",
        "the whole process tree, as a container's memory cgroup counts it",
        whole_server=True,
    ),
    # a real cgroup v2 per server, the kernel's memory.max (probe.servers.cgroup)
    LimitKind(
        "cgroup", "the kernel's memory.max (a cgroup v2 per server)",
        "the kernel's memory.max: everything a cgroup v2 charges the server's tree",
        whole_server=True,
    ),
)  # fmt: skip
LIMITS = {k.name: k for k in KINDS}
LIMIT_KINDS = tuple(LIMITS)
WHOLE_SERVER = tuple(k.name for k in KINDS if k.whole_server)


def limit(name: str | None) -> LimitKind:
    """The kind named (documents before limit kinds existed were RLIMIT_AS: "as")."""
    return LIMITS[name or "as"]
