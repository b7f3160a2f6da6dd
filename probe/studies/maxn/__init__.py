"""`probe max-n`: find the critical n under a cap, recording every probe as it goes.

A run's phases, in order (runner.py), each timed into the document's `phases` and
written to the results file as it goes:
1. the search (probe.search) on fresh servers with a fixed layout (by default): every
   probe on a server that has served nothing, started while the previous probe ran, so
   the answer is a property of the code and the cap, not of a process's history;
2. the re-check (recheck.py): both ends on fresh servers, the first request as the port
   opens and --settle s after the workers wait, the critical n 8 times in all;
3. for threads at concurrency > 1, the full-overlap bound (overlap.py);
4. where fresh servers disagreed, the failure rate (failure_rate.py); else, with
   `--band K` or threads at concurrency > 1, the band (band.py);
5. the warm phase (warm_phase.py): the answer on a server that served requests first;
6. the body's bytes at both ends.
state.py holds what the phases share (the document, the probes, the oracles, the clock);
lanes.py gives each phase its oracles, on pools the phases share.
"""

from probe.studies.maxn.lanes import gate, prober
from probe.studies.maxn.runner import run

__all__ = ["gate", "prober", "run"]
