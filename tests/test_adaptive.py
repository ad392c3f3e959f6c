"""The adaptive n* search: exact on known curves, censoring, and fewer cells than a grid."""

import copy
import math

import numpy as np
import pytest

from hierlearn.experiments.analysis import analyse
from hierlearn.experiments.run.adaptive import AdaptivePlan, NStarSearch, decided_side
from hierlearn.experiments.run.cells import usable_error
from hierlearn.experiments.run.executors import InlineExecutor
from hierlearn.experiments.run.runner import run_spec
from hierlearn.experiments.run.store import Store
from hierlearn.experiments.spec import parse_spec


def drive(search, error_of_n, seeds=1):
    visited = []
    while search.next_n is not None:
        n = search.next_n
        visited.append(n)
        search.observe(n, [error_of_n(n)] * seeds)
    return visited


@pytest.mark.parametrize("true_n_star", [37, 100, 999, 5000])
@pytest.mark.parametrize("growth", [2.0, 3.0])
def test_brackets_a_monotone_curve(true_n_star, growth):
    eps = 0.1

    def error(n):  # a power law crossing eps exactly at true_n_star
        return eps * (true_n_star / n) ** 0.7

    search = NStarSearch(10, 10_000, eps, growth=growth, rel_precision=0.05)
    visited = drive(search, error)
    assert search.outcome == "found"
    assert search.bad < true_n_star <= search.good
    assert search.good / search.bad <= 1.05 or search.good - search.bad == 1
    assert len(set(visited)) == len(visited)
    assert len(visited) < search.grid_equivalent() / 4


def test_a_margin_size_is_run_past_the_crossing():
    """The search is steered by design errors while n* is read from test errors: one size past
    the bracket keeps a test crossing slightly beyond n_good inside the sizes visited."""
    eps, star = 0.1, 300
    search = NStarSearch(10, 10_000, eps, growth=2.0, rel_precision=0.1)
    visited = drive(search, lambda n: eps * (star / n) ** 0.7)
    assert search.outcome == "found" and search.bad < star <= search.good
    assert visited[-1] == search.margin == math.ceil(1.1 * search.good)
    assert max(visited[:-1]) == search.good < search.margin
    # A noisy margin above eps does not move the bracket.
    noisy = NStarSearch(10, 10_000, eps, growth=2.0, rel_precision=0.1)
    bracket = None
    while noisy.next_n is not None:
        n = noisy.next_n
        if n == noisy.margin:
            bracket = (noisy.bad, noisy.good)
            noisy.observe(n, [1.0])
        else:
            noisy.observe(n, [eps * (star / n) ** 0.7])
    assert (noisy.bad, noisy.good) == bracket and noisy.medians[noisy.margin] == 1.0
    # At the top of the bracket there is no room for a margin.
    top = NStarSearch(10, 320, eps, growth=2.0, rel_precision=0.1)
    assert max(drive(top, lambda n: eps * (star / n) ** 0.7)) == 320
    assert top.outcome == "found" and top.good == 320 and top.margin is None


def test_censored_above_and_below():
    above = NStarSearch(10, 1000, 0.1)
    assert drive(above, lambda n: 0.5) == [10, 20, 40, 80, 160, 320, 640, 1000]
    assert above.outcome == "above" and above.good is None
    below = NStarSearch(10, 1000, 0.1)
    assert drive(below, lambda n: 0.01) == [10]
    assert below.outcome == "below"


def test_median_over_seeds_and_unusable_rows():
    search = NStarSearch(10, 1000, 0.1)
    search.observe(10, [0.05, 0.5, math.inf])  # median 0.5: above eps
    assert search.bad == 10 and search.next_n == 20
    search.observe(20, [])  # every cell failed: nothing to decide on
    assert search.outcome == "undecided" and search.next_n is None
    assert usable_error("ok", 0.3) == 0.3
    assert usable_error("diverged", None) == math.inf
    assert usable_error("timeout", None) == math.inf
    assert usable_error("failed", None) is None


def test_bad_bracket():
    with pytest.raises(ValueError, match="bracket"):
        NStarSearch(100, 100, 0.1)


ADAPTIVE_DATA = {
    "name": "adaptive",
    "target": {"degrees": 1},  # a linear target: n* grows like d
    "dimensions": [4, 8],
    "seeds": 3,
    "validation_fraction": 0.25,  # n = d = 4 holds one validation label
    "test_size": 1000,
    "design_size": 1000,
    "eps": 0.1,
    "learners": {
        "ntk": {
            "theory": "ntk-x",
            "model": {"kind": "ntk", "params": {"width": 128, "ridge": 1e-3}},
        }
    },
}


def test_adaptive_matches_a_fine_grid_with_fewer_cells(tmp_path):
    """The same n* as a geometric grid of the same resolution, from far fewer cells."""
    precision = 0.2
    adaptive = copy.deepcopy(ADAPTIVE_DATA)
    adaptive["samples"] = {"mode": "adaptive", "bracket": ["d", "64*d"], "rel_precision": precision}
    grid = copy.deepcopy(ADAPTIVE_DATA)
    points = math.ceil(math.log(64) / math.log1p(precision)) + 1
    grid["samples"] = {"mode": "grid", "start": "d", "stop": "64*d", "num": points}
    results = {}
    for name, data in (("adaptive", adaptive), ("grid", grid)):
        spec = parse_spec(data)
        with Store(tmp_path / f"{name}.sqlite", create=True) as store:
            summary = run_spec(spec, store, InlineExecutor(threads=1))
            analysis = analyse(store.rows(), spec.eps, n_bootstrap=10)
        results[name] = (summary, analysis.learners["ntk"].n_star)
    adaptive_summary, adaptive_n_star = results["adaptive"]
    grid_summary, grid_n_star = results["grid"]
    assert adaptive_summary.plan["grid_cells"] == grid_summary.ran == 2 * points * 3
    assert adaptive_summary.ran == adaptive_summary.plan["cells"]
    assert adaptive_summary.ran < grid_summary.ran / 2
    for d in (4, 8):
        assert adaptive_n_star[d].kind == grid_n_star[d].kind == "finite"
        ratio = adaptive_n_star[d].value / grid_n_star[d].value
        assert abs(math.log(ratio)) <= 2 * math.log1p(precision), (d, ratio)


def test_adaptive_resume_replays_the_search(tmp_path):
    data = copy.deepcopy(ADAPTIVE_DATA)
    data["dimensions"] = [4]
    data["samples"] = {"mode": "adaptive", "bracket": ["d", "64*d"], "rel_precision": 0.3}
    spec = parse_spec(data)
    with Store(tmp_path / "s.sqlite", create=True) as store:
        first = run_spec(spec, store, InlineExecutor())
        second = run_spec(spec, store, InlineExecutor())
    assert first.ran > 0 and second.ran == 0
    assert second.skipped == first.ran
    assert second.plan == first.plan


def test_plan_requests_every_seed_of_a_size():
    data = copy.deepcopy(ADAPTIVE_DATA)
    data["samples"] = {"mode": "adaptive", "bracket": ["d", "64*d"]}
    plan = AdaptivePlan(parse_spec(data))
    ready = plan.ready()
    assert sorted((c["d"], c["n"], c["seed"]) for c in ready) == [
        (4, 4, 0),
        (4, 4, 1),
        (4, 4, 2),
        (8, 8, 0),
        (8, 8, 1),
        (8, 8, 2),
    ]
    plan.observe(ready[0], "ok", 0.9)
    plan.observe(ready[1], "ok", 0.05)
    assert plan.ready() == []  # one above eps = 0.1, one below: the third seed decides
    plan.observe(ready[2], "ok", 0.9)
    assert [c["n"] for c in plan.ready()] == [8, 8, 8]
    # Two of three seeds above eps: the median is above whatever the third gives, so the
    # next size is requested before it arrives.
    plan.observe(ready[3], "ok", 0.9)
    plan.observe(ready[4], "ok", 0.9)
    assert [(c["d"], c["n"]) for c in plan.ready()] == [(8, 16)] * 3
    plan.observe(ready[5], "ok", 0.01)
    assert plan.searches["ntk", 8].medians[8] == 0.9  # the median of all three, once in


def _fake_error(n, seed, rng_seed):
    """A noisy decreasing learning curve, with some failed and diverged cells."""
    rng = np.random.default_rng([rng_seed, n, seed])
    draw = rng.random()
    if draw < 0.1:
        return "failed", None
    if draw < 0.15:
        return "diverged", None
    return "ok", float(50.0 / n * math.exp(rng.standard_normal()))


def test_deciding_on_a_majority_visits_the_sizes_of_waiting_for_every_seed():
    """The plan requests the next size as soon as the seeds in hand decide the median's side
    of eps; fed the cells in any finishing order, it visits exactly the sizes, and finds the
    outcome, of the search that waits for every seed (90 random curves and orders)."""
    early = 0  # next sizes requested while cells of the previous size were still running
    for case in range(90):
        seeds = [3, 4, 5][case % 3]
        data = copy.deepcopy(ADAPTIVE_DATA)
        data.update(seeds=seeds, dimensions=[4], eps=0.12)
        data["samples"] = {"mode": "adaptive", "bracket": ["d", "64*d"]}
        spec = parse_spec(data)
        reference = NStarSearch(4, 256, 0.12, spec.samples.growth, spec.samples.rel_precision)
        while reference.next_n is not None:
            n = reference.next_n
            rows = [_fake_error(n, seed, case) for seed in range(seeds)]
            usable = [e for e in (usable_error(*row) for row in rows) if e is not None]
            reference.observe(n, usable)
        plan = AdaptivePlan(spec)
        rng = np.random.default_rng(case)
        pending = []
        while not plan.finished() or pending:
            pending += plan.ready()
            config = pending.pop(int(rng.integers(len(pending))))  # any cell may end next
            plan.observe(config, *_fake_error(config["n"], config["seed"], case))
            requested = plan._ready
            early += bool(requested) and any(c["n"] == config["n"] for c in pending)
        search = plan.searches["ntk", 4]
        assert search.medians == pytest.approx(reference.medians), case
        assert (search.outcome, search.good, search.bad) == (
            reference.outcome,
            reference.good,
            reference.bad,
        ), case
    assert early > 20


@pytest.mark.parametrize(
    ("results", "seeds", "side"),
    [
        ([0.5, 0.5], 3, "above"),  # 2 of 3 above: the median is above whatever comes
        ([0.5, 0.01], 3, None),
        ([0.11, 0.11], 4, None),  # 2 of 4 above: two more at 0 give a median of 0.055
        ([0.11, 0.11, 0.11], 4, "above"),
        ([0.01, 0.01], 4, None),  # two more at 1 give a median of 0.505
        ([0.01, 0.01, 0.01], 4, "below"),
        ([0.5, None], 3, None),  # the failed seed leaves 2 that count: 1 of 2 is no majority
        ([0.5, None, None], 3, "above"),
        ([None, None, None], 3, None),  # nothing usable: undecided, not a side
        ([math.inf, math.inf, math.inf, None], 5, "above"),  # diverged cells count as above
    ],
)
def test_decided_side_needs_a_majority_of_the_seeds_that_can_count(results, seeds, side):
    assert decided_side(results, seeds, 0.1) == side
