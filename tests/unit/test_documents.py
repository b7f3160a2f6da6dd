"""The results documents' classes: each declares its keys once, refuses a key it does not
declare, and reads nested records in place (what is read is what the document holds)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from probe.documents import store
from probe.documents.base import Document
from probe.documents.compare import CompareDoc, Ratio, Row
from probe.documents.explain import ExplainDoc
from probe.documents.matrix import MatrixDoc, Variant
from probe.documents.maxn import Band, MaxNDoc
from probe.documents.plan import PlanDoc

RESULTS = Path(__file__).resolve().parents[2] / "results"


def test_a_key_not_declared_cannot_be_written():
    doc = MaxNDoc.new(critical_n=5)
    with pytest.raises(KeyError, match="declares no key 'critical'"):
        doc["critical"] = 5
    with pytest.raises(KeyError, match="declares no key 'typo_n'"):
        doc.update(typo_n=1)
    with pytest.raises(KeyError, match="declares no key 'x'"):
        Variant.make(x=1)
    assert doc.critical_n == 5 and doc["critical_n"] == 5


def test_new_documents_carry_the_store_header():
    """The header every kind shares is written by the store and declared by Document."""
    header = store.new_document("max-n")
    assert set(header) <= set(Document.declared())
    for cls in (MaxNDoc, MatrixDoc, CompareDoc):
        doc = cls.new()
        assert doc.kind == cls.KIND and doc.schema_version == store.VERSIONS[cls.KIND]


def test_nested_records_are_read_in_place():
    """Appending to a list read through a key, or setting a key of a nested record read
    through one, changes the document itself (a copy would lose the write)."""
    matrix = MatrixDoc.of(json.loads('{"variants": [{"server": "flask"}]}'))
    matrix.variants.append(Variant.make(server="gunicorn"))
    assert [v.server for v in matrix.variants] == ["flask", "gunicorn"]
    assert isinstance(matrix["variants"][0], Variant)
    doc = MaxNDoc.of({"band": {"tries_per_n": 3}})
    doc.band.always_ok_n = 7
    assert doc["band"] == {"tries_per_n": 3, "always_ok_n": 7}
    assert isinstance(doc.band, Band)
    assert MaxNDoc.of(None).band is None


def test_a_document_round_trips_through_json(tmp_path):
    doc = CompareDoc.new(rows=[Row.make(server="flask", fn="cpu_bounded", concurrency=1)])
    doc.ratios = [Ratio.make(server="flask", concurrency=1, numpy_over_python=4.5)]
    path = tmp_path / "compare.json"
    store.write_atomic(path, doc)
    back = CompareDoc.load(path)
    assert back == doc and back.rows[0].fn == "cpu_bounded"
    assert back.ratios[0].numpy_over_python == 4.5
    with pytest.raises(store.ResultsError, match="expected 'max-n'"):
        MaxNDoc.load(path)


def _unknown(record: dict, cls: type) -> list[str]:
    return [k for k in record if k not in cls.declared()]


@pytest.mark.parametrize("path", sorted(RESULTS.glob("**/*.json")), ids=lambda p: p.name)
def test_every_key_of_the_committed_results_is_declared(path):
    """What the committed run wrote, as the code reads it (upgraded from the format it
    was written at), is what the classes declare: a key written by hand somewhere, or
    one dropped from a class, shows up here."""
    data = json.loads(path.read_text())
    data = store.upgrade(data, data["kind"])
    kinds = {
        "max-n": MaxNDoc,
        "matrix": MatrixDoc,
        "compare": CompareDoc,
        "explain": ExplainDoc,
        "plan": PlanDoc,
    }
    cls = kinds[data["kind"]]
    assert _unknown(data, cls) == []
    if cls is MaxNDoc and data.get("band"):
        assert _unknown(data["band"], Band) == []
    for variant in data.get("variants") or [] if cls is MatrixDoc else []:
        assert _unknown(variant, Variant) == []
    for row in data.get("rows") or [] if cls is CompareDoc else []:
        assert _unknown(row, Row) == []
