"""The explain document (kind "explain", results/explain/<name>.json): where one
request's memory went at n and at a smaller n, per source line and per owner. Written by
probe.studies.explain; it never feeds a cap or a search."""

from __future__ import annotations

from probe.documents.base import Document, key


class ExplainDoc(Document):
    KIND = "explain"

    workload = key()  # Workload.to_dict(): templates as written, never a token's value
    server = key()  # the server kind's name
    cmd = key()  # the start command as written, or None (probe built it)
    traced_command = key()  # what ran: the command under `memray run`, port filled
    limit_bytes = key()  # the cap of the untraced check (the traced runs have none)
    limit_kind = key()
    n = key()  # the request explained
    n_small = key()  # the second size, for bytes per unit of n
    n_source = key()  # "--n", or the max-n document the critical n came from
    # the untraced request at n on a fresh server under the cap: {"outcome", "peak_rss_bytes"}
    untraced = key()
    # per traced run ("n", "n_small"): {"n", "pid", "outcome", "peak_rss_bytes",
    # "heap_bytes", "heap_idle_bytes", "rss_bytes", "rss_idle_bytes", "capture"}; heap
    # is memray's count of live allocations, rss its snapshots', each less its idle value
    traced = key()
    # the top sites at n: [{"function", "file", "line", "owner", "kind", "via",
    # "bytes", "bytes_small", "share", "bytes_per_n", "fixed_bytes"}]
    sites = key()
    sites_total = key()  # how many lines grew; the rest of `sites` is left out
    owners = key()  # per owner: [{"owner", "kind", "bytes", "share", "bytes_per_n"}]
    bytes_per_n = key()  # the request's heap per unit of n, between the two sizes
    maxn_bytes_per_n = key()  # peak RSS per unit of n over max-n's ok probes (a fit)
    maxn_source = key()  # the max-n document it came from
    flamegraph = key()  # memray's flame graph of the traced run at n (HTML), a path
    plot = key()  # bytes at both sizes of the top sites (PNG), a path
