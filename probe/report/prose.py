"""The report's discussion: every sentence computed from the measured documents.

Pure: documents in, markdown lines out. Each section reads the numbers it needs,
decides which statement they support (parallel or queued, the same or smaller, a
ratio that bytes per element accounts for or not) and words it accordingly; with other
numbers it says other things, and without the numbers it says what is missing.

Servers are spoken of by their kind's role (probe.servers.kinds: THREADS, PREFORK), with
their name as the example: "the threaded server (flask)". The sections that set one
role against another find each role's server in the documents (Study.by_role), so no
sentence keys on a server's name; a role missing from the study is said to be missing.
"""

from __future__ import annotations

import statistics
from collections import Counter

from probe.report.cells import format_n, md_table
from probe.report.facts import (
    INT64_BYTES,
    INT_OBJECT_BYTES,
    POINTER_BYTES,
    Lines,
    Study,
    ambiguous_range,
    bold_name,
    first_end_last_start,
    flight,
    io_sleep_s,
    is_parallel,
    is_queue,
    latencies,
    long_name,
    missing_roles,
    one_at_a_time,
    opening_name,
    possessive,
    reference_variant,
    relation,
    role_word,
    shares_one_process,
    short_name,
    worker_text,
)  # fmt: skip
from probe.servers.kinds import PREFORK, THREADS
from probe.sizes import format_bytes
from probe.workload.seminar import IO_FN, NUMPY_FN, PYTHON_FN

# ---------------------------------------------------------------- sections


def in_flight_section(study: Study) -> Lines:
    """How many requests each server had in flight, from pids, threads and intervals."""
    if not study.matrix:
        return ["No matrix results: run `probe matrix` to measure what each server runs at once."]
    lines = []
    for server in study.servers:
        v = reference_variant(study, server)
        if v is None:
            continue
        lines.append(
            "- " + _flight_sentence(bold_name(study, server), v) + _other_variants(study, server, v)
        )
    lines.append("")
    lines.append(
        "In flight means being worked on at the server: each request's interval runs from "
        "its answer's arrival back by the time the server reported spending in the "
        "predictor, and requests served by the same thread of the same process never "
        "count twice; waiting in the listening socket's backlog is not in flight."
    )
    return lines


def _flight_sentence(who: str, v: dict) -> str:
    k, requests, pids, threads = flight(v)
    where = f"{_count(threads, 'thread')} of {_count(pids, 'process', 'processes')}"
    if k >= requests > 1:
        return (
            f"{who} worked on all {requests} {v.fn} requests at once ({k} in flight), in {where}."
        )
    if k == 1:
        return (
            f"{who} worked on one {v.fn} request at a time (at most 1 in flight): "
            f"all {requests} went through {where}, the rest waited in the socket's backlog."
        )
    return f"{who} had at most {k} of {requests} {v.fn} requests in flight, in {where}."


def _other_variants(study: Study, server: str, ref: dict) -> str:
    others = [v for v in study.variants if v.server == server and v != ref]
    if not others:
        return ""
    parts = [f"{v.fn} {v.max_in_flight}" for v in others]
    lower = [v for v in others if (v.max_in_flight or 0) < (ref.max_in_flight or 0)]
    text = f" Other predictors: {', '.join(parts)}."
    for v in lower:
        overlap = first_end_last_start(v)
        if overlap and overlap[0] < overlap[1]:
            text += (
                f" For {v.fn} the first answer left the server at {overlap[0]:.3f} s, before "
                f"the last request entered the predictor at {overlap[1]:.3f} s, so not all "
                f"overlapped."
            )
    return text


def _count(k: int, word: str, plural: str | None = None) -> str:
    return f"{k} {word if k == 1 else plural or word + 's'}"


def failures_section(study: Study) -> Lines:
    """Which requests of the load failed, how, and where their n lay against the search's."""
    variants = study.variants
    if not variants:
        return []
    failed = [v for v in variants if v.failed]
    if not failed:
        total = sum(len(v.requests or []) for v in variants)
        return [
            f"All {total} requests of the {len(variants)} variants succeeded, every price exact."
        ]
    return [_failure_sentence(study, v) for v in failed]


def _failure_sentence(study: Study, v: dict) -> str:
    requests = v.requests or []
    kinds = Counter(r.get("kind") for r in requests if r.get("kind") != "ok")
    what = ", ".join(f"{kind} x{count}" for kind, count in kinds.most_common())
    short = short_name(study, v.server)
    who = f"**{v.fn} on {short}**" + ("" if short == v.server else f" ({v.server})")
    text = f"- {who}: {v.failed} of {len(requests)} failed ({what})"
    c = study.load_concurrency or 0
    crit, n = study.critical(v.server, v.fn, c), v.n
    if crit and n:
        text += f" at n = {format_n(n)}, {n / crit:.2f} of its critical n under the load"
        text += _against_search(study, v, n, c)
    errors = v.server_errors or {}
    if errors:
        text += "; the server logged " + ", ".join(f"{e} (x{k})" for e, k in errors.items())
    return text + "."


def _against_search(study: Study, v: dict, n: int, c: int) -> str:
    searched = study.maxn.get((v.server, v.fn, c))
    probes = (searched.probes if searched else None) or []
    failures = [p["n"] for p in probes if p.get("outcome") != "ok"]
    if not failures:
        return ""
    lowest = min(failures)
    if n >= lowest:
        return f", at or above the smallest n its search saw fail ({format_n(lowest)})"
    text = f", below every n its search saw fail (the smallest {format_n(lowest)})"
    if shares_one_process(study, v.server):
        text += (
            ": with the requests sharing one process's cap, whether one fails depends on how "
            "much the others hold at that moment, so the margin lowers the risk but does not "
            "remove it"
        )
    return text


def io_section(study: Study) -> Lines:
    """Why io_bounded takes about one sleep on one server and 1..N sleeps on the other."""
    lines = []
    for server in study.servers:
        v = study.variant(server, IO_FN)
        if v is None:
            continue
        lines.append("- " + _io_sentence(bold_name(study, server), v))
    if not lines:
        return ["No io_bounded variant was measured."]
    return lines


def _io_sentence(who: str, v: dict) -> str:
    lats, sleep = latencies(v), io_sleep_s(v)
    k, requests, _, _ = flight(v)
    wall = v.wall_s or 0.0
    if not lats or sleep is None:
        return f"{who}: no io_bounded request succeeded, so there is no latency to explain."
    mean = statistics.fmean(lats)
    if is_parallel(lats, sleep):
        return (
            f"{who}: every request took {lats[0]:.2f} to {lats[-1]:.2f} s, about the "
            f"{sleep:.2f} s the predictor sleeps: the {requests} sleeps overlapped ({k} in "
            f"flight), so the whole load took {wall:.2f} s."
        )
    if is_queue(lats, sleep):
        shown = ", ".join(f"{x:.1f}" for x in lats)
        return (
            f"{who}: the latencies were {shown} s (mean {mean:.2f} s), about 1, 2, ..., "
            f"{len(lats)} times the {sleep:.2f} s sleep: with {k} request in flight at a time, "
            f"each waited for the ones before it, and the load took {wall:.2f} s, about "
            f"{len(lats)} sleeps. The sleep itself stayed {sleep:.2f} s (as the server "
            f"reported it); only the queue in front of it grew."
        )
    return (
        f"{who}: latencies from {lats[0]:.2f} to {lats[-1]:.2f} s (mean {mean:.2f} s) "
        f"against a {sleep:.2f} s sleep, with up to {k} in flight: neither all parallel nor "
        f"a plain queue."
    )


def load_section(study: Study) -> Lines:
    """Why the threaded server's critical n under load is a fraction of the pre-fork one's."""
    c = study.load_concurrency
    if not study.compare or not c:
        return ["No compare results: run `probe compare` for the critical n under load."]
    missing = missing_roles(study, THREADS, PREFORK)
    if missing:
        return [
            f"The critical n under the load sets a threaded server against a pre-fork one; "
            f"these results have {missing}."
        ]
    threads, prefork = study.by_role(THREADS), study.by_role(PREFORK)
    lines = [_load_sentence(study, threads, prefork, fn, c) for fn in (PYTHON_FN, NUMPY_FN)]
    lines = [line for line in lines if line]
    if not lines:
        return [
            f"The compare results lack the rows at concurrency 1 and {c} of "
            f"{long_name(study, threads)} and {long_name(study, prefork)}."
        ]
    return lines + [""] + _idle_gap(study, threads, prefork) + _load_why(study, c)


def _idle_gap(study: Study, threads: str, prefork: str) -> Lines:
    """Why the servers differ for a single request: the idle address space under the cap."""
    f, g = study.row(threads, NUMPY_FN, 1), study.row(prefork, NUMPY_FN, 1)
    if not f or not g or not f.baseline_vms_bytes or not g.baseline_vms_bytes:
        return []
    fv, gv = f.baseline_vms_bytes, g.baseline_vms_bytes
    if not f.critical_n or not g.critical_n or fv == gv:
        return []
    smaller = threads if f.critical_n < g.critical_n else prefork
    larger_vms = threads if fv > gv else prefork
    because = "consistent with" if smaller == larger_vms else "despite"
    t, p = short_name(study, threads), short_name(study, prefork)
    return [
        f"For a single request {possessive(short_name(study, smaller))} critical n is the "
        f"smaller one, {because} the idle address space of the serving process: "
        f"{format_bytes(fv)} for {possessive(t)} one process against {format_bytes(gv)} for "
        f"{possessive(p)} worker, which the cap counts before the first element is built.",
        "",
    ]


def _load_sentence(study: Study, threads: str, prefork: str, fn: str, c: int) -> str | None:
    f1, fc = study.critical(threads, fn, 1), study.critical(threads, fn, c)
    g1, gc = study.critical(prefork, fn, 1), study.critical(prefork, fn, c)
    if not all((f1, fc, g1, gc)):
        return None
    t, p = short_name(study, threads), short_name(study, prefork)
    tw, pw = role_word(study, threads), role_word(study, prefork)
    return (
        f"- **{fn}**: alone, {long_name(study, threads)} {format_n(f1)} and "
        f"{long_name(study, prefork)} {format_n(g1)}; with {c} at once, {tw} {format_n(fc)} "
        f"({relation(fc, f1)}) and {pw} {format_n(gc)} ({relation(gc, g1)}). Under the load "
        f"{possessive(t)} critical n is 1/{gc / fc:.1f} of {possessive(p)}."
    )


def _load_why(study: Study, c: int) -> Lines:
    """The threaded server's shared cap, then the pre-fork server's cap per worker."""
    threads, prefork = study.by_role(THREADS), study.by_role(PREFORK)
    lines = []
    if threads and shares_one_process(study, threads):
        _, _, _, n_threads = flight(reference_variant(study, threads))
        lines.append(
            f"Why {short_name(study, threads)}: it ran the requests as {n_threads} threads of "
            f"one process, and {study.cap_name} caps a whole process, so the {c} lists (or "
            f"arrays) and the threads' stacks shared one {study.limit_text}: each request can "
            f"have about 1/{c} of what it has alone." + _threads_deviation(study, threads, c)
        )
    elif threads and study.matrix:
        lines.append(
            f"The variants of {long_name(study, threads)} did not run several requests in "
            f"one process here."
        )
    lines.append("")
    if prefork and one_at_a_time(study, prefork):
        lines.append(
            f"Why {short_name(study, prefork)}: its one {worker_text(study, prefork)} ran one "
            f"request at a time, so each had the whole {study.limit_text} to itself; under "
            f"the load its critical n was {_prefork_change(study, prefork, c)}. The cap "
            f"applies per process (every worker carries its own {study.cap_name} limit): "
            f"each added worker would get a cap of its own."
        )
    elif prefork and study.matrix:
        lines.append(
            f"The variants of {long_name(study, prefork)} did not serve one request at a time here."
        )
    return lines


def _prefork_change(study: Study, prefork: str, c: int) -> str:
    """'the same within 2% for cpu_bounded, ...' from the pre-fork server's rows at 1 and c."""
    parts = []
    for fn in (PYTHON_FN, NUMPY_FN):
        one, many = study.critical(prefork, fn, 1), study.critical(prefork, fn, c)
        if one and many:
            parts.append(f"{relation(many, one)} for {fn}")
    return " and ".join(parts) if parts else "not measured at both concurrencies"


def _threads_deviation(study: Study, threads: str, c: int) -> str:
    """What the fitted slopes say about how many requests' worth were held at once."""
    one, many = study.row(threads, PYTHON_FN, 1), study.row(threads, PYTHON_FN, c)
    if not one or not many:
        return ""
    text = ""
    b1, bc = one.bytes_per_element, many.bytes_per_element
    f1, fc = one.critical_n, many.critical_n
    if b1 and bc and f1 and fc:
        held = bc / b1
        text += (
            f" For {PYTHON_FN} the process grew by {bc:.0f} B per unit of n under the load "
            f"against {b1:.1f} B alone: about {held:.1f} requests' worth held at once"
        )
        text += (
            f", fewer than {c}, which is why its critical n fell {f1 / fc:.1f}x rather "
            f"than {c}x (threads take turns under the GIL, and a finished request frees its "
            f"list while others still grow)."
            if held < 0.8 * c
            else f", close to all {c}."
        )
    fuzzy = ambiguous_range(study.maxn.get((threads, PYTHON_FN, c)))
    if fuzzy:
        text += (
            f" The boundary is not sharp there: in the search, n from {format_n(fuzzy[0])} "
            f"to {format_n(fuzzy[1])} both failed and succeeded, depending on how the "
            f"threads interleaved."
        )
    return text


def numpy_section(study: Study) -> Lines:
    """The numpy / pure-Python ratio of critical n and its cause, bytes per element."""
    ratios = [r for r in study.ratios if r.numpy_over_python]
    if not ratios:
        return ["No compare results with both predictors: run `probe compare`."]
    values = [r.numpy_over_python for r in ratios]
    listed = "; ".join(
        f"{short_name(study, r['server'])} at concurrency {r['concurrency']}: "
        f"{r['numpy_over_python']:.1f}x"
        for r in ratios
    )
    lines = [
        f"numpy's critical n was {min(values):.1f}x to {max(values):.1f}x pure Python's ({listed})."
    ]
    cause = _bytes_cause(study)
    if cause:
        lines.append("")
        lines.append(cause)
    speed = _speed(study)
    if speed:
        lines.append("")
        lines.append(speed)
    return lines


def _single_rows(study: Study) -> tuple[dict, dict] | None:
    """(pure Python, numpy) rows for one request, on the first server that has both."""
    for server in study.servers:
        py, np_ = study.row(server, PYTHON_FN, 1), study.row(server, NUMPY_FN, 1)
        if py and np_ and py.bytes_per_element and np_.bytes_per_element:
            return py, np_
    return None


def _bytes_cause(study: Study) -> str | None:
    pair = _single_rows(study)
    if pair is None:
        return None
    py, np_ = pair
    b_py, b_np = py.bytes_per_element, np_.bytes_per_element
    n_ratio = np_.critical_n / py.critical_n
    b_ratio = b_py / b_np
    verdict = (
        "accounts for the ratio of critical n"
        if abs(b_ratio / n_ratio - 1) <= 0.2
        else "explains only part of the ratio of critical n"
    )
    server, short = py.server, short_name(study, py.server)
    where = f"{server} (one request)" if short == server else f"{short} ({server}, one request)"
    return (
        f"Cause: memory per element. On {where} the fitted slope was "
        f"{b_py:.1f} B per element for the list and {b_np:.1f} B for the array. An int64 "
        f"array stores {INT64_BYTES} B per element; a list stores a pointer of {POINTER_BYTES} B "
        f"per element to an int object of {INT_OBJECT_BYTES} B (this Python), "
        f"{POINTER_BYTES + INT_OBJECT_BYTES} B before the allocator's overhead. The ratio "
        f"of bytes, {b_ratio:.1f}x, {verdict} ({n_ratio:.1f}x); the rest is the fixed "
        f"baseline both share ({format_bytes(py.baseline_rss_bytes)} RSS at rest)."
    )


def _speed(study: Study) -> str | None:
    """Seconds per million elements, numpy against pure Python, per server (one request)."""
    parts, factors = [], []
    for server in study.servers:
        py, np_ = study.row(server, PYTHON_FN, 1), study.row(server, NUMPY_FN, 1)
        s_py = py.seconds_per_million if py else None
        s_np = np_.seconds_per_million if np_ else None
        if s_py and s_np:
            factors.append(s_py / s_np)
            parts.append(f"{short_name(study, server)}: {s_np:.3f} s against {s_py:.3f} s")
    if not factors:
        return None
    span = _speed_span(min(factors), max(factors))
    return (
        f"Time: at its critical n numpy built and averaged its elements {span} "
        f"({'; '.join(parts)} per million elements)."
    )


def _speed_span(lo: float, hi: float) -> str:
    """'19x to 51x faster than pure Python', '... slower than ...', '... as fast as ...'."""
    if lo >= 1.5:
        return f"{_span(lo, hi, 0)} faster than pure Python"
    if hi <= 1 / 1.5:
        return f"{_span(1 / hi, 1 / lo, 0)} slower than pure Python"
    return f"{_span(lo, hi, 1)} as fast as pure Python"


def _span(lo: float, hi: float, digits: int) -> str:
    """'19x to 51x', or '20x' when both round alike."""
    a, b = f"{lo:.{digits}f}x", f"{hi:.{digits}f}x"
    return a if a == b else f"{a} to {b}"


def seminar_section(study: Study) -> Lines:
    """What the seminar's report got wrong, checked against these measurements.

    The seminar compared Flask's dev server with gunicorn: its claims are quoted by those
    names, and checked on the server of each role that these results measured.
    """
    lines = [
        _claim_missing(study),
        _claim_parallel(study),
        _claim_io(study),
        _claim_threads_n(study),
        _claim_logs(study),
    ]
    return [f"- {line}" for line in lines if line]


def _claim_missing(study: Study) -> str | None:
    missing = missing_roles(study, THREADS, PREFORK)
    if not (study.matrix or study.compare) or not missing:
        return None
    return (
        f"Its claims set Flask's threaded dev server against gunicorn's pre-fork workers; "
        f"these results have {missing}, so the claims that need both are not checked here."
    )


def _claim_parallel(study: Study) -> str | None:
    threads, prefork = study.by_role(THREADS), study.by_role(PREFORK)
    if not study.matrix or not threads or not prefork:
        return None
    threads_k, _, _, _ = flight(reference_variant(study, threads))
    prefork_k, _, _, _ = flight(reference_variant(study, prefork))
    t, p = long_name(study, threads), long_name(study, prefork)
    said = (
        'The report says the requests were "processed sequentially" and, for the same '
        'run, that gunicorn "processes requests in parallel".'
    )
    if threads_k > 1 and prefork_k == 1:
        return (
            f"{said} Measured: {t} had {threads_k} requests in flight at once; {p} with one "
            f"{worker_text(study, prefork)} had 1. {opening_name(study, threads)} ran them "
            f"in parallel, {short_name(study, prefork)} one after another."
        )
    return f"{said} Measured: {t} had at most {threads_k}, {p} {prefork_k} in flight."


def _claim_io(study: Study) -> str | None:
    prefork = study.by_role(PREFORK)
    v = study.variant(prefork, IO_FN) if prefork else None
    sleep = io_sleep_s(v) if v else None
    if not v or sleep is None:
        return None
    lats = latencies(v)
    said = "It calls gunicorn's 1..10 s io_bounded latencies more realistic."
    on = long_name(study, prefork)
    if is_queue(lats, sleep):
        return (
            f"{said} Measured on {on}: they are a queue ({lats[0]:.1f} to {lats[-1]:.1f} s, "
            f"each about one more {sleep:.2f} s sleep), the cost of one "
            f"{worker_text(study, prefork)}, not of realism."
        )
    return f"{said} Measured here on {on}: {lats[0]:.2f} to {lats[-1]:.2f} s, not a plain queue."


def _claim_threads_n(study: Study) -> str | None:
    threads, prefork = study.by_role(THREADS), study.by_role(PREFORK)
    if not threads or not prefork:
        return None
    c = study.load_concurrency or 0
    fc, gc = study.critical(threads, PYTHON_FN, c), study.critical(prefork, PYTHON_FN, c)
    if not fc or not gc:
        return None
    why = (
        f"that the requests ran as threads of one process and shared one cap, while "
        f"{possessive(short_name(study, prefork))} worker held one request at a time"
        if shares_one_process(study, threads) and one_at_a_time(study, prefork)
        else "in the servers' concurrency as measured above"
    )
    return (
        f"It does not explain why Flask's dev server fails at a much smaller n under the "
        f"load. Measured: {format_n(fc)} on {long_name(study, threads)} against "
        f"{format_n(gc)} on {long_name(study, prefork)} for {PYTHON_FN} (1/{gc / fc:.1f}); "
        f"the cause is {why}."
    )


def _claim_logs(study: Study) -> str | None:
    variants = study.variants
    if not variants:
        return None
    said = "It links logs of the wrong variant."
    wrong = [v.log for v in variants if not _log_matches(study, v)]
    if not wrong:
        return (
            f"{said} Here each of the {len(variants)} logs was written by the run it is named "
            f"after, and its summary names that run's server and predictor (checked now)."
        )
    return f"{said} Here too, check: {', '.join(str(w) for w in wrong)} do not match their run."


def _log_matches(study: Study, variant: dict) -> bool:
    """The variant's log exists and its summary names the variant's server and fn."""
    text = study.logs.get(str(variant.log))
    return bool(text) and f"# server={variant.server} fn={variant.fn} " in text


# What the students found (shared/seminar/README.md): machines of a few GB, no cap.
# gunicorn (pre-fork) over Flask's dev server (threaded), critical n under the 10-request load
SEMINAR_GUNICORN_OVER_FLASK = (9.0, 10.0)
SEMINAR_NUMPY_OVER_PYTHON = (4.5, 5.0)


def students_section(study: Study) -> Lines:
    """The students' ratios against the measured ones (absolute n depends on the cap)."""
    c = study.load_concurrency or 0
    threads, prefork = study.by_role(THREADS), study.by_role(PREFORK)
    lines = []
    missing = missing_roles(study, THREADS, PREFORK)
    if missing and study.compare:
        lines.append(
            f"- The students' gunicorn-over-Flask ratio under the load needs a pre-fork and "
            f"a threaded server; these results have {missing}."
        )
    for fn in (PYTHON_FN, NUMPY_FN) if threads and prefork else ():
        fc, gc = study.critical(threads, fn, c), study.critical(prefork, fn, c)
        if fc and gc:
            pw, tw = role_word(study, prefork), role_word(study, threads)
            lines.append(
                f"- {pw} over {tw} ({prefork} over {threads}) under the load, {fn}: "
                f"{gc / fc:.1f}x here, {_against(gc / fc, SEMINAR_GUNICORN_OVER_FLASK)}."
            )
    for r in study.ratios:
        if r.numpy_over_python and r.concurrency == 1:
            x = r.numpy_over_python
            lines.append(
                f"- numpy over pure Python, {long_name(study, r['server'])}, one request: "
                f"{x:.1f}x here, "
                f"{_against(x, SEMINAR_NUMPY_OVER_PYTHON)}."
            )
    return lines


def _against(x: float, band: tuple[float, float]) -> str:
    lo, hi = band
    where = "within" if lo <= x <= hi else "below" if x < lo else "above"
    return f"{where} the students' {lo:g}-{hi:g}x"


# ---------------------------------------------------------------- the band


def band_section(study: Study) -> Lines:
    """How far the boundary moves on servers started anew: the bands the searches measured.

    The critical n of each search holds on every fresh server with a fixed layout (each
    probe ran on one); a production server runs with the kernel's randomized layout, and
    threads at concurrency > 1 also with the scheduler's interleaving, so the bands say
    how far such a server can stray from that answer.
    """
    rows = [
        (key, doc) for key, doc in sorted(study.maxn.items(), key=lambda kv: (kv[0][2], kv[0]))
        if doc.band and doc.band.always_ok_n and doc.critical_n
    ]  # fmt: skip
    if not rows:
        return []
    headers = (
        "server", "workload", "requests at once", "critical n (fixed layout)", "varies with",
        "ok on every try up to", "failed on every try from", "band width",
    )  # fmt: skip
    table = []
    for (server, fn, c), doc in rows:
        band = doc.band
        lo, hi, k = band.always_ok_n, band.never_ok_n, band.tries_per_n
        what = f"{k} {band.what or 'randomized layouts'}"
        width = f"{hi / lo - 1:.1%}" if hi else "-"
        word = role_word(study, server)
        who = server if word == server else f"{word} ({server})"
        table.append([who, fn, str(c), format_n(doc.critical_n), what, format_n(lo),
                      format_n(hi), width])  # fmt: skip
    lines = md_table(headers, table, right={2, 3, 5, 6, 7}).rstrip("\n").split("\n")
    lines += ["", *_band_sentences(study, rows)]
    return lines


def _band_sentences(study: Study, rows: list[tuple[tuple[str, str, int], dict]]) -> Lines:
    out = []
    for (server, fn, c), doc in rows:
        band, crit = doc.band, doc.critical_n
        lo, hi = band.always_ok_n, band.never_ok_n
        if c == 1 and band.layout == "random":
            where = f"{format_n(lo)} to {format_n(hi)}" if hi else f"at least {format_n(lo)}"
            out.append(
                f"- {fn} on {long_name(study, server)}: a server started with the kernel's "
                f"randomized layout, as in production, answered every try up to {format_n(lo)} "
                f"({lo / crit - 1:+.1%} from the fixed-layout critical n) and failed every "
                f"try from {format_n(hi) if hi else '-'}; its boundary lies in {where}."
            )
        elif c > 1:
            safe = doc.safe_n_full_overlap
            bound = (
                f" If all {c} requests were in memory at once, n = {format_n(safe)} would fit."
                if safe else ""
            )  # fmt: skip
            out.append(
                f"- {fn} on {long_name(study, server)}, {c} at once: with the threads' "
                f"interleaving left to the scheduler, fresh servers with the same layout "
                f"succeeded every time up to {format_n(lo)} and failed every time from "
                f"{format_n(hi) if hi else '-'}; the load (`--n auto`) builds on the "
                f"always-ok edge.{bound}"
            )
    return out
