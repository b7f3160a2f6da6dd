"""`probe max-n`: find the critical n under a cap, recording every probe as it goes.

A run has up to three phases, each written to the results file as it goes:
1. the search (probe.search) on cold servers with a fixed layout (by default): every
   probe on a fresh server that has served nothing, started while the previous probe
   ran, so the answer is a property of the code and the cap, not of a process's history;
2. for threads at concurrency > 1: the bytes per element of one request (three small
   single-request probes), for `safe_n_full_overlap`, the n at which C requests fit
   even if all of them overlap;
3. the band (`--band K`, and by default for threads at concurrency > 1): candidate n
   around the answer, each on K fresh servers with randomized layouts (threads: on the
   same layout, where scheduling is what varies), until the largest n that succeeded
   on all K and the smallest that failed on all K are known (probe.search.band).
"""

from probe.studies.maxn.lanes import gate, prober
from probe.studies.maxn.runner import run

__all__ = ["gate", "prober", "run"]
