"""The oracles a phase probes with: one per lane, on pools of fresh servers (shared by the
run's phases) or on a --url server; a single prober; the gate; --n-param's cost.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

from probe.measure.lanes import reach
from probe.measure.memory import read_status
from probe.measure.oracle import OracleConfig, ServerOracle
from probe.outcome import Probe
from probe.servers.pool import pools
from probe.servers.process import Server
from probe.servers.spec import ServerError, ServerSpec
from probe.studies.maxn.progress import Log
from probe.studies.question import MaxNConfig
from probe.workload import nparam


def n_param_cost(cfg: MaxNConfig) -> int | None:
    """The address space --n-param's hook adds to an idle serving process: two servers
    side by side, one with the hook installed but changing nothing; None if either
    does not start."""
    base = cfg.workload.fixed_env()
    hooked = {**base, **nparam.server_env(cfg.workload.n_param, nparam.KEEP)}
    servers = [Server(cfg.spec, env) for env in (base, hooked)]
    try:
        for srv in servers:
            srv.spawn()
        sizes = []
        for srv in servers:
            srv.wait_ready()
            status = read_status(srv.worker_pids()[0])
            sizes.append(status["VmSize"] if status else None)
    except ServerError:
        return None
    finally:
        for srv in servers:
            srv.close(grace_s=0)
    return None if None in sizes else sizes[1] - sizes[0]


@contextlib.contextmanager
def prober(cfg: MaxNConfig) -> Iterator[Callable[[int], Probe]]:
    """Probes of cfg's question one after another, each on a fresh server of cfg.spec
    started while the previous probe ran (the oracle max-n's search uses)."""
    with lane_oracles(cfg, cfg.spec, 1) as (oracle,):
        yield oracle


def gate(cfg: MaxNConfig, n: int, log: Log = lambda s: None) -> list[Probe]:
    """Does n still succeed? One probe on a fresh server with the fixed layout, or with
    --band K one on each of K fresh servers with randomized layouts; nothing searched.
    The probes, in order (the caller judges: all must be ok)."""
    tries = cfg.band or 1
    spec = cfg.spec if tries == 1 else replace(cfg.spec, layout="random")
    probes = []
    with lane_oracles(cfg, spec, 1) as (oracle,):
        for i in range(tries):
            probe = oracle(n)
            log(f"gate {i + 1}/{tries}: n={n:,} {probe.outcome.kind.value} "
                f"{probe.elapsed_s:.2f}s {probe.outcome.detail}".rstrip())  # fmt: skip
            probes.append(probe)
            if not probe.ok:
                break  # one failure decides: no need to try the rest
    return probes


@contextlib.contextmanager
def lane_oracles(cfg: MaxNConfig, spec: ServerSpec, lanes: int, concurrency: int | None = None,
             timings: tuple[float | None, ...] = (), warmup: tuple[float, ...] = (),
             shared: Pools | None = None) -> Iterator[list[ServerOracle]]:  # fmt: skip
    """One oracle per lane: on pools of fresh servers of `spec`, or on the --url server;
    `timings`: when each lane's requests go out, in turn (ServerOracle.prepare).
    `shared`: the run's pools, kept from phase to phase, so that a spare booted while
    the search's last round ran serves the re-check or the warm phase, not nothing."""
    ocfg = OracleConfig(
        cfg.workload, concurrency or cfg.concurrency, cfg.request_timeout_s, cfg.limit_kind,
        cfg.token, cfg.fresh, timings, warmup,
    )  # fmt: skip
    with contextlib.ExitStack() as stack:
        if cfg.url:
            pid = reach(cfg.url)
            local = [pid] if pid and Path(f"/proc/{pid}").exists() else []
            made = [ServerOracle(ocfg, None, cfg.url, monitor_pids=local)]
        else:
            w = cfg.workload
            base = w.server_env(None) if w.n_placement != "env" else {}
            # n at start-up, or one port for every server: no server started ahead
            ahead = cfg.fresh and w.n_placement != "env" and not spec.port
            if shared is not None:
                ps = shared.get(spec, lanes, ahead, base)
            else:
                ps = stack.enter_context(pools(spec, lanes, ahead=ahead, base_env=base))
            # each lane starts its turn of timings at its own place, so that a round of
            # one probe per lane already has every timing
            turns = [timings[i % len(timings):] + timings[:i % len(timings)] if timings else ()
                     for i in range(len(ps))]  # fmt: skip
            made = [ServerOracle(replace(ocfg, timings=t), p, watchdog_bytes=spec.watchdog_bytes)
                    for t, p in zip(turns, ps, strict=True)]  # fmt: skip
        for oracle in made:
            stack.callback(oracle.close)
        yield made


class Pools:
    """The run's pools of fresh servers, by what they start, open until the run ends."""

    def __init__(self, stack: contextlib.ExitStack):
        self.stack, self.made = stack, {}

    def get(self, spec: ServerSpec, lanes: int, ahead: bool, base: dict) -> list:
        key = (repr(spec), lanes, ahead, tuple(sorted(base.items())))
        if key not in self.made:
            self.made[key] = self.stack.enter_context(
                pools(spec, lanes, ahead=ahead, base_env=base))  # fmt: skip
        return self.made[key]
