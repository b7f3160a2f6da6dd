"""Bodies from the user's own code: `--body-fn MODULE:FUNCTION`, made in a child process.

FUNCTION(n) returns the body (or, with --upload, the file's content) as bytes or as an
iterable of byte chunks (a generator keeps memory small), optionally in a tuple with a
content type and a file name: `(body, "image/png", "image.png")`.

It runs in a builder: one child process of probe's (never in the server, never in probe's
own process), started once, that imports the user's module and makes each body under its
own address-space cap (`RLIMIT_AS`, CAP_SHARE of the memory available when it starts,
recorded in the document). A function that would need more than that (an n x n image
held at once for a large n) gets MemoryError in the builder, not the machine: probe
stays alive and says in one line how to go on. The builder writes the chunks to a
temporary file, so the body has a Content-Length before it is sent and is streamed from
there, by offset, so that concurrent requests can share it. Per body it reports the
bytes, the time it took and how far its own peak RSS grew (the kernel's VmHWM, reset
before each body), which is what `growth` learns from.

A function that is not found, raises, or returns something else is a BodyFnError with
one line naming it (raised by `check` before any server starts: exit 2); a body that
cannot be built at some n during the search is a BodyFnError too, which is a CannotProbe
(exit 3).
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import json
import os
import resource
import select
import subprocess
import sys
import tempfile
import threading
import time
import typing
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

import psutil

from probe import interrupt
from probe.outcome import CannotProbe
from probe.sizes import format_bytes

CHUNK = 1 << 16
# The builder's cap: this share of the memory available when it starts (at least
# CAP_MIN_BYTES): enough for any body a server under test could hold, and far from
# what would take the machine down (issue 30: an n x n image built in probe's own
# process at n = 100,000 grew it to 24 GiB and the kernel's global OOM killer ended it).
CAP_SHARE = 0.25
CAP_MIN_BYTES = 512 << 20
HOLD_WARN_BYTES = 256 << 20  # a body whose build grew the builder's RSS this much: warn


class BodyFnError(CannotProbe, ValueError):
    """A body function that cannot be used, or a body it cannot make; one line."""


@dataclass
class Made:
    """One body the function made: its bytes in `file` (at offset 0), their count, the
    content type and file name it named (None: not named), and what building it cost."""

    file: typing.IO[bytes]
    length: int
    content_type: str | None
    filename: str | None
    grew_rss_bytes: int  # the builder's peak RSS grew this much while it made the body
    build_s: float = 0.0

    def chunks(self) -> Iterator[bytes]:
        """The body from the start, by offset (os.pread): several requests of one probe
        (--concurrency) stream the same body at once without sharing a file position."""
        fd, offset = self.file.fileno(), 0
        while chunk := os.pread(fd, CHUNK, offset):
            offset += len(chunk)
            yield chunk


def cap_bytes() -> int:
    """The builder's address-space cap: CAP_SHARE of the memory available now."""
    return max(CAP_MIN_BYTES, int(psutil.virtual_memory().available * CAP_SHARE))


def make(spec: str, chdir: str | None, n: int) -> Made:
    """The body FUNCTION(n) makes, built by the builder; BodyFnError if it cannot be."""
    return _builder().make(spec, chdir, n)


def check(spec: str, chdir: str | None) -> None:
    """Load the function and call it at n = 1, before any server starts."""
    made = make(spec, chdir, 1)
    made.file.close()


def builder_cap_bytes() -> int | None:
    """The running builder's cap (None: no body function was called in this run)."""
    return _BUILDER.cap_bytes if _BUILDER is not None else None


def builder_peak_rss_bytes() -> int | None:
    """The builder's own peak RSS over the bodies it made (None: no builder ran)."""
    return _BUILDER.peak_rss_bytes if _BUILDER is not None else None


def stop() -> None:
    """Stop the builder, if one runs (the CLI does it as each command ends)."""
    global _BUILDER
    with _BUILDER_LOCK:
        if _BUILDER is not None:
            _BUILDER.stop()
        _BUILDER = None


_BUILDER: Builder | None = None
_BUILDER_LOCK = threading.Lock()


def _builder() -> Builder:
    global _BUILDER
    with _BUILDER_LOCK:
        if _BUILDER is None:
            _BUILDER = Builder(cap_bytes())
        return _BUILDER


class Builder:
    """One child process that makes bodies, one at a time, under `cap_bytes`.

    It is `python -m probe.workload.bodyfn CAP`, a plain subprocess (no fork of probe's
    threads, no helper process of multiprocessing's): one JSON line per job on its
    stdin, one per reply on the stdout it had at start (the user's prints go to stderr)."""

    def __init__(self, cap: int):
        self.cap_bytes = cap
        self.peak_rss_bytes = 0  # the builder's own peak RSS over every body it made
        self._lock = threading.Lock()
        self._proc: subprocess.Popen | None = None
        self._warned: set[str] = set()

    def _start(self) -> None:
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "probe.workload.bodyfn", str(self.cap_bytes)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
            env={**os.environ, **BUILDER_ENV},
        )  # fmt: skip

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None:
            with contextlib.suppress(OSError):
                proc.kill()
            proc.wait()
            for pipe in (proc.stdin, proc.stdout):
                with contextlib.suppress(OSError):
                    pipe.close()

    def make(self, spec: str, chdir: str | None, n: int) -> Made:
        with self._lock:
            if self._proc is None or self._proc.poll() is not None:
                self._start()
            fd, path = tempfile.mkstemp(prefix="probe-body-")
            try:
                reply = self._ask({"spec": spec, "chdir": chdir, "n": n, "path": path}, spec, n)
                # the builder wrote the file; probe keeps it open, the name goes now
                os.unlink(path)
                spool = os.fdopen(fd, "rb")
            except BaseException:
                os.close(fd)
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(path)
                raise
        self.peak_rss_bytes = max(self.peak_rss_bytes, reply["peak_rss_bytes"])
        made = Made(spool, reply["length"], reply["content_type"], reply["filename"],
                    reply["grew_rss_bytes"], reply["build_s"])  # fmt: skip
        if made.grew_rss_bytes > HOLD_WARN_BYTES and spec not in self._warned:
            self._warned.add(spec)
            print(f"warning: --body-fn {spec}({n:,}) held {format_bytes(made.grew_rss_bytes)}"
                  " at once while it made the body; yield chunks (a generator) to keep it "
                  "small", file=sys.stderr, flush=True)  # fmt: skip
        return made

    def _ask(self, job: dict, spec: str, n: int) -> dict:
        """Send one job, wait for its reply (waking for Ctrl-C); BodyFnError if it failed."""
        proc = self._proc
        try:
            proc.stdin.write(json.dumps(job) + "\n")
            proc.stdin.flush()
            while not select.select([proc.stdout], [], [], 0.1)[0]:
                interrupt.check()
            line = proc.stdout.readline()
        except BaseException:  # an interrupt: the body is not wanted any more
            self.stop()
            raise
        if not line:
            code = proc.wait()
            self.stop()
            how = f"signal {-code}" if code < 0 else f"exit code {code}"
            raise BodyFnError(
                f"--body-fn {spec}: the process making the body at n={n:,} ended ({how}); "
                "start lower with --n-start, or stream it (yield chunks)"
            )
        reply = json.loads(line)
        if reply.get("memory"):
            self.stop()  # its heap may be left fragmented: start the next body afresh
            raise BodyFnError(
                f"the body at n={n:,} needs more than {format_bytes(self.cap_bytes)} to build "
                f"(--body-fn {spec}): start lower with --n-start, or stream it (yield chunks)"
            )
        if "error" in reply:
            raise BodyFnError(reply["error"])
        return reply


# The builder's environment beside probe's: one BLAS thread, two malloc arenas (threads
# reserve address space, which the cap counts)
BUILDER_ENV = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MALLOC_ARENA_MAX": "2"}


# -- in the builder process ------------------------------------------------------------


def _serve(cap: int) -> None:
    """The builder's loop: cap its address space, then make bodies until stdin closes."""
    replies = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)  # what the user's code prints goes to stderr, not into the replies
    sys.stdout = sys.stderr
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
    for line in sys.stdin:
        job = json.loads(line)
        try:
            reply = _build(job["spec"], job["chdir"], job["n"], job["path"])
        except MemoryError:
            reply = {"memory": True}
        except BodyFnError as exc:
            reply = {"error": str(exc)}
        replies.write(json.dumps(reply) + "\n")
        replies.flush()


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
    except MemoryError:
        raise
    except Exception as exc:  # noqa: BLE001 - the user's module: any error is theirs
        raise BodyFnError(f"--body-fn {spec}: cannot import {module} from {folder} "
                          f"({type(exc).__name__}: {exc})") from None  # fmt: skip
    fn = getattr(mod, name, None)
    if not callable(fn):
        raise BodyFnError(f"--body-fn {spec}: {module} has no function {name}")
    return fn


def _status_kib(field: str) -> int:
    with open("/proc/self/status", encoding="ascii") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def _reset_peak() -> None:
    """Reset the kernel's VmHWM to the current RSS (clear_refs 5, Linux 4.0+)."""
    with contextlib.suppress(OSError), open("/proc/self/clear_refs", "w") as fh:
        fh.write("5")


def _build(spec: str, chdir: str | None, n: int, path: str) -> dict:
    """Call fn(n) and write what it returns to `path`; what it made and cost."""
    fn = load(spec, chdir)
    _reset_peak()
    rss0, t0 = _status_kib("VmRSS"), time.monotonic()
    try:
        result = fn(n)
    except MemoryError:
        raise
    except Exception as exc:  # noqa: BLE001 - the user's function
        raise BodyFnError(f"--body-fn {spec}({n}) raised {type(exc).__name__}: {exc}") from None
    content_type = filename = None
    if isinstance(result, tuple):
        if not 1 <= len(result) <= 3:
            raise BodyFnError(f"--body-fn {spec} returned a tuple of {len(result)}: return "
                              "body, or (body, content_type[, filename])")  # fmt: skip
        result, content_type, filename = (*result, None, None)[:3]
    chunks = _chunks(result, spec)
    length = 0
    with open(path, "wb") as spool:
        try:
            for chunk in chunks:
                spool.write(chunk)
                length += len(chunk)
        except (BodyFnError, MemoryError):
            raise
        except Exception as exc:  # noqa: BLE001 - the user's generator
            raise BodyFnError(f"--body-fn {spec}({n}) raised {type(exc).__name__} while "
                              f"yielding: {exc}") from None  # fmt: skip
    build_s = time.monotonic() - t0
    peak = _status_kib("VmHWM")
    return {"length": length, "content_type": content_type, "filename": filename,
            "grew_rss_bytes": max(0, peak - rss0) * 1024, "peak_rss_bytes": peak * 1024,
            "build_s": round(build_s, 6)}  # fmt: skip


def _chunks(result: object, spec: str) -> Iterable[bytes]:
    if isinstance(result, (bytes, bytearray, memoryview)):
        return [result]
    if isinstance(result, str) or not isinstance(result, Iterable):
        raise BodyFnError(f"--body-fn {spec} returned {type(result).__name__}: return bytes, "
                          "an iterable of bytes, or (body, content_type[, filename])")  # fmt: skip
    return _checked(result, spec)


def _checked(chunks: Iterable, spec: str) -> Iterator[bytes]:
    for chunk in chunks:
        if not isinstance(chunk, (bytes, bytearray, memoryview)):
            raise BodyFnError(f"--body-fn {spec} yielded {type(chunk).__name__}: yield bytes")
        yield chunk


if __name__ == "__main__":
    _serve(int(sys.argv[1]))
