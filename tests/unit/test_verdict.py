"""probe.search.verdict against made-up probes: the re-check's plan and its agreement,
n that never reached the app, the same answer at every n, a request refused at once."""

from __future__ import annotations

from probe.outcome import Kind, Outcome, Probe
from probe.search import verdict

MiB = 1 << 20


def ok(n: int, rss: int = 0, answer: str | None = None, answer_id: str | None = None) -> Probe:
    return Probe(n, Outcome(Kind.OK, 200), peak_rss_bytes=rss or 30 * MiB + 8 * n,
                 answer=answer if answer is not None else f"n={n}",
                 answer_id=answer_id)  # fmt: skip


def failed(n: int, kind: Kind = Kind.MEMORY_ERROR, status: int | None = 500) -> Probe:
    return Probe(n, Outcome(kind, status, "x"))


def test_the_recheck_probes_both_ends_at_both_timings_failing_end_first():
    assert verdict.recheck_plan(100, 101, 1.0) == [
        (101, verdict.AT_PORT), (100, verdict.AT_PORT), (101, 1.0), (100, 1.0)]  # fmt: skip


def test_a_search_probe_sent_long_enough_after_ready_is_the_settled_sample():
    settled = Probe(100, Outcome(Kind.OK, 200), after_ready_s=1.2)
    early = Probe(101, Outcome(Kind.MEMORY_ERROR, 500), after_ready_s=0.4)
    assert verdict.recheck_plan(100, 101, 1.0, [settled, early]) == [
        (101, verdict.AT_PORT), (100, verdict.AT_PORT), (101, 1.0)]  # fmt: skip


def test_the_recheck_agrees_only_if_every_probe_of_each_end_does():
    base = [ok(100), failed(101)]
    assert verdict.recheck_agrees([*base, ok(100), failed(101)], 100, 101)
    assert not verdict.recheck_agrees([*base, failed(100), failed(101)], 100, 101)
    assert not verdict.recheck_agrees([*base, ok(100), ok(101)], 100, 101)
    assert verdict.tally([*base, ok(100), failed(100)], 100) == {"ok": 2, "tries": 3}


def test_flat_memory_over_a_64x_span_means_n_never_reached_the_app():
    flat = [ok(n, rss=40 * MiB) for n in (1000, 8000, 64_000)]
    assert "n never reached the app" in verdict.n_never_reached(flat)
    assert verdict.n_never_reached(flat[:2]) is None  # two points prove nothing
    short = [ok(n, rss=40 * MiB) for n in (1000, 8000, 63_999)]
    assert verdict.n_never_reached(short) is None  # the span is under 64x
    growing = [ok(n) for n in (100_000, 800_000, 6_400_000)]  # 8 B per n
    assert verdict.n_never_reached(growing) is None


def test_the_same_answer_at_every_n_is_suspect_but_not_a_varying_one():
    same = [ok(n, answer="rows=0\n") for n in (100, 200, 400)]
    assert "answered the same at every n ('rows=0'" in verdict.same_answer(same)
    assert verdict.same_answer(same[:2]) is None
    assert verdict.same_answer([ok(n) for n in (100, 200, 400)]) is None
    assert verdict.same_answer([ok(n, answer="ok") for n in (100, 200, 300)]) is None  # < 4x


def test_answers_alike_in_their_head_but_not_whole_or_with_a_growing_peak_are_not_suspect():
    """A model server answers one prediction per row: the first 300 characters are the
    same at every n (issue 28's MLflow run was refused on them), the lengths differ. And
    where the peak grows with n (by a MiB or more), n reached the app whatever it says."""
    head = '{"predictions": [34.99, ' * 20
    rows = [ok(n, rss=40 * MiB, answer=head, answer_id=f"{7 * n}:{n:x}") for n in (100, 200, 400)]
    assert verdict.same_answer(rows) is None
    alike = [ok(n, rss=40 * MiB, answer=head, answer_id="6000:ab") for n in (100, 200, 400)]
    assert "answered the same" in verdict.same_answer(alike)
    grows = [ok(n, rss=40 * MiB + 4096 * n, answer=head, answer_id="6000:ab")
             for n in (100, 200, 400)]  # fmt: skip
    assert verdict.same_answer(grows) is None


def test_a_4xx_or_a_wrong_answer_before_any_success_is_a_refusal_but_413_is_a_size():
    wrong_path = failed(100, Kind.HTTP_ERROR, 404)
    assert verdict.refused_at_once([wrong_path]) is wrong_path
    wrong_answer = failed(100, Kind.HTTP_ERROR, 200)
    assert verdict.refused_at_once([wrong_answer]) is wrong_answer
    assert verdict.refused_at_once([failed(100, Kind.REJECTED, 413)]) is None
    assert verdict.refused_at_once([failed(100, Kind.HTTP_ERROR, 500)]) is None
    assert verdict.refused_at_once([ok(10), wrong_path]) is None  # n = 10 worked: a size


def test_a_probe_keeps_its_answer_and_log_out_of_the_results():
    d = Probe(5, Outcome(Kind.OK, 200), answer="secret echo", log_tail="log").to_dict()
    assert "answer" not in d and "log_tail" not in d and d["timing_s"] is None
