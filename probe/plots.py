"""PNG plots of results documents: a request timeline per load variant, memory against n.

Figures are built with matplotlib's object API on the Agg canvas (no pyplot, no
screen, no global state) and saved without a timestamp or software tag, so the
same document gives the same image on the same matplotlib.
"""

from __future__ import annotations

import os
from pathlib import Path

from matplotlib.figure import Figure
from matplotlib.patches import Patch

from probe import stats

MIB = 1024 * 1024
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


def _timeline_title(variant: dict) -> str:
    n = variant.get("n")
    head = f"{variant.get('server')} / {variant.get('fn')}"
    if n is not None:
        head += f" / n={n:,}" if isinstance(n, int) else f" / n={n}"
    flight = variant.get("max_in_flight")
    return head if flight is None else f"{head}  (max in flight at the server: {flight})"


def plot_timeline(variant: dict, path: str | os.PathLike) -> Path:
    """One bar per request from start_s to end_s, in send order: parallel vs queued at a glance."""
    requests = stats.send_order(variant.get("requests") or [])
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


def _probe_points(doc: dict, ok: bool, capped: bool = False) -> tuple[list[float], list[float]]:
    """(n in millions, peak RSS in MiB) of the ok (or failed) probes; sampled RSS if no VmHWM.

    capped: the peak of the quantity the cap limits instead (`model_bytes`).
    """
    xs, ys = [], []
    for p in doc.get("probes") or []:
        rss = p.get("model_bytes") if capped else p.get("peak_rss_bytes")
        rss = rss or (None if capped else p.get("peak_rss_sampled_bytes"))
        if rss is not None and p.get("n") is not None and (p.get("outcome") == "ok") == ok:
            xs.append(p["n"] / 1e6)
            ys.append(rss / MIB)
    return xs, ys


def _draw_maxn(ax, doc: dict, colour: str, capped: bool = False) -> None:
    """One max-n document: ok probes as dots, failed ones as crosses, the fitted line dashed."""
    label = f"{doc.get('fn')} ({doc.get('server')}, concurrency {doc.get('concurrency')})"
    for ok, marker, what in ((True, "o", "ok"), (False, "x", "failed")):
        xs, ys = _probe_points(doc, ok, capped)
        if xs:  # an empty series would still take a legend entry
            ax.plot(xs, ys, marker, color=colour, markersize=7, label=f"{label}: {what}")
    baseline = doc.get("model_baseline_bytes" if capped else "baseline_rss_bytes")
    per_element = doc.get("bytes_per_element")
    ns = [p["n"] for p in doc.get("probes") or [] if p.get("n") is not None]
    if baseline is not None and per_element is not None and ns:
        top = max(ns) * 1.1
        ys = [baseline / MIB, (baseline + per_element * top) / MIB]
        ax.plot([0, top / 1e6], ys, "--", color=colour, linewidth=1, label=f"{label}: fit")


_CAPPED_LABEL = "peak of the capped quantity (MiB): address space (as) or RSS (rss)"


def plot_memory(
    maxn_docs: list[dict], path: str | os.PathLike, limit_bytes: int | None, capped: bool = False
) -> Path:
    """Peak RSS of every probe against n, per predictor, with its fitted line and the cap.

    capped=True plots the quantity the cap limits (address space under RLIMIT_AS), whose
    fitted line crosses the cap where the search predicts the failure.
    """
    fig = Figure(figsize=(12, 5.5))
    ax = fig.add_subplot()
    colours = ["#1f77b4", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf"]
    for i, doc in enumerate(maxn_docs):
        _draw_maxn(ax, doc, colours[i % len(colours)], capped)
    if limit_bytes is not None:
        kind = next((d.get("limit_kind") for d in maxn_docs if d.get("limit_kind")), None)
        cap = f"cap ({kind}) {limit_bytes / MIB:,.0f} MiB" if kind else "cap"
        ax.axhline(limit_bytes / MIB, color="black", linewidth=1, label=cap)
    if not maxn_docs:
        ax.text(0.5, 0.5, "no max-n results", ha="center", va="center", transform=ax.transAxes)
    ax.set_xlabel("n (millions of elements)")
    ax.set_ylabel(_CAPPED_LABEL if capped else "peak RSS of the server (MiB)")
    ax.set_title("Memory against n: probes, fitted baseline + bytes/element x n, cap", fontsize=10)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)
    fig.tight_layout()
    return _save(fig, path)
