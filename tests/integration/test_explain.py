"""probe explain on real servers under memray: gunicorn (one sync worker, forked and
followed), uvicorn (one process) and Flask's dev server (threads). For each, the line
that holds the request's memory is the right one and its bytes per unit of n are within
10 % of what that allocation costs, worked out apart from memray:

- a list of n ints (`list(range(n))`): a pointer per slot plus an int object per
  element, which pymalloc keeps in blocks of sys.getsizeof(int) rounded up to 16 B
  (28 -> 32 B here: 40 B per element; ints below 257 are cached, so none of these);
- numpy.arange(n) of int64: 8 B per element, in numpy's own allocator;
- a JSON batch parsed by FastAPI: the body's parse (json, pydantic, starlette) is the
  framework's, not the app's, and holds nearly all of the peak.
"""

from __future__ import annotations

import json
import os
import shlex
import sys

import pytest

from tests.integration.test_own_service import APPS, error_lines, probe_cli

pytestmark = pytest.mark.usefixtures("no_children_left")

PY = shlex.quote(sys.executable)
LIMIT = "256M"


def _pymalloc_block(size: int, align: int = 16) -> int:
    return (size + align - 1) // align * align


LIST_PER_INT = 8 + _pymalloc_block(sys.getsizeof(10**6))  # slot + int object


def explain(tmp_path, pids, *args: str) -> tuple[dict, str]:
    result = probe_cli("explain", *args, "--limit", LIMIT, "--results", str(tmp_path),
                       pids=pids)  # fmt: skip
    assert result.exit_code == 0, result.output
    [path] = (tmp_path / "explain").glob("*.json")
    return json.loads(path.read_text()), result.output


def test_a_list_under_gunicorn_is_the_apps_line_at_a_pointer_and_an_int_per_element(
    tmp_path, no_leftovers
):
    """tests/apps/query_alloc under gunicorn's forked sync worker: the worker's capture
    (memray follows the fork), the top line is `list(range(size))`, ~40 B per element;
    the flame graph and the plot are written."""
    cmd = f"{PY} -m gunicorn --bind 127.0.0.1:{{port}} query_alloc:app"
    doc, out = explain(tmp_path, no_leftovers, "--cmd", cmd, "--chdir", str(APPS),
                       "--request", "GET /alloc?size={n}", "--n", "1000000")  # fmt: skip
    top = doc["sites"][0]
    assert (os.path.basename(top["file"]), top["function"], top["owner"]) == (
        "query_alloc.py", "app", "your code")  # fmt: skip
    source = (APPS / "query_alloc.py").read_text().splitlines()[top["line"] - 1]
    assert "list(range(size))" in source, source
    assert abs(top["bytes_per_n"] / LIST_PER_INT - 1) < 0.10, (top, LIST_PER_INT)
    assert top["share"] > 0.9 and doc["owners"][0]["owner"] == "your code"
    assert doc["traced"]["n"]["pid"] != doc["traced"]["n_small"]["pid"]  # two fresh servers
    assert doc["untraced"]["outcome"]["kind"] == "ok"
    assert (tmp_path / "explain").joinpath(os.path.basename(doc["flamegraph"])).stat().st_size
    assert os.path.getsize(doc["plot"]) > 10_000
    assert "B/element" in out and "your code: 100 % of the peak" in out


def test_numpy_under_flasks_dev_server_is_eight_bytes_per_element(tmp_path, no_leftovers):
    """The seminar's cpu_multithread (numpy.arange(n)) on Flask's threaded dev server:
    the predictor's line, 8 B per element, though numpy's malloc is not Python's."""
    doc, _ = explain(tmp_path, no_leftovers, "--server", "flask", "--fn", "cpu_multithread",
                     "--n", "4000000")  # fmt: skip
    top = doc["sites"][0]
    assert (os.path.basename(top["file"]), top["function"]) == (
        "predictors.py", "predict_cpu_multithread")  # fmt: skip
    assert abs(top["bytes_per_n"] / 8 - 1) < 0.10, top
    assert abs(doc["bytes_per_n"] / 8 - 1) < 0.10, doc["bytes_per_n"]


def test_a_fastapi_batch_under_uvicorn_is_held_by_the_frameworks_parse(tmp_path, no_leftovers):
    """A JSON batch of n rows (tests/apps/fastapi_batch under uvicorn): the body's parse
    and validation hold the peak; the owner split names them (json, pydantic) as the
    framework's, and the app's own code holds almost nothing. The rows are counted in
    rows (--n-unit)."""
    cmd = f"{PY} -m uvicorn --port {{port}} fastapi_batch:app"
    doc, out = explain(tmp_path, no_leftovers, "--cmd", cmd, "--chdir", str(APPS),
                       "--request", "POST /predict", "--n-unit", "rows", "--n", "50000",
                       "--json", '{"rows": {n*{"area": 10.0, "rooms": 3}}}')  # fmt: skip
    kinds = {}
    for o in doc["owners"]:
        kinds[o["kind"]] = kinds.get(o["kind"], 0) + o["share"]
    assert kinds.get("framework or server", 0) > 0.9, doc["owners"]
    named = {o["owner"] for o in doc["owners"]}
    assert {"json", "pydantic"} <= named, named
    assert doc["sites"][0]["owner"] in ("pydantic", "json"), doc["sites"][0]
    assert "B/row" in out


def test_no_memray_where_the_server_runs_is_one_line_with_the_install(tmp_path, no_leftovers):
    """A server run by a Python without memray (the system's python3): one line naming
    the install, exit 1, nothing written."""
    system = "/usr/bin/python3"
    if not os.path.exists(system) or os.path.realpath(system) == os.path.realpath(sys.executable):
        pytest.skip("needs a system python3 apart from this environment")
    result = probe_cli("explain", "--cmd", f"{system} -m http.server --bind 127.0.0.1 {{port}}",
                       "--request", "GET /?n={n}", "--n", "10", "--limit", LIMIT,
                       "--results", str(tmp_path), pids=no_leftovers)  # fmt: skip
    assert result.exit_code == 1, result.output
    [line] = error_lines(result.output)
    assert f"install it there: {system} -m pip install memray" in line, line
    assert not (tmp_path / "explain").exists()


def test_an_n_that_fails_untraced_is_one_line_and_no_trace(tmp_path, no_leftovers):
    """n past the cap: the untraced check fails first, one line, no traced run."""
    cmd = f"{PY} -m gunicorn --bind 127.0.0.1:{{port}} query_alloc:app"
    result = probe_cli("explain", "--cmd", cmd, "--chdir", str(APPS), "--request",
                       "GET /alloc?size={n}", "--n", "50000000", "--limit", "128M",
                       "--results", str(tmp_path), pids=no_leftovers)  # fmt: skip
    assert result.exit_code == 1, result.output
    [line] = error_lines(result.output)
    assert "fails even untraced under the cap (memory_error" in line, line
    assert "\ntraced:" not in result.output and not (tmp_path / "explain").exists()


@pytest.mark.parametrize(
    "cmd",
    [f"{PY} -m uvicorn --workers 2 --port {{port}} asgi_alloc:app", f"{PY} launcher.py {{port}}"],
    ids=["spawned-workers", "launcher-exec"],
)
def test_servers_memray_cannot_follow_are_one_line_not_an_empty_answer(cmd, tmp_path, no_leftovers):
    """memray follows fork, not exec: uvicorn --workers 2 spawns its workers, and a
    launcher (tests/apps/launcher.py, as mlflow models serve) execs uvicorn from a shell,
    so the process that served the request has no capture. Checked: the top process's
    capture then said the request took 0 B, and the launcher's crashed explain with an
    IndexError; now one line names the cause and the fix, nothing written."""
    result = probe_cli("explain", "--cmd", cmd, "--chdir", str(APPS), "--request",
                       "GET /alloc?size={n}", "--n", "1000000", "--limit", "384M",
                       "--results", str(tmp_path), pids=no_leftovers)  # fmt: skip
    assert result.exit_code == 1, result.output
    [line] = error_lines(result.output)
    assert "memray did not trace the process that served the request" in line, line
    assert "explain the server's own start command" in line and "one worker process" in line
    assert not (tmp_path / "explain").exists()
