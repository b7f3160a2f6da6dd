"""The memory monitor against a real gunicorn worker doing a known allocation."""

from __future__ import annotations

import requests

from probe.measure.memory import Monitor, read_status
from probe.servers.pool import launch
from probe.servers.spec import ServerSpec

N = 20_000_000  # numpy.arange(N) is an int64 array: exactly 160 MB of fresh pages


def test_peaks_see_a_known_allocation_and_reset_between_steps(no_leftovers):
    """A 160 MB array must show as ~160 MB of RSS growth in the kernel's VmHWM and in
    the sampler (which can only miss a little of a 10+ ms plateau); the next step, a
    tiny request, must start from a reset peak and not inherit the 160 MB."""
    with launch(ServerSpec(server="gunicorn", limit_bytes=1 << 30)) as srv:
        no_leftovers.extend(srv.pids())
        worker = srv.worker_pids()[0]
        with Monitor(srv.pids) as mon:
            idle = read_status(worker)["VmRSS"]
            mon.begin_step()
            r = requests.post(
                f"{srv.url}/predict", json={"area": 1, "fn": "cpu_multithread", "n": N}
            )
            big = mon.end_step()
            mon.begin_step()
            requests.post(f"{srv.url}/predict", json={"area": 1, "fn": "cpu_multithread", "n": 10})
            small = mon.end_step()
    assert r.status_code == 200
    growth = big.per_pid[worker]["VmHWM"] - idle
    assert 0.95 * 8 * N <= growth <= 1.15 * 8 * N, growth
    assert abs(big.peak_rss_sampled_bytes / big.peak_rss_hwm_bytes - 1) < 0.05
    assert len(big.samples) > 5
    assert small.peak_rss_hwm_bytes < idle + 0.25 * 8 * N
