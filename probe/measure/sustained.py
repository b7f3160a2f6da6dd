"""A closed-loop load: C clients, each sending its next request when its last answer is
in, until `total` requests are done, as a service sees traffic at its concurrency.

`on_done(i, record)` runs after each request (the confirmation reads the tree's memory
there); records are in the order requests were taken. Ctrl-C and SIGTERM unwind within
a moment (probe.interrupt), the requests already answered kept.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable

from probe import interrupt
from probe.measure.load import RequestRecord, _one
from probe.workload.model import HttpRequest


def closed_loop(
    url: str,
    make: Callable[[int], HttpRequest],
    total: int,
    concurrency: int,
    timeout_s: float = 60.0,
    name: str = "",
    on_done: Callable[[int, RequestRecord], None] | None = None,
    stop_after_failure: bool = False,
) -> tuple[list[RequestRecord], float]:
    """(the records of the requests sent, the wall time in seconds)."""
    counter = itertools.count()
    lock = threading.Lock()
    out: list[RequestRecord | None] = [None] * total
    failed = threading.Event()
    t0 = time.monotonic()

    def client() -> None:
        while not failed.is_set() or not stop_after_failure:
            with lock:
                i = next(counter)
            if i >= total:
                return
            _one(url, make(i), name, timeout_s, {}, t0, out, i)
            record = out[i]
            if record is not None and record.kind != "ok":
                failed.set()
            if on_done is not None and record is not None:
                on_done(i, record)

    threads = [threading.Thread(target=client, name=f"probe-client-{c}", daemon=True)
               for c in range(concurrency)]  # fmt: skip
    for t in threads:
        t.start()
    for t in threads:
        while t.is_alive():
            t.join(timeout=0.05)
            interrupt.check()
    return [r for r in out if r is not None], time.monotonic() - t0
