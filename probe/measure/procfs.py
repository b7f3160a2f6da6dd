"""Reading the kernel's per-process memory files: lines of `Key:   value kB`."""

from __future__ import annotations


def read_kb(path: str, keys: tuple[str, ...]) -> dict[str, int] | None:
    """The `keys` of a /proc file of `Key: N kB` lines, in bytes; None if the process is
    gone (or the file cannot be read)."""
    try:
        with open(path, encoding="ascii", errors="replace") as fh:
            text = fh.read()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    out = {}
    for line in text.splitlines():
        key, _, rest = line.partition(":")
        if key in keys:
            out[key] = int(rest.split()[0]) * 1024  # the kernel writes kB
    return out
