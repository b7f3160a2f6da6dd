"""Every results document the project ever committed is still read (probe.documents.store).

tests/data/results/vN/ holds the project's own results/ as committed when format N was
current (`git show REV:results/...` at the commits that wrote them; v4 holds max-n
documents of format 3 beside format 4, as the folder did; v7 holds max-n documents of
format 7 beside the other kinds' 6, v8 max-n documents of format 8 beside plan 7, v9
max-n documents of format 9, the current one, beside plan 8).
Each is read, upgraded in memory to its kind's current version, rendered, and `probe
report` makes a report from each folder. A version newer than the code is refused in one line.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from probe.cli.app import main
from probe.documents import store
from probe.documents.compare import CompareDoc
from probe.documents.matrix import MatrixDoc
from probe.documents.maxn import MaxNDoc
from probe.report import writer
from probe.report.tables import render_compare, render_matrix, render_maxn

DATA = Path(__file__).resolve().parents[1] / "data" / "results"
VERSIONS = sorted(DATA.iterdir())


def test_the_fixtures_hold_every_format_of_the_projects_history():
    written = {json.loads(p.read_text())["schema_version"] for p in DATA.rglob("*.json")}
    assert written >= set(range(1, max(store.VERSIONS.values())))  # each before the newest


@pytest.mark.parametrize("folder", VERSIONS, ids=[p.name for p in VERSIONS])
def test_each_document_is_read_upgraded_and_rendered(folder):
    for path in sorted((folder / "max-n").glob("*.json")):
        doc = MaxNDoc.load(path)
        assert doc.schema_version == store.VERSIONS["max-n"]
        assert doc.schema_version_read in (None, json.loads(path.read_text())["schema_version"])
        assert "fresh" in doc or doc.schema_version_read == 1, path  # `cold` renamed in 6
        assert "cold" not in doc
        table = render_maxn(doc, "table")  # a failed run (v4, v5 hold some) renders too
        assert doc.critical_n is None or f"{doc.critical_n:,}" in table, path
    matrix, compare = (
        MatrixDoc.load(folder / "matrix.json"),
        CompareDoc.load(folder / "compare.json"),
    )
    assert render_matrix(matrix, "table") and render_compare(compare, "table")


@pytest.mark.parametrize("folder", VERSIONS, ids=[p.name for p in VERSIONS])
def test_the_report_reads_each_version_of_the_results(folder):
    """What probe report reads and writes, less the plots (their drawing is the same
    whatever version the numbers came from; the command is run whole below)."""
    study = writer.load_study(folder)
    assert study.compare is not None and study.maxn
    assert "critical n" in writer.render_report(study, folder).lower()


@pytest.mark.parametrize("folder", [p for p in VERSIONS if (p / "plan.json").exists()],
                         ids=lambda p: p.name)  # fmt: skip
def test_every_plan_is_read_as_plan_9_with_its_bound_where_it_had_one(folder):
    """plan 9's keys read from every earlier plan: full_overlap_n is the answer where
    only below was checked (several at once, the peaks not all meeting above), else
    None; no sustained runs were made before plan 9."""
    from probe.documents.plan import PlanDoc
    from probe.report.plan import render_plan

    doc = PlanDoc.load(folder / "plan.json")
    assert doc.schema_version == store.VERSIONS["plan"]
    entries = [e for c in doc.cells for e in c["budgets"].values() if e]
    assert entries and all(e["sustained"] is None for e in entries)
    for e in entries:
        bound = "did not all meet" in e["how"]
        assert e["full_overlap_n"] == (e["largest_n"] if bound else None), e
    assert any(e["full_overlap_n"] for e in entries)  # each had a cell of several at once
    assert "≤" in render_plan(doc, "table")


@pytest.mark.parametrize("version", [VERSIONS[0].name, VERSIONS[-1].name])
def test_probe_report_runs_whole_on_the_oldest_and_the_newest(version, tmp_path):
    results = tmp_path / "results"
    shutil.copytree(DATA / version, results)
    run = CliRunner().invoke(main, ["report", "--results", str(results)])
    assert run.exit_code == 0, run.output
    assert "critical n" in (results / "REPORT.md").read_text().lower()


def test_a_version_newer_than_the_code_is_refused_in_one_line(tmp_path):
    path = tmp_path / "new.json"
    doc = json.loads((DATA / "v6" / "compare.json").read_text())
    path.write_text(json.dumps({**doc, "schema_version": 99}))
    with pytest.raises(store.ResultsError) as excinfo:
        CompareDoc.load(path)
    assert str(excinfo.value) == (
        f"{path}: schema_version 99 is newer than probe {store.__version__} reads (compare "
        "6); upgrade probe (pip install -U probe) to read it"
    )
