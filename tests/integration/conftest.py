"""Real servers under small caps. Each test starts its own and checks it left nothing behind."""

from __future__ import annotations

import psutil
import pytest


def pytest_collection_modifyitems(items):
    """Mark every test under tests/integration, so `-m "not integration"` runs units only."""
    for item in items:
        if "tests/integration/" in item.nodeid:
            item.add_marker(pytest.mark.integration)


def gone(pids: list[int]) -> bool:
    """True if none of the pids is a live (non-zombie) process."""
    for pid in pids:
        try:
            if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                return False
        except psutil.NoSuchProcess:
            pass
    return True


@pytest.fixture
def no_leftovers():
    """Collects pids a test started and asserts at the end that all are gone."""
    pids: list[int] = []
    yield pids
    assert gone(pids), f"left behind: {[p for p in pids if psutil.pid_exists(p)]}"
