"""PNG plots of results documents: a request timeline per load variant, memory against n
(one panel per server x predictor, zoomed to the boundary and the cap).

Figures are built with matplotlib's object API on the Agg canvas (no pyplot, no
screen, no global state) and saved without a timestamp or software tag, so the
same document gives the same image on the same matplotlib.
"""

from __future__ import annotations

import itertools
import os
from dataclasses import dataclass
from pathlib import Path

from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import MaxNLocator

from probe import stats
from probe.documents.matrix import Variant
from probe.documents.maxn import Band, MaxNDoc
from probe.report.cells import DEFAULT_N_UNIT, per_n
from probe.servers.limits import LIMITS
from probe.sizes import MIB

_OK, _FAILED = "#2ca02c", "#d62728"
_QUEUED_ALPHA = 0.3
_PNG_METADATA = {"Software": None}  # keep the image free of version and time stamps


def _save(fig: Figure, path: str | os.PathLike) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="png", dpi=100, metadata=_PNG_METADATA)
    return path


def _worker_label(r: dict) -> str:
    """'pid 41 / thread 7' for an answered request, the outcome kind otherwise."""
    if r.get("pid") is not None:
        return f"pid {r['pid']} / thread {r.get('thread')}"
    return str(r.get("kind") or r.get("error") or "no answer")


def _draw_request(ax, y: int, r: dict) -> None:
    """One request: pale bar while queued (client interval), solid bar while served."""
    colour = _OK if stats.is_ok(r) else _FAILED
    start, end = r.get("start_s"), r.get("end_s")
    if start is None or end is None:  # no answer recorded: mark when (if) it was sent
        ax.plot([start or 0.0], [y], marker="x", color=colour, clip_on=False)
        ax.text(start or 0.0, y, f"  {_worker_label(r)}", va="center", fontsize=7)
        return
    served = stats.server_interval(r) or (start, end)
    ax.barh(y, end - start, left=start, color=colour, alpha=_QUEUED_ALPHA, height=0.7)
    ax.barh(y, served[1] - served[0], left=served[0], color=colour, height=0.7)
    ax.text(end, y, f"  {_worker_label(r)}", va="center", fontsize=7)


def _timeline_title(variant: Variant) -> str:
    n = variant.n
    head = f"{variant.server} / {variant.fn}"
    if n is not None:
        head += f" / n={n:,}" if isinstance(n, int) else f" / n={n}"
    flight = variant.max_in_flight
    return head if flight is None else f"{head}  (max in flight at the server: {flight})"


def plot_timeline(variant: dict, path: str | os.PathLike) -> Path:
    """One bar per request from start_s to end_s, in send order: parallel vs queued at a glance."""
    variant = Variant.of(variant)
    requests = stats.send_order(variant.requests or [])
    fig = Figure(figsize=(9, max(2.5, 0.4 * len(requests) + 1.5)))
    ax = fig.add_subplot()
    for y, r in enumerate(requests):
        _draw_request(ax, y, r)
    if not requests:
        ax.text(0.5, 0.5, "no requests recorded", ha="center", va="center", transform=ax.transAxes)
    ax.set_yticks(range(len(requests)), [f"area {r.get('area')}" for r in requests])
    ax.invert_yaxis()  # first request sent at the top
    ax.set_xlabel("seconds since the load started (client clock)")
    ax.set_title(_timeline_title(variant), fontsize=10)
    legend = [
        Patch(color=_OK, label="ok: in the predictor"),
        Patch(color=_OK, alpha=_QUEUED_ALPHA, label="waiting (backlog, transfer)"),
        Patch(color=_FAILED, label="failed"),
    ]
    fig.legend(handles=legend, loc="lower center", ncol=3, fontsize=7, frameon=False)
    ax.margins(x=0.25)  # room for the pid / thread labels right of the bars
    fig.tight_layout(rect=(0, 0.35 / fig.get_figheight(), 1, 1))  # leave the legend its strip
    return _save(fig, path)


# Memory against n: one panel per server x predictor, zoomed to the cap and the boundary.

NEAR_FACTOR = 1.25  # probes within this factor of the boundary are drawn, the others counted
SAFE_FACTOR = 2.0  # the full-overlap safe n widens the window if it is at most this far off
_M_OK, _M_FAILED = "#0072B2", "#D55E00"  # Okabe-Ito blue and vermillion: colour-blind safe
_M_BAND, _M_SAFE, _M_FIT = "#E69F00", "#CC79A7", "#555555"
_STRIP = 0.14  # axes fraction kept free of data below the probes for the band's samples


@dataclass(frozen=True)
class Zoom:
    """The n range a memory panel shows and how many probes lie left / right of it."""

    lo: float
    hi: float
    below: int = 0
    above: int = 0


def _probe_ns(doc: MaxNDoc) -> list[int]:
    return [p["n"] for p in doc.probes or [] if p.get("n") is not None]


def _boundary_ns(doc: MaxNDoc) -> list[int]:
    """What a reader comes for: critical and first failing n, the band's edges."""
    band = doc.band or Band()
    ns = [doc.critical_n, doc.first_failing_n, band.always_ok_n, band.never_ok_n]
    return [n for n in ns if n]


def _sample_ns(band: Band | None) -> list[int]:
    return [s["n"] for s in (band.samples if band else None) or [] if s.get("n")]


def zoom_window(doc: dict, factor: float = NEAR_FACTOR) -> Zoom | None:
    """The n window of a max-n document's panel, None when it has no n at all.

    It spans the boundary values, the probes and band samples within `factor` of them and
    the full-overlap safe n if within SAFE_FACTOR, padded a little; far calibration probes
    (and doubling overshoots) are left out and counted. Without a boundary it spans every
    probe (or band sample).
    """
    doc = MaxNDoc.of(doc)
    probes = _probe_ns(doc)
    anchors = _boundary_ns(doc) or probes or _sample_ns(doc.band)
    if not anchors:
        return None
    a_lo, a_hi = min(anchors), max(anchors)
    near = [n for n in probes + _sample_ns(doc.band) if a_lo / factor <= n <= a_hi * factor]
    shown = anchors + near
    safe = doc.safe_n_full_overlap
    if safe and a_lo / SAFE_FACTOR <= safe <= a_hi * SAFE_FACTOR:
        shown.append(safe)
    lo, hi = min(shown), max(shown)
    pad = max(0.06 * (hi - lo), 0.01 * hi, 1.0)
    lo, hi = max(0.0, lo - pad), hi + pad
    return Zoom(lo, hi, below=sum(n < lo for n in probes), above=sum(n > hi for n in probes))


def y_window(
    ok: list[float], failed: list[float], fit: list[float], cap: float | None
) -> tuple[float, float]:
    """The MiB range of a panel: the cap, the ok probes, the fitted line, the failures near them.

    A failure far below all of these (one that died before its memory grew) is left out; the
    panel pins it to the bottom edge.
    """
    base = ok + fit + ([cap] if cap is not None else []) or failed
    if not base:
        return 0.0, 1.0
    lo, hi = min(base), max(base)
    slack = max(0.25 * (hi - lo), 0.05 * hi)
    near = [y for y in failed if y >= lo - slack]
    lo, hi = min([lo, *near]), max([hi, *near])
    pad = max(0.08 * (hi - lo), 0.004 * hi, 0.5)
    return lo - pad, hi + pad


def _peak_mib(p: dict, capped: bool) -> float | None:
    """A probe's peak in MiB: the capped quantity (`model_bytes`), or RSS (sampled if no VmHWM)."""
    peak = p.get("model_bytes") if capped else p.get("peak_rss_bytes")
    peak = peak or (None if capped else p.get("peak_rss_sampled_bytes"))
    return None if peak is None else peak / MIB


def _points(doc: MaxNDoc, zoom: Zoom, capped: bool) -> tuple[list, list]:
    """(n in millions, peak in MiB) of the ok and of the failed probes inside the window."""
    ok, failed = [], []
    for p in doc.probes or []:
        n, peak = p.get("n"), _peak_mib(p, capped)
        if n is not None and peak is not None and zoom.lo <= n <= zoom.hi:
            (ok if p.get("outcome") == "ok" else failed).append((n / 1e6, peak))
    return ok, failed


def _fit_line(doc: MaxNDoc, zoom: Zoom, capped: bool) -> tuple[list, list] | None:
    """baseline + bytes/element x n over the document's probed n range (inside the window)."""
    baseline = doc.get("model_baseline_bytes" if capped else "baseline_rss_bytes")
    per_element, ns = doc.bytes_per_element, _probe_ns(doc)
    if baseline is None or per_element is None or not ns:
        return None
    lo, hi = max(min(ns), zoom.lo), min(max(ns), zoom.hi)
    if lo >= hi:
        return None
    return [lo / 1e6, hi / 1e6], [(baseline + per_element * n) / MIB for n in (lo, hi)]


def _millions(n: float) -> str:
    """'0.4 M', '8.66 M', '51.1 M': an n for a note, three significant digits."""
    return f"{n / 1e6:.3g} M"


def _mark_n(ax, n: float, text: str, style: tuple[str, str], right: bool, at: float) -> None:
    """A vertical line at n, its label written along it beside the line, from `at` (axes
    fraction: near 1 hangs down from the top, otherwise rises from there)."""
    colour, dash = style
    ax.axvline(n / 1e6, color=colour, linestyle=dash, linewidth=1.3)
    ax.annotate(
        text,
        xy=(n / 1e6, at),
        xycoords=("data", "axes fraction"),
        xytext=(3 if right else -3, 0),
        textcoords="offset points",
        rotation=90,
        ha="left" if right else "right",
        va="top" if at > 0.5 else "bottom",
        fontsize=8,
        color=colour,
        bbox={"facecolor": "white", "alpha": 0.8, "edgecolor": "none", "pad": 0.5},
    )


def label_at(x: float, points: list[tuple[float, float]], floor: float = 0.03) -> float:
    """Where a vertical line's label starts (axes fraction): the top, unless the probes near
    the line (x, y in axes fractions) leave more room below them than above (down to floor)."""
    near = [y for px, y in points if abs(px - x) <= 0.04]
    if not near or 1 - max(near) >= min(near) - floor:
        return 0.97
    return floor


def _band_samples(band: Band | None, zoom: Zoom) -> list[tuple[float, str]]:
    """(n in millions, 'ok/tries') of the band's samples inside the window."""
    samples = (band.samples if band else None) or []
    return sorted(
        (s["n"] / 1e6, f"{s.get('ok')}/{s['tries']}")
        for s in samples
        if s.get("n") is not None and s.get("tries") is not None and zoom.lo <= s["n"] <= zoom.hi
    )


def _draw_band(ax, band: Band | None, zoom: Zoom, samples: list) -> tuple[bool, int]:
    """The n range where the outcome depends on the layout, shaded; the samples' ok/tries
    along the bottom strip, a label left out where it would touch the previous one.
    Returns (whether there was a band to shade, how many labels were left out)."""
    band = band or Band()
    lo, hi = band.always_ok_n, band.never_ok_n
    if lo is not None or hi is not None:
        lo, hi = (zoom.lo if lo is None else lo) / 1e6, (zoom.hi if hi is None else hi) / 1e6
        ax.axvspan(lo, hi, color=_M_BAND, alpha=0.25, linewidth=0)
    width_pt = ax.get_position().width * ax.figure.get_figwidth() * 72
    gap = 14 / width_pt * (zoom.hi - zoom.lo) / 1e6  # about one 'ok/tries' label wide
    last, dropped = None, 0
    for x, text in samples:
        ax.plot(x, 0.03, "|", color="black", markersize=6, transform=ax.get_xaxis_transform())
        if last is None or x - last >= gap:
            ax.annotate(text, xy=(x, 0.03), xycoords=("data", "axes fraction"), xytext=(0, 5),
                        textcoords="offset points", ha="center", fontsize=7)  # fmt: skip
            last = x
        else:
            dropped += 1
    return lo is not None or hi is not None, dropped


def _draw_probes(ax, ok: list, failed: list, y_lo: float, bottom: float) -> set[str]:
    """Ok probes as dots, failures as crosses; failures below y_lo as triangles on the bottom
    edge (at `bottom`)."""
    used = set()
    low = [(x, y) for x, y in failed if y < y_lo]
    shown = [(x, y) for x, y in failed if y >= y_lo]
    series = (("ok", ok, "o", _M_OK), ("failed", shown, "x", _M_FAILED))
    for key, points, marker, colour in series + (("low", low, "v", _M_FAILED),):
        if points:
            ys = [bottom] * len(points) if key == "low" else [y for _, y in points]
            ax.plot([x for x, _ in points], ys, marker, color=colour, markersize=7,
                    markeredgewidth=1.6, clip_on=False, zorder=3)  # fmt: skip
            used.add(key)
    return used


def _band_notes(band: Band, zoom: Zoom, dropped: int) -> list[str]:
    """The band's edges and how to read its samples' labels."""
    lo, hi = band.always_ok_n, band.never_ok_n
    if lo is None and hi is None:
        return []
    lo = "no sampled n always ok" if lo is None else f"always ok to {lo:,}"
    hi = "no sampled n never ok" if hi is None else f"never ok from {hi:,}"
    notes = [f"band ({band.tries_per_n} layouts): {lo}, {hi}"]
    if band.samples:
        off = sum(not zoom.lo <= n <= zoom.hi for n in _sample_ns(band))
        extra = [f"{dropped} crowded ticks unlabelled"] if dropped else []
        extra += [f"{off} off the window"] if off else []
        extra = f" ({', '.join(extra)})" if extra else ""
        notes.append(f"along the bottom: ok / tries at each sampled n{extra}")
    return notes


def _low_note(low: list) -> str:
    """'3 failures at 2 n peaked at only 189 MiB (before growing): ▼'."""
    at = len({x for x, _ in low})
    what = f"{len(low)} failure{'s' if len(low) > 1 else ''}"
    what += "" if at == len(low) else f" at {at} n"
    lo, hi = (f"{f(y for _, y in low):,.0f}" for f in (min, max))
    return f"{what} peaked at only {lo if lo == hi else f'{lo}-{hi}'} MiB (before growing): \u25bc"


def _panel_notes(doc: MaxNDoc, zoom: Zoom, low: list, dropped: int = 0) -> list[str]:
    """The numbers behind the band and the fit, and what the panel leaves out or off-scale."""
    notes = _band_notes(doc.band or Band(), zoom, dropped)
    ns = _probe_ns(doc)
    if not ns:
        notes.append("no probes recorded")
    elif doc.bytes_per_element is not None:
        per_element = doc.bytes_per_element
        notes.append(
            f"fit: {per_element:.1f} B/{per_n(doc.n_unit)}, "
            f"probed {_millions(min(ns))} to {_millions(max(ns))}"
        )
    hidden = [f"{zoom.below} below {_millions(zoom.lo)}"] if zoom.below else []
    hidden += [f"{zoom.above} above {_millions(zoom.hi)}"] if zoom.above else []
    if hidden:
        notes.append(f"probes not shown: {', '.join(hidden)}")
    if low:
        notes.append(_low_note(low))
    safe = doc.safe_n_full_overlap
    if safe and not zoom.lo <= safe <= zoom.hi:
        notes.append(f"safe n if all {doc.concurrency} overlap: {safe:,} (off the window)")
    how = _how_note(doc)
    return notes + [how] if how else notes


def _panel_title(doc: MaxNDoc) -> str:
    title = f"{doc.server or '?'} / {doc.fn or '?'}"
    conc = doc.concurrency or 1
    return title if conc == 1 else f"{title}, concurrency {conc}"


def _how_note(doc: MaxNDoc) -> str | None:
    """How the probes ran, from the keys newer documents carry."""
    layout = {"fixed": "fixed layout (ASLR off)", "random": "random layouts (ASLR on)"}
    parts = [layout.get(doc.layout)]
    parts.append({True: "each on a fresh process", False: "on a reused process"}.get(doc.fresh))
    parts = [p for p in parts if p]
    return f"probes: {', '.join(parts)}" if parts else None


def _axes_fractions(points: list, zoom: Zoom, y_lo: float, y_hi: float) -> list:
    """(n in millions, MiB) -> axes fractions, off-scale peaks on the edge they are drawn at."""
    span = (zoom.hi - zoom.lo) / 1e6
    return [
        ((x - zoom.lo / 1e6) / span, min(1.0, max(0.0, (y - y_lo) / (y_hi - y_lo))))
        for x, y in points
    ]


def _draw_cap(ax, cap: float) -> None:
    """The cap line, its size written just outside the right edge (where no probe can be)."""
    ax.axhline(cap, color="black", linewidth=1.2)
    ax.annotate(f"cap\n{cap:,.0f} MiB", xy=(1, cap), xycoords=("axes fraction", "data"),
                xytext=(4, 0), textcoords="offset points", va="center", fontsize=8)  # fmt: skip


def _draw_marks(ax, doc: dict, zoom: Zoom, points: list, floor: float) -> set[str]:
    """critical n, first failing n and the full-overlap safe n as labelled vertical lines;
    points: the drawn probes in axes fractions, which the labels keep clear of."""
    used = set()
    marks = (
        ("critical", doc.critical_n, "critical n {:,}", (_M_OK, ":"), False),
        ("failing", doc.first_failing_n, "first failing n {:,}", (_M_FAILED, ":"), True),
        ("safe", doc.safe_n_full_overlap, "safe n {:,}", (_M_SAFE, "-."), False),
    )
    for key, n, text, style, right in marks:
        if n and zoom.lo <= n <= zoom.hi:
            x = (n - zoom.lo) / (zoom.hi - zoom.lo)
            _mark_n(ax, n, text.format(n), style, right, label_at(x, points, floor))
            used.add(key)
    return used


def _draw_panel(ax, doc: dict, cap: float | None, capped: bool) -> set[str]:
    """One max-n document zoomed to its boundary; returns the legend entries it used."""
    ax.set_title(_panel_title(doc), fontsize=10)
    zoom = zoom_window(doc)
    if zoom is None:
        ax.text(0.5, 0.5, "no probes recorded", ha="center", va="center", transform=ax.transAxes)
        ax.set_xticks([])
        ax.set_yticks([])
        return set()
    ok, failed = _points(doc, zoom, capped)
    fit = _fit_line(doc, zoom, capped)
    y_lo, y_hi = y_window([y for _, y in ok], [y for _, y in failed], fit[1] if fit else [], cap)
    samples = _band_samples(doc.band, zoom)
    bottom = y_lo - _STRIP / (1 - _STRIP) * (y_hi - y_lo) if samples else y_lo
    ax.set_xlim(zoom.lo / 1e6, zoom.hi / 1e6)
    ax.set_ylim(bottom, y_hi)
    shaded, dropped = _draw_band(ax, doc.band, zoom, samples)
    used = {"band"} if shaded else set()
    if fit:
        ax.plot(*fit, "--", color=_M_FIT, linewidth=1.2)
        used.add("fit")
    if cap is not None:
        _draw_cap(ax, cap)
    used |= _draw_probes(ax, ok, failed, y_lo, bottom)
    fractions = _axes_fractions(ok + failed, zoom, bottom, y_hi)
    used |= _draw_marks(ax, doc, zoom, fractions, _STRIP + 0.01 if samples else 0.03)
    notes = _panel_notes(doc, zoom, [(x, y) for x, y in failed if y < y_lo], dropped)
    _caption(ax, notes + ([] if ok or failed else ["no probe here recorded a peak"]), doc.n_unit)
    return used


def _caption(ax, notes: list[str], unit: str | None) -> None:
    """The panel's notes under its x axis; the axes' labels and ticks."""
    ax.annotate("\n".join(notes), xy=(0, 0), xycoords="axes fraction", xytext=(0, -36),
                textcoords="offset points", va="top", fontsize=8)  # fmt: skip
    ax.set_xlabel(f"n (millions of {unit or DEFAULT_N_UNIT})", fontsize=9)
    ax.yaxis.set_major_locator(MaxNLocator(nbins=7, steps=[1, 2, 5, 10]))
    ax.tick_params(labelsize=8)


def _grid(docs: list[MaxNDoc]) -> tuple[list, list, dict]:
    """Rows (servers), columns (predictor, concurrency) and the document of each cell."""
    rows = sorted({str(d.server) for d in docs})
    cols = sorted({(str(d.fn), d.concurrency or 1) for d in docs})
    cells: dict = {}
    for d in docs:
        cells.setdefault((str(d.server), (str(d.fn), d.concurrency or 1)), d)
    return rows, cols, cells


def _limit_kind(docs: list[MaxNDoc]) -> str | None:
    return next((d.limit_kind for d in docs if d.limit_kind), None)


def _quantity(docs: list[MaxNDoc], capped: bool) -> str:
    """The plotted quantity, for the y axis."""
    if not capped:
        return "peak RSS of the server (MiB)"
    kind = _limit_kind(docs)
    return (kind and LIMITS[kind].plotted) or "peak of the capped quantity (MiB)"


def _suptitle(docs: list[MaxNDoc], limit_bytes: int | None, capped: bool) -> tuple[str, str]:
    """What is plotted (the capped quantity or RSS) and how the panels are laid out."""
    kind = _limit_kind(docs)
    if capped:
        head = f"Peak {(kind and LIMITS[kind].caps) or 'capped quantity'} against n"
    else:
        head = "Peak RSS against n" + (" (the cap limits address space)" if kind == "as" else "")
    cap = f", near the {limit_bytes / MIB:,.0f} MiB cap" if limit_bytes else ""
    return f"{head}{cap}", "one panel per server and predictor"


def _common_per_n(docs: list[MaxNDoc]) -> str:
    """'row' when every panel counts n in rows; 'unit of n' when the panels differ."""
    units = {d.n_unit for d in docs}
    return per_n(units.pop()) if len(units) == 1 else "unit of n"


def _legend(used: set[str], docs: list[MaxNDoc], limit_bytes: int | None) -> tuple[list, list]:
    """Handles and labels of the figure's legend: the entries some panel used, and the cap."""
    layouts = sorted({str(d.band.tries_per_n) for d in docs if d.band})
    k = f" ({layouts[0]} layouts)" if len(layouts) == 1 else ""
    kind = _limit_kind(docs)
    cap = f"cap{f' ({kind})' if kind else ''}: {limit_bytes / MIB:,.0f} MiB" if limit_bytes else ""
    entries = [
        ("ok", Line2D([], [], marker="o", ls="none", color=_M_OK), "ok probe"),
        ("failed", Line2D([], [], marker="x", ls="none", color=_M_FAILED, mew=1.6), "failed probe"),
        ("low", Line2D([], [], marker="v", ls="none", color=_M_FAILED), "failed, peak off-scale"),
        (
            "fit",
            Line2D([], [], ls="--", color=_M_FIT),
            f"fit over the probed n: baseline + B/{_common_per_n(docs)} × n",
        ),
        ("cap", Line2D([], [], color="black"), cap),
        ("band", Patch(color=_M_BAND, alpha=0.25), f"band under random layouts{k}"),
        ("critical", Line2D([], [], ls=":", color=_M_OK), "critical n (largest all-ok)"),
        ("failing", Line2D([], [], ls=":", color=_M_FAILED), "first failing n"),
        ("safe", Line2D([], [], ls="-.", color=_M_SAFE), "safe n if all requests overlap"),
    ]
    used = used | ({"cap"} if limit_bytes else set())
    kept = [(h, label) for key, h, label in entries if key in used]
    return [h for h, _ in kept], [label for _, label in kept]


def plot_memory(
    maxn_docs: list[MaxNDoc], path: str | os.PathLike, limit_bytes: int | None, capped: bool = False
) -> Path:
    """A grid of panels (rows: servers, columns: predictors), each one max-n document near
    its boundary: probes, the fitted line over the probed n, the cap, critical and first
    failing n, the band under random layouts and the full-overlap safe n where known.

    capped=True plots the quantity the cap limits (address space under RLIMIT_AS), whose
    fitted line crosses the cap where the search predicts the failure; RSS otherwise.
    """
    maxn_docs = [MaxNDoc.of(d) for d in maxn_docs]
    rows, cols, cells = _grid(maxn_docs)
    fig = Figure(figsize=(0.6 + 6.2 * max(1, len(cols)), 1.6 + 4.6 * max(1, len(rows))),
                 layout="constrained")  # fmt: skip
    if not maxn_docs:
        fig.text(0.5, 0.5, "no max-n results", ha="center", va="center")
    axes = fig.subplots(len(rows), len(cols), squeeze=False) if maxn_docs else []
    cap = None if limit_bytes is None else limit_bytes / MIB
    used: set[str] = set()
    for (i, server), (j, col) in itertools.product(enumerate(rows), enumerate(cols)):
        ax, doc = axes[i][j], cells.get((server, col))
        if doc is None:
            ax.set_axis_off()
            ax.set_title(f"{server} / {col[0]}: no result", fontsize=10)
            continue
        used |= _draw_panel(ax, doc, cap, capped)
        if j == 0:
            ax.set_ylabel(_quantity(maxn_docs, capped), fontsize=9)
    wide = len(cols) > 1  # a single column has room for fewer words a line
    title = ("; " if wide else "\n").join(_suptitle(maxn_docs, limit_bytes, capped))
    fig.suptitle(title, fontsize=11)
    handles, labels = _legend(used, maxn_docs, limit_bytes)
    if handles:
        fig.legend(handles, labels, loc="outside lower center", ncol=5 if wide else 2,
                   fontsize=8, frameon=False)  # fmt: skip
    return _save(fig, path)
