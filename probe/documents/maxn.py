"""The max-n document (kind "max-n", results/max-n/*.json): one search's question,
every probe, and the answer. Written by probe.studies.maxn, read by the catalog, compare,
the report and the plots."""

from __future__ import annotations

from probe.documents.base import Document, Record, key
from probe.servers import settings


class Band(Record):
    """Where the boundary lies on servers started anew (probe.search.band)."""

    tries_per_n = key()  # K: fresh servers tried at each n (format 8: layouts)
    layout = key()  # "random" (layouts vary), or the search's (threads: scheduling varies)
    what = key()  # what varies between the tries, in words
    always_ok_n = key()  # the largest n that succeeded on all K, below every failure
    never_ok_n = key()  # the smallest n that failed on all K, above every success
    samples = key()  # [{"n", "ok", "tries"}]
    probes = key()  # every probe of the band (Probe.to_dict)
    stop_reason = key()
    precision = key()
    elapsed_s = key()


class MaxNDoc(Document):
    KIND = "max-n"

    # the question
    workload = key()  # Workload.to_dict(): templates as written, never a token's value
    fn = key()  # a built-in's predictor name, else None
    server = key()  # a server kind's name, or "url"
    cmd = key()  # the user's start command as written ({port}), or None (probe built it)
    role = key()  # "threads" | "prefork" (probe.servers.kinds)
    # then one key per pre-fork setting (None for other kinds), ServerSpec's fields:
    # workers, worker_class, threads, worker_timeout_s, preload (declared after the class, from
    # probe.servers.settings)
    url = key()  # a server probe did not start
    server_env = key()  # the variables probe pins in every server's environment
    limit_bytes = key()  # the cap (None for --url)
    limit_kind = key()  # "as" | "rss" | "tree"
    oom_group = key()  # limit kind tree: past the budget the whole tree is killed
    model_limit_bytes = key()  # the cap the search's model aims at
    concurrency = key()  # identical requests at once per probe
    fresh = key()  # every probe on a fresh server (not --no-fresh, not --url)
    layout = key()  # "fixed" | "random": the servers' address-space layout
    lanes = key()  # servers probed side by side
    strategy = key()  # "model" | "bisect"
    confirm = key()  # the confirm policy used
    precision = key()  # the search stops when first_failing_n / critical_n - 1 <= this
    # the answer
    critical_n = key()  # the largest n that succeeded (threads at C > 1: the band's edge)
    first_failing_n = key()  # the smallest n above it that failed
    failure = key()  # the outcome at first_failing_n (Outcome.to_dict)
    search_critical_n = key()  # threads at C > 1: the search's own pair, beside the band's
    search_first_failing_n = key()
    band = key(wrap=Band)
    safe_n_full_overlap = key()  # threads at C > 1: C requests fit even if all overlap
    bytes_per_element_single = key()  # bytes per element of one request, for that bound
    single_request_probes = key()
    peak_rss_bytes = key()  # the peak RSS of a probe at critical_n
    baseline_rss_bytes = key()  # the idle server's RSS
    baseline_vms_bytes = key()  # the idle server's address space
    model_baseline_bytes = key()  # the model line's intercept
    bytes_per_element = key()  # the model line's slope
    predicted_critical_n = key()  # where the model line meets the cap
    precision_reached = key()  # first_failing_n / critical_n - 1
    stop_reason = key()  # probe.search.critical.STOP_REASONS
    # where outcomes are facts (fresh servers, fixed layout, no threads racing): each n that
    # failed below an n that succeeded, [{"failed_n", "ok_n"}]; critical_n lies below all
    # failures
    non_monotone = key()
    server_starts = key()
    n_param_cost_bytes = key()  # --n-param: address space its hook adds to an idle server
    rss_watchdog_kills = key()  # limit kind rss: each kill (Kill.to_dict)
    seeded_from = key()  # the single-request bracket a C > 1 search started from
    probes = key()  # every probe of the search (Probe.to_dict)
    # both ends re-probed on fresh servers, the first request as the port opened and
    # settle_s after the workers waited: {"settle_s", "agrees", "critical_n": {"ok",
    # "tries"}, "first_failing_n": {...}, "probes"}; where it does not agree, `band`
    # holds the band over those timings and critical_n is its always-ok edge
    recheck = key()
    # how probe started each server where a start by hand may differ: the wrapper, the
    # folder, stdin, where the output went, the session, the port, the environment's size,
    # and how readiness was read (`ready_by`)
    launch = key()
    # the warm phase: {"requests", "seed", "critical_n", "first_failing_n", "lower",
    # "probes"}; where `lower`, critical_n is the warm answer and the cold pair is kept
    warm = key()
    cold_critical_n = key()
    cold_first_failing_n = key()
    body_bytes_at_critical_n = key()  # a body sized by n: its bytes at each end
    body_bytes_at_first_failing_n = key()
    # no --n-start and a body sized by n: {"n_start", "n_max", "learned_from": [{"n",
    # "body_bytes", "held_bytes", "build_s"}]} (probe.workload.growth)
    first_sizes = key()
    # where fresh servers disagreed at one n (probe.search.rate): {"risk", "confidence",
    # "n_risk", "n_risk_lower" (the critical n), "n50", "n_all_fail", "probes_used",
    # "failures", "spread_ln_n", "uncertainty", "stop_reason", "probes" (its own)}; the search's
    # pair is kept as search_critical_n / search_first_failing_n
    rate = key()
    body_fn_cap_bytes = key()  # --body-fn: the address-space cap its builder ran under
    # probe's own peak RSS ("probe"), its body builder's ("body_builder", None if none ran)
    # and the bound on bodies probe holds whole at once ("held_max")
    own_peak_rss_bytes = key()
    # where the run's time went, per phase ("first_sizes", "search", "recheck",
    # "full_overlap", "band", "warm", "body_sizes"): {"wall_s", "probes", "servers",
    # "requests_s", "boot_wait_s"}
    phases = key()

    @property
    def n_unit(self) -> str | None:
        """What n counts, in the user's words (--n-unit), or None."""
        return (self.workload or {}).get("n_unit")


for _name in settings.FIELDS:
    _setting_key = key()
    _setting_key.__set_name__(MaxNDoc, _name)
    setattr(MaxNDoc, _name, _setting_key)
