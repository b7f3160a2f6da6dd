"""The plan document as a table (one row a cell) and as a plot a person would rather read."""

from __future__ import annotations

import os
from pathlib import Path

from matplotlib.figure import Figure

from probe.documents.plan import PlanDoc
from probe.report.cells import dispatch, format_n, json_text, text_table
from probe.sizes import MIB, format_bytes, format_size


def _budget_label(b: int) -> str:
    return format_size(b)


def _how_mark(entry: dict) -> str:
    """'' for a checked prediction, '*' for a search, '~' for a rate under sustained
    traffic, '≤' where only below was checked (plans before format 9)."""
    if entry.get("sustained"):
        return "~"
    if entry.get("full_overlap_n"):
        return "≤"
    return "*" if (entry.get("how") or "").startswith("searched") else ""


def _verdict(doc: PlanDoc, row: dict) -> str:
    if row.get("error"):
        return "error"
    rec = doc.recommendation or {}
    if rec.get("cell") == row["name"]:
        return "recommended"
    tried = [c for c in doc.confirmations or [] if c["cell"] == row["name"]]
    if tried and not tried[-1]["passed"]:
        return "confirmation failed"
    if doc.n is None:
        return "-"
    first = (row.get("budgets") or {}).get(str(doc.budgets_bytes[0])) or {}
    holds = (first.get("largest_n") or 0) >= doc.n * (1 + (doc.headroom or 0))
    return "holds N" if holds else "too small for N"


def table_rows(doc: PlanDoc) -> tuple[list[str], list[list[str]]]:
    unit = (doc.workload or {}).get("n_unit")
    budgets = doc.budgets_bytes or []
    headers = [
        "cell",
        "at once",
        "idle tree",
        *[f"largest n @{_budget_label(b)}" for b in budgets],
        "req/s",
        "p50 s",
        "p99 s",
        "verdict",
    ]
    rows = []
    for row in doc.cells or []:
        ns = []
        for b in budgets:
            entry = (row.get("budgets") or {}).get(str(b))
            ns.append(
                "-" if not entry else format_n(entry.get("largest_n"), unit) + _how_mark(entry)
            )
        t = row.get("throughput") or {}
        rows.append(
            [
                row["name"],
                str(row["concurrency"]),
                format_bytes(row.get("idle_bytes")),
                *ns,
                "-" if t.get("rps") is None else f"{t['rps']:.1f}",
                "-" if t.get("p50_s") is None else f"{t['p50_s']:.3f}",
                "-" if t.get("p99_s") is None else f"{t['p99_s']:.3f}",
                _verdict(doc, row),
            ]
        )
    return headers, rows


def _lines(doc: PlanDoc) -> list[str]:
    out = []
    budgets = ", ".join(format_size(b) for b in doc.budgets_bytes or [])
    how = ("the kernel's memory.max of a cgroup v2 per server" if doc.limit_kind == "cgroup"
           else "as a container counts it, emulated")  # fmt: skip
    out.append(
        f"budgets {budgets} over the whole process tree ({how}); largest n at full occupancy"
    )
    out.append("  * searched (the check disagreed with the prediction)")
    rated = [e["sustained"] for r in doc.cells or [] for e in (r.get("budgets") or {}).values()
             if e and e.get("sustained")]  # fmt: skip
    if rated:
        out.append(f"  ~ several at once: at most {rated[0]['risk']:.0%} of sustained runs "
                   f"fail up to it ({rated[0]['what']}); every peak at once fits up to "
                   "the document's full_overlap_n, which it never falls below")  # fmt: skip
    if any(e and e.get("full_overlap_n") and not e.get("sustained") for r in doc.cells or []
           for e in (r.get("budgets") or {}).values()):  # fmt: skip
        out.append("  ≤ every peak at once, checked below only (no sustained runs above it)")
    loaded = {(r.get("throughput") or {}).get("n") for r in doc.cells or []} - {None}
    mixes = {(r.get("throughput") or {}).get("mix") for r in doc.cells or []} - {None, "fixed"}
    at = "N" if doc.n else "half of each cell's largest n under the first budget"
    if loaded:
        out.append(
            f"throughput: a closed loop at each cell's concurrency, sizes at {at}"
            + (f" ({mixes.pop()})" if mixes else "")
        )
    rec = doc.recommendation
    if rec:
        out.append(f"recommended under {format_size(rec['budget_bytes'])}: {rec['cell']}")
        out.append(f"  run: {rec['cmd']}   ({{port}}: your port)")
        if rec.get("knob"):
            out.append(f"  hold it to its concurrency with {rec['knob']}")
    for c in doc.confirmations or []:
        result = "passed" if c["passed"] else "FAILED"
        out.append(
            f"confirmation of {c['cell']}: {result}, {c['requests']:,} requests, "
            f"{c['concurrency']} at once, sizes {c['mix']}, {c['wall_s']:.1f} s"
        )
        for t in c["thresholds"]:
            observed = t["observed"]
            shown = format_bytes(observed) if t["name"] in ("peak",) else f"{observed:,}"
            if t["name"] == "trend":
                shown = f"{format_bytes(observed)} per 1,000 requests"
            out.append(f"  {'ok ' if t['passed'] else 'BAD'} {t['name']:<9} {t['rule']}: {shown}")
        if c.get("first_failure"):
            f = c["first_failure"]
            out.append(
                f"  first failure: request {f['request']:,} at n={f['n']:,}: "
                f"{f['kind']} {f.get('detail') or ''}".rstrip()
            )
        if c.get("crosses_budget_after_requests"):
            out.append(
                f"  grows {format_bytes(c['growth_per_1000_bytes'])} per 1,000 requests: "
                f"past the budget after about {c['crosses_budget_after_requests']:,}; "
                f"gunicorn --max-requests {c['max_requests_advice']:,} keeps it under"
            )
    for rule, pick in (doc.rules or {}).items():
        cell = pick.get("cell") or "not in the grid"
        out.append(f"{rule} would pick {pick['workers']} worker(s): {cell}")
    for p in doc.problems or []:
        out.append(f"problem: {p}")
    return out


def _table(doc: PlanDoc) -> str:
    headers, rows = table_rows(doc)
    right = set(range(1, len(headers) - 1))
    return text_table(headers, rows, right) + "\n" + "\n".join(_lines(doc)) + "\n"


def render_plan(doc: dict, fmt: str = "table") -> str:
    doc = PlanDoc.of(doc)
    return dispatch(fmt, {"table": lambda: _table(doc), "json": lambda: json_text(doc)})


def plot_plan(doc: dict, path: str | os.PathLike) -> Path:
    """Left: each cell's largest n per budget (bars) and its throughput (dots), the
    recommended cell marked. Right: the confirmation's tree memory after each request,
    with the budget and the headroom drawn."""
    doc = PlanDoc.of(doc)
    unit = (doc.workload or {}).get("n_unit") or "elements"
    confirmations = doc.confirmations or []
    fig = Figure(figsize=(12 if confirmations else 7.5, 4.8), layout="constrained")
    axes = fig.subplots(1, 2 if confirmations else 1, squeeze=False)[0]
    ax = axes[0]
    cells = doc.cells or []
    budgets = doc.budgets_bytes or []
    width = 0.8 / max(1, len(budgets))
    for j, b in enumerate(budgets):
        heights = [
            ((c.get("budgets") or {}).get(str(b)) or {}).get("largest_n") or 0 for c in cells
        ]
        ax.bar(
            [i + (j - (len(budgets) - 1) / 2) * width for i in range(len(cells))],
            [h / 1e6 for h in heights],
            width,
            label=f"largest n under {format_size(b)}",
        )
    ax.set_xticks(
        range(len(cells)), [f"{c['name']}\n({c['concurrency']} at once)" for c in cells], fontsize=8
    )
    ax.set_ylabel(f"largest n at full occupancy (millions of {unit})", fontsize=9)
    if doc.n:
        ax.axhline(doc.n / 1e6, color="black", ls=":", lw=1, label=f"N = {doc.n:,}")
    rec = (doc.recommendation or {}).get("cell")
    for i, c in enumerate(cells):
        if c["name"] == rec:
            ax.annotate(
                "recommended",
                xy=(i, 0),
                xytext=(i, 0),
                ha="center",
                va="bottom",
                fontsize=8,
                color="green",
                weight="bold",
            )
    twin = ax.twinx()
    rps = [(i, (c.get("throughput") or {}).get("rps")) for i, c in enumerate(cells)]
    rps = [(i, r) for i, r in rps if r is not None]
    if rps:
        twin.plot([i for i, _ in rps], [r for _, r in rps], "o", color="black", label="req/s")
        twin.set_ylabel("throughput at its concurrency (req/s)", fontsize=9)
        twin.set_ylim(0, 1.35 * max(r for _, r in rps))
    handles = ax.get_legend_handles_labels()
    more = twin.get_legend_handles_labels()
    ax.legend(handles[0] + more[0], handles[1] + more[1], fontsize=7, loc="upper left")
    ax.set_title("Which configuration takes which n, and how fast it serves", fontsize=10)
    if confirmations:
        bx = axes[1]
        for c in confirmations:
            mem = c.get("memory_bytes") or []
            bx.plot(
                range(1, len(mem) + 1),
                [m / MIB for m in mem],
                lw=1,
                label=f"{c['cell']} ({'passed' if c['passed'] else 'failed'})",
            )
        budget = confirmations[0]["budget_bytes"]
        bx.axhline(budget / MIB, color="red", lw=1.2, label=f"budget {format_size(budget)}")
        bx.axhline(
            budget * (1 - (doc.headroom or 0)) / MIB,
            color="red",
            ls="--",
            lw=1,
            label="budget less the headroom",
        )
        bx.set_xlabel("requests served", fontsize=9)
        bx.set_ylabel("the tree's memory after each request (MiB)", fontsize=9)
        bx.set_ylim(bottom=0)
        bx.legend(fontsize=7, loc="lower right")
        bx.set_title(
            f"Sustained run of the chosen command ({confirmations[0]['mix']})", fontsize=10
        )
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110, metadata={"Software": None})
    return path
