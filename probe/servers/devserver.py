"""Run any WSGI app on werkzeug's threaded development server, as Flask's `app.run()` does.

`python -m probe.servers.devserver MODULE:ATTR --host 127.0.0.1 --port 0 [--chdir DIR]`

The app is imported the way gunicorn imports APP_MODULE (from DIR, then the attribute);
once the socket listens, it prints `probe: ready pid=PID` to stderr, the line probe waits
for. An import that fails (a MemoryError while the app builds its data) exits with code
3 after the traceback, as gunicorn halts when a worker cannot boot.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import traceback


def import_app(spec: str, chdir: str | None = None):
    """The WSGI callable named MODULE:ATTR, imported from chdir (or the current folder)."""
    module_name, _, attr = spec.partition(":")
    if chdir:
        os.chdir(chdir)
    sys.path.insert(0, os.getcwd())
    module = importlib.import_module(module_name)
    try:
        app = getattr(module, attr or "application")
    except AttributeError:
        raise SystemExit(f"Failed to find attribute {attr!r} in {module_name!r}.") from None
    if not callable(app):
        raise SystemExit(f"Application object {attr!r} in {module_name!r} is not callable.")
    return app


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m probe.servers.devserver")
    parser.add_argument("app", help="MODULE:ATTR, as gunicorn names an app")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5000)
    parser.add_argument("--chdir", default=None)
    args = parser.parse_args(argv)
    try:
        app = import_app(args.app, args.chdir)
    except SystemExit:
        raise
    except BaseException:  # noqa: BLE001 - the traceback is the server's log
        traceback.print_exc()
        sys.exit(3)
    from werkzeug.serving import make_server

    try:
        server = make_server(args.host, args.port, app, threaded=True)
    except OSError as exc:
        sys.exit(f"devserver: cannot listen on {args.host}:{args.port}: {exc}")
    print(f"probe: ready pid={os.getpid()} port={server.port}", file=sys.stderr, flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
