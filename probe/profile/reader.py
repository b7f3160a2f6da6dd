"""memray's capture file as plain records: the only module that imports memray.

memray keeps, for every interval between two of its memory snapshots (about every
10 ms), the allocations alive at that interval's heap high-water mark
(`get_temporal_high_water_mark_allocation_records`): an allocation site contributes
`n_bytes` to each interval k with `allocated_before_snapshot <= k <
deallocated_before_snapshot` (None: still alive at the end). Interval k ends at
snapshot k; the last one runs to the end of the capture.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

Frame = tuple[str, str, int]  # (function, file, line)
Interval = tuple[int, int | None, int, int]  # (from k, to k or None, allocations, bytes)

# the frames kept per allocation, innermost first: enough to reach the user's line
# under a framework's parser
STACK_DEPTH = 40


@dataclass(frozen=True)
class Alloc:
    """One allocation site (a Python stack) and its bytes at each interval's peak."""

    stack: tuple[Frame, ...]  # innermost first
    intervals: tuple[Interval, ...]

    def bytes_at(self, k: int) -> int:
        return sum(b for lo, hi, _, b in self.intervals if lo <= k and (hi is None or k < hi))


@dataclass(frozen=True)
class Capture:
    """One process's capture: snapshot times (ms since the epoch), RSS and heap at each
    snapshot, the heap's high-water mark per interval, and the sites alive at them."""

    pid: int
    times_ms: tuple[int, ...]
    rss_bytes: tuple[int, ...]
    heap_bytes: tuple[int, ...]
    hwm_bytes: tuple[int, ...]  # one per interval: len(times_ms) + 1
    allocs: tuple[Alloc, ...]

    def to_dict(self) -> dict:
        allocs = [{"stack": [list(f) for f in a.stack], "intervals": [list(i) for i in a.intervals]}
                  for a in self.allocs]  # fmt: skip
        return {"pid": self.pid, "times_ms": list(self.times_ms),
                "rss_bytes": list(self.rss_bytes), "heap_bytes": list(self.heap_bytes),
                "hwm_bytes": list(self.hwm_bytes), "allocs": allocs}  # fmt: skip

    @classmethod
    def from_dict(cls, d: dict) -> Capture:
        allocs = tuple(Alloc(tuple((f[0], f[1], int(f[2])) for f in a["stack"]),
                             tuple(tuple(i) for i in a["intervals"]))  # type: ignore[misc]
                       for a in d["allocs"])  # fmt: skip
        return cls(d["pid"], tuple(d["times_ms"]), tuple(d["rss_bytes"]),
                   tuple(d["heap_bytes"]), tuple(d["hwm_bytes"]), allocs)  # fmt: skip


def read(path: Path) -> Capture:
    """The capture memray wrote to `path` (a process that ended, or was killed)."""
    from memray import FileReader

    reader = FileReader(str(path))
    try:
        snaps = list(reader.get_memory_snapshots())
        records, hwm = reader.get_temporal_high_water_mark_allocation_records(merge_threads=True)
        allocs = []
        for rec in records:
            stack = tuple((fn, file, int(line)) for fn, file, line
                          in rec.stack_trace(max_stacks=STACK_DEPTH))  # fmt: skip
            spans = tuple((i.allocated_before_snapshot, i.deallocated_before_snapshot,
                           i.n_allocations, i.n_bytes) for i in rec.intervals)  # fmt: skip
            allocs.append(Alloc(stack, spans))
        return Capture(
            pid=reader.metadata.pid,
            times_ms=tuple(s.time for s in snaps),
            rss_bytes=tuple(s.rss for s in snaps),
            heap_bytes=tuple(s.heap for s in snaps),
            hwm_bytes=tuple(hwm),
            allocs=tuple(allocs),
        )
    finally:
        reader.close()
