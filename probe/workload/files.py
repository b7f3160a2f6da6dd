"""Workload files: probe.toml ([workloads.NAME]) or pyproject.toml ([tool.probe.workloads.NAME])."""

from __future__ import annotations

import sys
from pathlib import Path

from probe.workload.builtins import BUILTINS
from probe.workload.model import Workload, WorkloadError, parse_header

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

FILE_KEYS = (
    "app",
    "cmd",
    "chdir",
    "request",
    "json",
    "headers",
    "n_env",
    "expect",
    "env",
    "body_bytes",
    "upload",
    "n_param",
    "json_separators",
    "content",
    "filename",
    "content_type",
    "n_unit",
    "body_fn",
)


# the keys whose value is one string (headers and env are tables, body_bytes a flag)
STRING_KEYS = tuple(k for k in FILE_KEYS if k not in ("headers", "env", "body_bytes"))


def find_workloads_file(cwd: Path) -> Path | None:
    """probe.toml in cwd, else a pyproject.toml there that has a [tool.probe] table."""
    probe_toml = cwd / "probe.toml"
    if probe_toml.is_file():
        return probe_toml
    pyproject = cwd / "pyproject.toml"
    if pyproject.is_file() and "probe" in _read_toml(pyproject).get("tool", {}):
        return pyproject
    return None


def load_workloads(path: Path) -> dict[str, Workload]:
    """Workloads of a probe.toml ([workloads.NAME]) or pyproject.toml ([tool.probe.workloads.NAME]).

    Keys are the CLI flags' names; chdir is relative to the file's folder. Other
    top-level tables are left alone.
    """
    data = _read_toml(path)
    if path.name == "pyproject.toml":
        prefix, tables = "tool.probe.workloads", data.get("tool", {}).get("probe", {})
    else:
        prefix, tables = "workloads", data
    tables = tables.get("workloads", {})
    if not isinstance(tables, dict):
        raise WorkloadError(f"{path}: {prefix} must be a table of [{prefix}.NAME] tables")
    return {name: _from_table(path, f"{prefix}.{name}", name, t) for name, t in tables.items()}


def _read_toml(path: Path) -> dict:
    try:
        with path.open("rb") as f:
            return tomllib.load(f)
    except tomllib.TOMLDecodeError as exc:
        raise WorkloadError(f"{path}: not valid TOML ({exc})") from None


def _from_table(path: Path, where: str, name: str, table: object) -> Workload:
    if not isinstance(table, dict):
        raise WorkloadError(f"{path}: {where} must be a table with app = 'module:attr'")
    unknown = sorted(set(table) - set(FILE_KEYS))
    if unknown:
        raise WorkloadError(
            f"{path}: {where}: unknown key {unknown[0]!r}; allowed: {', '.join(FILE_KEYS)}"
        )
    if "app" not in table and "cmd" not in table:
        raise WorkloadError(
            f"{path}: {where}: app or cmd is required, e.g. app = 'myservice:app' or "
            "cmd = 'gunicorn --bind 127.0.0.1:{port} myservice:app'"
        )
    if name in BUILTINS:
        raise WorkloadError(f"{path}: {where}: {name} is a built-in workload; rename it")
    for key in STRING_KEYS:
        if key in table and not isinstance(table[key], str):
            raise WorkloadError(f"{path}: {where}: {key} must be a string")
    if "body_bytes" in table and not isinstance(table["body_bytes"], bool):
        raise WorkloadError(f"{path}: {where}: body_bytes must be true or false")
    kwargs = {k: v for k, v in table.items() if k not in ("headers", "env", "chdir")}
    try:
        kwargs["headers"] = _file_headers(table.get("headers", {}))
        kwargs["env"] = _file_table(table.get("env", {}), "env")
        if "chdir" in table:
            folder = (path.parent / table["chdir"]).resolve()
            if not folder.is_dir():
                raise WorkloadError(
                    f"chdir {table['chdir']!r} is not a folder (it is relative to the file's)"
                )
            kwargs["chdir"] = str(folder)
        return Workload(name=name, **kwargs)
    except WorkloadError as exc:
        raise WorkloadError(f"{path}: {where}: {exc}") from None


def _file_headers(value: object) -> tuple[tuple[str, str], ...]:
    if isinstance(value, list):
        if not all(isinstance(v, str) for v in value):
            raise WorkloadError('headers must be a list of "Name: value" strings or a table')
        return tuple(parse_header(v) for v in value)
    return _file_table(value, "headers")


def _file_table(value: object, key: str) -> tuple[tuple[str, str], ...]:
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise WorkloadError(f"{key} must be a table of strings, e.g. {key} = {{ NAME = 'value' }}")
    return tuple(value.items())
