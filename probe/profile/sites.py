"""A request's own memory per allocation site, its slope against n, and whose code it is.

Pure: works on probe.profile.reader's Capture. The request's peak is the heap's
high-water mark in the intervals the request spans, less what was alive in the
interval before it was sent (the idle worker: its imports, its caches). A site is the
innermost Python frame of an allocation (numpy's buffer is the line that called numpy:
memray sees the malloc under that frame); where that frame is not the user's, the
innermost frame that is (`via`) says which line of theirs led there.
"""

from __future__ import annotations

import os
import sys
import sysconfig
from collections import defaultdict
from dataclasses import dataclass

from probe.profile.reader import Capture, Frame

# owners that read, parse and route the request: "framework or server"
FRAMEWORKS = frozenset({
    "flask", "werkzeug", "starlette", "fastapi", "gunicorn", "uvicorn", "h11", "httptools",
    "anyio", "pydantic", "pydantic_core", "multipart", "python_multipart", "django",
    "json", "email", "http", "urllib", "socketserver", "cgi", "asyncio", "wsgiref",
})  # fmt: skip
YOUR_CODE = "your code"
SMALL_SHARE = 0.01  # owners below this share of the request's peak are summed as others
OWNER_KINDS = ("your code", "framework or server", "library", "python")


@dataclass(frozen=True)
class Window:
    """Interval indices: the idle one before the request, and the request's span."""

    idle: int
    first: int
    last: int


def window(times_ms: tuple[int, ...], sent_ms: float, answered_ms: float) -> Window:
    """The intervals of a request sent and answered at these times (ms since the epoch):
    interval k ends at snapshot k, so the idle one is the last that ended before it was
    sent, and the request spans every interval that ended after it was sent, up to the
    first that ended after its answer."""
    idle = max((k for k, t in enumerate(times_ms) if t <= sent_ms), default=0)
    first = idle + 1
    last = next((k for k, t in enumerate(times_ms) if t >= answered_ms), len(times_ms))
    return Window(idle, first, max(first, last))


def peak_interval(capture: Capture, win: Window) -> int:
    """The interval of the heap's highest mark while the request ran."""
    span = range(win.first, min(win.last, len(capture.hwm_bytes) - 1) + 1)
    return max(span, key=lambda k: capture.hwm_bytes[k], default=win.first)


@dataclass(frozen=True)
class Site:
    """One line's share of a request's peak."""

    function: str
    file: str
    line: int
    owner: str  # "your code", or the package / module: "werkzeug", "numpy", "json"
    kind: str  # one of OWNER_KINDS
    via: Frame | None  # the user's innermost frame above it, when the site is not theirs
    bytes: int  # alive at the request's peak, less alive when idle (>= 0 after merging)

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}"


def _under(path: str, roots: tuple[str, ...]) -> bool:
    return any(path == r or path.startswith(r.rstrip(os.sep) + os.sep) for r in roots)


def owner_of(path: str, roots: tuple[str, ...], installed: tuple[str, ...] = ()) -> tuple[str, str]:
    """(owner, kind) of a source file: in site-packages -> its top package; in an
    environment's `installed` prefix (a console script in its bin/) -> that script;
    under one of the user's `roots` -> your code; in the standard library -> its module;
    frozen importlib and the rest -> python."""
    norm = os.path.abspath(path) if os.path.isabs(path) else path
    parts = norm.split(os.sep)
    for marker in ("site-packages", "dist-packages"):
        if marker in parts:
            top = parts[parts.index(marker) + 1] if parts.index(marker) + 1 < len(parts) else ""
            name = top.split(".")[0].removesuffix(".py")
            return name, "framework or server" if name in FRAMEWORKS else "library"
    if _under(norm, installed):
        name = os.path.basename(norm).removesuffix(".py")
        return name, "framework or server" if name in FRAMEWORKS else "library"
    if _under(norm, roots):
        return YOUR_CODE, YOUR_CODE
    if path.startswith("<"):
        return "python", "python"
    stdlib = sysconfig.get_paths()["stdlib"]
    if norm.startswith(stdlib + os.sep) or norm.startswith(sys.base_prefix + os.sep):
        rest = os.path.relpath(norm, stdlib).split(os.sep)[0].removesuffix(".py")
        return rest, "framework or server" if rest in FRAMEWORKS else "python"
    return YOUR_CODE if not roots else "other", YOUR_CODE if not roots else "library"


def request_sites(capture: Capture, win: Window, roots: tuple[str, ...],
                  installed: tuple[str, ...] = ()) -> list[Site]:  # fmt: skip
    """Every site's bytes at the request's peak less its bytes when idle, merged by line
    (several stacks end on one line), largest first; sites that did not grow are left
    out."""
    peak = peak_interval(capture, win)
    grown: dict[tuple, int] = defaultdict(int)
    first_seen: dict[tuple, Frame | None] = {}
    for alloc in capture.allocs:
        delta = alloc.bytes_at(peak) - alloc.bytes_at(win.idle)
        if not delta or not alloc.stack:
            continue
        key = alloc.stack[0]
        grown[key] += delta
        if key not in first_seen:
            first_seen[key] = _via(alloc.stack, roots, installed)
    sites = []
    for (function, file, line), size in grown.items():
        if size <= 0:
            continue
        owner, kind = owner_of(file, roots, installed)
        via = first_seen[(function, file, line)] if owner != YOUR_CODE else None
        sites.append(Site(function, file, line, owner, kind, via, size))
    return sorted(sites, key=lambda s: (-s.bytes, s.where))


def _via(stack: tuple[Frame, ...], roots: tuple[str, ...],
         installed: tuple[str, ...]) -> Frame | None:  # fmt: skip
    for frame in stack:
        if owner_of(frame[1], roots, installed)[0] == YOUR_CODE:
            return frame
    return None


def request_peak(capture: Capture, win: Window) -> dict:
    """The request's own peak: the heap's (memray's count of live allocations) and RSS
    (memray's snapshots, about every 10 ms), each less its idle value."""
    peak = peak_interval(capture, win)
    rss_idle = capture.rss_bytes[win.idle] if capture.rss_bytes else 0
    span = capture.rss_bytes[win.first : win.last + 1] or (rss_idle,)
    return {
        "heap_bytes": capture.hwm_bytes[peak] - capture.hwm_bytes[win.idle],
        "heap_idle_bytes": capture.hwm_bytes[win.idle],
        "rss_bytes": max(span) - rss_idle,
        "rss_idle_bytes": rss_idle,
    }


@dataclass(frozen=True)
class Slope:
    """One site at two sizes: bytes = fixed + per_n x n, through both points."""

    site: Site  # at the larger n
    bytes_small: int  # the same line's bytes at the smaller n (0 if it did not grow there)
    per_n: float
    fixed: float


def slopes(big: list[Site], small: list[Site], n_big: int, n_small: int) -> list[Slope]:
    """Each site of the larger run with its line's bytes at the smaller one, through two
    points: bytes per unit of n and the fixed part."""
    at_small = {(s.function, s.file, s.line): s.bytes for s in small}
    out = []
    for site in big:
        b2 = at_small.get((site.function, site.file, site.line), 0)
        per_n = (site.bytes - b2) / (n_big - n_small) if n_big != n_small else 0.0
        out.append(Slope(site, b2, per_n, site.bytes - per_n * n_big))
    return out


def by_owner(rows: list[Slope]) -> list[dict]:
    """The sum per owner: bytes at n, share of the total, bytes per unit of n; largest first."""
    total = sum(r.site.bytes for r in rows) or 1
    sums: dict[tuple[str, str], list[float]] = defaultdict(lambda: [0, 0.0])
    for r in rows:
        acc = sums[(r.site.owner, r.site.kind)]
        acc[0] += r.site.bytes
        acc[1] += r.per_n
    out = [{"owner": o, "kind": k, "bytes": int(b), "share": b / total, "bytes_per_n": p}
           for (o, k), (b, p) in sums.items()]  # fmt: skip
    out.sort(key=lambda d: -d["bytes"])
    big = [d for d in out if d["share"] >= SMALL_SHARE]
    small = [d for d in out if d["share"] < SMALL_SHARE]
    if small:
        big.append({"owner": f"{len(small)} others", "kind": "each under 1 %",
                    "bytes": sum(d["bytes"] for d in small),
                    "share": sum(d["share"] for d in small),
                    "bytes_per_n": sum(d["bytes_per_n"] for d in small)})  # fmt: skip
    return big
