"""Bodies sized by n (probe.workload.bodies) and the streamed answer (load.read_answer),
without processes: lengths against the bytes produced, the multipart and batch shapes
parsed back by the standard library, and what stays in memory."""

from __future__ import annotations

import email.parser
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from probe.measure.load import MAX_TEXT, read_answer
from probe.workload import bodies
from probe.workload.model import Workload, WorkloadError


@given(st.integers(0, 300_000))
def test_a_raw_body_is_n_letters_x_and_says_so_before_it_starts(n):
    body = bodies.raw(n)
    data = b"".join(body)
    assert len(body) == len(data) == n and set(data) <= {ord("x")}
    assert all(len(c) <= bodies.CHUNK for c in body)


@pytest.mark.parametrize("n", [0, 1, 70_000, 200_003])
def test_an_upload_is_multipart_with_one_file_of_n_bytes(n):
    """Parsed back by the email package, as a server's multipart parser would."""
    body = bodies.upload("file", n)
    data = b"".join(body)
    assert len(body) == len(data)
    msg = email.parser.BytesParser().parsebytes(
        f"Content-Type: {body.content_type}\r\n\r\n".encode() + data
    )
    [part] = msg.get_payload()
    assert part.get_param("name", header="content-disposition") == "file"
    assert part.get_payload(decode=True) == b"x" * n


@pytest.mark.parametrize("n", [0, 1, 2, 5000])
@pytest.mark.parametrize("item", ["[5.1, 3.5, 1.4, 0.2]", '{"a": "}{", "b": [1]}', "7"])
def test_a_batch_is_a_json_array_of_n_items(n, item):
    before, got, after = bodies.split_batch('{"instances": {n*' + item + '}, "k": 1}')
    assert got == item
    body = bodies.batch(before, got, after, n)
    data = b"".join(body)
    assert len(body) == len(data)
    assert json.loads(data) == {"instances": [json.loads(item)] * n, "k": 1}


@pytest.mark.parametrize("n", [0, 1, 3])
def test_a_batch_is_written_byte_for_byte_as_requests_sends_it(n):
    """requests.post(json=...) writes ', ' and ': ' (json.dumps' defaults): so does probe
    by default, and `compact` writes what JSON.stringify writes; the template's own
    spacing does not matter."""
    import requests

    template = '{"id":{n},"rows":{n*[5.1,3.5]},  "opts" : {"k": [1,2]}}'
    obj = {"id": n, "rows": [[5.1, 3.5]] * n, "opts": {"k": [1, 2]}}
    sent = requests.Request("POST", "http://127.0.0.1/", json=obj).prepare().body
    for seps, want in (("spaced", sent), ("compact", json.dumps(obj, separators=(",", ":")))):
        w = Workload(name="b", app="m:app", request="POST /b", json=template,
                     json_separators=seps)  # fmt: skip
        body = w.render(n).body
        got = b"".join(body)
        assert got == (want if isinstance(want, bytes) else want.encode()) and len(body) == len(got)
    plain = Workload(name="p", app="m:app", request="POST /p", json='{"n":{n},"a":[1,2]}')
    assert plain.render(7).body == requests.Request(
        "POST", "http://127.0.0.1/", json={"n": 7, "a": [1, 2]}).prepare().body  # fmt: skip


def test_separators_matter_only_to_a_batchs_identity():
    def w(seps, json_):
        return Workload(name="b", app="m:app", request="POST /b", json=json_,
                        json_separators=seps)  # fmt: skip

    batch, plain = '{"rows": {n*[1, 2]}}', '{"n": {n}}'
    assert w("spaced", batch).identity() != w("compact", batch).identity()
    assert w("spaced", plain).identity() == w("compact", plain).identity()
    with pytest.raises(WorkloadError, match="json_separators must be one of spaced, compact"):
        w("tight", plain)


@pytest.mark.parametrize(
    ("template", "says"),
    [
        ('{"x": {n*[1, 2}', "not closed"),
        ('{"x": {n*[1]}, "y": {n*[2]}}', "one {n*ITEM} per template"),
    ],
)
def test_a_bad_batch_template_says_how_to_fix_it(template, says):
    with pytest.raises(bodies.BodyError, match=says.replace("{", r"\{").replace("*", r"\*")):
        bodies.split_batch(template)


def test_workloads_refuse_two_bodies_and_take_one_sized_body_as_n():
    w = Workload(name="u", app="m:app", request="POST /u", upload="file")
    assert (w.sized_body, w.n_placement) == ("upload", "request")
    req = w.render(1000)
    assert len(req.body) > 1000 and dict(req.headers)["Content-Type"].startswith("multipart/")
    batch = Workload(name="b", app="m:app", request="POST /b", json='{"rows": {n*[1, 2]}}')
    assert batch.sized_body == "batch" and json.loads(b"".join(batch.render(3).body)) == {
        "rows": [[1, 2]] * 3
    }
    with pytest.raises(WorkloadError, match="body_bytes and json both give the body"):
        Workload(name="x", app="m:app", body_bytes=True, json='{"a": {n}}')
    with pytest.raises(WorkloadError, match="must be one JSON value"):
        Workload(name="x", app="m:app", json='{"a": {n*[1,,2]}}')
    assert Workload(name="r", app="m:app", body_bytes=True).identity() != w.identity()


def test_an_answer_is_read_as_a_stream_keeping_only_its_head():
    """A 10 MiB answer with the expect text at its very end, across two chunks: found,
    counted, and only MAX_TEXT of it kept."""
    want = "size=12345 sum="
    chunks = [b"x" * (5 << 20), b"x" * (5 << 20) + want[:4].encode(), want[4:].encode()]
    text, size, found = read_answer(iter(chunks), want)
    assert (size, found, len(text)) == (sum(map(len, chunks)), True, MAX_TEXT)
    assert read_answer(iter([b"size=1 sum=1"]), "size=2 ")[2] is False
    assert read_answer(iter([b"ok"]), None) == ("ok", 2, None)


@pytest.mark.parametrize("n", [0, 1, 3, 70_000])
def test_a_content_template_repeats_its_piece_n_times_as_a_csv_reader_reads_it(n):
    """A CSV header and n rows, as the raw body and as an upload's file (parsed back by
    the email package and then by csv), with the escapes a shell's quotes keep."""
    import csv
    import io

    template = "a,b,c\\n{n*1.5,2.5,3.5\\n}"  # as typed: backslash-n
    raw = bodies.raw(n, template, "text/csv")
    data = b"".join(raw)
    assert len(raw) == len(data) and raw.content_type == "text/csv"
    rows = list(csv.reader(io.StringIO(data.decode())))
    assert rows[0] == ["a", "b", "c"] and rows[1:] == [["1.5", "2.5", "3.5"]] * n
    up = bodies.upload("file", n, "data.csv", template, "text/csv")
    msg = email.parser.BytesParser().parsebytes(
        f"Content-Type: {up.content_type}\r\n\r\n".encode() + b"".join(up)
    )
    [part] = msg.get_payload()
    assert part.get_filename() == "data.csv" and part.get_content_type() == "text/csv"
    assert part.get_payload(decode=True) == data


@pytest.mark.parametrize(
    ("template", "says"),
    [
        ("a,b\\n1,2\\n", "put {n*PIECE} in"),
        ("{n*1}{n*2}", "one {n*PIECE} per template"),
        ("a{n*1,2", "is not closed"),
        ("a{n*}", "repeats nothing"),
    ],
)
def test_a_bad_content_template_is_one_line_before_any_server(template, says):
    with pytest.raises(WorkloadError) as excinfo:
        Workload(name="c", app="m:app", request="POST /c", content=template)
    assert says in str(excinfo.value) and "\n" not in str(excinfo.value)


def test_content_options_that_do_not_fit_are_refused():
    base = {"name": "c", "app": "m:app", "request": "POST /c"}
    with pytest.raises(WorkloadError, match="drop --body-bytes"):
        Workload(**base, content="{n*x}", body_bytes=True)
    with pytest.raises(WorkloadError, match="names an upload's file"):
        Workload(**base, content="{n*x}", filename="a.csv")
    w = Workload(**base, upload="file", content="h\\n{n*r\\n}", filename="a.csv",
                 n_unit="rows")  # fmt: skip
    assert w.sized_body == "upload" and b"h\nr\nr\n" in b"".join(w.render(2).body)
    assert (
        w.identity()
        == Workload(
            **{**base, "upload": "file", "content": "h\\n{n*r\\n}", "filename": "a.csv"}
        ).identity()
    )  # the unit is a label
