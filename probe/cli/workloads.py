"""The workload the command line names: --fn, --app and its flags, or a workload file."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import click

from probe.workload import bodyfn
from probe.workload.bodies import DEFAULT_SEPARATORS
from probe.workload.builtins import builtin
from probe.workload.files import find_workloads_file, load_workloads
from probe.workload.model import Workload, WorkloadError, parse_header


@dataclass(frozen=True)
class WorkloadFlags:
    """The workload options, as given; `workload()` reads the Workload they name."""

    fn: str | None
    app: str | None
    cmd: str | None
    chdir: Path | None
    request_line: str | None
    json_body: str | None
    headers: tuple[str, ...]
    n_env: str | None
    expect: str | None
    body_bytes: bool
    upload: str | None
    n_param: str | None
    json_separators: str | None
    content: str | None
    filename: str | None
    content_type: str | None
    n_unit: str | None
    body_fn: str | None
    workloads_file: Path | None
    workload_name: str | None

    def workload(self) -> Workload:
        return make_workload(**vars(self))


def make_workload(fn, app, cmd, chdir, request_line, json_body, headers, n_env, expect,
                  workloads_file, workload_name, body_bytes=False, upload=None,
                  n_param=None, json_separators=None, content=None, filename=None,
                  content_type=None, n_unit=None, body_fn=None):  # fmt: skip
    """The Workload the options name; a one-line usage error if they name none or two."""
    custom = any(x for x in (app, cmd, chdir, request_line, json_body, headers, n_env, expect,
                             body_bytes, upload, n_param, content, filename,
                             content_type, body_fn))  # fmt: skip
    given = [x for x in (fn and "--fn", app and "--app", cmd and "--cmd",
                         workloads_file and "--workloads") if x]  # fmt: skip
    if json_separators is not None and json_body is None:
        raise click.UsageError("--json-separators says how a --json body is written; "
                               "pass --json TEMPLATE too, or drop it")  # fmt: skip
    if given == ["--app", "--cmd"]:
        given = []  # --app then only names the workload
    if len(given) > 1:
        raise click.UsageError(f"{' and '.join(given)} both name a workload; pass one of them")
    try:
        if workloads_file is not None or workload_name is not None:
            return _from_file(workloads_file, workload_name)
        if fn is not None:
            if custom:
                raise click.UsageError(
                    "--fn is a built-in workload; --request, --json, --header, --n-env, "
                    "--expect and --chdir describe your own --app or --cmd"
                )
            return builtin(fn)
        if app is None and cmd is None:
            raise click.UsageError(
                "say what to probe: --fn cpu_bounded, --cmd 'gunicorn --bind "
                "127.0.0.1:{port} myapp:app' --request 'GET /path?n={n}', --app MODULE:ATTR, "
                "or --workloads probe.toml --workload NAME"
            )
        where = (chdir or Path.cwd()).resolve()
        if body_fn is not None:
            try:
                bodyfn.check(body_fn, str(where))
            except bodyfn.BodyFnError as exc:
                raise click.UsageError(str(exc)) from None
        return Workload(
            name=app.partition(":")[0] if app else command_name(cmd),
            app=app,
            cmd=cmd,
            chdir=str(where),
            request=request_line or "GET /",
            json=json_body,
            headers=tuple(parse_header(h) for h in headers),
            n_env=n_env,
            expect=expect,
            body_bytes=body_bytes,
            upload=upload,
            n_param=n_param,
            json_separators=json_separators or DEFAULT_SEPARATORS,
            content=content,
            filename=filename,
            content_type=content_type,
            n_unit=n_unit,
            body_fn=body_fn,
        )
    except WorkloadError as exc:
        raise click.UsageError(str(exc)) from None


def command_name(cmd: str) -> str:
    """A workload name for a command: its app's module (`myapp:app` -> myapp), else its program."""
    from probe.servers.command import CommandError, program, split

    try:
        argv = split(cmd)
    except CommandError as exc:
        raise WorkloadError(str(exc)) from None
    for word in reversed(argv[1:]):
        module, colon, attr = word.partition(":")
        if colon and module and attr and not word.startswith("-") and not set("/{") & set(word):
            return re.sub(r"[^A-Za-z0-9_.-]", "_", module)
    return re.sub(r"[^A-Za-z0-9_.-]", "_", program(argv)) or "command"


def _from_file(path, name):
    path = path or find_workloads_file(Path.cwd())
    if path is None:
        raise click.UsageError(
            "--workload needs a workload file: pass --workloads probe.toml, or put probe.toml here"
        )
    found = load_workload_file(path)
    if name is None:
        if len(found) == 1:
            return next(iter(found.values()))
        raise click.UsageError(f"{path} has workloads {', '.join(found)}; pass --workload NAME")
    if name not in found:
        raise click.UsageError(f"{path} has no workload {name!r}; it has {', '.join(found)}")
    return found[name]


def load_workload_file(path: Path) -> dict:
    if not path.is_file():
        raise click.UsageError(f"{path}: no such workload file; pass --workloads FILE")
    try:
        found = load_workloads(path)
    except WorkloadError as exc:
        raise click.UsageError(str(exc)) from None
    if not found:
        raise click.UsageError(f"{path} defines no workloads; add a [workloads.NAME] table")
    return found


def chosen_workloads(workloads_file, names, default: tuple[str, ...]) -> tuple:
    """The workloads to run: the file's (all, or --fns NAMES of them), else built-ins."""
    from probe.workload.builtins import builtin

    if workloads_file is None:
        return tuple(builtin(fn) for fn in (names or default))
    found = load_workload_file(workloads_file)
    for name in names or ():
        if name not in found:
            raise click.BadParameter(
                f"{workloads_file} has no workload {name!r}; it has {', '.join(found)}",
                param_hint="--fns",
            )
    return tuple(found[name] for name in (names or found))
