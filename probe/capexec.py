"""Set RLIMIT_AS, then exec the given argv: `python -m probe.capexec LIMIT_BYTES|none -- ARGV...`.

Used instead of Popen's preexec_fn, which is unsafe while probe's sampler threads run
(the forked child may deadlock on a lock another thread held). The cap is set in the
child before exec and inherited by everything the server forks.
"""

from __future__ import annotations

import os
import resource
import sys


def main(argv: list[str]) -> None:
    if len(argv) < 3 or argv[1] != "--":
        sys.exit("usage: python -m probe.capexec LIMIT_BYTES|none -- PROGRAM [ARGS...]")
    if argv[0] != "none":
        limit = int(argv[0])
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    os.execvp(argv[2], argv[2:])


if __name__ == "__main__":
    main(sys.argv[1:])
