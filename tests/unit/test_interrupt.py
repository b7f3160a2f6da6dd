"""probe.interrupt in this process: a signal is recorded, not fatal, and once one was,
the handlers stay for the way out (a second SIGTERM during the exit cannot kill probe
by the signal and lose its exit code 143)."""

from __future__ import annotations

import os
import signal

import pytest

from probe import interrupt


@pytest.fixture
def clean_state():
    """Leave pytest's own handlers and an unset event behind, whatever the test did."""
    before = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    yield
    interrupt._EVENT.clear()
    interrupt._SIGNUM.clear()
    for s, h in before.items():
        signal.signal(s, h)


def test_without_a_signal_the_handlers_are_restored(clean_state):
    before = signal.getsignal(signal.SIGTERM)
    with interrupt.handling():
        assert signal.getsignal(signal.SIGTERM) is interrupt._record
    assert signal.getsignal(signal.SIGTERM) is before


def test_after_a_signal_the_handlers_stay_for_the_way_out(clean_state):
    with pytest.raises(interrupt.Interrupted) as info, interrupt.handling():
        os.kill(os.getpid(), signal.SIGTERM)
        interrupt.sleep(5)  # wakes at once and raises
    assert info.value.exit_code == 143
    assert signal.getsignal(signal.SIGTERM) is interrupt._record
    os.kill(os.getpid(), signal.SIGTERM)  # the second one: recorded, this process lives
    assert interrupt._SIGNUM == [signal.SIGTERM]
