"""A launcher that starts the real server through a shell, as `mlflow models serve` does.

Unlike the apps here it serves nothing itself: ``python launcher.py PORT`` runs
``sh -c "exec python -m uvicorn --port PORT asgi_alloc:app"`` and waits for it, so the
process that serves is a program started anew, not a fork of the launcher (memray's
--follow-fork does not trace it).

    cd tests/apps && python launcher.py 8000
"""

from __future__ import annotations

import shlex
import subprocess
import sys

port = sys.argv[1]
server = f"exec {shlex.quote(sys.executable)} -m uvicorn --port {port} asgi_alloc:app"
sys.exit(subprocess.call(["sh", "-c", server]))
