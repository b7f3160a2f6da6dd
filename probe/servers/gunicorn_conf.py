"""gunicorn settings probe adds to every server it starts:
`--config python:probe.servers.gunicorn_conf`.

- post_fork: each worker asks the kernel for SIGKILL when its arbiter dies, so a server
  whose probe was killed outright (and whose arbiter then got the same signal from
  probe.servers.capexec) leaves no worker behind; a sync worker would otherwise notice its
  orphaning only at its next loop, up to --timeout seconds later.
- post_worker_init: once the worker has loaded the app, it prints probe's ready line,
  so probe need not send a request to learn that the server is up.
"""

from __future__ import annotations

import os
import sys

from probe.servers.capexec import die_with_parent


def post_fork(server, worker) -> None:
    """In the new worker: die with the arbiter."""
    die_with_parent(os.getppid())


def post_worker_init(worker) -> None:
    """In the worker, after the app is loaded: tell probe it can take requests."""
    print(f"probe: ready pid={os.getpid()}", file=sys.stderr, flush=True)
