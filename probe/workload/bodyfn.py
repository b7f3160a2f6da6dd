"""Bodies from the user's own code: `--body-fn MODULE:FUNCTION`, called in probe's process.

FUNCTION(n) returns the body (or, with --upload, the file's content) as bytes or as an
iterable of byte chunks (a generator keeps probe's memory small), optionally in a tuple
with a content type and a file name: `(body, "image/png", "image.png")`. It runs in
probe's process, never in the server. The chunks are written to a temporary file (the
page cache keeps a small one in memory), so the body has a Content-Length before it is
sent and is streamed from there, by offset, so that concurrent requests can share it.
probe's own peak RSS while the function ran is read from the kernel (`ru_maxrss`), and a
function that held more than HOLD_WARN_BYTES at once is named in a warning (return a
generator instead).

A function that is not found, raises, or returns something else is a WorkloadError
with one line naming it, raised by `check` before any server starts.
"""

from __future__ import annotations

import functools
import importlib
import os
import resource
import sys
import tempfile
import typing
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from probe.sizes import format_bytes

CHUNK = 1 << 16
HOLD_WARN_BYTES = 256 << 20  # a function whose call grew probe's RSS this much: warn


class BodyFnError(ValueError):
    """A body function that cannot be used; the message says which and why."""


@dataclass
class Made:
    """One body the function made: its bytes in `file` (at offset 0), their count, and
    the content type and file name it named (None: not named)."""

    file: typing.IO[bytes]
    length: int
    content_type: str | None
    filename: str | None
    grew_rss_bytes: int  # probe's peak RSS grew this much while the function ran

    def chunks(self) -> Iterator[bytes]:
        """The body from the start, by offset (os.pread): several requests of one probe
        (--concurrency) stream the same body at once without sharing a file position."""
        fd, offset = self.file.fileno(), 0
        while chunk := os.pread(fd, CHUNK, offset):
            offset += len(chunk)
            yield chunk


@functools.cache
def load(spec: str, chdir: str | None) -> Callable:
    """The function `MODULE:FUNCTION`, imported from `chdir` (then the current folder)."""
    module, colon, name = spec.partition(":")
    if not (colon and module and name):
        raise BodyFnError(f"--body-fn takes MODULE:FUNCTION, e.g. bodies:csv_rows; got {spec!r}")
    folder = os.path.abspath(chdir or os.getcwd())
    if folder not in sys.path:
        sys.path.insert(0, folder)
    try:
        mod = importlib.import_module(module)
    except Exception as exc:  # noqa: BLE001 - the user's module: any error is theirs
        raise BodyFnError(f"--body-fn {spec}: cannot import {module} from {folder} "
                          f"({type(exc).__name__}: {exc})") from None  # fmt: skip
    fn = getattr(mod, name, None)
    if not callable(fn):
        raise BodyFnError(f"--body-fn {spec}: {module} has no function {name}")
    return fn


def _peak_rss_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux: KiB


def make(fn: Callable, n: int, spec: str) -> Made:
    """Call fn(n) and spool what it returns; BodyFnError naming `spec` if it fails."""
    before = _peak_rss_bytes()
    try:
        result = fn(n)
    except Exception as exc:  # noqa: BLE001 - the user's function
        raise BodyFnError(f"--body-fn {spec}({n}) raised {type(exc).__name__}: {exc}") from None
    content_type = filename = None
    if isinstance(result, tuple):
        if not 1 <= len(result) <= 3:
            raise BodyFnError(f"--body-fn {spec} returned a tuple of {len(result)}: return "
                              "body, or (body, content_type[, filename])")  # fmt: skip
        result, content_type, filename = (*result, None, None)[:3]
    chunks = _chunks(result, spec)
    spool = tempfile.TemporaryFile()  # noqa: SIM115 - Made owns it
    length = 0
    try:
        for chunk in chunks:
            spool.write(chunk)
            length += len(chunk)
    except BodyFnError:
        spool.close()
        raise
    except Exception as exc:  # noqa: BLE001 - the user's generator
        spool.close()
        raise BodyFnError(f"--body-fn {spec}({n}) raised {type(exc).__name__} while "
                          f"yielding: {exc}") from None  # fmt: skip
    spool.flush()  # chunks() reads the file by offset, past Python's buffer
    made = Made(spool, length, content_type, filename, max(0, _peak_rss_bytes() - before))
    if made.grew_rss_bytes > HOLD_WARN_BYTES and spec not in _warned:
        _warned.add(spec)
        print(f"warning: --body-fn {spec}({n:,}) grew probe's own memory by "
              f"{format_bytes(made.grew_rss_bytes)}: it holds the body at once; yield chunks "
              "(a generator) to keep it small", file=sys.stderr, flush=True)  # fmt: skip
    return made


_warned: set[str] = set()


def _chunks(result: object, spec: str) -> Iterable[bytes]:
    if isinstance(result, (bytes, bytearray, memoryview)):
        return [bytes(result)]
    if isinstance(result, str) or not isinstance(result, Iterable):
        raise BodyFnError(f"--body-fn {spec} returned {type(result).__name__}: return bytes, "
                          "an iterable of bytes, or (body, content_type[, filename])")  # fmt: skip
    return _checked(result, spec)


def _checked(chunks: Iterable, spec: str) -> Iterator[bytes]:
    for chunk in chunks:
        if not isinstance(chunk, (bytes, bytearray, memoryview)):
            raise BodyFnError(f"--body-fn {spec} yielded {type(chunk).__name__}: yield bytes")
        yield bytes(chunk)


def check(spec: str, chdir: str | None) -> None:
    """Load the function and call it at n = 1, before any server starts."""
    made = make(load(spec, chdir), 1, spec)
    made.file.close()
