"""Where probe makes its servers' cgroups (probe.servers.cgroup), over a fake cgroup v2
tree in a folder: the seam is the mount point, ROOT. The real kernel's answers are
tested in the guest (tests/integration/test_cgroup.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from probe.servers import cgroup


def make(path: Path, controllers: str = "memory pids", enabled: str = "", procs: str = ""):
    path.mkdir(parents=True, exist_ok=True)
    (path / "cgroup.controllers").write_text(controllers)
    (path / "cgroup.subtree_control").write_text(enabled)
    (path / "cgroup.procs").write_text(procs)
    return path


@pytest.fixture
def tree(tmp_path, monkeypatch):
    root = make(tmp_path / "cg", enabled="memory")
    monkeypatch.setattr(cgroup, "ROOT", root)
    monkeypatch.setattr(cgroup, "_CHOSEN", [])
    monkeypatch.setattr(cgroup, "own_path", lambda: "/")
    return root


def test_the_root_cgroup_with_memory_enabled_is_the_parent(tree):
    assert cgroup.choose() == tree
    assert cgroup.parent() == tree


def test_no_cgroup_v2_is_one_line_naming_what_gives_one(tmp_path, monkeypatch):
    monkeypatch.setattr(cgroup, "ROOT", tmp_path)  # no cgroup.controllers: v1 or nothing
    with pytest.raises(cgroup.CgroupUnavailable) as err:
        cgroup.choose()
    text = str(err.value)
    assert "needs cgroup v2" in text and "Delegate=yes" in text and "\n" not in text


def test_a_parent_without_the_memory_controller_is_refused(tree):
    make(tree / "nomem", controllers="pids cpu")
    with pytest.raises(cgroup.CgroupUnavailable, match="memory controller is not available"):
        cgroup.choose("nomem")


def test_a_given_parent_is_never_changed_but_told_how(tree):
    make(tree / "given", enabled="")
    with pytest.raises(cgroup.CgroupUnavailable) as err:
        cgroup.choose(str(tree / "given"))
    assert f"echo +memory > {tree / 'given'}/cgroup.subtree_control" in str(err.value)
    assert (tree / "given" / "cgroup.subtree_control").read_text() == ""


def test_a_parent_outside_the_cgroup_mount_is_refused(tree, tmp_path):
    make(tmp_path / "elsewhere")
    with pytest.raises(cgroup.CgroupUnavailable, match="is not under"):
        cgroup.choose(str(tmp_path / "elsewhere"))


def test_a_delegated_scope_gets_a_leaf_for_probe_and_memory_for_its_children(tree, monkeypatch):
    scope = make(tree / "user.slice" / "run-1.scope", enabled="")
    monkeypatch.setattr(cgroup, "own_path", lambda: "/user.slice/run-1.scope")
    assert cgroup.choose() == scope
    leaves = [p for p in scope.iterdir() if p.name.endswith("-self")]
    assert len(leaves) == 1 and (leaves[0] / "cgroup.procs").read_text().isdigit()
    assert (scope / "cgroup.subtree_control").read_text() == "+memory"


def test_a_server_cgroup_has_the_limit_no_swap_and_the_group_kill(tree):
    cg = cgroup.ServerCgroup(tree, 64 << 20, oom_group=True)
    assert (cg.path / "memory.max").read_text() == str(64 << 20)
    assert (cg.path / "memory.oom.group").read_text() == "1"
    (cg.path / "memory.events").write_text("low 0\nhigh 0\nmax 37\noom 1\noom_kill 1\n")
    (cg.path / "memory.peak").write_text(f"{64 << 20}\n")
    (cg.path / "memory.current").write_text("max\n")
    assert cg.events()["oom_kill"] == 1 and cg.events()["oom_group_kill"] == 0
    assert cg.peak() == 64 << 20 and cg.current() is None
    cgroup.ServerCgroup(tree, 1 << 20)  # numbered apart
    assert len([p for p in tree.iterdir() if p.name.startswith("probe-")]) == 2
