"""n fixed in the user's code: `--n-param MODULE:FUNCTION.PARAM` (a parameter's default)
or `--n-param MODULE:NAME` (a module constant), set to n in each probe's server, with no
edit to the user's files.

This is the one place where probe puts something into the server, kept to the smallest
thing that works: a `sitecustomize.py` of twenty-odd lines (no probe import) in a folder
of its own, put first on the server's PYTHONPATH, and PROBE_N_PARAM=MODULE:TARGET=n in
its environment. At start-up the interpreter runs it; it waits for MODULE to be
imported and, right after the module's code has run, sets the default or the constant.
A function's default is set on the function object, so `from utils import predict`
done before or after sees it; a constant is set after the module ran, so code that
reads it at import time (a table built then) sees the old value: use --n-env there.
Its cost in address space is measured each run and recorded (`n_param_cost_bytes`).
A sitecustomize of the user's own is shadowed while probing.
"""

from __future__ import annotations

import atexit
import os
import re
import shutil
import tempfile

from probe.errors import UsageProblem

ENV = "PROBE_N_PARAM"
KEEP = "-"  # as n: install the hook, change nothing (to measure what the hook costs)
_TARGET = re.compile(r"[A-Za-z_][\w.]*:[A-Za-z_]\w*(\.[A-Za-z_]\w*)?")

HOOK = """\
# Written by probe (--n-param): sets one default or constant of the app to n.
import os
import sys

_SPEC = os.environ.get("PROBE_N_PARAM", "")
if _SPEC:
    _MOD, _, _REST = _SPEC.partition(":")
    _TARGET, _, _VALUE = _REST.rpartition("=")

    def _apply(module):
        if _VALUE == "-":
            return
        value = int(_VALUE)
        name, _, param = _TARGET.partition(".")
        if not param:
            setattr(module, name, value)
            return
        fn = getattr(module, name)
        if param in (fn.__kwdefaults__ or {}):
            fn.__kwdefaults__[param] = value
            return
        names = fn.__code__.co_varnames[: fn.__code__.co_argcount]
        defaults = list(fn.__defaults__ or ())
        defaults[names.index(param) - (len(names) - len(defaults))] = value
        fn.__defaults__ = tuple(defaults)

    class _Finder:
        def find_spec(self, fullname, path=None, target=None):
            if fullname != _MOD:
                return None
            sys.meta_path.remove(self)
            import importlib.util

            spec = importlib.util.find_spec(fullname)
            if spec is not None and spec.loader is not None:
                run = spec.loader.exec_module

                def exec_module(module):
                    run(module)
                    _apply(module)

                spec.loader.exec_module = exec_module
            return spec

    sys.meta_path.insert(0, _Finder())
"""


class NParamError(UsageProblem, ValueError):
    """A --n-param that cannot be applied; the message says how to fix it."""


def check(target: str) -> None:
    if not _TARGET.fullmatch(target):
        raise NParamError(
            "n_param must be MODULE:FUNCTION.PARAM (a parameter's default) or MODULE:NAME "
            f"(a module constant), e.g. utils:predict_cpu_bounded.n; got {target!r}"
        )


_folder: str | None = None


def hook_folder() -> str:
    """The folder holding the hook, written once per probe process, removed at exit."""
    global _folder
    if _folder is None or not os.path.isdir(_folder):
        _folder = tempfile.mkdtemp(prefix="probe-n-param-")
        with open(os.path.join(_folder, "sitecustomize.py"), "w", encoding="utf-8") as fh:
            fh.write(HOOK)
        atexit.register(shutil.rmtree, _folder, True)
    return _folder


def server_env(target: str, n: int | str) -> dict[str, str]:
    """The variables that set `target` to n in a server: the hook's folder first on
    PYTHONPATH (before the user's own), and what to set."""
    path = os.pathsep.join(p for p in (hook_folder(), os.environ.get("PYTHONPATH", "")) if p)
    return {"PYTHONPATH": path, ENV: f"{target}={n}"}
