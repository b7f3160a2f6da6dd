"""Real servers under small caps. Each test starts its own and checks it left nothing behind."""

from __future__ import annotations

import contextlib
import os
import threading

import psutil
import pytest

# The modules that take longest (seconds of a clean-clone run), first: xdist's loadfile
# hands whole modules to whichever worker is free, in collection order (with
# --no-loadscope-reorder: by default xdist 3.8 puts the modules with the most tests
# first, which put these last, test_plan 145 s into a 300 s run, test_rate 262 s), so
# the long ones started last left one worker alone at the end.
LONGEST_FIRST = ("test_plan", "test_real_inputs", "test_bodies", "test_tree_budget",
                 "test_slow_service", "test_rate",
                 "test_matrix", "test_verdict", "test_maxn", "test_cold", "test_explain",
                 "test_own_service", "test_commands", "test_warm", "test_lanes")  # fmt: skip
# ...and last, after the unit tests: the module that waits for the guest's cases
# (tests/guest/background.py), which end 2-3 minutes into the suite
LAST = ("test_cgroup",)


def pytest_collection_modifyitems(items):
    """Mark every test under tests/integration, so `-m "not integration"` runs units only;
    order the modules longest first (LONGEST_FIRST), the others after in their order,
    LAST at the end."""
    for item in items:
        if "tests/integration/" in item.nodeid:
            item.add_marker(pytest.mark.integration)

    def rank(item) -> int:
        name = item.nodeid.split("::")[0].rsplit("/", 1)[-1].removesuffix(".py")
        if name in LAST:
            return len(LONGEST_FIRST) + 1 + LAST.index(name)
        return LONGEST_FIRST.index(name) if name in LONGEST_FIRST else len(LONGEST_FIRST)

    items.sort(key=rank)  # stable: a module's tests keep their order


def descendants(pid: int) -> list[int]:
    """Every descendant of `pid`, from /proc/PID/task/TID/children: a few small reads,
    where psutil's children(recursive=True) reads every process on the machine (about
    1 ms each time here, 30 % of a core when polled every 5 ms, as `watching` does)."""
    out, todo = [], [pid]
    while todo:
        try:
            tids = os.listdir(f"/proc/{todo[0]}/task")
        except OSError:
            tids = []
        for tid in tids:
            with contextlib.suppress(OSError, ValueError):
                with open(f"/proc/{todo[0]}/task/{tid}/children", encoding="ascii") as fh:
                    kids = [int(k) for k in fh.read().split()]
                out += kids
                todo += kids
        todo.pop(0)
    return out


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


@pytest.fixture
def no_children_left():
    """Whatever a test started in this process (servers of in-process runs) is gone."""
    yield
    alive = []
    for p in psutil.Process().children(recursive=True):
        with contextlib.suppress(psutil.Error):
            if p.status() != psutil.STATUS_ZOMBIE:
                alive.append((p.pid, p.cmdline()))
    assert not alive, f"left behind: {alive}"


@contextlib.contextmanager
def watching(pids: list[int]):
    """Add every descendant of this process seen while the block runs to `pids` (for
    the no_leftovers fixture): in-process runs start and kill servers as they go."""
    stop = threading.Event()
    me = os.getpid()

    def watch() -> None:
        while not stop.is_set():
            for child in descendants(me):
                if child not in pids:
                    pids.append(child)
            stop.wait(0.005)

    thread = threading.Thread(target=watch, name="test-watch", daemon=True)
    thread.start()
    try:
        yield pids
    finally:
        stop.set()
        thread.join()


@contextlib.contextmanager
def hidden_test_name():
    """Servers started in the block do not inherit PYTEST_CURRENT_TEST. pytest sets it to
    the running test and phase, so a server started in a fixture's setup and one started
    in a test's call would differ in their environment's size, and under a fixed layout
    that alone moved the list's boundary at 256M by more than the 1 % the search leaves
    (3,515,121 failed on the search's servers and succeeded on a server started later)."""
    saved = os.environ.pop("PYTEST_CURRENT_TEST", None)
    try:
        yield
    finally:
        if saved is not None:
            os.environ["PYTEST_CURRENT_TEST"] = saved
