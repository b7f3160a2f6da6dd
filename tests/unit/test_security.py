"""Security that must not regress: no shell, loopback by default, constant-time tokens."""

from __future__ import annotations

import ast
import hmac
from pathlib import Path

import pytest
from click.testing import CliRunner

from app import create_app
from probe.cli import app as cli
from probe.servers.spec import ServerError, ServerSpec

ROOT = Path(__file__).resolve().parents[2]
SOURCES = sorted([*ROOT.glob("probe/**/*.py"), *ROOT.glob("app/*.py")])


def shell_uses(tree: ast.AST) -> list[str]:
    """Calls that go through a shell: any call with shell=True, os.system, os.popen."""
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        for kw in node.keywords:
            if kw.arg == "shell" and not (
                isinstance(kw.value, ast.Constant) and kw.value.value is False
            ):
                found.append(f"line {node.lineno}: shell={ast.unparse(kw.value)}")
        name = ast.unparse(node.func)
        if name in ("os.system", "os.popen", "subprocess.getoutput", "subprocess.getstatusoutput"):
            found.append(f"line {node.lineno}: {name}")
    return found


def test_the_shell_detector_sees_what_it_must():
    """The scan below proves nothing unless the detector flags the forms it looks for."""
    code = "import os, subprocess\nsubprocess.run('x', shell=True)\nos.system('x')\n"
    assert shell_uses(ast.parse(code)) == ["line 2: shell=True", "line 3: os.system"]
    assert shell_uses(ast.parse("subprocess.run(['x'], shell=False)")) == []


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_no_shell_anywhere(path):
    """Every process probe starts is an argv list: a size or host can never become shell."""
    assert shell_uses(ast.parse(path.read_text(encoding="utf-8"))) == []


def test_servers_bind_loopback_unless_told(monkeypatch):
    """The spec, the argv and the CLI default all say 127.0.0.1."""
    assert ServerSpec().host == "127.0.0.1"
    assert "127.0.0.1:8000" in ServerSpec(server="gunicorn").argv(8000)
    seen = []

    def capture(self):  # stands in for Server.start: no process, no socket
        seen.append(self.spec.host)
        raise ServerError("stop here")

    monkeypatch.setattr("probe.servers.process.Server.start", capture)
    result = CliRunner().invoke(cli.main, ["serve"])
    assert seen == ["127.0.0.1"] and result.output == "Error: stop here\n"


def test_token_is_compared_in_constant_time(monkeypatch):
    """A wrong token of the right length must go through hmac.compare_digest, not ==,
    so the answer time does not leak how many leading characters were right."""
    calls = []
    real = hmac.compare_digest

    def spy(a, b):
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    client = create_app({"TESTING": True, "APP_TOKEN": "abcdef"}).test_client()
    wrong = client.post("/predict", json={"area": 1}, headers={"Authorization": "Bearer abcdeX"})
    assert wrong.status_code == 401
    assert calls == [(b"abcdeX", b"abcdef")]
