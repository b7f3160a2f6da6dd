"""The seminar's service as probe knows it: where its app is, its predictors' names.

Written out here so that importing probe does not import app (Flask and numpy);
tests/unit/test_workload.py checks they agree with app.pricing.
"""

import functools
import importlib.util
from pathlib import Path
from types import ModuleType

from probe.defaults import BUILTIN_APP, BUILTIN_APP_DIR  # noqa: F401 (named once)

PROBE_AREA = 10  # price = int(10 * (n-1)/2): exact in floating point for n < 2**53
IO_FN, PYTHON_FN, NUMPY_FN = "io_bounded", "cpu_bounded", "cpu_multithread"
BUILTIN_FNS = (PYTHON_FN, NUMPY_FN, IO_FN)
SEMINAR_FNS = (IO_FN, PYTHON_FN, NUMPY_FN)  # the seminar's three, in its order
CPU_FNS = (PYTHON_FN, NUMPY_FN)  # the ones that take n
IO_FNS = frozenset({IO_FN})  # the ones whose answer does not depend on n


@functools.cache
def pricing() -> ModuleType:
    """app/pricing.py (the exact price each predictor answers), loaded from the checkout
    by its path: app is not an installed package, and a user's own `app` must not be
    taken for it. It imports nothing."""
    path = Path(BUILTIN_APP_DIR) / "app" / "pricing.py"
    spec = importlib.util.spec_from_file_location("probe_seminar_pricing", path)
    if spec is None or spec.loader is None or not path.exists():
        raise ImportError(f"the seminar's app is not beside probe ({path}): run probe from "
                          "a clone of its repository (pip install -e .)")  # fmt: skip
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
