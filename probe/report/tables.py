"""Renderers of the results documents to text (table, json, csv, markdown); they never print.

Every renderer returns a string that ends with one newline. Table and markdown show
human units (binary byte sizes, n with thousands separators, "-" for a missing
value); csv and json keep the raw numbers (csv leaves a missing value empty). The
cells and table primitives are in probe.report.cells.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from probe import stats
from probe.defaults import RECHECK_RATE
from probe.documents.base import Document
from probe.documents.compare import CompareDoc, Row, ratios_of
from probe.documents.matrix import MatrixDoc, Variant
from probe.documents.maxn import MaxNDoc
from probe.report.cells import (
    TableRow,
    csv_text,
    dispatch,
    format_n,
    json_text,
    md_table,
    num,
    one_line,
    per_n,
    text_table,
)  # fmt: skip
from probe.servers.kinds import PREFORK, THREADS
from probe.servers.limits import LIMITS
from probe.sizes import format_bytes


def _limit(doc: Document, counts: bool = False) -> str:
    """'512.0 MiB (as)', with `counts` what that kind counts, 'none' when uncapped."""
    if doc.limit_bytes is None:
        return "none"
    kind = doc.limit_kind
    said = LIMITS[kind].counts if counts and kind in LIMITS else None
    what = f" ({kind}: {said})" if said else (f" ({kind})" if kind else "")
    return format_bytes(doc.limit_bytes) + what


# ---------------------------------------------------------------- max-n

_PROBE_HEADERS = (
    "#",
    "n",
    "outcome",
    "status",
    "elapsed s",
    "peak RSS",
    "sampled RSS",
    "restarts",
    "lane",
    "detail",
)
_PROBE_RIGHT = {0, 1, 3, 4, 5, 6, 7, 8}
_MAXN_DOC_KEYS = (
    "fn",
    "server",
    "limit_bytes",
    "limit_kind",
    "concurrency",
    "critical_n",
    "first_failing_n",
)
_MAXN_PROBE_KEYS = (
    "n",
    "outcome",
    "status",
    "elapsed_s",
    "peak_rss_bytes",
    "peak_rss_sampled_bytes",
    "restarts",
    "lane",
    "detail",
)


def _failure_text(failure: dict | None) -> str:
    """'memory_error, HTTP 507: MemoryError' or '-' when nothing failed."""
    if not failure:
        return "-"
    text = failure.get("kind") or "?"
    if failure.get("status") is not None:
        text += f", HTTP {failure['status']}"
    if failure.get("detail"):
        text += f": {one_line(failure['detail'])}"
    return text


def _precision_text(critical: int | None, failing: int | None) -> str:
    """The gap between the largest passing and the smallest failing n, also in %."""
    if critical is None or failing is None:
        return "-"
    gap = failing - critical
    share = f" ({gap / critical:.1%} of critical n)" if critical > 0 else ""
    return f"{format_n(gap)}{share}"


def _predicted_text(predicted: int | None, found: int | None) -> str:
    """Predicted n, with found/predicted when both are known."""
    if predicted is None:
        return "-"
    if found is None or predicted <= 0:
        return format_n(predicted)
    return f"{format_n(predicted)} (found/predicted {found / predicted:.2f})"


def _maxn_summary(doc: MaxNDoc) -> list[tuple[str, str]]:
    """The header block of a max-n report as (label, value) pairs."""
    critical = doc.critical_n
    return [
        ("workload", _workload_text(doc)),
        ("server", _server_text(doc)),
        ("servers", _servers_text(doc)),
        ("concurrency", format_n(doc.concurrency)),
        ("limit", _limit(doc, counts=True)),
        ("critical n", _n_text(doc, critical)),
        ("first failing n", _n_text(doc, doc.first_failing_n)),
        ("precision", _precision_text(critical, doc.first_failing_n)),
        ("failure", _failure_text(doc.failure)),
        *_body_rows(doc),
        *_non_monotone_rows(doc),
        *_rejected_rows(doc),
        *_recheck_rows(doc),
        *_rate_rows(doc),
        *_warm_rows(doc),
        *_band_rows(doc),
        *_tree_rows(doc),
        *_cgroup_rows(doc),
        (_peak_label(doc), format_bytes(doc.peak_rss_bytes)),
        ("baseline RSS", format_bytes(doc.baseline_rss_bytes)),
        (f"bytes per {per_n(doc.n_unit)}", num(doc.bytes_per_element, 1)),
        ("predicted critical n", _predicted_text(doc.predicted_critical_n, critical)),
        ("strategy", str(doc.strategy or "-")),
        ("probes", str(len(doc.probes or []))),
        *_optional_rows(doc, (("lanes", "lanes"),)),
        ("wall time", num(doc.elapsed_s, 1, " s")),
        *_optional_rows(
            doc, (("confirm", "confirm"), ("stop reason", "stop_reason"), ("status", "status"))
        ),
    ]


def _n_text(doc: MaxNDoc, n: int | None) -> str:
    """n with the workload's unit (--n-unit), if it has one."""
    return format_n(n, doc.n_unit)


def _peak_label(doc: MaxNDoc) -> str:
    """Under a tree budget the peak RSS is one process's, not what the budget counts."""
    return "largest process RSS at critical n" if doc.limit_kind == "tree" else (
        "peak RSS at critical n")  # fmt: skip


def _tree_rows(doc: MaxNDoc) -> list[tuple[str, str]]:
    """Under a tree budget: the tree's charge at its peak at the critical n, and each
    process there (the serving ones are workers, the others the server's own)."""
    if doc.limit_kind != "tree":
        return []
    at = [p for p in doc.probes or [] if p.get("n") == doc.critical_n and p.get("tree_peak")]
    if not at:
        return []
    probe = max(at, key=lambda p: p["tree_peak"].get("charge_bytes", 0))
    peak = probe["tree_peak"]
    rows = [("tree at critical n", f"charge {format_bytes(peak['charge_bytes'])} (the sum of "
             "each process's Pss_Anon, page tables and kernel stacks, as a memory cgroup "
             "counts them)")]  # fmt: skip
    serving = set(probe.get("serving_pids") or [])
    for proc in peak.get("processes", []):
        role = "worker" if proc["pid"] in serving else "server"
        rows.append((f"  pid {proc['pid']} ({role})",
                     f"RSS {format_bytes(proc['rss_bytes'])}, PSS "
                     f"{format_bytes(proc['pss_bytes'])}, private "
                     f"{format_bytes(proc['private_bytes'])}"))  # fmt: skip
    return rows


def _cgroup_rows(doc: MaxNDoc) -> list[tuple[str, str]]:
    """Under the kernel's memory.max: the cgroup's peak at the critical n and what it
    held at the probe's end (memory.stat)."""
    at = [p for p in doc.probes or [] if p.get("n") == doc.critical_n and p.get("cgroup")]
    if doc.limit_kind != "cgroup" or not at:
        return []
    cg = at[-1]["cgroup"]
    stat = cg.get("stat") or {}
    parts = ", ".join(f"{k} {format_bytes(stat[k])}" for k in ("anon", "file", "kernel")
                      if k in stat)  # fmt: skip
    peak = cg.get("peak_bytes")
    return [("cgroup at critical n", (f"memory.peak {format_bytes(peak)}" if peak else "")
             + (f"; after the request {parts} (memory.stat)" if parts else ""))]  # fmt: skip


def _body_rows(doc: MaxNDoc) -> list[tuple[str, str]]:
    """The body's size at both ends, when n sizes the body."""
    ok, bad = doc.body_bytes_at_critical_n, doc.body_bytes_at_first_failing_n
    if ok is None:
        return []
    rows = [("body at critical n", f"{format_n(ok)} B ({format_bytes(ok)}); at first "
             f"failing n {format_n(bad)} B")]  # fmt: skip
    sizes = doc.first_sizes
    if sizes:
        reach = f", at most {format_n(sizes['n_max'])}" if sizes.get("n_max") else ""
        rows.append(
            (
                "first sizes",
                f"from n={format_n(sizes['n_start'])}{reach}, learned "
                f"from the body at n up to {format_n(sizes['learned_from'][-1]['n'])}",
            )
        )
    own = doc.own_peak_rss_bytes
    if own:
        builder = own.get("body_builder")
        made = "" if builder is None else (
            f"; its body builder {format_bytes(builder)} (capped at "
            f"{format_bytes(doc.body_fn_cap_bytes)})")  # fmt: skip
        rows.append(
            (
                "probe's own memory",
                f"peak RSS {format_bytes(own['probe'])} (bodies "
                f"held whole: at most {format_bytes(own['held_max'])}){made}",
            )
        )
    return rows


def _rate_rows(doc: MaxNDoc) -> list[tuple[str, str]]:
    """The failure-rate answer, where fresh servers disagreed at one n."""
    r = doc.rate
    if not r:
        return []
    all_fail = f", all failed from {format_n(r['n_all_fail'])}" if r.get("n_all_fail") else ""
    return [("failure rate", f"at most {r['risk']:.0%} of fresh servers fail up to "
             f"{format_n(r['n_risk_lower'])} ({r['confidence']:.0%} sure; estimate "
             f"{format_n(r['n_risk'])}), half fail at {format_n(r['n50'])}{all_fail}; "
             f"from {r['probes_used']} probes ({r['failures']} failed), "
             f"{r['stop_reason']}"),
            ("search's own pair", f"{format_n(doc.search_critical_n)} / "
             f"{format_n(doc.search_first_failing_n)}")]  # fmt: skip


def _recheck_rows(doc: MaxNDoc) -> list[tuple[str, str]]:
    """How often each end was seen, counting the re-check's fresh servers."""
    r = doc.recheck
    if not r or r.get("agrees") is None:
        return []
    lo, hi = r["critical_n"], r["first_failing_n"]
    seen = (f"critical n ok {lo['ok']} of {lo['tries']}, first failing n failed "
            f"{hi['tries'] - hi['ok']} of {hi['tries']}")  # fmt: skip
    how = f"first request as the port opened and {r['settle_s']:g} s after ready"
    if r["agrees"]:
        # the rate this answers for: how surely its tries would have shown a failure
        caught = stats.catch_probability(lo["tries"], RECHECK_RATE)
        odds = (f"; a service failing 1 time in {round(1 / RECHECK_RATE)} there shows "
                f"it in {lo['tries']} tries with probability {caught:.2f}")  # fmt: skip
        return [("re-checked", f"{seen} ({how}){odds}")]
    return [("re-checked", f"{seen} ({how}): the outcome moves, so the critical n is "
             f"{_moved_answer(doc)}")]  # fmt: skip


def _moved_answer(doc: MaxNDoc) -> str:
    """What the critical n is where the outcome moved between servers or timings."""
    if doc.get("rate"):
        return "the n at which at most the risk of fresh servers fail (failure rate)"
    return "the band's always-ok edge"


def _warm_rows(doc: MaxNDoc) -> list[tuple[str, str]]:
    """The warm phase in one line."""
    w = doc.warm
    if not w:
        return []
    k = w["requests"]
    design = w.get("design") or "requests of 5-100 % of n"  # schema 6 had one design
    if not w["lower"]:
        return [("warm", f"holds: ok after {k} {design}")]
    return [("warm", f"after {k} {design}: ok to {format_n(w['critical_n'])}, "
             f"fails at {format_n(w['first_failing_n'])}; cold (first request) "
             f"{format_n(doc.cold_critical_n)} / {format_n(doc.cold_first_failing_n)}: the "
             "critical n above is the warm one")]  # fmt: skip


def _non_monotone_rows(doc: MaxNDoc) -> list[tuple[str, str]]:
    """One line when a failure came below a success on servers where outcomes are facts."""
    pairs = doc.non_monotone or []
    if not pairs:
        return []
    shown = "; ".join(f"{format_n(p['failed_n'])} failed, {format_n(p['ok_n'])} ok"
                      for p in pairs[:3])  # fmt: skip
    more = f" (+{len(pairs) - 3} more)" if len(pairs) > 3 else ""
    return [("not monotone", f"{shown}{more}: critical n is below every failure")]


def _rejected_rows(doc: MaxNDoc) -> list[tuple[str, str]]:
    """One line when the app refused the first failing n by a limit of its own."""
    if doc.stop_reason != "rejected":
        return []
    status = (doc.failure or {}).get("status")
    return [("app's own limit", f"{format_n(doc.first_failing_n)} refused with HTTP {status} "
             f"and {format_n(doc.critical_n)} taken: the critical n is the app's limit, "
             "memory did not run out below it")]  # fmt: skip


def _workload_text(doc: MaxNDoc) -> str:
    """'cpu_bounded' for a built-in; 'name: app, request (n in ...)' for a user's workload."""
    w = doc.workload or {}
    if doc.fn or not w:
        return str(doc.fn)
    if w.get("n_env"):
        where = f"n in env {w['n_env']}"
    elif w.get("content") or w.get("body_fn"):
        piece = f"n {w.get('n_unit') or 'repeats of a piece'}"
        if w.get("body_fn"):
            piece = f"{w['body_fn']}(n), n in {w.get('n_unit') or 'its unit'}"
        where = (f"an upload of {piece} in field {w['upload']}" if w.get("upload")
                 else f"a body of {piece}")  # fmt: skip
    elif w.get("body_bytes"):
        where = "a body of n bytes"
    elif w.get("upload"):
        where = f"an upload of n bytes in field {w['upload']}"
    elif "{n*" in (w.get("json") or ""):
        where = f"a batch of n {w.get('n_unit') or 'items'}"
    else:
        where = "n in the request"
    what = w.get("app") or w.get("cmd")
    return f"{w.get('name')}: {what}, {w.get('request')} ({where})"


def _server_text(doc: MaxNDoc) -> str:
    """'gunicorn (1 sync worker)' or 'flask (threads of one process)'."""
    server = str(doc.server)
    if doc.role == PREFORK:
        text = f"{server} ({doc.get('workers')} {doc.get('worker_class')} worker(s)"
        if (doc.threads or 1) > 1:
            text += f" x {doc['threads']} threads"
        return text + (", preload)" if doc.preload else ")")
    if doc.role == THREADS:
        return f"{server} (threads of one process)"
    return server


def _servers_text(doc: MaxNDoc) -> str:
    """How the probed servers were started: fresh or warm, which layout."""
    if doc.server == "url" or doc.url:
        return "a server you started (--url): history and layout unknown"
    fresh = doc.fresh
    if fresh is None:
        return "-"
    how = "a fresh server per probe" if fresh else "long-lived servers (--no-fresh)"
    layout = doc.layout or "unknown"
    return f"{how}, layout {layout}"


def _band_rows(doc: MaxNDoc) -> list[tuple[str, str]]:
    """The band in one line, and the full-overlap bound, when measured."""
    rows = []
    band = doc.band
    if band:
        lo, hi, k = band.always_ok_n, band.never_ok_n, band.tries_per_n
        what = band.what or "randomized layouts"
        if lo is not None and hi is not None:
            text = f"ok on all {k} {what} up to {format_n(lo)}, fails on all from {format_n(hi)}"
            if critical := doc.critical_n:
                text += f" ({(lo / critical - 1):+.2%} .. {(hi / critical - 1):+.2%} of critical n)"
        else:
            text = f"not found ({band.get('stop_reason') or 'incomplete'})"
        rows.append(("band", text))
    if doc.search_critical_n is not None:
        moved = bool(doc.recheck) and doc.recheck.get("agrees") is False
        draw = "one server's answer" if moved else "one interleaving of the threads"
        rows.append((
            "search's own draw",
            f"ok at {format_n(doc['search_critical_n'])}, failed at "
            f"{format_n(doc.get('search_first_failing_n'))} ({draw}; "
            f"the critical n above is {_moved_answer(doc)})",
        ))  # fmt: skip
    if doc.safe_n_full_overlap is not None:
        rows.append(("safe n, all overlapping", format_n(doc.safe_n_full_overlap)))
    return rows


def _optional_rows(doc: MaxNDoc, pairs: tuple[tuple[str, str], ...]) -> list[tuple[str, str]]:
    """(label, value) for each key the document has a value for; older documents lack them."""
    return [(label, str(doc[key])) for label, key in pairs if doc.get(key) is not None]


def _probe_rows(doc: MaxNDoc) -> list[list[str]]:
    """One display row per probe, in the order the search ran them."""
    return [
        [
            str(i),
            format_n(p.get("n")),
            str(p.get("outcome")),
            "-" if p.get("status") is None else str(p["status"]),
            num(p.get("elapsed_s"), 2),
            format_bytes(p.get("peak_rss_bytes")),
            format_bytes(p.get("peak_rss_sampled_bytes")),
            str(p.get("restarts", 0)),
            "-" if p.get("lane") is None else str(p["lane"]),
            one_line(p.get("detail")) or "-",
        ]
        for i, p in enumerate(doc.probes or [], start=1)
    ]


def _maxn_table(doc: MaxNDoc) -> str:
    summary = _maxn_summary(doc)
    width = max(len(label) for label, _ in summary)
    head = "".join(f"{label.ljust(width)}  {value}\n" for label, value in summary)
    return head + "\n" + text_table(_PROBE_HEADERS, _probe_rows(doc), _PROBE_RIGHT)


def _maxn_markdown(doc: MaxNDoc) -> str:
    summary = md_table(("quantity", "value"), _maxn_summary(doc), set())
    return summary + "\n" + md_table(_PROBE_HEADERS, _probe_rows(doc), _PROBE_RIGHT)


def _maxn_csv(doc: MaxNDoc) -> str:
    """One row per probe, the document's identifying fields repeated on each."""
    head = [doc.get(k) for k in _MAXN_DOC_KEYS]
    rows = [
        [*head, i, *(p.get(k) for k in _MAXN_PROBE_KEYS)]
        for i, p in enumerate(doc.probes or [], start=1)
    ]
    return csv_text((*_MAXN_DOC_KEYS, "probe", *_MAXN_PROBE_KEYS), rows)


def render_maxn(doc: dict, fmt: str) -> str:
    """A max-n results document as text in `fmt` (table, json, csv, markdown)."""
    doc = MaxNDoc.of(doc)
    return dispatch(
        fmt,
        {
            "table": lambda: _maxn_table(doc),
            "json": lambda: json_text(doc),
            "csv": lambda: _maxn_csv(doc),
            "markdown": lambda: _maxn_markdown(doc),
        },
    )


# ---------------------------------------------------------------- matrix

_MATRIX_HEADERS = (
    "server",
    "fn",
    "n",
    "n source",
    "wall s",
    "ok",
    "failed",
    "min s",
    "p50 s",
    "p95 s",
    "max s",
    "mean s",
    "req/s",
    "in flight",
)
_MATRIX_RIGHT = {2, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13}
_LATENCY_KEYS = ("min", "p50", "p95", "max", "mean")
_MATRIX_CSV = (
    "server",
    "fn",
    "n",
    "n_source",
    "wall_s",
    "ok",
    "failed",
    *(f"latency_{k}_s" for k in _LATENCY_KEYS),
    "throughput_rps",
    "max_in_flight",
    "log",
)


def _variant_row(v: Variant) -> list[str]:
    """One display row of a matrix variant."""
    latency = v.latency_s or {}
    return [
        str(v.server),
        str(v.fn),
        format_n(v.n),
        str(v.n_source or "-"),
        num(v.wall_s, 2),
        format_n(v.ok),
        format_n(v.failed),
        *(num(latency.get(k), 3) for k in _LATENCY_KEYS),
        num(v.throughput_rps, 2),
        format_n(v.max_in_flight),
    ]


def _matrix_heading(doc: MatrixDoc) -> str:
    requests, concurrency = format_n(doc.requests), format_n(doc.concurrency)
    return f"requests={requests}  concurrency={concurrency}  limit={_limit(doc)}\n"


def _matrix_table(doc: MatrixDoc) -> str:
    rows = [_variant_row(v) for v in doc.variants or []]
    return _matrix_heading(doc) + "\n" + text_table(_MATRIX_HEADERS, rows, _MATRIX_RIGHT)


def _matrix_markdown(doc: MatrixDoc) -> str:
    rows = [_variant_row(v) for v in doc.variants or []]
    return _matrix_heading(doc) + "\n" + md_table(_MATRIX_HEADERS, rows, _MATRIX_RIGHT)


def _matrix_csv(doc: MatrixDoc) -> str:
    """One row per variant; latency flattened into latency_<stat>_s columns."""
    rows = []
    for v in doc.variants or []:
        latency = v.latency_s or {}
        rows.append(
            [v.get(k) for k in _MATRIX_CSV[:7]]
            + [latency.get(k) for k in _LATENCY_KEYS]
            + [v.throughput_rps, v.max_in_flight, v.log]
        )
    return csv_text(_MATRIX_CSV, rows)


def render_matrix(doc: dict, fmt: str) -> str:
    """A matrix results document as text in `fmt` (table, json, csv, markdown)."""
    doc = MatrixDoc.of(doc)
    return dispatch(
        fmt,
        {
            "table": lambda: _matrix_table(doc),
            "json": lambda: json_text(doc),
            "csv": lambda: _matrix_csv(doc),
            "markdown": lambda: _matrix_markdown(doc),
        },
    )


# ---------------------------------------------------------------- compare

_COMPARE_HEADERS = (
    "server",
    "concurrency",
    "fn",
    "critical n",
    "first failing n",
    "bytes/element",
    "baseline RSS",
    "peak RSS",
    "s per 1M",
    "source",
)
_COMPARE_RIGHT = {1, 3, 4, 5, 6, 7, 8}
_COMPARE_CSV = (
    "server",
    "concurrency",
    "fn",
    "critical_n",
    "first_failing_n",
    "bytes_per_element",
    "baseline_rss_bytes",
    "peak_rss_bytes",
    "seconds_per_million",
    "source",
    "numpy_over_python",
)


def _compare_row(r: Row) -> list[str]:
    return [
        str(r.server),
        format_n(r.concurrency),
        str(r.fn),
        format_n(r.critical_n),
        format_n(r.first_failing_n),
        num(r.bytes_per_element, 1),
        format_bytes(r.baseline_rss_bytes),
        format_bytes(r.peak_rss_bytes),
        num(r.seconds_per_million, 3),
        str(r.source or "-"),
    ]


def _ratios(doc: CompareDoc) -> list[dict]:
    """The document's ratios, or ones computed from its rows when it has none."""
    return doc.ratios or ratios_of(doc.rows or [])


def _ratio_rows(doc: CompareDoc) -> list[list[str]]:
    return [
        [str(x.server), format_n(x.concurrency), num(x.numpy_over_python, 2, "x")]
        for x in _ratios(doc)
    ]


_RATIO_HEADERS = ("server", "concurrency", "numpy / pure Python critical n")


Table = Callable[[TableRow, Sequence[TableRow], set[int]], str]  # text_table or md_table


def _compare_text(doc: CompareDoc, table: Table) -> str:
    rows = [_compare_row(r) for r in doc.rows or []]
    return (
        f"limit={_limit(doc)}\n\n"
        + table(_COMPARE_HEADERS, rows, _COMPARE_RIGHT)
        + "\n"
        + table(_RATIO_HEADERS, _ratio_rows(doc), {1, 2})
    )


def _compare_csv(doc: CompareDoc) -> str:
    """One row per (server, concurrency, fn), with its group's numpy/python ratio."""
    ratio = {(x.server, x.concurrency): x.numpy_over_python for x in _ratios(doc)}
    rows = [
        [r.get(k) for k in _COMPARE_CSV[:-1]] + [ratio.get((r.server, r.concurrency))]
        for r in doc.rows or []
    ]
    return csv_text(_COMPARE_CSV, rows)


def render_compare(doc: dict, fmt: str) -> str:
    """A compare document as text in `fmt` (table, json, csv, markdown)."""
    doc = CompareDoc.of(doc)
    return dispatch(
        fmt,
        {
            "table": lambda: _compare_text(doc, text_table),
            "json": lambda: json_text(doc),
            "csv": lambda: _compare_csv(doc),
            "markdown": lambda: _compare_text(doc, md_table),
        },
    )
