"""Is the search's answer one a user can trust? Pure judgments over the probes.

Three questions, each answered from probes alone (no I/O), so they are unit-tested
against made-up probes and run on every real search:

- The re-check (`recheck_plan`, `recheck_agrees`): the search probes each n once on a
  fresh server, taking an outcome on a fixed layout as a fact. That is an assumption,
  and it failed for uvicorn and gthread servers (the outcome moved with when the first
  request came). So both ends are probed again on fresh servers that differ as a user's
  would: the first request as soon as the port accepts, and `settle_s` after the workers
  wait. If every re-probe agrees the answer stands; if not, the outcome is not a fact
  for this server and the caller measures the band.
- Did n reach the app (`n_never_reached`)? If the capped quantity does not grow with n
  over the successes, nothing the request carried was held: n went nowhere, or the app
  ignores it (the peak RSS, not the address space: a server started at n may map or
  unmap a thread's stack by timing). If every answer is the same while `--expect` does not name n
  (`same_answer`), the app may not have read n either (a CSV of 0 rows at every n).
- Can the search go on (`refused_at_once`)? A 4xx other than the app's own size limits,
  or a wrong answer, before anything succeeded is a wrong path, method or body: the
  search would only walk down to n = 1.
"""

from __future__ import annotations

from collections.abc import Sequence

from probe.outcome import REJECTING, Kind, Probe

AT_PORT = 0.0  # a re-probe's timing: the request sent as soon as the port accepts
# the capped quantity grew by less than this over the successes: n did not reach the app
FLAT_BYTES = 1 << 20
FLAT_SPAN = 64  # ...provided the successes span at least this factor in n
SAME_ANSWERS = 3  # this many successes at distinct n, all answered alike, span >= 4x


def recheck_plan(lo: int, hi: int, settle_s: float, probes: Sequence[Probe] = (),
                 tries_at_lo: int = 1) -> list[tuple[int, float | None]]:  # fmt: skip
    """(n, timing) of the re-check: both ends as the port opens, then each end settled
    unless the search already sent it `settle_s` or more after the workers waited (its
    spare server booted while the previous probe ran: that sample is the settled one).
    The failing end first in each pair: its re-probe is the likelier to disagree. Then
    more tries at lo, as the search sends its probes (timing None: a spare once its
    workers wait, no settle to wait out), until lo has `tries_at_lo` in all (the
    search's own counted): so that a service failing there now and then shows it
    (probe.defaults.RECHECK_TRIES)."""
    plan = [(hi, AT_PORT), (lo, AT_PORT)]
    for n in (hi, lo):
        if not any(p.n == n and (p.after_ready_s or 0.0) >= settle_s for p in probes):
            plan.append((n, settle_s))
    have = sum(p.n == lo for p in probes) + sum(n == lo for n, _ in plan)
    plan += [(lo, None)] * max(0, tries_at_lo - have)
    return plan


def tally(probes: Sequence[Probe], n: int) -> dict[str, int]:
    """{"ok": successes, "tries": probes} at n."""
    at = [p for p in probes if p.n == n]
    return {"ok": sum(p.ok for p in at), "tries": len(at)}


def recheck_agrees(probes: Sequence[Probe], lo: int, hi: int) -> bool:
    """Every probe at lo succeeded and every probe at hi failed."""
    return all(p.ok for p in probes if p.n == lo) and not any(p.ok for p in probes if p.n == hi)


def n_never_reached(probes: Sequence[Probe]) -> str | None:
    """Why n cannot have reached the app, or None: the successes span FLAT_SPAN x in n
    and the serving process's peak RSS (the kernel's VmHWM: what it touched) grew by
    less than FLAT_BYTES over them."""
    ok = sorted((p for p in probes if p.ok and p.peak_rss_bytes), key=lambda p: p.n)
    if len(ok) < 3 or ok[-1].n < FLAT_SPAN * max(1, ok[0].n):
        return None
    grew = max(p.peak_rss_bytes for p in ok) - min(p.peak_rss_bytes for p in ok)
    if grew >= FLAT_BYTES:
        return None
    return (f"the server's memory did not grow with n ({grew / 1024:.0f} KiB from n="
            f"{ok[0].n:,} to n={ok[-1].n:,}): n never reached the app, or the app ignores "
            "it; check where n goes (a --n-param constant read at import? the query "
            "parameter's name?)")  # fmt: skip


def same_answer(probes: Sequence[Probe]) -> str | None:
    """Why the answers suggest the app did not read n, or None: SAME_ANSWERS successes
    at distinct n spanning 4x or more, every answer the same whole (its length and hash,
    not only its head: a model's answer of one prediction per row begins alike at every
    n), and the peak not growing with n (FLAT_BYTES or more over them: n reached
    something)."""
    ok = [p for p in probes if p.ok and p.answer is not None]
    ns = {p.n for p in ok}
    if len(ns) < SAME_ANSWERS or max(ns) < 4 * max(1, min(ns)):
        return None
    if len({(p.answer_id or p.answer) for p in ok}) != 1:
        return None
    peaks = [p.peak_rss_bytes for p in ok if p.peak_rss_bytes]
    if peaks and max(peaks) - min(peaks) >= FLAT_BYTES:
        return None
    answers = {p.answer for p in ok}
    text = next(iter(answers)).strip().replace("\n", " ")[:80]
    return (f"the app answered the same at every n ({text!r} from n={min(ns):,} to "
            f"n={max(ns):,}): did it read n? Put {{n}} in --expect to check the answer "
            "(e.g. --expect 'rows={n}'), or pass --same-answer-ok if it is right")  # fmt: skip


def refused_at_once(probes: Sequence[Probe]) -> Probe | None:
    """The probe that shows the request is wrong, not the size: before any success, an
    HTTP 4xx other than the app's size limits (413, 414, 431), or a wrong answer."""
    if any(p.ok for p in probes):
        return None
    for p in probes:
        o = p.outcome
        if o.kind is Kind.HTTP_ERROR and o.status and o.status < 500 and o.status not in REJECTING:
            return p  # a 4xx, or a 2xx whose answer is wrong
    return None
