"""--limit-kind tree: one budget for the server's whole process tree, as a container's.

gunicorn with 1 and with 2 sync workers under one 128M budget, 2 requests at once: the
two workers build their lists side by side in one budget, so the critical n is about
half. An app that builds 32 MiB at import (tests/apps/shared_table.py) under 192M, one
request at a time: with --preload its workers share those pages, counted once, so the
critical n is higher than without, by about what one copy weighs.
"""

from __future__ import annotations

import json
import shlex
import sys

import pytest

from tests.integration.outside import first_statuses
from tests.integration.test_own_service import APPS, probe_cli

pytestmark = pytest.mark.usefixtures("no_children_left")

PY = shlex.quote(sys.executable)


def critical(tmp_path, app: str, flags: str, pids: list[int], limit: str = "128M",
             env: dict | None = None, precision: str = "0.1",
             concurrency: int = 2, band: str | None = None) -> dict:  # fmt: skip
    out = tmp_path / f"{app}{flags.replace(' ', '')}.json"
    cmd = f"{PY} -m gunicorn {flags} --bind 127.0.0.1:{{port}} {app}:app"
    result = probe_cli(
        "max-n", "--cold-only", "--no-check",  # each test checks its answer by hand
        "--cmd", cmd, "--chdir", "tests/apps", "--request", "GET /alloc?size={n}",
        "--expect", "size={n} sum=", "--limit", limit, "--limit-kind", "tree",
        "--concurrency", str(concurrency), "--precision", precision, "--out", str(out),
        *(["--band", band] if band else []), pids=pids, env=env,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    doc = json.loads(out.read_text())
    assert doc["limit_kind"] == "tree" and doc["failure"]["kind"] == "killed", doc["failure"]
    assert "tree budget: SIGKILL" in doc["failure"]["detail"]
    return doc


def test_two_workers_share_one_budget(tmp_path, no_leftovers):
    """Half the n for two workers (gunicorn's own command, --cmd, with 2 sync workers),
    whose two requests race for one budget (so max-n measures their band, as for
    threads). The one-worker boundary holds without probe:
    the plain command under setarch -R and a watcher written here (outside.TreeWatcher),
    the critical n as the first 2 requests (both succeed), the first failing n on
    another fresh server (one fails)."""
    one = critical(tmp_path, "query_alloc", "-w 1", no_leftovers)
    two = critical(tmp_path, "query_alloc", "-w 2", no_leftovers, band="2")
    assert one["band"] is None and two["band"]["what"].startswith("repeats"), two["band"]
    assert (two["server"], two["workers"], two["server_env"]) == ("gunicorn", 2, {})
    argv = shlex.split(one["cmd"])
    at = {n: first_statuses(argv, f"/alloc?size={n}", 128 << 20, 2, cwd=str(APPS))
          for n in (one["critical_n"], one["first_failing_n"])}  # fmt: skip
    assert at[one["critical_n"]] == [200, 200], at
    assert at[one["first_failing_n"]] != [200, 200], at
    ratio = two["critical_n"] / one["critical_n"]
    assert 0.4 < ratio < 0.6, (one["critical_n"], two["critical_n"])
    top = max((p for p in two["probes"] if p["outcome"] == "ok" and p["tree_peak"]),
              key=lambda p: p["n"])  # the largest success read exactly  # fmt: skip
    peak = top["tree_peak"]
    assert len(peak["processes"]) == 3  # the arbiter and two workers
    assert peak["charge_bytes"] <= 128 << 20
    assert all(p["rss_bytes"] >= p["pss_bytes"] >= p["pss_anon_bytes"] for p in peak["processes"])


def test_preloaded_pages_are_counted_once(tmp_path, no_leftovers):
    """32 MiB shared by two workers instead of one copy each: 32 MiB more for the one
    request's list, about 0.9M more ints at ~36 bytes per element; at least 0.45M, as
    each critical n may lie up to 10 % (the precision) below its boundary."""
    kw = {"limit": "192M", "env": {"SHARED_MIB": "32"}, "concurrency": 1}
    own = critical(tmp_path, "shared_table", "-w 2", no_leftovers, **kw)
    shared = critical(tmp_path, "shared_table", "-w 2 --preload", no_leftovers, **kw)
    gained = shared["critical_n"] - own["critical_n"]
    assert gained > 450_000, (own["critical_n"], shared["critical_n"])
