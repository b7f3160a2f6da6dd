"""The settings of a pre-fork server that probe starts itself, one definition each.

Each definition gives the ServerSpec field (and results key) it fills, the option that
sets it (`--workers`), the value type, what to write in its help, what to tell a user
who gave it with `--cmd` (their command sets it), how it tags a results file name where
it differs from the default, and whether it can be an axis of `probe plan`'s grid. The
option, the spec field, the document key, the file-name tag, the refusal with --cmd
and the plan's axes are all read from here (gunicorn's config.py keeps one class per
setting for the same reason).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Setting:
    field: str  # ServerSpec's field and the max-n document's key
    flag: str  # the option
    param: str  # the option's Python name (click's)
    kind: type  # int, str or bool (a flag)
    help: str
    with_cmd: str  # what a user who gave it with --cmd should do instead
    tag: Callable[[object], str]  # its part of a file name where it is not the default
    grid: bool = True  # an axis of probe plan's grid with --app/--fn


PREFORK = (
    Setting("workers", "--workers", "workers", int,
            "gunicorn worker processes (each gets the whole cap).",
            "put the worker count in your command (gunicorn -w N)", lambda v: f"w{v}"),
    Setting("worker_class", "--worker-class", "worker_class", str,
            "gunicorn worker class (sync, gthread).",
            "put it in your command (gunicorn -k CLASS)", lambda v: str(v)),
    Setting("threads", "--threads", "threads", int,
            "gunicorn threads per worker (more than 1 means gthread).",
            "put it in your command (gunicorn --threads N)", lambda v: f"t{v}"),
    Setting("timeout_s", "--timeout", "worker_timeout", int,
            "gunicorn's worker timeout, seconds (not probe's wait for an answer: "
            "--request-timeout).",
            "it is gunicorn's worker timeout: put --timeout in your command; probe's own "
            "wait for an answer is --request-timeout", lambda v: f"timeout{v}", grid=False),
    Setting("preload", "--preload", "preload", bool,
            "gunicorn --preload: import the app in the arbiter before forking.",
            "put --preload in your command", lambda v: "preload", grid=False),
)  # fmt: skip

FIELDS = tuple(s.field for s in PREFORK)  # the document's keys, in order
GRID_AXES = tuple(s.field for s in PREFORK if s.grid)  # probe plan's axes with --app/--fn


def by_field(name: str) -> Setting:
    return next(s for s in PREFORK if s.field == name)


def tags(spec, defaults) -> list[str]:
    """The file-name parts of the settings `spec` sets away from `defaults`."""
    return [s.tag(getattr(spec, s.field)) for s in PREFORK
            if getattr(spec, s.field) != getattr(defaults, s.field)]  # fmt: skip


def typed(name: str, text: str):
    """A grid value (text) as the setting's type."""
    kind = by_field(name).kind
    return int(text) if kind is int else (text.lower() in ("1", "true", "yes")
                                          if kind is bool else text)  # fmt: skip
