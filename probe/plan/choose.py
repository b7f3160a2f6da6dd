"""Which cell to run, and which ones the usual rules of thumb would have picked. Pure.

A cell is a candidate for n = N when it takes N with headroom under the budget (its
largest n >= N x (1 + headroom)); among candidates the highest measured throughput wins,
where throughputs within TIE of each other are a tie, won by the cell with the most room
(the largest n under the budget). The rules of thumb, for the
table: gunicorn's docs, (2 x cores) + 1 workers, memory not considered; Heroku's
WEB_CONCURRENCY, the budget over 256 MB per worker, at most 2 x cores + 1.
"""

from __future__ import annotations

import os

HEROKU_PER_WORKER_BYTES = 256 * 10**6  # Heroku's guess for a Python worker's memory


def candidates(rows: list[dict], budget: int, n: int, headroom: float) -> list[dict]:
    """The rows (one per cell) whose largest n under `budget` holds n with the headroom."""
    need = n * (1 + headroom)
    return [r for r in rows if (r["budgets"].get(str(budget)) or {}).get("largest_n", 0) >= need]


# Throughputs within this fraction of the best are a tie: a closed loop of tens of
# requests on a shared machine moved a cell's req/s by more than that between runs
TIE = 0.10


def best(rows: list[dict], budget: int | None = None) -> list[dict]:
    """Candidates in the order they are tried: those within TIE of the highest req/s
    first, the one with the most room under `budget` (largest n) first among them,
    then fewer at once; then the rest by req/s."""

    def rps(r: dict) -> float:
        return (r.get("throughput") or {}).get("rps") or 0.0

    def room(r: dict) -> int:
        return (
            ((r.get("budgets") or {}).get(str(budget)) or {}).get("largest_n", 0) if budget else 0
        )

    top = max((rps(r) for r in rows), default=0.0)
    tied = [r for r in rows if rps(r) >= (1 - TIE) * top]
    rest = [r for r in rows if r not in tied]
    return (sorted(tied, key=lambda r: (-room(r), r["concurrency"]))
            + sorted(rest, key=lambda r: (-rps(r), r["concurrency"])))  # fmt: skip


def gunicorn_rule(cores: int | None = None) -> int:
    return 2 * (cores or os.cpu_count() or 1) + 1


def heroku_rule(budget: int, cores: int | None = None) -> int:
    return max(1, min(budget // HEROKU_PER_WORKER_BYTES, gunicorn_rule(cores)))


def rule_rows(rows: list[dict], budget: int, cores: int | None = None) -> dict[str, str | None]:
    """The cell each rule of thumb picks (the one with its number of workers and one
    thread), by cell name; None when the grid has no such cell."""
    picks = {}
    for rule, workers in (("gunicorn (2 x cores) + 1", gunicorn_rule(cores)),
                          ("Heroku WEB_CONCURRENCY", heroku_rule(budget, cores))):  # fmt: skip
        match = [r for r in rows if str(r["values"].get("workers")) == str(workers)
                 and str(r["values"].get("threads", "1")) == "1"]  # fmt: skip
        picks[rule] = {"workers": workers, "cell": match[0]["name"] if match else None}
    return picks
