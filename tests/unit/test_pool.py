"""Cold-probe scheduling against a fake server pool: no processes.

The seam is `probe.servers.pool.Server`: a fake records when each server is spawned, waited
for and closed, so the tests can check the order that hides a server's start behind
the previous probe, and that every probe gets a server that has served nothing.
"""

from __future__ import annotations

import pytest

from app.pricing import expected_price
from probe.measure.load import RequestRecord
from probe.measure.memory import StepMemory
from probe.measure.oracle import OracleConfig, ServerOracle
from probe.servers import pool as pool_mod
from probe.servers.pool import ServerPool
from probe.servers.process import ServerStartError
from probe.servers.spec import ServerError, ServerSpec
from probe.workload.builtins import builtin
from probe.workload.model import Workload

EVENTS: list[tuple[str, int]] = []


class FakeServer:
    """Stands in for a server process: numbered in spawn order, records what is done."""

    count = 0
    cgroup = None  # no cgroup of its own (limit kind cgroup only)

    def __init__(self, spec, extra_env=None):
        self.spec, self.extra_env = spec, dict(extra_env or {})
        self.id = FakeServer.count
        FakeServer.count += 1
        self.fail = False
        self.closed = False

    def spawn(self):
        EVENTS.append(("spawn", self.id))

    def wait_ready(self, timeout_s=None):
        EVENTS.append(("wait", self.id))
        if self.extra_env.get("FAIL") == "1":
            raise ServerStartError("fake server failed to start")

    def close(self, grace_s=None):
        EVENTS.append(("close", self.id))
        self.closed = True

    url = "http://127.0.0.1:1"
    layout = "fixed"

    def pids(self):
        return []

    def alive(self):
        return not self.closed

    def worker_pids(self):
        return [1000 + self.id]

    def new_log(self):
        return ""

    def log_since_spawn(self):
        return ""

    def log_text(self):
        return ""


@pytest.fixture(autouse=True)
def fake_servers(monkeypatch):
    EVENTS.clear()
    FakeServer.count = 0
    monkeypatch.setattr(pool_mod, "Server", FakeServer)


def test_take_spawns_the_next_server_before_waiting_for_this_one():
    """The spare boots while the caller probes: after prime, take() hands out server 0
    and has already spawned server 1 when it waits for server 0 (so 1 boots during the
    probe on 0); the next take hands out 1, which has served nothing."""
    pool = ServerPool(ServerSpec())
    pool.prime()
    first = pool.take()
    assert EVENTS == [("spawn", 0), ("spawn", 1), ("wait", 0)]
    second = pool.take()
    assert (first.id, second.id) == (0, 1)
    assert EVENTS[3:] == [("spawn", 2), ("wait", 1)]
    pool.close()
    assert EVENTS[-1] == ("close", 2)  # the unused spare does not outlive the pool


def test_a_server_with_n_in_its_environment_is_never_started_ahead():
    """n at start-up: the server for n can only be spawned once n is known, and the
    caller waits for it inside the measured probe (wait=False); the pool's spare (none,
    ahead=False) is left alone."""
    pool = ServerPool(ServerSpec(), ahead=False)
    pool.prime()
    assert EVENTS == []
    server = pool.take({"TABLE_N": "1000"}, wait=False)
    assert server.extra_env == {"TABLE_N": "1000"}
    assert EVENTS == [("spawn", 0)]


def test_base_env_reaches_every_server_and_extra_env_overrides_it():
    """A workload's fixed environment goes to every fresh server; n goes on top."""
    pool = ServerPool(ServerSpec(), base_env={"MODE": "a", "TABLE_N": "1"})
    pool.prime()
    assert pool.take().extra_env == {"MODE": "a", "TABLE_N": "1"}
    assert pool.take({"TABLE_N": "7"}, wait=False).extra_env == {"MODE": "a", "TABLE_N": "7"}


def test_a_server_that_fails_to_start_is_closed_and_the_error_raised():
    """A spare that cannot start must not be left running when take() gives up."""
    pool = ServerPool(ServerSpec(), ahead=False)
    with pytest.raises(ServerStartError):
        pool.take({"FAIL": "1"})
    assert EVENTS == [("spawn", 0), ("wait", 0), ("close", 0)]


def test_fresh_servers_cannot_share_a_fixed_port():
    """Two fresh servers exist at once (the probe's and the spare): one port is not enough."""
    with pytest.raises(ServerError, match="pass --port 0"):
        ServerPool(ServerSpec(port=8000))


def _answer(oracle: ServerOracle, n: int):
    """A probe through prepare and finish, with the answer the seminar app would give
    (measure sends HTTP; here the record is made by hand)."""
    pending = oracle.prepare(n)
    price = expected_price("cpu_bounded", 10, n)
    pending.records = [
        RequestRecord(10, "cpu_bounded", n, 0.0, 0.1, "ok", 200, {"price": price}, None, "")
    ]
    pending.mem = StepMemory()
    return oracle.finish(pending)


def test_cold_oracle_probes_each_n_on_its_own_server_and_retires_it():
    """Three probes, three servers: each probe takes a server that has served nothing
    (its serving pid differs), and the server is closed once its probe is judged."""
    pool = ServerPool(ServerSpec())
    pool.prime()
    oracle = ServerOracle(OracleConfig(builtin("cpu_bounded")), pool)
    try:
        probes = [_answer(oracle, n) for n in (1000, 2000, 4000)]
    finally:
        oracle.close()
        pool.close()
    assert [p.ok for p in probes] == [True, True, True]
    assert [p.serving_pids for p in probes] == [[1000], [1001], [1002]]
    closed = [i for what, i in EVENTS if what == "close"]
    assert closed[:3] == [0, 1, 2]  # each retired after its own probe
    assert oracle.starts == 3


def test_warm_oracle_keeps_one_server():
    """--no-fresh: the first probe takes a server and every later probe reuses it."""
    pool = ServerPool(ServerSpec(), ahead=False)
    cfg = OracleConfig(builtin("cpu_bounded"), fresh=False)
    oracle = ServerOracle(cfg, pool)
    try:
        probes = [_answer(oracle, n) for n in (1000, 2000)]
    finally:
        oracle.close()
    assert [p.serving_pids for p in probes] == [[1000], [1000]]
    assert [e for e in EVENTS if e[0] == "spawn"] == [("spawn", 0)]


def test_n_at_start_up_gives_each_probe_a_server_started_with_that_n():
    """A workload with n in its environment: the oracle asks the pool for a server with
    NAME=n, does not wait for it before the probe (its start is measured), and the next
    probe gets a new server with the next n."""
    w = Workload(name="table", app="table:app", request="GET /x", n_env="TABLE_N")
    pool = ServerPool(ServerSpec(app=w.app), ahead=False)
    oracle = ServerOracle(OracleConfig(w), pool)
    try:
        envs = []
        for n in (10, 20):
            pending = oracle.prepare(n)
            envs.append(oracle.server.extra_env)
            assert pending.wait_start
            oracle.server.close()
            oracle.server = None
    finally:
        oracle.close()
    assert envs == [{"TABLE_N": "10"}, {"TABLE_N": "20"}]
    assert ("wait", 0) not in EVENTS


@pytest.mark.parametrize("limit_kind", ["tree", "cgroup"])
def test_answers_that_came_after_a_kill_in_the_probe_are_a_failure(limit_kind):
    """A server process killed for memory during the probe (a worker killed while it
    built a table of n entries at start-up, its respawn then serving) fails the probe:
    under a container's limit the respawn would meet the same fate. Seen in the guest:
    the tree budget's answer for n at start-up was 3 % above the kernel's while such
    probes counted as ok."""
    from probe.measure.memory import Kill

    pool = ServerPool(ServerSpec())
    pool.prime()
    oracle = ServerOracle(OracleConfig(builtin("cpu_bounded"), limit_kind=limit_kind), pool)
    try:
        pending = oracle.prepare(1000)
        price = expected_price("cpu_bounded", 10, 1000)
        pending.records = [RequestRecord(10, "cpu_bounded", 1000, 0.0, 0.1, "ok", 200,
                                         {"price": price}, None, "")]  # fmt: skip
        if limit_kind == "tree":
            pending.mem = StepMemory(kills=[Kill(1000, 0.05, 101 << 20, 100 << 20)])
        else:
            events = {"oom_kill": 1, "oom_group_kill": 0}
            pending.mem = StepMemory(cgroup={"peak_bytes": 100 << 20, "events": events})
        probe = oracle.finish(pending)
    finally:
        oracle.close()
        pool.close()
    assert not probe.ok and probe.outcome.kind.value == "killed"
    assert ("tree budget" if limit_kind == "tree" else "the kernel's memory.max") in (
        probe.outcome.detail
    )
