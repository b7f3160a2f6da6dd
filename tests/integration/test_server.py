"""The harness against real Flask and gunicorn processes under real RLIMIT_AS caps."""

from __future__ import annotations

import pytest
import requests

from probe.servers.pool import launch
from probe.servers.process import ServerStartError
from probe.servers.spec import ServerSpec
from probe.sizes import parse_size
from tests.integration.conftest import gone

CAP = parse_size("512M")


def predict(url: str, **body) -> requests.Response:
    return requests.post(f"{url}/predict", json=body, timeout=60)


def address_space_limit(pid: int) -> str:
    with open(f"/proc/{pid}/limits") as fh:
        line = next(line for line in fh if line.startswith("Max address space"))
    return line.split()[3]  # soft limit, bytes


@pytest.mark.parametrize("server", ["flask", "gunicorn"])
def test_exact_prices_then_memory_error_then_recovery(server, no_leftovers):
    """n=100_001 gives a price with a fractional mean (50_000.0 * 7 exact); 10**9 ints
    (36 GB as a list, 8 GB as an array) cannot fit in 512M, so both predictors must
    answer the JSON memory_error, and the server must then answer again."""
    with launch(ServerSpec(server=server, limit_bytes=CAP)) as srv:
        no_leftovers.extend(srv.pids())
        for fn in ("cpu_bounded", "cpu_multithread"):
            ok = predict(srv.url, area=7, fn=fn, n=100_001)
            assert ok.status_code == 200, ok.text
            assert ok.json()["price"] == 7 * 100_000 // 2
            assert ok.json()["pid"] in srv.worker_pids()
        big = predict(srv.url, area=7, fn="cpu_multithread", n=10**9)
        assert big.status_code == 507, big.text
        assert big.json()["error"] == "memory_error"
        again = predict(srv.url, area=3, fn="cpu_multithread", n=1000)
        assert again.status_code == 200 and again.json()["price"] == int(3 * 999 / 2)


def test_pure_python_list_hits_memory_error_and_server_survives(no_leftovers):
    """50M Python ints need about 1.8 GB, far past 512M: the list grows until
    MemoryError; the sync worker must survive it (same pid) and serve the next one."""
    with launch(ServerSpec(server="gunicorn", limit_bytes=CAP)) as srv:
        no_leftovers.extend(srv.pids())
        before = srv.worker_pids()
        r = predict(srv.url, area=1, fn="cpu_bounded", n=50_000_000)
        assert r.status_code == 507 and r.json()["error"] == "memory_error", r.text
        assert predict(srv.url, area=2, fn="cpu_bounded", n=11).json()["price"] == 10
        assert srv.worker_pids() == before


@pytest.mark.parametrize("workers", [2])
def test_every_gunicorn_process_carries_the_cap(workers, no_leftovers):
    """Two workers plus the arbiter: RLIMIT_AS is per process and inherited, so each
    of the three must show the cap in /proc/PID/limits."""
    with launch(ServerSpec(server="gunicorn", limit_bytes=CAP, workers=workers)) as srv:
        pids = srv.pids()
        no_leftovers.extend(pids)
        assert len(srv.worker_pids()) == workers
        assert len(pids) == workers + 1
        for pid in pids:
            assert address_space_limit(pid) == str(CAP)


@pytest.mark.parametrize("server", ["flask", "gunicorn"])
def test_tiny_cap_gives_a_clear_start_error(server):
    """64M cannot hold Python + Flask + numpy's OpenBLAS buffers: the server dies while
    starting, and the error must say so, show its log, and hint to raise the cap."""
    with (
        pytest.raises(ServerStartError) as info,
        launch(ServerSpec(server=server, limit_bytes=parse_size("64M"), ready_timeout_s=20)),
    ):
        pass
    msg = str(info.value)
    assert f"{server} failed to start" in msg
    assert "raise --limit" in msg


def test_shutdown_leaves_no_process_even_on_exception(no_leftovers):
    """An exception inside the with-block must still stop the arbiter and all workers."""
    with (
        pytest.raises(RuntimeError),
        launch(ServerSpec(server="gunicorn", limit_bytes=CAP, workers=2)) as srv,
    ):
        no_leftovers.extend(srv.pids())
        raise RuntimeError("boom")
    assert gone(no_leftovers)
