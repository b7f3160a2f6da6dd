"""Several servers probed side by side: a round of probes runs at once, one per lane
(each lane a probe.measure.oracle.ServerOracle); and the pid behind a --url server.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Sequence
from dataclasses import replace

import requests

from probe import interrupt
from probe.measure.load import _root_cause
from probe.measure.oracle import Pending, ServerOracle
from probe.outcome import Probe
from probe.servers.spec import ServerError


class LaneOracle:
    """Several servers, one probe each at a time: a round of probes runs at once.

    Each lane is its own server process under its own cap (RLIMIT_AS is per process,
    so lanes share no memory budget; they share the CPU). `assign` places each probe of
    a round so that a re-probe, the search's confirmation, runs on a different process
    than the success it confirms.
    """

    def __init__(self, oracles: Sequence[ServerOracle]):
        if not oracles:
            raise ValueError("LaneOracle needs at least one lane")
        self.oracles = list(oracles)
        self._seen: dict[int, list[tuple[int, bool]]] = {}  # n -> (lane, ok) of its probes

    @property
    def lanes(self) -> int:
        return len(self.oracles)

    def __call__(self, ns: Sequence[int], timings: Sequence[float | None] | None = None
                 ) -> list[Probe]:  # fmt: skip
        """One probe of each n at once; `timings`: when each one's request goes out
        (ServerOracle.prepare), default each lane's own turn."""
        if len(ns) > self.lanes:
            raise ValueError(f"{len(ns)} probes for {self.lanes} lanes")
        lanes = self.assign(ns)
        timings = list(timings or [None] * len(ns))
        pending = [self.oracles[lane].prepare(n, t)
                   for n, lane, t in zip(ns, lanes, timings, strict=True)]  # fmt: skip
        if len(pending) == 1:
            self.oracles[lanes[0]].measure(pending[0])
        else:
            self._measure_together(pending, lanes)
        probes = []
        for p, lane in zip(pending, lanes, strict=True):
            probe = replace(self.oracles[lane].finish(p), lane=lane)
            self._seen.setdefault(probe.n, []).append((lane, probe.ok))
            probes.append(probe)
        return probes

    def assign(self, ns: Sequence[int]) -> list[int]:
        """A lane for each n, all different: where n succeeded least, then was probed
        least (a fresh process, or the one that failed: is its failure a fluke?), over
        the whole round; ties go to the lowest lanes."""

        def cost(n: int, lane: int) -> tuple[int, int]:
            mine = [ok for i, ok in self._seen.get(n, []) if i == lane]
            return sum(mine), len(mine)

        def total(lanes: tuple[int, ...]) -> tuple[int, int, tuple[int, ...]]:
            costs = [cost(n, lane) for n, lane in zip(ns, lanes, strict=True)]
            return sum(c[0] for c in costs), sum(c[1] for c in costs), lanes

        if self.lanes <= 5:
            return list(min(itertools.permutations(range(self.lanes), len(ns)), key=total))
        free, out = list(range(self.lanes)), []
        for n in ns:  # greedy beyond 5 lanes (5! = 120 orders)
            lane = min(free, key=lambda i, n=n: (*cost(n, i), i))
            free.remove(lane)
            out.append(lane)
        return out

    def _measure_together(self, pending: list[Pending], lanes: list[int]) -> None:
        errors: list[BaseException] = []

        def run(p: Pending, lane: int) -> None:
            try:
                self.oracles[lane].measure(p)
            except BaseException as exc:  # noqa: BLE001 - re-raised on the main thread
                errors.append(exc)

        threads = [
            threading.Thread(target=run, args=(p, lane), name=f"probe-lane-{lane}", daemon=True)
            for p, lane in zip(pending, lanes, strict=True)
        ]
        for t in threads:
            t.start()
        for t in threads:
            while t.is_alive():  # poll, so Ctrl-C / SIGTERM unwinds within a moment
                t.join(timeout=0.1)
                interrupt.check()
        if errors:
            raise errors[0]


def reach(url: str, timeout_s: float = 5.0) -> int | None:
    """The pid a server reports on /health (None if it reports none: any HTTP answer
    proves it is up); ServerError with the fix if nothing answers."""
    try:
        resp = requests.get(f"{url}/health", timeout=timeout_s)
    except requests.RequestException as exc:
        raise ServerError(
            f"cannot reach {url}/health ({_root_cause(exc)}); start the server first or fix --url"
        ) from None
    try:
        pid = resp.json().get("pid")
    except (ValueError, AttributeError):
        return None
    return pid if isinstance(pid, int) else None
