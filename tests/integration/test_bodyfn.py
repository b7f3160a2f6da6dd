"""--body-fn (probe.workload.bodyfn): a user's function makes the body in a builder process
under its own cap, streamed from a spool; one line for every way it can be wrong."""

from __future__ import annotations

from pathlib import Path

import pytest

from probe.workload import bodies, bodyfn
from probe.workload.model import Workload

APPS = str(Path(__file__).resolve().parents[1] / "apps")


def test_a_generator_body_streams_the_same_bytes_as_the_content_template():
    """tests/apps/bodies.csv_rows(n) yields what --content 'a,b,c\\n{n*1.5,2.5,3.5\\n}'
    makes; with --upload its content type and file name go into the part's headers."""
    for n in (0, 1, 5000):
        made = bodyfn.make("bodies:csv_rows", APPS, n)
        via_fn = b"".join(bodies.raw(n, made=made))
        assert via_fn == b"".join(bodies.raw(n, r"a,b,c\n{n*1.5,2.5,3.5\n}"))
    w = Workload(name="u", app="m:app", chdir=APPS, request="POST /u", upload="file",
                 body_fn="bodies:csv_rows")  # fmt: skip
    body = w.render(3).body
    data = b"".join(body)
    assert len(body) == len(data) and b'filename="data.csv"' in data
    assert b"Content-Type: text/csv" in data and data.count(b"1.5,2.5,3.5\n") == 3


def write(tmp_path: Path, text: str) -> tuple[str, str]:
    """(folder, module name): a module of its own per test (imports are cached)."""
    name = "ub_" + "".join(c if c.isalnum() else "_" for c in tmp_path.name)
    (tmp_path / f"{name}.py").write_text(text)
    return str(tmp_path), name


@pytest.mark.parametrize(
    ("source", "spec", "says"),
    [
        ("def f(n):\n    return b'x' * n\n", "userbodies:g", "userbodies has no function g"),
        ("def f(n):\n    raise ValueError('no')\n", "userbodies:f", "raised ValueError: no"),
        ("def f(n):\n    return 'text'\n", "userbodies:f", "returned str"),
        ("def f(n):\n    yield 'text'\n", "userbodies:f", "yielded str: yield bytes"),
        ("def f(n):\n    return (b'', 'a', 'b', 'c')\n", "userbodies:f", "a tuple of 4"),
        ("import nowhere_to_be_found\n", "userbodies:f", "cannot import userbodies"),
        ("", "userbodies", "takes MODULE:FUNCTION"),
    ],
)
def test_a_body_function_that_cannot_be_used_is_one_line(tmp_path, source, spec, says):
    folder, name = write(tmp_path, source)
    with pytest.raises(bodyfn.BodyFnError) as excinfo:
        bodyfn.check(spec.replace("userbodies", name), folder)
    assert says.replace("userbodies", name) in str(excinfo.value)
    assert "\n" not in str(excinfo.value)


def test_the_cli_refuses_a_bad_body_function_before_any_server(tmp_path):
    from click.testing import CliRunner

    from probe.cli.app import main

    folder, name = write(tmp_path, "def f(n):\n    return 42\n")
    result = CliRunner().invoke(main, ["max-n", "--cmd", "gunicorn -b 127.0.0.1:{port} m:a",
                                       "--chdir", folder, "--request", "POST /x",
                                       "--body-fn", f"{name}:f"])  # fmt: skip
    assert result.exit_code == 2, result.output
    assert f"--body-fn {name}:f returned int" in result.output


def test_one_made_body_streams_whole_to_several_requests_at_once():
    """--concurrency C sends one Body C times at once: each stream reads by offset, so
    interleaved readers each get every byte."""
    import threading

    made = bodyfn.make("bodies:csv_rows", APPS, 200_000)
    body = bodies.raw(200_000, made=made)
    want = b"".join(bodies.raw(200_000, r"a,b,c\n{n*1.5,2.5,3.5\n}"))
    got: list[bytes] = []

    def read() -> None:
        got.append(b"".join(body))

    threads = [threading.Thread(target=read) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert got == [want] * 4


def test_a_body_too_large_to_build_is_one_line_and_probe_lives_on(tmp_path, monkeypatch):
    """A function that holds an n x n image at once (as one made with Pillow's
    Image.new does) asked for n = 100,000 needs 30 GB: the builder's cap stops it with
    MemoryError in the builder, probe gets one line, and the next body is built again."""
    monkeypatch.setattr(bodyfn, "_BUILDER", bodyfn.Builder(256 << 20))
    folder, name = write(tmp_path, "def f(n):\n    return bytearray(3 * n * n)\n")
    with pytest.raises(bodyfn.BodyFnError) as excinfo:
        bodyfn.make(f"{name}:f", folder, 100_000)
    assert str(excinfo.value) == (
        f"the body at n=100,000 needs more than 256.0 MiB to build (--body-fn {name}:f): "
        "start lower with --n-start, or stream it (yield chunks)"
    )
    assert excinfo.value.exit_code == 3
    made = bodyfn.make(f"{name}:f", folder, 1000)
    assert made.length == 3_000_000 and made.grew_rss_bytes >= 3_000_000
    bodyfn._BUILDER.stop()


def test_the_end_to_end_cli_exits_3_with_the_line_and_leaves_no_server(tmp_path):
    """Through `probe max-n`, README's image example asked to start at n = 100,000 with a
    Pillow image held at once (30 GB): the run stops on the body (exit 3) with probe
    alive, and no server stays."""
    import subprocess

    import psutil

    before = {p.pid for p in psutil.process_iter()}
    run = subprocess.run(
        ["probe", "max-n", "--cmd", "gunicorn --bind 127.0.0.1:{port} upload_app:app",
         "--chdir", APPS, "--request", "POST /upload", "--upload", "file",
         "--body-fn", "bodies:png_held", "--n-start", "100000", "--limit", "256M",
         "--cold-only", "--out", str(tmp_path / "r.json")],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert run.returncode == 3, run.stderr
    assert "the body at n=100,000 needs more than" in run.stderr
    assert "Traceback" not in run.stderr
    left = [
        p
        for p in psutil.process_iter(["cmdline"])
        if p.pid not in before and "upload_app:app" in " ".join(p.info["cmdline"] or [])
    ]
    assert not left
