"""Why a probe failed, from what the client saw and what the server side shows: a
MemoryError in the server's log (an app that lets it escape answers a bare 500), a dead
dev server (its exit status), the worker events a pre-fork kind logs (gunicorn's "was
sent SIGKILL!", "WORKER TIMEOUT"), the RSS watchdog's or the tree budget's kills, the
kernel's OOM kills in the server's cgroup, a server that could not start at this n.

Pure of lanes and pools: a probe's records, its step's memory and its server in, an
Outcome out (probe.measure.oracle calls these after each probe).
"""

from __future__ import annotations

import signal
import time

from probe.measure.load import RequestRecord
from probe.measure.memory import StepMemory
from probe.outcome import Kind, Outcome, worst
from probe.servers.logs import memory_cause
from probe.servers.process import Server, ServerStartError, decode_status
from probe.workload.model import Workload


def start_outcome(server: Server | None, exc: ServerStartError) -> Outcome:
    """A server that could not start at this n: a memory error if its log says so."""
    log = server.log_since_spawn() if server is not None else ""
    kind = Kind.MEMORY_ERROR if memory_cause(log) else Kind.SERVER_START_FAILED
    return Outcome(kind, None, f"server did not start at this n: {exc}")


Ended = set[int] | None  # the workers a probe's server showed ended (None: not read)


def classify(workload: Workload, n: int, records: list[RequestRecord], mem: StepMemory,
             server: Server | None, limit_kind: str) -> tuple[Outcome, Ended]:  # fmt: skip
    """The probe's outcome, and the workers the server side shows ended in it (None:
    not read), whose replacements the next probe waits for."""
    answered = [r for r in records if not (r.error or "").startswith("abandoned")]
    outcomes = [
        workload.judge(r.status, r.text, r.body, n, r.area, r.found)
        if r.status is not None
        else r.outcome
        for r in answered or records
    ]
    result = worst(outcomes)
    if result.ok and (mem.kills or mem.oom_kills):
        # a process killed for memory during the step, though the answers came (a
        # worker killed while it booted at this n, and its respawn served): under a
        # container's limit the respawn is killed the same way, so it failed
        killed = Outcome(Kind.KILLED, None, "answered after a server process was killed")
        return server_side_cause(killed, mem, server, limit_kind)
    if result.ok or result.kind is Kind.MEMORY_ERROR:
        return result, None
    return server_side_cause(result, mem, server, limit_kind)


def settled_log(server: Server, step_s: float = 0.02, most_s: float = 1.0) -> str:
    """The server's log since the probe began, once it has said why: gunicorn's
    arbiter logs a worker's fate a moment after it, and werkzeug writes a traceback
    after the 500 has gone out. Read every `step_s` until a memory cause or a
    worker's end is there, or a traceback has stopped growing, for at most `most_s`
    (a fixed 0.2 s wait before the first read cost every failing probe that much)."""
    deadline = time.monotonic() + most_s
    log = ""
    while time.monotonic() < deadline:
        time.sleep(step_s)
        new = server.new_log()
        log += new
        if memory_cause(log) is not None:
            return log
        if any(e.kind != "booted" for e in server.spec.kind.events(log)):
            return log
        if "Traceback" in log and not new:
            return log  # a traceback, written out, without a memory cause
    return log


def server_side_cause(client: Outcome, mem: StepMemory, server: Server | None,
                      limit_kind: str) -> tuple[Outcome, Ended]:  # fmt: skip
    """Refine a client-side failure with what the server side shows; with the workers
    it shows ended (None: none read)."""
    if mem.kills:
        k = mem.kills[0]
        # the killed worker may still be listed (a zombie until its parent reaps it):
        # its replacement must be ready before the next probe
        ended = {kill.pid for kill in mem.kills}
        if limit_kind == "tree":
            pids = ", ".join(str(kill.pid) for kill in mem.kills)
            what = (f"tree budget: SIGKILL to pid {pids} at the tree's charge "
                    f"{k.rss_bytes} B, {k.over_bytes} B past the budget")  # fmt: skip
        else:
            what = (f"rss watchdog sent SIGKILL to pid {k.pid} at RSS {k.rss_bytes} B, "
                    f"{k.over_bytes} B past the cap")  # fmt: skip
        return Outcome(
            Kind.KILLED, client.status,
            f"{what} (emulated OOM kill); client saw: {client.detail}", signal.SIGKILL,
        ), ended  # fmt: skip
    if server is None:
        return client, None
    log = settled_log(server)
    kind = server.spec.kind
    # workers the server logged as ended: their replacements must be ready next
    ended = {e.pid for e in kind.events(log) if e.kind != "booted"}
    if mem.oom_kills:
        return kernel_kill(client, mem), ended
    found = memory_cause(log)
    if found is not None:
        return Outcome(
            Kind.MEMORY_ERROR, client.status, f"{found}; client saw: {client.detail}"
        ), None  # fmt: skip
    failure = kind.failure(log, client)
    if failure is not None:
        return failure, ended
    proc = server.proc
    if proc is not None and proc.poll() is not None:
        rc = proc.returncode
        detail = f"{server.spec.server} pid {proc.pid} {decode_status(rc)}"
        if rc < 0:
            return Outcome(Kind.KILLED, client.status, f"{detail}; {client.detail}", -rc), ended
        return Outcome(Kind.CONNECTION_ERROR, client.status, f"{detail}; {client.detail}"), ended
    return client, ended


def kernel_kill(client: Outcome, mem: StepMemory) -> Outcome:
    """The kernel OOM-killed in the server's cgroup (limit kind cgroup), as memory.events
    counts it."""
    events, peak = mem.cgroup["events"], mem.cgroup.get("peak_bytes")
    what = (f"the kernel's memory.max: {events.get('oom_kill', 0)} process(es) OOM-killed"
            + (" with the whole group" if events.get("oom_group_kill") else "")
            + (f", memory.peak {peak} B" if peak is not None else ""))  # fmt: skip
    return Outcome(Kind.KILLED, client.status, f"{what}; client saw: {client.detail}",
                   signal.SIGKILL)  # fmt: skip
