"""Shared by unit and integration tests."""

from __future__ import annotations

import pytest

from probe.workload import bodyfn


@pytest.fixture(autouse=True)
def _no_body_builder_left():
    """A test that made a --body-fn body outside the CLI (which stops the builder as a
    command ends) stops the builder too, so no later test finds its process."""
    yield
    bodyfn.stop()
