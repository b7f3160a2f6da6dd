"""Cells and tables: how one value is written, and a table as text, markdown or csv.

Shared by every renderer of the report (tables, the seminar-style log, the prose's
band table), so a number, a missing value or a markdown table is written one way.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Sequence

FORMATS = ("table", "json", "csv", "markdown")
DETAIL_WIDTH = 80

Cell = str
TableRow = Sequence[Cell]


# ---------------------------------------------------------------- value formatting


def format_n(n: int | None, unit: str | None = None) -> str:
    """An element count with thousands separators: '12,345,678', '12,345 rows' with the
    workload's unit (--n-unit); '-' for None."""
    if n is None:
        return "-"
    return f"{n:,} {unit}" if unit else f"{n:,}"


# What n counts when the workload does not say (--n-unit): the seminar's ints.
DEFAULT_N_UNIT = "elements"


def per_n(unit: str | None) -> str:
    """What one unit of n is called after "bytes per": 'element', 'row' (from 'rows'), or
    'unit of n (pixels per side)' where the unit is not one plural word."""
    unit = unit or DEFAULT_N_UNIT
    if unit.isalpha() and unit.endswith("s"):
        return unit[:-1]
    return f"unit of n ({unit})"


def num(x: float | None, digits: int, suffix: str = "") -> str:
    """A float with fixed decimals, or '-' for None."""
    return "-" if x is None else f"{x:.{digits}f}{suffix}"


def plain(x: object) -> str:
    """A raw value for csv: empty for None, str() otherwise."""
    return "" if x is None else str(x)


def dash(x: object) -> str:
    """str(x), or '-' for None."""
    return "-" if x is None else str(x)


def one_line(text: str | None, width: int = DETAIL_WIDTH) -> str:
    """Text on one line, cut to `width` characters with an ellipsis."""
    flat = " ".join((text or "").split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


# ---------------------------------------------------------------- table primitives


def text_table(headers: TableRow, rows: Sequence[TableRow], right: set[int]) -> str:
    """Columns padded to width, two spaces apart; columns in `right` right-aligned."""
    widths = [max(len(str(c)) for c in col) for col in zip(headers, *rows, strict=True)]
    lines = []
    for row in (headers, *rows):
        cells = [
            c.rjust(w) if i in right else c.ljust(w)
            for i, (c, w) in enumerate(zip(row, widths, strict=True))
        ]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines) + "\n"


def md_cell(text: str) -> str:
    """A GFM table cell: pipes escaped, one line."""
    return " ".join(text.split()).replace("|", "\\|")


def md_table(headers: TableRow, rows: Sequence[TableRow], right: set[int]) -> str:
    """A GitHub-flavoured markdown table; columns in `right` right-aligned."""
    rule = ["---:" if i in right else "---" for i in range(len(headers))]
    lines = ["| " + " | ".join(md_cell(c) for c in row) + " |" for row in (headers, rule, *rows)]
    return "\n".join(lines) + "\n"


def csv_text(headers: TableRow, rows: Sequence[Sequence[object]]) -> str:
    """CSV via the csv module; None becomes an empty field."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(headers)
    writer.writerows([[plain(c) for c in row] for row in rows])
    return buf.getvalue()


def json_text(doc: dict) -> str:
    return json.dumps(doc, indent=2) + "\n"


def dispatch(fmt: str, renderers: dict[str, Callable[[], str]]) -> str:
    if fmt not in renderers:
        raise ValueError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    return renderers[fmt]()
