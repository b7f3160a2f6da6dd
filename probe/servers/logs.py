"""What a server's log says: why it ended, and whether memory ran out. The same for every
kind; what a kind logs of its own (gunicorn's worker events) lives with the kind."""

from __future__ import annotations

# What a process says when the cap leaves it no room to start (import, map a library).
_SHORT_OF_ROOM = (
    "MemoryError", "Cannot allocate memory", "failed to map segment", "OpenBLAS",
    "can't start new thread",
)  # fmt: skip


def memory_cause(log: str) -> str | None:
    """What a server's log says ran out of memory, or None.

    A MemoryError traceback (an app that lets it escape gets a bare 500, or a worker that
    cannot boot), or a thread that could not start: under RLIMIT_AS a thread-per-request
    server that has no address space left for one more 8 MiB stack logs
    "RuntimeError: can't start new thread" and drops the connection.
    """
    if "MemoryError" in log:
        return "MemoryError in the server's log"
    if "can't start new thread" in log:
        return (
            "the server could not start a thread for the request (no address space for its stack)"
        )
    return None


def short_of_room(log: str) -> bool:
    """Whether a server that did not start says the cap left it no room (to import, to map
    a library, to start a thread)."""
    return any(s in log for s in _SHORT_OF_ROOM)


def last_cause(log: str, width: int = 120) -> str:
    """The last line of a server log that says why it died, cut to `width` characters.

    gunicorn's own bracketed lines ("[INFO] Shutting down") and traceback frames say
    where, not why; the exception line after them ("MemoryError", "OpenBLAS error: ...")
    is what a user needs to see.
    """
    for line in reversed(log.splitlines()):
        text = line.strip()
        if not text or text.startswith(("[", "Traceback", "File ", "^", "~")):
            continue
        return text if len(text) <= width else text[: width - 3] + "..."
    return ""
