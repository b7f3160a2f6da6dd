"""The compare document (kind "compare", results/compare.json): the max-n results of the
workloads side by side under one cap, alone and under the load, and numpy over pure
Python per server and concurrency. Written by probe.studies.compare, read by the report."""

from __future__ import annotations

from collections.abc import Sequence

from probe.documents.base import Document, Record, key
from probe.workload.seminar import NUMPY_FN, PYTHON_FN


class Row(Record):
    """One server x workload x concurrency, read off its max-n document (`source`)."""

    server = key()
    fn = key()  # the workload's name
    concurrency = key()
    critical_n = key()
    first_failing_n = key()
    failure_kind = key()
    stop_reason = key()
    bytes_per_element = key()  # the search's fitted slope, if its probes span enough n
    baseline_rss_bytes = key()
    baseline_vms_bytes = key()
    peak_rss_bytes = key()
    seconds_per_million = key()  # the fastest ok probe at critical_n, per million elements
    probes = key()  # how many probes the search took
    search_s = key()
    source = key()  # the max-n file the row was read from


class Ratio(Record):
    """Critical n of numpy (cpu_multithread) over pure Python (cpu_bounded)."""

    server = key()
    concurrency = key()
    numpy_over_python = key()


class CompareDoc(Document):
    KIND = "compare"

    limit_bytes = key()
    limit_kind = key()
    precision = key()
    concurrencies = key()
    rows = key(each=Row)
    ratios = key(each=Ratio)


def ratios_of(rows: Sequence[dict]) -> list[Ratio]:
    """Per (server, concurrency): critical n of numpy over pure Python, None if unknown."""
    groups: dict[tuple, dict[str, int | None]] = {}
    for r in map(Row.of, rows):
        groups.setdefault((r.server, r.concurrency), {})[r.fn] = r.critical_n
    ratios = []
    for (server, concurrency), by_fn in groups.items():
        python, numpy = by_fn.get(PYTHON_FN), by_fn.get(NUMPY_FN)
        ratio = numpy / python if python and numpy is not None else None
        ratios.append(Ratio.make(server=server, concurrency=concurrency, numpy_over_python=ratio))
    return ratios
