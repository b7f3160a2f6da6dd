"""The installed probe leaves `import app` to the user's own app (issue 31): the seminar's
app/ is run from the checkout, never installed as a package."""

from __future__ import annotations

import subprocess
import sys


def test_import_app_outside_the_checkout_finds_no_app_of_ours(tmp_path):
    run = subprocess.run([sys.executable, "-c", "import app"], cwd=tmp_path,
                         capture_output=True, text=True, timeout=60)  # fmt: skip
    assert run.returncode != 0 and "No module named 'app'" in run.stderr, run.stderr


def test_the_seminars_prices_load_from_the_checkout_by_path():
    from probe.workload import seminar

    assert seminar.pricing().expected_price("cpu_bounded", 10, 3) == 10
    assert "app" not in sys.modules or sys.modules["app"].__file__.startswith(
        seminar.BUILTIN_APP_DIR
    )
