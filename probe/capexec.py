"""Set RLIMIT_AS, then exec the given argv: `python -m probe.capexec LIMIT_BYTES|none -- ARGV...`.

Used instead of Popen's preexec_fn, which is unsafe while probe's sampler threads run
(the forked child may deadlock on a lock another thread held). The cap is set in the
child before exec and inherited by everything the server forks.

It also asks the kernel to SIGKILL the server if probe dies without cleaning up (its
own SIGKILL, a crash): PR_SET_PDEATHSIG survives exec. gunicorn's workers then see
their arbiter gone and exit by themselves. The signal fires when the *thread* that
spawned the server exits, so probe spawns servers from its main thread only.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import resource
import signal
import sys

PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def die_with_parent(parent: int) -> None:
    """SIGKILL this process when its parent dies; at once if it already has."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):  # not Linux/glibc: cleanup relies on probe alone
        return
    if os.getppid() != parent:  # the parent died before prctl took effect
        os._exit(1)


def main(argv: list[str]) -> None:
    if len(argv) < 3 or argv[1] != "--":
        sys.exit("usage: python -m probe.capexec LIMIT_BYTES|none -- PROGRAM [ARGS...]")
    die_with_parent(int(os.environ.get("PROBE_PARENT_PID", os.getppid())))
    if argv[0] != "none":
        limit = int(argv[0])
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    os.execvp(argv[2], argv[2:])


if __name__ == "__main__":
    main(sys.argv[1:])
