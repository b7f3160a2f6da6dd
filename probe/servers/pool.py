"""Fresh servers, one started ahead; several servers side by side."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator, Mapping

from probe.servers.process import Server
from probe.servers.spec import ServerError, ServerSpec


class ServerPool:
    """Fresh servers of one spec, one started ahead: `take()` hands out a server that has
    served nothing and spawns the next one, so that it boots while the caller probes.

    A server whose environment depends on n (`take(extra_env)`) cannot be started ahead:
    it is spawned then, and the caller waits for it (its start is part of the probe).
    Call from the main thread only (probe.servers.capexec's parent-death signal).
    """

    def __init__(
        self, spec: ServerSpec, ahead: bool = True, base_env: Mapping[str, str] | None = None
    ):
        if spec.port and ahead:
            raise ServerError(f"fresh servers cannot share port {spec.port}; pass --port 0")
        self.spec = spec
        self.ahead = ahead
        self.base_env = dict(base_env or {})  # every server's (a workload's fixed env)
        self.started = 0
        self._spare: Server | None = None
        self._watcher: threading.Thread | None = None
        self._stop_watch = threading.Event()

    def _new(self, extra_env: Mapping[str, str] | None = None) -> Server:
        server = Server(self.spec, {**self.base_env, **(extra_env or {})})
        server.spawn()
        self.started += 1
        return server

    def _watch(self, server: Server) -> threading.Event:
        """Read the spare's readiness every 10 ms from a thread until it is up (so its
        `ready_at` is when it came up, not when it was taken) or `take` stops it."""
        stop = threading.Event()

        def poll() -> None:
            with contextlib.suppress(Exception):  # a server gone: take() will tell
                while not stop.is_set() and server.alive() and not server.ready():
                    time.sleep(0.01)

        self._watcher = threading.Thread(target=poll, name="probe-spare", daemon=True)
        self._watcher.start()
        return stop

    def prime(self) -> None:
        """Spawn the first spare now (so several pools boot side by side)."""
        if self._spare is None and self.ahead:
            self._spare = self._new()
            self._stop_watch = self._watch(self._spare)

    def take(self, extra_env: Mapping[str, str] | None = None, wait: bool = True,
             new: bool = False) -> Server:  # fmt: skip
        """A fresh server: the spare (waited for), or a new one with `extra_env`, or a new
        one when `new` (a server whose start the caller times: spawned now; waited for
        only if `wait`)."""
        if extra_env or new:
            server = self._new(extra_env)
        else:
            self._unwatch()
            server = self._spare or self._new()
            self._spare = self._new() if self.ahead else None
            if self._spare is not None:
                self._stop_watch = self._watch(self._spare)
        if wait:
            try:
                server.wait_ready()
            except BaseException:
                server.close(grace_s=0)
                raise
        return server

    def _unwatch(self) -> None:
        """Stop the spare's watcher (the caller reads the server from here on)."""
        self._stop_watch.set()
        if self._watcher is not None:
            self._watcher.join()
            self._watcher = None

    def close(self) -> None:
        self._unwatch()
        if self._spare is not None:
            self._spare.close(grace_s=0)
            self._spare = None


@contextlib.contextmanager
def launch(spec: ServerSpec) -> Iterator[Server]:
    """Start a server under its cap; on exit (also Ctrl-C, exceptions) stop the whole tree."""
    with launch_many(spec, 1) as (server,):
        yield server


@contextlib.contextmanager
def launch_many(spec: ServerSpec, count: int) -> Iterator[list[Server]]:
    """Start `count` servers of one spec (each on its own free port, under its own cap)
    side by side: all spawn first, then each is waited for; on exit stop them all."""
    if count > 1 and spec.port:
        raise ServerError(f"{count} servers cannot share port {spec.port}; pass --port 0")
    servers = [Server(spec) for _ in range(count)]
    try:
        for server in servers:
            server.spawn()
        for server in servers:
            server.wait_ready()
        yield servers
    finally:
        for server in servers:
            server.close()


@contextlib.contextmanager
def pools(
    spec: ServerSpec, count: int, ahead: bool = True, base_env: Mapping[str, str] | None = None
) -> Iterator[list[ServerPool]]:
    """`count` pools of fresh servers, their first spares booting side by side."""
    made = [ServerPool(spec, ahead, base_env) for _ in range(count)]
    try:
        for pool in made:
            pool.prime()
        yield made
    finally:
        for pool in made:
            pool.close()
