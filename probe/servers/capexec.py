"""Set the memory cap and the address-space layout, then exec the given argv:
`python -m probe.servers.capexec LIMIT|none [--layout fixed|random] [--parent PID] -- ARGV...`,
as `prlimit --as=LIMIT_BYTES setarch -R ARGV...` does. Nothing of it stays after the exec:
the server's memory map and environment are those of its own command.

Used instead of Popen's preexec_fn, which is unsafe while probe's sampler threads run
(the forked child may deadlock on a lock another thread held). The cap (RLIMIT_AS) and
the layout (personality(2)) are set in the child before exec and inherited by
everything the server forks.

Layout. `fixed` turns off address-space layout randomization for the server only, as
`setarch -R` does (personality ADDR_NO_RANDOMIZE): where the heap, the mmap area and
the stack start no longer moves from one start to the next, so a pure-Python list's
boundary under RLIMIT_AS repeats exactly (design.md: with randomization it is a band of
about 0.7 % at 512M). A kernel or seccomp profile may refuse the personality change
(Docker's default profile allows only a few personality values); then the server runs
with the kernel's layout. Either way the first line this prints to stderr says which
layout the server got (`probe.servers.capexec: layout fixed|random ...`), and probe records that.

It also asks the kernel to SIGKILL the server if probe dies without cleaning up (its
own SIGKILL, a crash): PR_SET_PDEATHSIG survives exec. The signal fires when the
*thread* that spawned the server exits, so probe spawns servers from its main thread
only. The rest of the server's process group (gunicorn's workers) is killed from
outside, by probe.servers.reaper.
"""

from __future__ import annotations

import ctypes
import os
import resource
import signal
import sys

PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
ADDR_NO_RANDOMIZE = 0x0040000  # <linux/personality.h>
_QUERY = 0xFFFFFFFF  # personality(0xffffffff) reads the persona without changing it
LAYOUTS = ("fixed", "random")
RANDOMIZE_VA_SPACE = "/proc/sys/kernel/randomize_va_space"


def _libc() -> ctypes.CDLL | None:
    """The C library this process already has loaded (dlopen of the program itself):
    ctypes.util.find_library would fork `ldconfig -p` for the name."""
    try:
        return ctypes.CDLL(None, use_errno=True)
    except OSError:  # pragma: no cover - no dynamic loader
        return None


def die_with_parent(parent: int) -> None:
    """SIGKILL this process when its parent dies; at once if it already has."""
    libc = _libc()
    try:
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except AttributeError:  # not Linux/glibc: cleanup relies on probe alone
        return
    if os.getppid() != parent:  # the parent died before prctl took effect
        os._exit(1)


def kernel_randomizes() -> bool:
    """False if the machine has layout randomization off altogether (randomize_va_space 0)."""
    try:
        with open(RANDOMIZE_VA_SPACE, encoding="ascii") as fh:
            return fh.read().strip() != "0"
    except OSError:
        return True


def _personality() -> ctypes._CFuncPtr | None:
    """libc's personality(2), typed; None where there is none."""
    libc = _libc()
    if libc is None or not hasattr(libc, "personality"):
        return None
    fn = libc.personality
    fn.argtypes, fn.restype = [ctypes.c_ulong], ctypes.c_int
    return fn


def fix_layout() -> str | None:
    """Turn off layout randomization for this process and what it execs.

    None if it took effect, else why not (one phrase)."""
    personality = _personality()
    if personality is None:
        return "personality(2) is not available"
    current = personality(_QUERY)
    if current == -1 or personality(current | ADDR_NO_RANDOMIZE) == -1:
        err = ctypes.get_errno()
        return f"personality(ADDR_NO_RANDOMIZE) refused: {os.strerror(err)}"
    if not personality(_QUERY) & ADDR_NO_RANDOMIZE:
        return "personality(ADDR_NO_RANDOMIZE) did not take effect"
    return None


def fixed_layout_refused() -> str | None:
    """Why this machine refuses the fixed layout (None if it allows it), tried in this
    process and undone at once, so nothing probe starts later inherits it."""
    personality = _personality()
    if personality is None:
        return "personality(2) is not available"
    current = personality(_QUERY)
    why = fix_layout()
    if current != -1:
        personality(current)
    return why


def apply_layout(layout: str) -> str:
    """Set the layout asked for; the line that says which layout the server really got."""
    if layout == "fixed":
        why = fix_layout()
        if why is None:
            return "layout fixed"
        return f"layout random ({why}; the kernel's randomized layout is used)"
    if not kernel_randomizes():
        return f"layout fixed (the machine's {RANDOMIZE_VA_SPACE} is 0)"
    return "layout random"


def main(argv: list[str]) -> None:
    usage = (
        "usage: python -m probe.servers.capexec LIMIT_BYTES|none [--layout fixed|random] "
        "[--parent PID] -- ARGV..."
    )
    layout, parent = "random", os.getppid()
    while len(argv) >= 3 and argv[1] in ("--layout", "--parent"):
        if argv[1] == "--layout":
            layout = argv[2]
        elif argv[2].isdigit():
            parent = int(argv[2])
        argv = [argv[0], *argv[3:]]
    if len(argv) < 3 or argv[1] != "--" or layout not in LAYOUTS:
        sys.exit(usage)
    die_with_parent(parent)
    print(f"probe.servers.capexec: {apply_layout(layout)}", file=sys.stderr, flush=True)
    if argv[0] != "none":
        limit = int(argv[0])
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    os.execvp(argv[2], argv[2:])


if __name__ == "__main__":
    main(sys.argv[1:])
