"""A pre-fork setting is one declaration (probe.servers.settings): a fake one, added to
PREFORK alone in a fresh interpreter before the rest of probe is imported, is found
everywhere a setting goes without editing anything else: the option and its help, the
spec's field and default, probe's own gunicorn command (a real gunicorn takes it), the
value read from a user's command, the refusal with --cmd, the results key and the
results file's name."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = textwrap.dedent(
    """
    import json, sys
    from probe.servers import settings
    fake = settings.Setting(
        "keepalive_s", "--keep-alive", "keep_alive", int, 2,
        "gunicorn's keep-alive, seconds.", "put --keep-alive in your command",
        lambda v: f"ka{v}", lambda v: ["--keep-alive", str(v)],
        lambda a: a.keepalive or 2, grid=False,
    )
    settings.PREFORK = (*settings.PREFORK, fake)
    settings.FIELDS = tuple(s.field for s in settings.PREFORK)
    settings.GRID_AXES = tuple(s.field for s in settings.PREFORK if s.grid)

    from click.testing import CliRunner
    from probe.cli.app import main
    from probe.documents.maxn import MaxNDoc
    from probe.servers.spec import DEFAULTS, ServerSpec, from_command
    from probe.studies.question import config_tag

    spec = ServerSpec(keepalive_s=5)
    user = from_command("gunicorn --keep-alive 7 --bind 127.0.0.1:{port} a:app")
    runner = CliRunner()
    out = sys.argv[1]
    ran = runner.invoke(main, ["max-n", "--fn", "cpu_bounded", "--limit", "256M",
                               "--keep-alive", "5", "--cold-only", "--no-check",
                               "--precision", "0.2", "--out", out])
    refused = runner.invoke(main, ["max-n", "--cmd", "gunicorn --bind 127.0.0.1:{port} a:app",
                                   "--request", "GET /?n={n}", "--keep-alive", "5"])
    print(json.dumps({
        "default": DEFAULTS["keepalive_s"],
        "argv": spec.kind.argv(spec, 8000),
        "read": user.keepalive_s,
        "tag": config_tag(spec),
        "declared": "keepalive_s" in MaxNDoc.declared(),
        "spec_dict": spec.config().get("keepalive_s"),
        "help": runner.invoke(main, ["max-n", "--help"]).output,
        "exit": ran.exit_code, "output": ran.output[-2000:],
        "refused": [refused.exit_code, refused.output],
    }))
    """
)


def test_a_fake_setting_declared_once_is_found_everywhere(tmp_path, no_leftovers):
    out = tmp_path / "doc.json"
    ran = subprocess.run([sys.executable, "-c", SCRIPT, str(out)], capture_output=True,
                         text=True, cwd=ROOT, timeout=300)  # fmt: skip
    assert ran.returncode == 0, ran.stderr[-3000:]
    got = json.loads(ran.stdout.strip().splitlines()[-1])
    assert got["default"] == 2
    argv = got["argv"]
    assert argv[argv.index("--keep-alive") + 1] == "5", argv
    assert got["read"] == 7
    assert "ka5" in got["tag"], got["tag"]
    assert got["declared"] and got["spec_dict"] == 5
    assert "--keep-alive" in got["help"] and "gunicorn's keep-alive, seconds." in got["help"]
    # a real gunicorn started by probe took --keep-alive 5, and the document records it
    assert got["exit"] == 0, got["output"]
    doc = json.loads(out.read_text())
    assert doc["keepalive_s"] == 5 and doc["critical_n"] > 0, doc
    # with --cmd the user's command sets it: refused in one line that says so
    code, text = got["refused"]
    assert code == 2 and "put --keep-alive in your command" in text, text
