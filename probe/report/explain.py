"""The explain document as text (table, json, markdown) and as a plot of its top lines."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

from matplotlib.figure import Figure

from probe.documents.explain import ExplainDoc
from probe.report.cells import (
    DEFAULT_N_UNIT,
    dispatch,
    format_n,
    json_text,
    md_table,
    per_n,
    text_table,
)
from probe.sizes import MIB, format_bytes


def _unit(doc: ExplainDoc) -> str | None:
    return (doc.workload or {}).get("n_unit")


def _short(path: str, width: int = 48) -> str:
    """A file path cut from the left, so its last folders and name stay readable."""
    return path if len(path) <= width else "…" + path[-(width - 1) :]


def _per_n_text(value: float | None, unit: str | None) -> str:
    if value is None:
        return "-"
    return f"{0.0 if abs(value) < 0.05 else value:,.1f} B/{per_n(unit)}"  # no "-0.0"


def sentence(doc: ExplainDoc) -> str:
    """'your code: 61 % of the request's peak, 36.9 B per element; numpy: ...'."""
    unit = _unit(doc)
    parts = [_owner_text(o, unit) for o in doc.owners or []]
    return "; ".join(parts) or "no line grew during the request"


def _owner_text(o: dict, unit: str | None) -> str:
    who = o["owner"] if o["owner"] == o["kind"] else f"{o['owner']} ({o['kind']})"
    return f"{who}: {o['share'] * 100:.0f} % of the peak, {_per_n_text(o['bytes_per_n'], unit)}"


def summary_rows(doc: ExplainDoc) -> list[tuple[str, str]]:
    unit = _unit(doc)
    big, small = (doc.traced or {}).get("n", {}), (doc.traced or {}).get("n_small", {})
    rows = [
        ("request", f"n={format_n(doc.n, unit)} ({doc.n_source}); second size "
                    f"{format_n(doc.n_small, unit)}"),
        ("request's peak (heap)", f"{format_bytes(big.get('heap_bytes'))} at n, "
                                  f"{format_bytes(small.get('heap_bytes'))} at the second size, "
                                  "above the idle worker's heap "
                                  f"{format_bytes(big.get('heap_idle_bytes'))}"),
        ("request's peak (RSS)", f"{format_bytes(big.get('rss_bytes'))} above the idle "
                                 f"{format_bytes(big.get('rss_idle_bytes'))} (memray's "
                                 "snapshots, every ~10 ms)"),
        ("per unit of n", _per_n_text(doc.bytes_per_n, unit)),
    ]  # fmt: skip
    if doc.maxn_bytes_per_n:
        off = (doc.bytes_per_n or 0) / doc.maxn_bytes_per_n - 1
        rows.append(("max-n's probes", f"peak RSS {_per_n_text(doc.maxn_bytes_per_n, unit)} "
                     f"over its ok probes ({doc.maxn_source}); the traced heap's slope is "
                     f"{off * 100:+.1f} % from it"))  # fmt: skip
    untraced = (doc.untraced or {}).get("peak_rss_bytes")
    rows.append(("traced vs untraced", f"peak RSS {format_bytes(big.get('peak_rss_bytes'))} "
                 f"traced (no cap) against {format_bytes(untraced)} untraced under "
                 f"{format_bytes(doc.limit_bytes)}: memray's own buffers are in the "
                 "first"))  # fmt: skip
    rows.append(("who holds it", sentence(doc)))
    if doc.flamegraph:
        rows.append(("flame graph", doc.flamegraph))
    if doc.plot:
        rows.append(("plot", doc.plot))
    return rows


HEADERS = ("#", "line", "function", "owner", "at n", "share", "at 2nd size", "per unit of n")
RIGHT = {0, 4, 5, 6, 7}


def site_rows(doc: ExplainDoc) -> list[list[str]]:
    unit = _unit(doc)
    out = []
    for i, s in enumerate(doc.sites or [], 1):
        via = f" (via {Path(s['via'][1]).name}:{s['via'][2]})" if s.get("via") else ""
        out.append([
            str(i), _short(f"{s['file']}:{s['line']}"), s["function"] + via, s["owner"],
            format_bytes(s["bytes"]), f"{s['share'] * 100:.1f} %",
            format_bytes(s["bytes_small"]), _per_n_text(s["bytes_per_n"], unit),
        ])  # fmt: skip
    return out


def _table(doc: ExplainDoc) -> str:
    width = max(len(k) for k, _ in summary_rows(doc))
    head = "\n".join(f"{k:<{width}}  {v}" for k, v in summary_rows(doc))
    left = (doc.sites_total or 0) - len(doc.sites or [])
    more = f"({left} smaller lines left out)\n" if left > 0 else ""
    return f"{head}\n\n{text_table(HEADERS, site_rows(doc), RIGHT)}{more}"


def _markdown(doc: ExplainDoc) -> str:
    head = md_table(("", ""), summary_rows(doc), set())
    return f"{head}\n{md_table(HEADERS, site_rows(doc), RIGHT)}"


def render_explain(doc: dict, fmt: str = "table") -> str:
    doc = ExplainDoc.of(doc)
    return dispatch(fmt, {"table": lambda: _table(doc), "json": lambda: json_text(doc),
                          "markdown": lambda: _markdown(doc)})  # fmt: skip


def plot_sites(doc: dict, path: str | os.PathLike, top: int = 6) -> Path:
    """The top lines' bytes at the two sizes, joined by their slope and carried back to
    n = 0 (dashed) where the fixed part is: which line grows with n and which does not.
    Lines under 1 % of the request's peak are left to the table."""
    doc = ExplainDoc.of(doc)
    unit = _unit(doc)
    fig = Figure(figsize=(7.5, 4.8), layout="constrained")
    ax = fig.subplots()
    xs = [doc.n_small / 1e6, doc.n / 1e6]
    shown = [s for s in (doc.sites or [])[:top] if s["share"] >= 0.01]
    for s in shown:
        label = (f"{Path(s['file']).name}:{s['line']} {s['function']} ({s['owner']}): "
                 f"{_per_n_text(s['bytes_per_n'], unit)}, {s['share'] * 100:.0f} %")  # fmt: skip
        (line,) = ax.plot(xs, [s["bytes_small"] / MIB, s["bytes"] / MIB], marker="o", label=label)
        ax.plot([0, xs[0]], [max(0.0, s["fixed_bytes"]) / MIB, s["bytes_small"] / MIB], ls="--",
                color=line.get_color(), lw=1)  # fmt: skip
    ax.set_xlabel(f"n (millions of {unit or DEFAULT_N_UNIT})", fontsize=9)
    ax.set_ylabel("bytes at the request's peak, less idle (MiB)", fontsize=9)
    title = "Where one request's memory goes, per source line, at two sizes"
    fig.suptitle(title + "\n" + "\n".join(textwrap.wrap(sentence(doc), 95)), fontsize=9)
    ax.set_xlim(0, xs[1] * 1.05)
    ax.set_ylim(bottom=0)
    if shown:
        ax.legend(fontsize=7, loc="upper left", frameon=False)
    else:
        ax.text(0.5, 0.5, "no line held 1 % of the request's peak", ha="center",
                transform=ax.transAxes)  # fmt: skip
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110, metadata={"Software": None})
    return path
