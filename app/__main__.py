"""Run the app on Flask's (werkzeug's) threaded development server.

Example:
    python -m app --port 0 --fn cpu_multithread --n 1000000

Once listening it prints, to stderr, the line probe waits for:
    app: serving on http://127.0.0.1:PORT pid=PID
"""

from __future__ import annotations

import argparse
import ipaddress
import os
import sys
from collections.abc import Sequence

from werkzeug.serving import make_server

from app import create_app
from app.predictors import PREDICTORS


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Parse the command line."""
    parser = argparse.ArgumentParser(prog="python -m app", description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1", help="default: %(default)s")
    parser.add_argument("--port", type=int, default=5000, help="0 picks a free port")
    parser.add_argument("--fn", choices=sorted(PREDICTORS), help="default predictor")
    parser.add_argument("--n", type=int, help="default n for the CPU predictors")
    return parser.parse_args(argv)


def is_loopback(host: str) -> bool:
    """Tell whether `host` only listens on this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def main(argv: Sequence[str] | None = None) -> None:
    """Serve until interrupted; threaded, like `flask run` and `app.run()` since Flask 1.0."""
    args = parse_args(argv)
    overrides = {"DEFAULT_FN": args.fn, "DEFAULT_N": args.n}
    try:
        app = create_app({key: value for key, value in overrides.items() if value is not None})
    except ValueError as exc:  # a bad --fn/--n or APP_* variable
        sys.exit(f"app: bad configuration: {exc}")
    if not is_loopback(args.host):
        print(
            f"app: warning: listening on {args.host}, reachable from other machines; "
            "this is a development server",
            file=sys.stderr,
            flush=True,
        )
    try:
        server = make_server(args.host, args.port, app, threaded=True)
    except OSError as exc:
        sys.exit(f"app: cannot listen on {args.host}:{args.port}: {exc}; pass --port 0")
    host = f"[{args.host}]" if ":" in args.host else args.host
    print(
        f"app: serving on http://{host}:{server.port} pid={os.getpid()}",
        file=sys.stderr,
        flush=True,
    )
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
