"""Shared by unit and integration tests."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from probe.workload import bodyfn
from tests.guest import background

_GUEST: list[Path | None] = []


def pytest_configure(config):
    """In the suite's controller (not an xdist worker), when the run includes the cgroup
    tests: start the guest's cases now, to run beside the other tests."""
    if hasattr(config, "workerinput") or os.environ.get(background.GUEST_DIR_VAR):
        return
    wanted = Path("tests/integration/test_cgroup.py").resolve()
    args = [Path(a.split("::")[0]).resolve() for a in config.args] or [Path("tests").resolve()]
    if not any(a == wanted or a in wanted.parents for a in args):
        return
    if "not integration" in (config.getoption("markexpr") or ""):
        return
    out = background.start()
    _GUEST.append(out)
    if out is not None:
        os.environ[background.GUEST_DIR_VAR] = str(out)


def pytest_unconfigure(config):
    for out in _GUEST:
        background.stop(out)


@pytest.fixture(autouse=True)
def _no_body_builder_left():
    """A test that made a --body-fn body outside the CLI (which stops the builder as a
    command ends) stops the builder too, so no later test finds its process."""
    yield
    bodyfn.stop()
