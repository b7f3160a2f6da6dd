"""The settings of a pre-fork server that probe starts itself, one definition each.

Each definition gives the ServerSpec field (and results key) it fills with its default,
the option that sets it (`--workers`), the value type, what to write in its help, what
to tell a user who gave it with `--cmd` (their command sets it), how it tags a results
file name where it differs from the default, its part of probe's own gunicorn command,
how to read it from a user's gunicorn command, and whether it can be an axis of `probe
plan`'s grid. Everything else reads them from here (gunicorn's config.py keeps one class
per setting for the same reason; tests/unit/test_settings.py adds a fake one and finds
it everywhere).
"""

from __future__ import annotations

import os
from argparse import Namespace
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Setting:
    field: str  # ServerSpec's field and the max-n document's key
    flag: str  # the option
    param: str  # the option's Python name (click's)
    kind: type  # int, str or bool (a flag)
    default: object  # gunicorn's own default, which probe's servers keep unless told
    help: str
    with_cmd: str  # what a user who gave it with --cmd should do instead
    tag: Callable[[object], str]  # its part of a file name where it is not the default
    argv: Callable[[object], list[str]]  # its part of probe's own gunicorn command
    read: Callable[[Namespace], object]  # its value in a user's command, parsed by gunicorn
    grid: bool = True  # an axis of probe plan's grid with --app/--fn


def _worker_class(args: Namespace) -> str:
    """gunicorn's -k as probe records it (gthread where --threads > 1 and no -k)."""
    name = args.worker_class or ("gthread" if (args.threads or 1) > 1 else "sync")
    return name.rpartition(".")[2] if "." in name else name


PREFORK = (
    Setting("workers", "--workers", "workers", int, 1,
            "gunicorn worker processes (each gets the whole cap).",
            "put the worker count in your command (gunicorn -w N)", lambda v: f"w{v}",
            lambda v: ["--workers", str(v)],
            lambda a: a.workers or int(os.environ.get("WEB_CONCURRENCY", 1))),
    Setting("worker_class", "--worker-class", "worker_class", str, "sync",
            "gunicorn worker class (sync, gthread).",
            "put it in your command (gunicorn -k CLASS)", lambda v: str(v),
            lambda v: ["--worker-class", str(v)], _worker_class),
    Setting("threads", "--threads", "threads", int, 1,
            "gunicorn threads per worker (more than 1 means gthread).",
            "put it in your command (gunicorn --threads N)", lambda v: f"t{v}",
            lambda v: ["--threads", str(v)], lambda a: a.threads or 1),
    Setting("worker_timeout_s", "--timeout", "worker_timeout", int, 30,
            "gunicorn's worker timeout, seconds (not probe's wait for an answer: "
            "--request-timeout).",
            "it is gunicorn's worker timeout: put --timeout in your command; probe's own "
            "wait for an answer is --request-timeout", lambda v: f"timeout{v}",
            lambda v: ["--timeout", str(v)], lambda a: a.timeout or 30, grid=False),
    Setting("preload", "--preload", "preload", bool, False,
            "gunicorn --preload: import the app in the arbiter before forking.",
            "put --preload in your command", lambda v: "preload",
            lambda v: ["--preload"] if v else [], lambda a: bool(a.preload_app), grid=False),
)  # fmt: skip

FIELDS = tuple(s.field for s in PREFORK)  # the document's keys, in order
GRID_AXES = tuple(s.field for s in PREFORK if s.grid)  # probe plan's axes with --app/--fn


def gunicorn_args(spec) -> list[str]:
    """Every setting's part of probe's own gunicorn command, in PREFORK's order."""
    return [word for s in PREFORK for word in s.argv(getattr(spec, s.field))]


def from_gunicorn(args: Namespace) -> dict:
    """Every setting's value in a user's gunicorn command (gunicorn's own parse)."""
    return {s.field: s.read(args) for s in PREFORK}


def add_fields(cls: type) -> type:
    """A class decorator, before @dataclass: one field per setting, with its type and
    default, placed after the class's `port` (ServerSpec's fields)."""
    names = dict(cls.__annotations__)
    ordered: dict[str, object] = {}
    for name, kind in names.items():
        ordered[name] = kind
        if name == "port":
            for s in PREFORK:
                ordered[s.field] = s.kind.__name__
                setattr(cls, s.field, s.default)
    cls.__annotations__ = ordered
    return cls


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
