"""The seminar's service as probe knows it: where its app is, its predictors' names.

Written out here so that importing probe does not import app (Flask and numpy);
tests/unit/test_workload.py checks they agree with app.pricing.
"""

from probe.defaults import BUILTIN_APP  # noqa: F401 (the seminar's app, named once)

PROBE_AREA = 10  # price = int(10 * (n-1)/2): exact in floating point for n < 2**53
IO_FN, PYTHON_FN, NUMPY_FN = "io_bounded", "cpu_bounded", "cpu_multithread"
BUILTIN_FNS = (PYTHON_FN, NUMPY_FN, IO_FN)
SEMINAR_FNS = (IO_FN, PYTHON_FN, NUMPY_FN)  # the seminar's three, in its order
CPU_FNS = (PYTHON_FN, NUMPY_FN)  # the ones that take n
IO_FNS = frozenset({IO_FN})  # the ones whose answer does not depend on n
