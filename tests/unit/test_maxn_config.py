"""What names a max-n result and how it confirms its answer: probe.studies.question's file
names (config_tag, path) and confirm policy, without processes."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from probe.servers.spec import ServerSpec
from probe.studies import catalog, question
from probe.workload.builtins import builtin
from probe.workload.model import Workload

MIB = 1 << 20
CAP = 512 * MIB
ALLOC = Workload(name="alloc", app="query_alloc:app", request="GET /alloc?size={n}",
                 expect="size={n} sum=")  # fmt: skip


CPU = builtin("cpu_bounded")


def path_of(spec: ServerSpec, workload: Workload = CPU, **kw) -> Path:
    return question.path(question.MaxNConfig(workload=workload, spec=spec, **kw))


@pytest.mark.parametrize(
    ("server", "fn", "limit", "kind", "concurrency", "name"),
    [
        ("gunicorn", "cpu_bounded", CAP, "as", 1, "gunicorn-cpu_bounded-512M-c1.json"),
        ("flask", "cpu_multithread", CAP, "as", 10, "flask-cpu_multithread-512M-c10.json"),
        ("gunicorn", "cpu_bounded", 1 << 30, "rss", 1, "gunicorn-cpu_bounded-1G-rss-c1.json"),
    ],
)
def test_the_default_seminar_config_keeps_the_old_file_names(
    server, fn, limit, kind, concurrency, name
):
    """The names results/max-n/ held before workloads and server configs entered the
    name (the study's own files, e.g. gunicorn-cpu_bounded-512M-c1.json): the default
    configuration adds nothing to them, so a study finds its earlier results. Both
    servers, both cpu predictors, a cap in G and the rss kind."""
    spec = ServerSpec(server=server, limit_bytes=limit, limit_kind=kind)
    cfg = question.for_fn(fn, spec, concurrency=concurrency)
    assert question.path(cfg) == Path("results") / "max-n" / name
    assert question.path(cfg, Path("/r")) == Path("/r/max-n") / name


def test_a_gthread_result_is_not_named_as_a_sync_one():
    """The bug this naming fixes: one name for every gunicorn config let the catalog
    reuse a gthread x4 result (threads race, another critical n) as the one sync
    worker's. The gthread file is elsewhere, and the catalog looks at the sync name."""
    sync = path_of(ServerSpec(server="gunicorn", limit_bytes=CAP))
    gthread = path_of(ServerSpec(server="gunicorn", limit_bytes=CAP, worker_class="gthread",
                                 threads=4))  # fmt: skip
    assert gthread.name == "gunicorn-cpu_bounded-512M-c1-gthread-t4.json"
    assert gthread != sync
    looked_up = catalog.path_for(
        catalog.CatalogConfig(limit_bytes=CAP), "gunicorn", builtin("cpu_bounded"), 1
    )
    assert looked_up == sync


@pytest.mark.parametrize(
    ("spec", "fresh", "tag"),
    [
        (ServerSpec(server="gunicorn"), True, ""),
        (ServerSpec(server="gunicorn", workers=2), True, "-w2"),
        (ServerSpec(server="gunicorn", worker_class="gthread"), True, "-gthread"),
        (ServerSpec(server="gunicorn", threads=4), True, "-t4"),
        (ServerSpec(server="gunicorn", worker_timeout_s=60), True, "-timeout60"),
        (ServerSpec(server="gunicorn", preload=True), True, "-preload"),
        (ServerSpec(server="gunicorn", layout="random"), True, "-random"),
        (ServerSpec(server="gunicorn"), False, "-no-fresh"),
        (ServerSpec(server="gunicorn", workers=2, worker_class="gthread", threads=4,
                    worker_timeout_s=60, preload=True, layout="random"), False,
         "-w2-gthread-t4-timeout60-preload-random-no-fresh"),
        # gunicorn's fields do not apply to the dev server: they do not split its results
        (ServerSpec(server="flask", workers=4, worker_class="gthread", threads=8), True, ""),
        (ServerSpec(server="flask", layout="random"), False, "-random-no-fresh"),
    ],
)  # fmt: skip
def test_config_tag_names_each_field_that_differs_from_the_default(spec, fresh, tag):
    """One case per field alone (so each part is seen to come from its own field), all
    of them at once (the order is fixed), and the dev server, which has none of them."""
    assert question.config_tag(spec, fresh) == tag


def test_a_user_workloads_file_name_carries_its_name_and_identity():
    """A user's app has no predictor name: the file is named by the workload's name and
    its identity hash, so two workloads of one name that probe different requests do
    not share a file, while the same workload checked out in another folder (chdir is
    not part of what is probed) does."""
    spec = ServerSpec(server="gunicorn", limit_bytes=CAP)
    ident = ALLOC.identity()
    assert re.fullmatch(r"[0-9a-f]{8}", ident)
    assert path_of(spec, ALLOC).name == f"gunicorn-alloc-{ident}-512M-c1.json"
    other_request = Workload(name="alloc", app="query_alloc:app", request="GET /alloc?n={n}",
                             expect="size={n} sum=")  # fmt: skip
    assert other_request.identity() != ident
    assert path_of(spec, other_request) != path_of(spec, ALLOC)
    elsewhere = Workload(name="alloc", app="query_alloc:app", chdir="/ci/checkout",
                         request="GET /alloc?size={n}", expect="size={n} sum=")  # fmt: skip
    assert path_of(spec, elsewhere) == path_of(spec, ALLOC)


def test_a_url_result_is_named_url_without_a_server_config():
    """probe starts no server for --url, so neither the server kind nor a config tag
    (here a random layout and gthread, which would otherwise show) says anything."""
    spec = ServerSpec(server="gunicorn", limit_bytes=CAP, worker_class="gthread",
                      layout="random")  # fmt: skip
    path = path_of(spec, url="http://127.0.0.1:8000")
    assert path.name == "url-cpu_bounded-512M-c1.json"


@pytest.mark.parametrize(
    ("requested", "cold", "layout", "policy"),
    [
        # auto: outcomes are facts only on cold servers with the fixed layout
        ("auto", True, "fixed", "auto"),
        ("auto", True, "random", "both"),  # another layout may move the boundary
        ("auto", False, "fixed", "both"),  # a warm server carries its history
        ("auto", False, "random", "both"),
        # an explicit choice is kept whatever the servers
        ("both", True, "fixed", "both"),
        ("fail", False, "random", "fail"),
        ("none", True, "fixed", "none"),
        ("none", False, "random", "none"),
    ],
)
def test_confirm_policy_auto_stays_auto_only_where_outcomes_are_facts(
    requested, cold, layout, policy
):
    """Every combination of cold and layout for auto (only one keeps it), and explicit
    policies in the conditions where auto would have changed or kept them."""
    assert question.confirm_policy(requested, cold, layout) == policy


def test_the_catalogs_searches_confirm_as_auto_on_its_cold_fixed_servers():
    """The study's max-n runs use fresh fixed-layout servers, so auto stays auto there."""
    cfg = catalog.question_for(catalog.CatalogConfig(limit_bytes=CAP), "gunicorn",
                              builtin("cpu_bounded"), 1)  # fmt: skip
    assert (cfg.fresh_servers, cfg.spec.layout, cfg.search.confirm_policy) == (
        True, "fixed", "auto")  # fmt: skip


@pytest.mark.parametrize(
    ("arena_max", "concurrency", "arenas"),
    [("2", 10, 1), ("4", 10, 3), ("4", 2, 2), ("1", 10, 0)],
)
def test_the_full_overlap_bound_leaves_room_for_thread_arenas(arena_max, concurrency, arenas):
    """The bound's floor counts what C threads may add before any input: a stack each and
    one 64 MiB glibc heap per arena beyond the main one, as many as MALLOC_ARENA_MAX allows
    and the threads can use. Leaving the arena out gave a bound that failed below itself
    (a thread that could not start), as the committed study's flask c10 numpy run saw."""
    from probe.studies.maxn.overlap import (
        HEAP_MAX_BYTES,
        idle_under_load,
        thread_arenas_bytes,
        thread_stack_bytes,
    )

    spec = ServerSpec(server="flask", limit_bytes=CAP, env={"MALLOC_ARENA_MAX": arena_max})
    reserve = thread_arenas_bytes(spec, concurrency)
    assert reserve == arenas * HEAP_MAX_BYTES == arenas * (64 * MIB)
    idle = 120 * MIB
    floor = idle_under_load([], concurrency, 8.0, idle, reserve)
    assert floor == idle + concurrency * thread_stack_bytes() + arenas * 64 * MIB


@pytest.mark.parametrize(
    ("server", "concurrency", "layout", "fresh", "facts"),
    [
        ("gunicorn", 10, "fixed", True, True),  # one sync worker takes the 10 in turn
        ("flask", 1, "fixed", True, True),
        ("flask", 10, "fixed", True, False),  # threads race: the scheduler decides
        ("gunicorn", 1, "random", True, False),  # the layout decides
        ("gunicorn", 1, "fixed", False, False),  # a warm server's history decides
    ],
)
def test_outcomes_are_facts_only_where_they_repeat(server, concurrency, layout, fresh, facts):
    spec = ServerSpec(server=server, limit_bytes=CAP, layout=layout)
    cfg = question.MaxNConfig(workload=CPU, spec=spec, concurrency=concurrency, fresh=fresh)
    assert cfg.outcomes_are_facts is facts
