"""Ctrl-C and SIGTERM: handlers only record the signal; long waits check it and unwind.

Cleanup (stopping servers, writing results) then happens in the normal flow through
context managers and `finally` blocks, never inside a signal handler.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager

_EVENT = threading.Event()
_SIGNUM: list[int] = []


class Interrupted(Exception):
    """Raised in the main flow after SIGINT or SIGTERM was recorded."""

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum

    @property
    def exit_code(self) -> int:
        return 128 + self.signum  # 130 for SIGINT, 143 for SIGTERM


def _record(signum: int, _frame) -> None:
    if not _SIGNUM:
        _SIGNUM.append(signum)
    _EVENT.set()


def check() -> None:
    """Raise Interrupted if a signal was recorded."""
    if _EVENT.is_set():
        raise Interrupted(_SIGNUM[0] if _SIGNUM else signal.SIGINT)


def sleep(seconds: float) -> None:
    """Sleep, waking at once (and raising) on an interrupt."""
    if _EVENT.wait(seconds):
        check()


@contextmanager
def handling() -> Iterator[None]:
    """Install the recording handlers for SIGINT and SIGTERM (main thread only).

    Once a signal was recorded the process is on its way out, so the handlers stay: a
    second Ctrl-C or SIGTERM while it writes its last line and exits is recorded, not
    fatal (restored, the default action killed it by the signal instead of 130/143)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    old = {s: signal.signal(s, _record) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        if not _EVENT.is_set():
            for s, h in old.items():
                signal.signal(s, h)
