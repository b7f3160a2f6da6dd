"""Fire N requests at once and record, per request, what happened and when.

The runner knows HTTP and clocks, nothing of statistics or servers: each request gets
its own thread and connection, all released together by a barrier (the seminar used a
pool of 10 processes; threads are enough for waiting on sockets).
"""

from __future__ import annotations

import hashlib
import http.client
import json
import select
import threading
import time
import urllib.parse
import weakref
from collections.abc import Iterator
from dataclasses import asdict, dataclass

import requests

from probe import interrupt
from probe.outcome import Kind, Outcome, failed_answer
from probe.workload.bodies import CHUNK, Body
from probe.workload.model import HttpRequest

SEMINAR_AREAS = tuple(range(10, 101, 10))  # the seminar's script: areas 10, 20, ..., 100


@dataclass(frozen=True)
class RequestRecord:
    """One request as the client saw it, offsets from the moment the load started."""

    area: float | None
    fn: str  # the workload's name (a built-in's is its predictor)
    n: int | None
    start_s: float
    end_s: float
    kind: str  # probe.outcome.Kind value
    status: int | None
    body: dict | None  # the parsed JSON answer, if any
    error: str | None  # what went wrong, if anything
    text: str = ""  # the answer body as text (first MAX_TEXT characters), for judging
    answer_bytes: int | None = None  # the answer body's length, as received
    found: bool | None = None  # whether the answer held the request's expect text
    answer_id: str | None = None  # the whole answer's length and hash: "LENGTH:BLAKE2B"

    @property
    def latency_s(self) -> float:
        return self.end_s - self.start_s

    @property
    def outcome(self) -> Outcome:
        return Outcome(Kind(self.kind), self.status, self.error or "")

    def to_dict(self) -> dict:
        d = asdict(self)
        del d["text"], d["found"], d["answer_id"]
        d["latency_s"] = round(self.latency_s, 6)
        body = self.body or {}
        d["price"] = body.get("price")
        d["pid"] = body.get("pid")
        d["thread"] = body.get("thread")
        d["server_elapsed_s"] = body.get("elapsed_s")
        return d


def classify(status: int, body: dict | None) -> tuple[Kind, str | None]:
    """Kind and error text of an HTTP answer."""
    if 200 <= status < 300:
        return Kind.OK, None
    outcome = failed_answer(status, body)
    return outcome.kind, outcome.detail


MAX_TEXT = 65536


def _one(url: str, req: HttpRequest, name: str, timeout_s: float, headers: dict, t0: float,
         out: list, i: int) -> None:  # fmt: skip
    start = time.monotonic()
    status = body = error = None
    text, size, found = "", None, None
    digest = hashlib.blake2b(digest_size=8)
    try:
        if isinstance(req.body, Body):
            status, (text, size, found) = _send_streamed(url, req, headers, timeout_s, digest)
        else:
            resp = requests.request(
                req.method, f"{url}{req.path}", data=req.body, timeout=timeout_s, stream=True,
                headers={**headers, **dict(req.headers)},  # the workload's own headers win
            )  # fmt: skip
            status = resp.status_code
            text, size, found = read_answer(resp.iter_content(CHUNK), req.expect, digest)
        try:
            body = json.loads(text) if size is not None and size <= MAX_TEXT else None
        except ValueError:
            body = None
        kind, error = classify(status, body)
    except (requests.Timeout, TimeoutError):
        kind, error = Kind.TIMEOUT, f"no answer within {timeout_s:g} s"
    except (requests.RequestException, OSError, http.client.HTTPException) as exc:
        # refused, reset, aborted, truncated answer
        kind, error = Kind.CONNECTION_ERROR, _root_cause(exc)
    end = time.monotonic()
    out[i] = RequestRecord(
        req.area, name, req.n, start - t0, end - t0, kind.value, status,
        body if isinstance(body, dict) else None, error, text, size, found,
        f"{size}:{digest.hexdigest()}" if size is not None else None,
    )  # fmt: skip


def read_answer(chunks, expect: str | None, digest=None) -> tuple[str, int, bool | None]:
    """(the first MAX_TEXT characters, the length in bytes, whether `expect` occurs)
    of an answer read chunk by chunk: never more than a chunk and MAX_TEXT kept, so an
    echo of a 1 GiB body costs probe no memory. `digest` (a hashlib object) is fed the
    whole answer, so answers are compared whole, not by their heads."""
    head, size, found = b"", 0, None
    want = expect.encode() if expect is not None else None
    tail = b""
    for chunk in chunks:
        if not chunk:
            continue
        size += len(chunk)
        if digest is not None:
            digest.update(chunk)
        if len(head) < MAX_TEXT:
            head += chunk[: MAX_TEXT - len(head)]
        if want is not None and not found:
            window = tail + chunk
            found = want in window
            tail = window[-(len(want) - 1) :] if len(want) > 1 else b""
    if want is not None and found is None:
        found = want in head
    return head.decode("utf-8", errors="replace"), size, found


def _send_streamed(url: str, req: HttpRequest, headers: dict, timeout_s: float, digest=None):
    """Send a generated body chunk by chunk with its Content-Length; read the answer as
    a stream. A server that answers before the whole body is in (413 from its own limit,
    a worker out of memory) and closes: its early answer is read, not lost to the
    broken pipe that the rest of the body would meet."""
    where = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(where.hostname, where.port, timeout=timeout_s)
    body = req.body
    sent = 0
    try:
        conn.putrequest(req.method, req.path, skip_accept_encoding=True)
        for key, value in {**headers, **dict(req.headers)}.items():
            conn.putheader(key, value)
        conn.putheader("Content-Length", str(len(body)))
        conn.endheaders()
        broke: OSError | None = None
        try:
            for chunk in _writes(body):
                if select.select([conn.sock], [], [], 0)[0]:
                    break  # an early answer (or the server closed): read it
                conn.sock.sendall(chunk)
                sent += len(chunk)
        except OSError as exc:  # EPIPE, ECONNRESET: the server stopped reading
            broke = exc
        try:
            resp = conn.getresponse()
        except (http.client.HTTPException, OSError) as exc:
            cause = broke or exc
            raise ConnectionError(
                f"{_root_cause(cause)} after {sent:,} of {len(body):,} body bytes"
            ) from None
        chunks = iter(lambda: resp.read(CHUNK), b"")
        return resp.status, read_answer(chunks, req.expect, digest)
    finally:
        conn.close()


# A body up to this size goes out in one write, as requests (http.client) sends a body it
# holds: the server then reads it in the pieces its own buffer takes. Sent in 64 KiB
# writes instead, a FastAPI batch under uvicorn was read in smaller pieces and its
# boundary at 256M moved: 261,126 rows took 3 of 3 from probe and failed 3 of 3 from
# requests' json=. Larger bodies stream in chunks, so probe's memory stays small.
ONE_WRITE_MAX_BYTES = 256 << 20
# probe's own bound: the bodies held whole for one write, all requests and lanes together,
# take at most this much (each body is held once, shared by the C requests of a probe);
# a body that would pass it streams in chunks instead. So probe's own RSS stays under
# its idle size + HELD_MAX_BYTES + a chunk per request, whatever n is.
HELD_MAX_BYTES = 2 * ONE_WRITE_MAX_BYTES
_held = {"bytes": 0}
_held_lock = threading.Lock()


def _writes(body: Body) -> Iterator[bytes | bytearray]:
    """The body's writes: one, as a client that holds the body sends it, up to
    ONE_WRITE_MAX_BYTES while probe holds less than HELD_MAX_BYTES; else its chunks."""
    whole = _whole(body)
    if whole is None:
        yield from body
        return
    yield whole


def _whole(body: Body) -> bytearray | None:
    """The body's bytes, joined once per Body and shared by the requests that send it
    (released with the Body), or None where that would pass the bounds."""
    with _held_lock:
        whole = getattr(body, "_whole", None)
        if whole is not None:
            return whole
        size = len(body)
        if size > ONE_WRITE_MAX_BYTES or _held["bytes"] + size > HELD_MAX_BYTES:
            return None
        _held["bytes"] += size
        # joined under the lock: a second request of the probe waits for these bytes
        # rather than holding a copy of its own; filled in place (b"".join of a stream
        # of fresh chunks holds them all beside the result: twice the body)
        whole, at = bytearray(size), 0
        for chunk in body:
            whole[at : at + len(chunk)] = chunk
            at += len(chunk)
        body._whole = whole
        weakref.finalize(body, _release, size)
        return whole


def _release(size: int) -> None:
    with _held_lock:
        _held["bytes"] -= size


def held_bytes() -> int:
    """The bytes of bodies probe holds whole right now."""
    return _held["bytes"]


def _root_cause(exc: BaseException) -> str:
    """The innermost reason of a requests exception: 'RemoteDisconnected(...)' etc."""
    seen = exc
    while seen.__cause__ is not None or (seen.args and isinstance(seen.args[0], BaseException)):
        seen = seen.__cause__ or seen.args[0]
    text = str(seen)
    return f"{type(seen).__name__}: {text}" if text else type(seen).__name__


def fire(
    url: str,
    requests_: list[HttpRequest],
    timeout_s: float = 60.0,
    token: str | None = None,
    name: str = "",
    give_up_after_failure_s: float | None = None,
) -> list[RequestRecord]:
    """Send all requests at once (one thread each) and return their records in order;
    `name` (the workload's) labels the records.

    give_up_after_failure_s: once one request has failed, wait at most this long for the
    others, then record them as abandoned (a probe fails if any request fails, so the
    rest cannot change that; a server out of memory can leave a connection open until
    the timeout). Only for a server that is killed afterwards, which ends the threads.
    """
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    out: list[RequestRecord | None] = [None] * len(requests_)
    barrier = threading.Barrier(len(requests_) + 1)
    t0_box: list[float] = []

    def run(i: int, req: HttpRequest) -> None:
        barrier.wait()
        _one(url, req, name, timeout_s, headers, t0_box[0], out, i)

    threads = [
        threading.Thread(target=run, args=(i, r), name=f"probe-load-{i}", daemon=True)
        for i, r in enumerate(requests_)
    ]
    for t in threads:
        t.start()
    t0_box.append(time.monotonic())
    barrier.wait()
    failed_at: float | None = None
    for t in threads:
        while t.is_alive():  # poll, so Ctrl-C / SIGTERM unwinds within a moment
            t.join(timeout=0.05)
            interrupt.check()
            if give_up_after_failure_s is None:
                continue
            if failed_at is None and any(r is not None and r.kind != "ok" for r in out):
                failed_at = time.monotonic()
            if failed_at is not None and time.monotonic() - failed_at > give_up_after_failure_s:
                return _abandon(out, requests_, name, t0_box[0])
    return [r for r in out if r is not None]


def _abandon(out: list, requests_: list[HttpRequest], name: str, t0: float) -> list:
    """The records, with the requests still waiting recorded as abandoned."""
    now = time.monotonic() - t0
    why = "abandoned: another request of the probe had failed (the server is killed next)"
    return [
        r if r is not None else RequestRecord(
            req.area, name, req.n, now, now, Kind.CONNECTION_ERROR.value, None, None, why
        )
        for r, req in zip(out, requests_, strict=True)
    ]  # fmt: skip
