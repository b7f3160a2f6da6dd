"""docs/cli.md is the commands' --help as this code prints it (probe.cli.reference)."""

from __future__ import annotations

from pathlib import Path

from probe.cli import reference

PAGE = Path(__file__).resolve().parents[2] / "docs" / "cli.md"


def test_the_cli_reference_is_not_stale():
    assert PAGE.read_text() == reference.render(), (
        "docs/cli.md is stale: python -m probe.cli.reference > docs/cli.md"
    )
