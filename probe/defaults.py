"""The defaults probe's commands share, declared once: the configs and the command-line
options read them from here (a server's own defaults are ServerSpec's fields)."""

from pathlib import Path

REQUEST_TIMEOUT_S = 120.0  # seconds to wait for one answer
MAXN_PRECISION = 0.01  # max-n stops when first_failing_n / critical_n - 1 <= this
STUDY_PRECISION = 0.02  # the same for the searches of compare, matrix --n auto and study
MAXN_LIMIT = "1G"  # the cap of max-n and serve
STUDY_LIMIT = "512M"  # the cap every study command shares, so they find each other's results
STUDY_BAND = 3  # layouts per n of the band of the study's single-request searches
LOAD_REQUESTS = 10  # the seminar's load: 10 requests ...
LOAD_CONCURRENCY = 10  # ... all at once
MARGIN = 0.9  # matrix --n auto runs each variant at this share of its critical n
SETTLE_S = 1.0  # max-n re-probes both ends this long after the workers wait (and at once)
# the re-check: tries at the critical n (the search's own included), sized so that a
# service failing there RECHECK_RATE of the time shows it with probability
# probe.stats.catch_probability(8) = 1 - 0.75^8 = 0.90
RECHECK_TRIES = 8
RECHECK_RATE = 0.25
WARM_REQUESTS = 20  # max-n's warm phase: requests a server serves before the probe
PLAN_HEADROOM = 0.1  # plan: a cell must hold N x (1 + this), its peak under the budget less this
PLAN_CONFIRM_REQUESTS = 2000  # plan: requests of the sustained run that confirms a cell
PLAN_N_START = 100_000  # plan: the first calibration size
LOG_DIR = "log"  # where matrix and study write each variant's seminar-style log
RESULTS_DIR = "results"  # where every command writes its documents, relative to the cwd

# The app a server runs when none is named: the seminar's service (probe.workload.seminar
# has its predictors). Here, so that the servers need nothing of the workloads.
BUILTIN_APP = "app.wsgi:app"
# ...and where its servers import it from: the checkout this probe runs from (app/ beside
# probe/, as the quick start's editable install keeps them). app/ is not installed as a
# package: `import app` in a user's environment must find the user's app, never ours.
BUILTIN_APP_DIR = str(Path(__file__).resolve().parents[1])
