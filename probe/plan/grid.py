"""The grid: the user's command with placeholders, each placeholder's values, the cells.

`--cmd 'gunicorn -w {workers} -k gthread --threads {threads} --bind 127.0.0.1:{port}
app:app' --grid workers=1,2 --grid threads=1,4` is four cells. `{port}` and `{host}`
stay for probe to fill at each start; every other placeholder must be a grid axis and
every axis a placeholder. A cell's concurrency, the requests it serves at once, is the
`concurrency` axis where the grid has one (an async server takes as many as it is
sent: uvicorn's own knob is --limit-concurrency), else workers x threads as the
filled command sets them (gunicorn's sync and gthread workers), else its workers.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass

from probe.errors import UsageProblem
from probe.servers.command import HOST_FIELD, PORT_FIELD

CONCURRENCY = "concurrency"  # the grid axis that sets a cell's requests at once
_FIELD = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
_KEPT = {PORT_FIELD[1:-1], HOST_FIELD[1:-1]}
# the servers that take more requests at once than they have workers x threads
ASYNC_SERVERS = ("uvicorn",)
ASYNC_WORKERS = ("UvicornWorker", "UvicornH11Worker", "uvicorn_worker")


class GridError(UsageProblem, ValueError):
    """A grid that cannot be run; the message names the axis or placeholder and the fix."""


@dataclass(frozen=True)
class Cell:
    """One configuration: the axes' values, the filled command, its requests at once."""

    values: tuple[tuple[str, str], ...]  # (axis, value), in the grid's order
    cmd: str  # the command with the grid's placeholders filled ({port} kept)
    concurrency: int
    rule: str | None = None  # the rule of thumb that added this cell to the grid

    @property
    def name(self) -> str:
        """'workers=2 threads=4'."""
        return " ".join(f"{k}={v}" for k, v in self.values)


def parse_axis(text: str) -> tuple[str, tuple[str, ...]]:
    """'workers=1,2,4' -> ('workers', ('1', '2', '4'))."""
    name, eq, values = text.partition("=")
    name = name.strip()
    parts = tuple(v.strip() for v in values.split(",") if v.strip())
    if not eq or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name) or not parts:
        raise GridError(f"--grid {text!r}: write NAME=V1,V2 (e.g. workers=1,2,4)")
    if len(set(parts)) != len(parts):
        raise GridError(f"--grid {text!r}: a value is given twice")
    if name == CONCURRENCY and not all(p.isdigit() and int(p) > 0 for p in parts):
        raise GridError(f"--grid {text!r}: concurrency takes whole numbers >= 1")
    return name, parts


def placeholders(template: str) -> list[str]:
    """The grid's placeholders in a command: every {name} but {port} and {host}."""
    return list(dict.fromkeys(n for n in _FIELD.findall(template) if n not in _KEPT))


def check(template: str, axes: list[tuple[str, tuple[str, ...]]]) -> None:
    """GridError unless every placeholder is an axis and every axis (but concurrency)
    a placeholder, each named once."""
    names = [a for a, _ in axes]
    if len(set(names)) != len(names):
        raise GridError(f"--grid names {sorted({n for n in names if names.count(n) > 1})} twice")
    wanted = placeholders(template)
    missing = [p for p in wanted if p not in names]
    if missing:
        raise GridError(f"the command has {{{missing[0]}}} but no --grid {missing[0]}=...; "
                        "give its values or write the value into the command")  # fmt: skip
    unused = [n for n in names if n not in wanted and n != CONCURRENCY]
    if unused:
        raise GridError(f"--grid {unused[0]}: the command has no {{{unused[0]}}} to fill")


def fill(template: str, values: dict[str, str]) -> str:
    """The command with each axis's placeholder filled ({port} and {host} kept)."""
    for name, value in values.items():
        if name != CONCURRENCY:
            template = template.replace(f"{{{name}}}", value)
    return template


def cells(template: str, axes: list[tuple[str, tuple[str, ...]]], concurrency_of) -> list[Cell]:
    """Every combination of the axes' values, the command filled for each.
    `concurrency_of(cmd)`: the requests a filled command serves at once (its workers x
    threads), used where the grid has no concurrency axis."""
    check(template, axes)
    names = [a for a, _ in axes]
    out = []
    for combo in itertools.product(*(values for _, values in axes)):
        values = dict(zip(names, combo, strict=True))
        cmd = fill(template, values)
        given = values.get(CONCURRENCY)
        out.append(Cell(tuple(values.items()), cmd,
                        int(given) if given else concurrency_of(cmd)))  # fmt: skip
    return out


def with_rules(
    axes: list[tuple[str, tuple[str, ...]]], rules: dict[str, int]
) -> list[tuple[dict[str, str], str]]:
    """The cells the rules of thumb would run that the grid lacks: their number of workers,
    one thread, every other axis at its first value; (values, rule) each."""
    names = [a for a, _ in axes]
    if "workers" not in names:
        return []
    given = dict(axes)["workers"]
    out = []
    for rule, workers in rules.items():
        if str(workers) in given or any(str(workers) == v["workers"] for v, _ in out):
            continue
        values = {a: (str(workers) if a == "workers" else "1" if a == "threads" else vs[0])
                  for a, vs in axes}  # fmt: skip
        out.append((values, rule))
    return out


def serves_at_once(spec) -> int:
    """Requests a server started from this spec serves at once: workers x threads for a
    pre-fork server's sync or gthread workers; its workers otherwise (an async server
    takes more: give it a concurrency axis)."""
    if spec.server == "gunicorn" and spec.worker_class in ("sync", "gthread"):
        return spec.workers * (spec.threads if spec.worker_class == "gthread" else 1)
    return max(1, spec.workers)


def is_async(spec) -> bool:
    return spec.server in ASYNC_SERVERS or spec.worker_class in ASYNC_WORKERS


def concurrency_knob(spec) -> str | None:
    """How to make an async server refuse more than its cell's concurrency, by its own
    option: uvicorn's --limit-concurrency; gunicorn's uvicorn worker does not pass
    --worker-connections on, so a subclass of the worker sets it."""
    if spec.server == "uvicorn":
        return "uvicorn --limit-concurrency C (answers 503 past C)"
    if spec.worker_class in ASYNC_WORKERS:
        return ("a UvicornWorker subclass with CONFIG_KWARGS = {'limit_concurrency': C} "
                "(gunicorn's --worker-connections is not passed on to uvicorn)")  # fmt: skip
    return None
