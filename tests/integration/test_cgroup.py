"""--limit-kind cgroup under a real kernel's memory.max, in a user-mode-linux guest.

The guest (tests/guest/run) is a real Linux kernel run as a process, whose cgroup v2 has
the memory controller; this machine's own cgroups are never written. Each case runs
`probe max-n --limit-kind cgroup` inside it as a user types it, then checks the answer
by hand without probe (tests/guest/first_request.py): the critical n less one
precision and the first failing n plus one (under the kernel a fresh plain server's
boundary moves between runs by about half of it), each as the first request of the
plain command in a fresh real cgroup, as soon as the port accepts and a second later.
The cases run in the background while the rest of the suite runs
(tests/guest/background.py).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.guest import background

pytestmark = pytest.mark.skipif(background.available() is not None,
                                reason=str(background.available()))  # fmt: skip


@pytest.fixture(scope="module")
def cases() -> dict[str, dict]:
    given = os.environ.get(background.GUEST_DIR_VAR)
    out = Path(given) if given else background.start()
    rc, lines, err = background.results(out)
    if rc == 125:
        pytest.skip(f"the user-mode-linux guest could not run here: {err.strip()[-300:]}")
    assert rc == 0, f"the guest's cases ended with {rc}: {err}"
    return {case["case"]: case for case in map(json.loads, lines)}


@pytest.mark.parametrize("name", background.CASES)
def test_the_kernels_answer_holds_by_hand_in_a_fresh_real_cgroup(cases, name):
    case = cases[name]
    assert case["rc"] == 0, case["stderr_tail"]
    doc = case["doc"]
    assert doc["limit_kind"] == "cgroup"
    crit = doc.get("cold_critical_n") or doc["critical_n"]
    fail = doc.get("cold_first_failing_n") or doc["first_failing_n"]
    assert crit < fail <= crit * 1.05
    failed = [p for p in doc["probes"] if p["outcome"] != "ok"]
    assert failed and all(p["cgroup"]["events"]["oom_kill"] >= 1 for p in failed
                          if p["outcome"] == "killed")  # fmt: skip
    assert any(p["outcome"] == "killed" for p in failed), "the kernel killed nothing"
    ok = [p for p in doc["probes"] if p["outcome"] == "ok"]
    assert all(p["cgroup"]["peak_bytes"] <= doc["limit_bytes"] for p in ok)
    assert all(p["cgroup"]["events"]["oom_kill"] == 0 for p in ok)
    by_hand = {(c["n"], c["settle_s"]): c for c in case["checks"]}
    assert len(by_hand) == 4
    held, killed = case["checked_ends"]  # one precision outside each end: cgroup_cases.py
    assert held == int(crit * (1 - doc["precision"]))
    assert killed == int(fail * (1 + doc["precision"])) + 1
    for settle in (0.0, 1.0):
        ok, dead = by_hand[(held, settle)], by_hand[(killed, settle)]
        assert ok["statuses"] == [200] * len(ok["statuses"]), ok
        assert ok["oom_kill"] == 0 and ok["peak_bytes"] <= doc["limit_bytes"]
        assert None in dead["statuses"] and dead["oom_kill"] >= 1, dead
    if name == "oom-group":  # the whole group went: every process of the tree
        assert doc["oom_group"] is True
        assert all(c["oom_kill"] >= 2 for c in case["checks"] if None in c["statuses"])


def test_the_limit_kind_says_in_one_line_where_there_is_no_cgroup_v2():
    """This machine's own cgroups: where /sys/fs/cgroup is not a cgroup v2 that probe may
    write, the option is refused in one line that names what gives one."""
    if Path("/sys/fs/cgroup/cgroup.controllers").exists():
        pytest.skip("this machine has cgroup v2 at /sys/fs/cgroup")
    ran = subprocess.run(
        [sys.executable, "-m", "probe.cli", "max-n", "--fn", "cpu_bounded", "--limit", "64M",
         "--limit-kind", "cgroup"], capture_output=True, text=True,
    )  # fmt: skip
    assert ran.returncode == 2
    assert "Traceback" not in ran.stderr
    line = ran.stderr.strip().splitlines()[-1]
    assert "cgroup v2" in line and "Delegate=yes" in line and "--limit-kind tree" in line
