"""Memory sizes ("512M", "2G", "1.5GiB", "none") and applying the cap in a child process.

Units are powers of two: K/KB/KiB = 1024, M/MB/MiB = 1024**2, G/GB/GiB = 1024**3,
T/TB/TiB = 1024**4. A bare integer is bytes. "none" (or "unlimited") means no cap.
"""

from __future__ import annotations

import math
import re

from probe.errors import UsageProblem

_UNITS = {"": 1, "B": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}
# ASCII digits only (\d would take "٣M"); "iB" only after a unit letter.
_SIZE_RE = re.compile(
    r"^\s*([0-9]+(?:\.[0-9]+)?|\.[0-9]+)\s*(?:([KMGT])(?:I?B)?|B)?\s*$", re.IGNORECASE
)
MIB = 1 << 20  # one mebibyte, for the reports' axes and figures
MAX_SIZE = 2**63 - 1  # the largest rlimit the kernel takes as a number
_NONE_WORDS = {"none", "unlimited", "inf", "infinity"}

EXAMPLE = "use a size like 512M, 2G, 1.5GiB, 1073741824 or none"


class SizeError(UsageProblem, ValueError):
    """A size string that cannot be parsed; the message says what is accepted."""


def _quote(text: str) -> str:
    """The text as a Python literal, cut short so junk cannot flood the one-line error."""
    shown = repr(text)
    return shown if len(shown) <= 42 else f"{shown[:38]}...{shown[0]}"


def parse_size(text: str) -> int | None:
    """Parse a size into bytes; None means no cap. Raises SizeError with an example."""
    if not isinstance(text, str):
        raise SizeError(f"size must be a string, got {type(text).__name__}; {EXAMPLE}")
    if text.strip().lower() in _NONE_WORDS:
        return None
    m = _SIZE_RE.match(text)
    if not m:
        raise SizeError(f"cannot read size {_quote(text)}; {EXAMPLE}")
    number, unit = m.group(1), (m.group(2) or "").upper()
    unit_bytes = _UNITS[unit]
    if "." in number and unit == "":
        raise SizeError(f"cannot read size {_quote(text)}: fractional bytes; {EXAMPLE}")
    value = float(number) * unit_bytes if "." in number else int(number) * unit_bytes
    if not math.isfinite(value) or value > MAX_SIZE:
        raise SizeError(f"size {_quote(text)} is too large; use none for no cap")
    size = int(value)
    if size <= 0:
        raise SizeError(f"size {_quote(text)} must be greater than zero; {EXAMPLE}")
    return size


def format_size(size: int | None) -> str:
    """Shortest exact spelling that parse_size reads back: 2G, 1536M, 123B, none."""
    if size is None:
        return "none"
    for unit in ("T", "G", "M", "K"):
        if size % _UNITS[unit] == 0:
            return f"{size // _UNITS[unit]}{unit}"
    return str(size)


_BINARY_UNITS = ("KiB", "MiB", "GiB", "TiB", "PiB")


def format_bytes(n: float | None) -> str:
    """Binary units: '512 B', '1.00 GiB', '512.0 MiB'; '-' for None."""
    if n is None:
        return "-"
    if abs(n) < 1024:
        return f"{int(n)} B"
    value, unit = float(n), "B"
    for name in _BINARY_UNITS:
        value, unit = value / 1024, name
        if abs(value) < 1023.95:  # so that 1023.99 MiB shows as 1.00 GiB, not 1024.0 MiB
            break
    return f"{value:.2f} {unit}" if abs(value) < 10 else f"{value:.1f} {unit}"
