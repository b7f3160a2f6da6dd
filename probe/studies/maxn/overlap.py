"""The full-overlap bound for threads at concurrency > 1: C requests fit even if every one
is in memory at once; glibc's arenas and thread stacks in the address space.
"""

from __future__ import annotations

import math
import os
import struct

from probe.outcome import Probe
from probe.search.estimate import fit_line
from probe.servers.spec import ServerSpec, pinned_env
from probe.studies.maxn.lanes import lane_oracles
from probe.studies.maxn.state import Run


def full_overlap(state: Run) -> None:
    """safe_n_full_overlap = (cap - idle address space under the load) / (C x bytes per
    element of one request): the n at which C requests fit even if every one of them is
    in memory at once. The bytes per element come from three small single-request
    probes; the idle address space from the search's smallest probe (C threads alive)."""
    cfg, doc = state.cfg, state.doc
    critical = doc.critical_n
    base = max(1000, critical // 16)
    ns = [base, 2 * base, 4 * base]
    with lane_oracles(cfg, cfg.spec, 1, concurrency=1) as (oracle,):
        state.oracles.append(oracle)
        probes = [oracle(n) for n in ns]
    # Touched memory per element (the kernel's peak RSS): the address space of a threaded
    # server jumps by a thread stack and a malloc arena at the first request, which says
    # nothing of n.
    points = [(p.n, p.peak_rss_bytes) for p in probes if p.ok and p.peak_rss_bytes]
    doc.single_request_probes = [p.to_dict() for p in probes]
    if len(points) < 2 or cfg.limit_bytes is None or doc.baseline_vms_bytes is None:
        return
    _, slope = fit_line(points)
    base = doc.baseline_vms_bytes if cfg.limit_kind == "as" else None
    arenas = thread_arenas_bytes(cfg.spec, cfg.concurrency)
    idle = idle_under_load(state.probes, cfg.concurrency, slope, base, arenas)
    if slope <= 0 or idle is None:
        return
    room = cfg.limit_bytes - idle
    doc.bytes_per_element_single = round(slope, 3)
    doc.safe_n_full_overlap = max(0, math.floor(room / (cfg.concurrency * slope)))
    state.write()
    state.log(
        f"full overlap: {cfg.concurrency} requests x {slope:.1f} B/element fit under the cap "
        f"up to n={doc.safe_n_full_overlap:,}"
    )


def idle_under_load(
    probes: list[Probe], concurrency: int, per_element: float, idle: int | None,
    arenas_bytes: int = 0,
) -> int | None:  # fmt: skip
    """The capped quantity of the server with C requests in it but no data: what C
    threads add before any input (a stack each, malloc arenas), which idle does not.

    The largest of: each ok probe's peak less C full inputs (how many threads coexisted
    at a small n depends on the scheduler, so one probe can miss some), and the idle
    address space plus C thread stacks of RLIMIT_STACK's size (glibc's default) plus
    the thread arenas glibc may reserve (`arenas_bytes`): whether a probe saw an arena
    made depends on the scheduler too, and a bound that leaves it out can fail below
    itself (a thread that cannot start for want of address space for its stack)."""
    ok = [p for p in probes if p.ok and p.model_bytes]
    seen = [int(p.model_bytes - concurrency * per_element * p.n) for p in ok]
    if idle is not None:
        seen.append(idle + concurrency * thread_stack_bytes() + arenas_bytes)
    return max(seen) if seen else None


# glibc's HEAP_MAX_SIZE: the address space one thread arena reserves (64 MiB on 64-bit)
HEAP_MAX_BYTES = 2 * 4 * 1024 * 1024 * struct.calcsize("l")


def thread_arenas_bytes(spec: ServerSpec, concurrency: int) -> int:
    """The address space glibc may reserve for malloc arenas beyond the main one when C
    threads allocate at once: one HEAP_MAX_SIZE each, up to MALLOC_ARENA_MAX - 1 as the
    server's environment sets it (glibc's default: 8 per core)."""
    try:
        arenas = int(pinned_env(spec).get("MALLOC_ARENA_MAX", ""))
    except ValueError:
        arenas = 8 * (os.cpu_count() or 1)
    return min(max(0, arenas - 1), concurrency) * HEAP_MAX_BYTES


def thread_stack_bytes() -> int:
    """The stack glibc reserves per thread: RLIMIT_STACK's soft limit (8 MiB if unlimited)."""
    import resource

    soft, _ = resource.getrlimit(resource.RLIMIT_STACK)
    return 8 << 20 if soft in (resource.RLIM_INFINITY, -1) or soft <= 0 else soft
