"""The plan document (kind "plan", results/plan.json): which configurations of a command
take which n under which budgets, how fast they serve, the one to run and its sustained
run. Written by probe.studies.plan after every cell; a shard writes its cells only."""

from __future__ import annotations

from probe.documents.base import Document, key


class PlanDoc(Document):
    KIND = "plan"

    template = key()  # the command with placeholders, as written (None: probe's own server)
    axes = key()  # [[name, [values]]], in the order given
    workload = key()  # Workload.to_dict(): templates as written, never a token's value
    budgets_bytes = key()  # each budget over the process tree (limit_kind says how)
    # "tree": probe's emulation of a memory cgroup; "cgroup": a real cgroup v2 per server
    limit_kind = key()
    n = key()  # the N to hold (--n), or None
    headroom = key()  # the fraction of N a cell must hold beyond it (plan 7: margin)
    cores = key()  # os.cpu_count() where it ran (the rules of thumb use it)
    shard = key()  # "I/N" for a shard's partial document, else None
    # one per cell: {"index", "name", "values", "cmd", "concurrency", "server",
    # "idle_bytes", "calibration": {"points", "fixed_bytes", "per_n_bytes"},
    # "budgets": {"<bytes>": {"predicted_n", "largest_n", "first_failing_n", "how",
    # "probes", "full_overlap_n", "sustained"}} (the last two None but for a cell of
    # several at once: probe.plan.occupancy; plan 9; full_overlap_n is where every peak
    # at once fits, or, where the check disagreed, where the cell's search held C at
    # once; its "how" says which), "throughput": {"n", "requests",
    # "rps", "p50_s", "p99_s", "ok", "failed"}, "error", "wall_s"}
    cells = key()
    # with --n: {"budget_bytes", "cell", "cmd", "knob"} of the cell confirmed, or None
    recommendation = key()
    confirmations = key()  # each sustained run tried, in order (probe.plan.confirm)
    rules = key()  # the cells the rules of thumb pick: {rule: {"workers", "cell"}}
    problems = key()  # what stopped the plan from recommending, one line each
