"""The server's own command under `memray run`, and whether memray is there to run it.

memray runs a Python program: a script (`gunicorn`'s console script is one), `-m
module` or `-c code`. The command's interpreter is the server's: `python -m uvicorn
...` keeps its `python`; a console script keeps the interpreter of its `#!` line. So
memray must be installed where the server runs, not only where probe does.

`--follow-fork` follows gunicorn's forked workers (each writes `<out>.<pid>`); it does
not follow exec, so uvicorn's `--workers` children (spawned) are not traced.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from probe.errors import ProbeError

# memray's own options for every traced server: its default file format (it survives a
# killed process; --aggregate's does not), forked workers followed, no banner
MEMRAY_RUN = ("-m", "memray", "run", "-q", "--force", "--follow-fork")


class TraceError(ProbeError):
    """The server cannot be traced as asked; the message says what to do."""


def interpreter_of(program: str, cwd: str | None = None) -> tuple[str, list[str]] | None:
    """(the Python that runs `program`, what memray runs in its place), or None when it
    is not a Python program: `python3` -> (python3, []); a console script -> (the
    interpreter of its #! line, [the script's path])."""
    name = os.path.basename(program)
    found = shutil.which(program, path=None) if os.sep not in program else program
    if found is None and cwd and os.sep in program:
        found = os.path.join(cwd, program)
    if name.startswith("python"):
        return (found or program), []
    if not found or not os.path.isfile(found):
        return None
    with open(found, "rb") as f:
        first = f.readline(512)
    if not first.startswith(b"#!"):
        return None
    shebang = first[2:].decode(errors="replace").split()
    if not shebang:
        return None
    if os.path.basename(shebang[0]) == "env" and len(shebang) > 1:
        shebang = [shutil.which(shebang[1]) or shebang[1], *shebang[2:]]
    if not os.path.basename(shebang[0]).startswith("python"):
        return None
    return shebang[0], [found]


def traced_argv(argv: list[str], out: Path, cwd: str | None = None) -> list[str]:
    """`argv` run by memray, writing `out` (and `out.<pid>` per forked worker)."""
    found = interpreter_of(argv[0], cwd)
    if found is None:
        raise TraceError(f"{argv[0]!r} is not a Python program that memray can run; start "
                         "the server with python -m, or a console script of its "
                         "environment")  # fmt: skip
    python, script = found
    rest = argv[1:]
    if not script and rest and rest[0] not in ("-m", "-c") and rest[0].startswith("-"):
        raise TraceError(f"memray cannot pass the interpreter's own options ({rest[0]}); "
                         "drop them from the command")  # fmt: skip
    return [python, *MEMRAY_RUN, "-o", str(out), *script, *rest]


def check_memray(python: str, cwd: str | None = None) -> None:
    """TraceError with the install line when memray cannot be imported by `python`."""
    try:
        done = subprocess.run([python, "-c", "import memray"], cwd=cwd, capture_output=True,
                              timeout=60)  # fmt: skip
    except OSError as exc:
        raise TraceError(f"cannot run the server's Python {python}: {exc}") from None
    if done.returncode != 0:
        raise TraceError(f"memray is not installed where the server runs; install it there: "
                         f"{python} -m pip install memray")  # fmt: skip
