"""One run's shared bookkeeping: its document, its probes and oracles, the phase clock
(where the time goes), writing after every probe, and refusing an answer that cannot be
right.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from pathlib import Path

from probe.documents import store
from probe.measure.oracle import ServerOracle
from probe.outcome import CannotProbe, Probe
from probe.search import eta, verdict
from probe.servers.logs import last_cause
from probe.studies import warm
from probe.studies.maxn.document import layout_seen, new_doc
from probe.studies.maxn.lanes import Pools
from probe.studies.maxn.progress import Log, progress_line
from probe.studies.question import MaxNConfig


class Run:
    """The document of one run and the bookkeeping every phase shares."""

    def __init__(self, cfg: MaxNConfig, out: Path, log: Log):
        self.cfg, self.out, self.log = cfg, out, log
        self.doc = new_doc(cfg)
        self.t0 = time.monotonic()
        self.probes: list[Probe] = []
        self.oracles: list[ServerOracle] = []  # every oracle of every phase
        self.rechecked: list[Probe] = []  # the re-check's probes
        self.stack = contextlib.ExitStack()  # closed as the run ends: the shared pools
        self.pools = Pools(self.stack)

    def starts(self) -> int:
        return sum(o.starts for o in self.oracles)

    @contextlib.contextmanager
    def phase(self, name: str) -> Iterator[None]:
        """Time one phase of the run into `phases`: its wall time, its probes and servers,
        the time its probes spent in requests and waiting for servers to boot (where the
        run's time goes: the cost model)."""
        t0, before, ended = time.monotonic(), self._costs(), False
        try:
            yield
            ended = True
        finally:
            probes, servers, requests_s, waited = (
                now - then for now, then in zip(self._costs(), before, strict=True)
            )
            wall = time.monotonic() - t0
            self.doc.phases[name] = {
                "wall_s": round(wall, 3), "probes": probes, "servers": servers,
                "requests_s": round(requests_s, 3), "boot_wait_s": round(waited, 3),
            }  # fmt: skip
            if ended and probes:  # a run that stops says why in one line, nothing more
                self.log(f"phase {name}: {wall:.1f} s, {probes} probes on {servers} servers, "
                         f"{requests_s:.1f} s in requests, {waited:.1f} s waiting for "
                         "boots")  # fmt: skip

    def _costs(self) -> tuple[int, int, float, float]:
        os_ = self.oracles
        return (sum(o.probed for o in os_), sum(o.starts for o in os_),
                sum(o.request_s for o in os_), sum(o.boot_wait_s for o in os_))  # fmt: skip

    def write(self) -> None:
        self.doc.elapsed_s = round(time.monotonic() - self.t0, 3)
        self.doc.server_starts = self.starts()
        kills = [k.to_dict() for o in self.oracles for k in o.monitor.kills]
        if self.cfg.limit_kind == "rss" or kills:
            self.doc.rss_watchdog_kills = kills
        store.write_atomic(self.out, self.doc)

    def on_probe(self, probe: Probe, bracket: tuple[int | None, int | None]) -> None:
        self.probes.append(probe)
        lo, hi = bracket
        self.doc.update(
            critical_n=lo,
            first_failing_n=hi,
            probes=[p.to_dict() for p in self.probes],
            layout=self._layout(self.oracles) or self.doc.layout,
        )
        self.write()
        tag = f" (lane {probe.lane})" if self.cfg.lanes > 1 else ""
        cfg = self.cfg
        warmup = sum(warm.fractions(cfg.warm_requests)) if cfg.warms else None
        count, seconds = eta.left(self.probes, bracket, cfg.search.precision, cfg.lanes,
                                  cfg.recheck_tries if cfg.rechecks else 0, warmup)  # fmt: skip
        self.log(progress_line(len(self.probes), probe, bracket) + tag
                 + f" | {eta.words(len(self.probes), count, seconds)}")  # fmt: skip
        refused = verdict.refused_at_once(self.probes) or asgi_as_wsgi(self.cfg, self.probes)
        if refused is not None:
            raise self.cannot(refused)
        judge(self, self.probes)  # as soon as the probes show it, not after the search

    def cannot(self, probe: Probe) -> CannotProbe:
        """The request itself is wrong: the answer's status and text, the server log's end
        (on stderr), one line with what to check."""
        o = probe.outcome
        text = " ".join((probe.answer or "").split())
        answer = f", answer {text!r}" if text else ""
        cause = last_cause(probe.log_tail or "")
        answer += f"; the server's log ends: {cause}" if cause else ""
        todo = (
            "check the path, the method and the body (probe --verbose ... shows the server's log)"
        )
        if asgi_as_wsgi(self.cfg, [probe]):
            todo = ("an ASGI app cannot run as a WSGI --app: pass --cmd 'uvicorn --port {port} "
                    f"{self.cfg.spec.app}'")  # fmt: skip
        self.doc.stop_reason = "refused"
        exc = CannotProbe(f"the app refused the request at n={probe.n:,} before any n "
                          f"succeeded ({o.detail}{answer}); {todo}")  # fmt: skip
        exc.log_tail = "server log (last lines):\n  " + "\n  ".join(
            (probe.log_tail or "(empty)").splitlines())  # fmt: skip
        return exc

    def _layout(self, oracles: list[ServerOracle]) -> str | None:
        return layout_seen([x for o in oracles for x in o.layouts])


def asgi_as_wsgi(cfg: MaxNConfig, probes: list[Probe]) -> Probe | None:
    """A failure whose server log shows an ASGI app called as WSGI (with --app)."""
    if cfg.spec.cmd or any(p.ok for p in probes):
        return None
    for p in probes:
        if p.log_tail and "required positional argument: 'send'" in p.log_tail:
            return p
    return None


def judge(state: Run, probes: list[Probe]) -> None:
    """Refuse an answer that cannot be right: n that never reached the app, the same
    answer at every n (unless --same-answer-ok). CannotProbe with what to check."""
    why = verdict.n_never_reached(probes)
    if (
        why is None
        and not state.cfg.same_answer_ok
        and "{n}" not in (state.cfg.workload.expect or "")
    ):
        why = verdict.same_answer(probes)
    if why is not None:
        state.doc.stop_reason = "not_reached"
        raise CannotProbe(why)
