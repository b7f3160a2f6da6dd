"""A server's start command as its user writes it (a Procfile's line, a Dockerfile's CMD).

`gunicorn -w 2 --bind 127.0.0.1:{port} myapp:app`: split as a shell would (no shell
runs it), `{port}` filled with the port probe picked and `{host}` with --host. A command
without `{port}` fixes its own port (`python app.py` with `app.run(port=5000)`): it is
served on the port the user names with --port.

The program is recognized from the command, to read its log: gunicorn, uvicorn,
Flask's `flask run`, or any other command (failures then come from the log's
MemoryError and the exit status alone).
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import shlex

from probe.errors import UsageProblem
from probe.servers import settings

PORT_FIELD = "{port}"
HOST_FIELD = "{host}"
COMMAND = "command"  # the name of a program probe does not know


class CommandError(UsageProblem, ValueError):
    """The command cannot be run as written; the message says how to fix it."""


def split(template: str) -> list[str]:
    """The command's argv, as a POSIX shell splits it (quotes, backslashes), unfilled."""
    try:
        argv = shlex.split(template)
    except ValueError as exc:
        raise CommandError(f"cannot split the command {template!r}: {exc}") from None
    if not argv:
        raise CommandError("the command is empty; pass e.g. --cmd 'gunicorn --bind {port} app:app'")
    return argv


def fill(template: str, port: int, host: str = "127.0.0.1") -> list[str]:
    """The argv to exec: `{port}` and `{host}` filled in every word."""
    return [w.replace(PORT_FIELD, str(port)).replace(HOST_FIELD, host) for w in split(template)]


def fixes_port(template: str) -> bool:
    """True if the command names its own port (no `{port}` for probe to fill)."""
    return PORT_FIELD not in template


def program(argv: list[str]) -> str:
    """The program a command runs: `gunicorn`, `python -m uvicorn` -> `uvicorn`, ..."""
    name = os.path.basename(argv[0])
    if re.fullmatch(r"python[\d.]*", name) and len(argv) > 2 and argv[1] == "-m":
        name = argv[2]
    return name


def server_name(template: str, known: tuple[str, ...]) -> str:
    """The server kind a command starts: one of `known`, else COMMAND."""
    name = program(split(template))
    return name if name in known else COMMAND


def gunicorn_options(argv: list[str]) -> dict:
    """What a gunicorn command sets of the options probe records, by gunicorn's own
    parser; each option it leaves out at gunicorn's default (workers: WEB_CONCURRENCY)."""
    from gunicorn.config import Config

    start = 3 if program(argv[:1]) != "gunicorn" else 1
    try:
        with contextlib.redirect_stderr(io.StringIO()):
            args = Config().parser().parse_args(argv[start:])
    except SystemExit:  # gunicorn will say what is wrong with it, in its log
        return {}
    return settings.from_gunicorn(args)


def uvicorn_options(argv: list[str]) -> dict:
    """The worker processes a uvicorn command asks for (--workers N, else WEB_CONCURRENCY)."""
    workers = os.environ.get("WEB_CONCURRENCY", "1")
    for i, word in enumerate(argv):
        if word == "--workers" and i + 1 < len(argv):
            workers = argv[i + 1]
        elif word.startswith("--workers="):
            workers = word.partition("=")[2]
    return {"workers": int(workers) if workers.isdigit() else 1}
