"""The matrix document (kind "matrix", results/matrix.json): the seminar's load on every
server x workload. Written by probe.studies.matrix, read by the report and its plots."""

from __future__ import annotations

from probe.documents.base import Document, Record, key


class Variant(Record):
    """One server x workload under the load."""

    workload = key()  # the workload's name
    server = key()
    fn = key()  # the workload's name, as the seminar's logs name it
    n = key()  # the n every request carried (None: io_bounded)
    n_source = key()  # "given", or the max-n file --n auto read it from
    wall_s = key()  # from the first request sent to the last answer
    ok = key()  # requests answered right
    failed = key()
    latency_s = key()  # {"min", "p50", "p95", "max", "mean"} of the ok requests
    throughput_rps = key()
    max_in_flight = key()  # requests inside the server at once (its own clock)
    max_in_flight_client = key()  # requests open at once (the client's clock)
    max_in_flight_per_pid = key()
    server_pids = key()  # the processes that served
    server_threads = key()  # distinct (pid, thread) that served
    peak_rss_bytes = key()  # the server's peak RSS during the load
    server_events = key()  # the server's worker events after boot (timeouts, kills)
    server_errors = key()  # exception lines of the server's log, counted
    server_alive_after = key()
    layout = key()  # the server's address-space layout
    requests = key()  # one record per request (probe.measure.load.RequestRecord), sent order
    log = key()  # the seminar-style log's path


class MatrixDoc(Document):
    KIND = "matrix"

    limit_bytes = key()
    limit_kind = key()
    requests = key()  # requests per variant
    concurrency = key()  # requests in flight at once
    n_requested = key()  # "auto" or the n given
    margin = key()  # --n auto: the share of the critical n each variant runs at
    servers = key()
    fns = key()  # the workloads' names
    workloads = key()  # Workload.to_dict() of each
    variants = key(each=Variant)
