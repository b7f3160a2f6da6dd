"""probe.profile.sites on recorded memray output and on made-up captures: the request's
own peak per line (peak less idle), the slope between two sizes, whose code a line is."""

from __future__ import annotations

import json
import os
import sys
import sysconfig
from pathlib import Path

import pytest

from probe.profile import sites
from probe.profile.reader import Alloc, Capture

DATA = Path(__file__).parent / "data" / "capture_query_alloc.json"
LIST_PER_INT = 8 + 32  # a slot, and a 28 B int in pymalloc's 32 B block


def _recorded() -> dict[int, tuple[Capture, sites.Window, str]]:
    """tests/unit/data/record_capture.py's output: query_alloc at 400,000 and 200,000."""
    raw = json.loads(DATA.read_text())
    return {int(n): (Capture.from_dict(v["capture"]), sites.Window(*v["window"]), v["root"])
            for n, v in raw.items()}  # fmt: skip


def test_recorded_request_peak_is_the_apps_list_line_at_forty_bytes_per_int():
    runs = _recorded()
    lines = {}
    for n, (cap, win, root) in runs.items():
        found = sites.request_sites(cap, win, (root,))
        lines[n] = found
        assert found[0].owner == "your code" and found[0].file.endswith("query_alloc.py")
        assert found[0].bytes > 0.95 * sum(s.bytes for s in found)
        assert sites.request_peak(cap, win)["heap_bytes"] >= 0.95 * found[0].bytes
    [top, *_] = sites.slopes(lines[400_000], lines[200_000], 400_000, 200_000)
    assert abs(top.per_n / LIST_PER_INT - 1) < 0.10, top.per_n
    # a list of n ints has no fixed part but whole pymalloc arenas (1 MiB each)
    assert abs(top.fixed) <= 2 << 20, top.fixed


def _alloc(file: str, line: int, *intervals) -> Alloc:
    return Alloc((("f", file, line), ("caller", "/srv/app/views.py", 7)), tuple(intervals))


def test_an_allocation_counts_in_the_intervals_it_spans():
    a = _alloc("/x.py", 1, (2, 4, 1, 100), (3, None, 1, 10))
    assert [a.bytes_at(k) for k in range(6)] == [0, 0, 100, 110, 10, 10]


def test_the_window_is_the_interval_before_the_request_and_the_ones_it_spans():
    times = (1000, 1010, 1020, 1030, 1040, 1050)
    win = sites.window(times, sent_ms=1015, answered_ms=1032)
    assert win == sites.Window(idle=1, first=2, last=4)


def test_a_line_that_held_memory_before_the_request_counts_only_what_it_added():
    """Idle (interval 1): a cache of 50 B; at the peak (interval 3) the cache has 80 B
    and the request's list 1,000 B; a buffer freed before the peak counts nothing."""
    cap = Capture(pid=1, times_ms=(0, 10, 20, 30), rss_bytes=(0, 0, 0, 0),
                  heap_bytes=(0, 50, 600, 1080), hwm_bytes=(0, 50, 600, 1080, 1080),
                  allocs=(_alloc("/srv/app/cache.py", 3, (1, None, 1, 50), (3, None, 1, 30)),
                          _alloc("/srv/app/views.py", 9, (3, 4, 1, 1000)),
                          _alloc("/srv/app/views.py", 8, (2, 3, 1, 550))))  # fmt: skip
    win = sites.Window(idle=1, first=2, last=3)
    assert sites.peak_interval(cap, win) == 3
    got = {(s.file, s.line): s.bytes for s in sites.request_sites(cap, win, ("/srv/app",))}
    assert got == {("/srv/app/views.py", 9): 1000, ("/srv/app/cache.py", 3): 30}
    assert sites.request_peak(cap, win)["heap_bytes"] == 1030


def test_slopes_split_each_line_into_bytes_per_n_and_a_fixed_part():
    def site(line: int, size: int) -> sites.Site:
        return sites.Site("f", "/srv/app/views.py", line, "your code", "your code", None, size)

    big = [site(1, 8_000_100), site(2, 4096)]
    small = [site(1, 4_000_100), site(2, 4096)]
    rows = sites.slopes(big, small, 1_000_000, 500_000)
    assert [(r.per_n, round(r.fixed)) for r in rows] == [(8.0, 100), (0.0, 4096)]
    owners = sites.by_owner(rows)
    assert owners == [{"owner": "your code", "kind": "your code", "bytes": 8_004_196,
                       "share": 1.0, "bytes_per_n": 8.0}]  # fmt: skip


SITE = os.path.join(sysconfig.get_paths()["purelib"])
STDLIB = sysconfig.get_paths()["stdlib"]


@pytest.mark.parametrize(
    ("path", "owner", "kind"),
    [
        (f"{SITE}/werkzeug/formparser.py", "werkzeug", "framework or server"),
        (f"{SITE}/numpy/_core/numeric.py", "numpy", "library"),
        (f"{SITE}/pydantic/main.py", "pydantic", "framework or server"),
        (f"{STDLIB}/json/decoder.py", "json", "framework or server"),
        (f"{STDLIB}/re/_parser.py", "re", "python"),
        ("<frozen importlib._bootstrap>", "python", "python"),
        ("/srv/app/views.py", "your code", "your code"),
        (f"{sys.prefix}/bin/gunicorn", "gunicorn", "framework or server"),
    ],
)  # fmt: skip
def test_whose_code_a_file_is(path, owner, kind):
    """Installed packages by their top folder; a console script of the environment is
    not the user's code even under their folder; the standard library by module."""
    installed = (sys.prefix,)
    assert sites.owner_of(path, ("/srv/app", sys.prefix), installed) == (owner, kind)


def test_small_owners_are_summed_as_others():
    def row(owner: str, size: int) -> sites.Slope:
        s = sites.Site("f", f"/x/{owner}.py", 1, owner, "library", None, size)
        return sites.Slope(s, 0, size / 1000, 0.0)

    owners = sites.by_owner([row("numpy", 990), row("a", 5), row("b", 5)])
    assert [(o["owner"], o["bytes"]) for o in owners] == [("numpy", 990), ("2 others", 10)]


def _doc() -> dict:
    """An explain document as probe.studies.explain writes it (the FastAPI batch's shape)."""
    return {
        "kind": "explain", "workload": {"n_unit": "rows"}, "n": 258_431, "n_small": 129_215,
        "n_source": "--n", "limit_bytes": 256 << 20, "bytes_per_n": 789.3,
        "maxn_bytes_per_n": 777.8, "maxn_source": "results/max-n/x.json",
        "untraced": {"peak_rss_bytes": 250_000_000},
        "traced": {"n": {"heap_bytes": 204_000_000, "heap_idle_bytes": 17_000_000,
                         "rss_bytes": 202_000_000, "rss_idle_bytes": 67_000_000,
                         "peak_rss_bytes": 269_000_000},
                   "n_small": {"heap_bytes": 102_000_000}},
        "sites": [
            {"function": "validate_python", "file": "pydantic/type_adapter.py", "line": 410,
             "owner": "pydantic", "kind": "framework or server", "via": None,
             "bytes": 135_000_000, "bytes_small": 66_000_000, "share": 0.661,
             "bytes_per_n": 535.3, "fixed_bytes": -1.0},
            {"function": "raw_decode", "file": "json/decoder.py", "line": 353, "owner": "json",
             "kind": "framework or server", "via": ["predict", "main.py", 12],
             "bytes": 61_000_000, "bytes_small": 30_500_000, "share": 0.298,
             "bytes_per_n": 236.3, "fixed_bytes": 0.0},
        ],
        "sites_total": 5,
        "owners": [{"owner": "pydantic", "kind": "framework or server", "bytes": 135_000_000,
                    "share": 0.661, "bytes_per_n": 535.3},
                   {"owner": "json", "kind": "framework or server", "bytes": 61_000_000,
                    "share": 0.298, "bytes_per_n": 236.3}],
    }  # fmt: skip


def test_the_table_says_who_holds_the_peak_per_row_and_how_far_from_max_n():
    from probe.report.explain import render_explain

    text = render_explain(_doc(), "table")
    assert "pydantic (framework or server): 66 % of the peak, 535.3 B/row" in text
    assert "the traced heap's slope is +1.5 % from it" in text
    assert "raw_decode (via main.py:12)" in text and "(3 smaller lines left out)" in text
    assert render_explain(_doc(), "markdown").count("| pydantic/type_adapter.py:410 |") == 1


def test_the_plot_is_drawn_with_and_without_lines(tmp_path):
    from probe.report.explain import plot_sites

    assert plot_sites(_doc(), tmp_path / "a.png").stat().st_size > 10_000
    assert plot_sites({**_doc(), "sites": [], "owners": []}, tmp_path / "b.png").exists()
