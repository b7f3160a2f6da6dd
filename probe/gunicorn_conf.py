"""gunicorn settings probe adds to every server it starts (`--config python:probe.gunicorn_conf`).

Only a post-fork hook: each worker asks the kernel for SIGKILL when its arbiter dies,
so a server whose probe was killed outright (and whose arbiter then got the same signal
from probe.capexec) leaves no worker behind; a sync worker would otherwise notice its
orphaning only at its next loop, up to --timeout seconds later.
"""

from __future__ import annotations

import os

from probe.capexec import die_with_parent


def post_fork(server, worker) -> None:
    """In the new worker: die with the arbiter."""
    die_with_parent(os.getppid())
