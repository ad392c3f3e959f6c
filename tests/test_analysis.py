"""n* interpolation, exponents with bootstrap intervals, censoring, theory, figures."""

import json
import math

import numpy as np
import pytest

from hierlearn.experiments.analysis import (
    NStar,
    analyse,
    comparison_table,
    exponents_json,
    fit_exponent,
    n_star,
)
from hierlearn.experiments.plots import plot_error_curves, plot_n_star, plot_staircase
from hierlearn.theory import predicted_exponent


def test_interpolation_is_exact_on_a_power_law():
    # error = (c / n)^a is a straight line in log-log, so interpolation recovers n* exactly.
    c, a, eps = 300.0, 0.8, 0.1
    sizes = [10, 40, 160, 640, 2560, 10240]
    medians = [(c / n) ** a for n in sizes]
    assert n_star(sizes, medians, eps).value == pytest.approx(c * eps ** (-1 / a), rel=1e-12)
    assert n_star(sizes, medians, eps).kind == "finite"


def test_first_crossing_and_censoring():
    assert n_star([10, 20, 40], [0.5, 0.3, 0.2], 0.1) == NStar("lower_bound", 40.0)
    assert n_star([10, 20, 40], [0.05, 0.3, 0.01], 0.1) == NStar("upper_bound", 10.0)
    assert n_star([], [], 0.1) == NStar("missing", None)
    # The smallest crossing counts even if the curve goes back up afterwards.
    crossing = n_star([10, 20, 40, 80], [0.4, 0.05, 0.3, 0.01], 0.1)
    assert 10 < crossing.value < 20
    # No slope to follow from an infinite median: the crossing size itself.
    assert n_star([10, 20], [math.inf, 0.05], 0.1) == NStar("finite", 20.0)
    assert n_star([10, 20], [0.5, 0.0], 0.1).value == pytest.approx(10.0, rel=1e-2)
    assert NStar("lower_bound", 40.0).to_json() == {"lower_bound": 40.0}
    assert NStar("finite", 12.5).to_json() == 12.5
    assert NStar("missing", None).to_json() is None


def test_fit_exponent():
    d = np.array([8, 16, 32])
    slope, intercept = fit_exponent(d, 5.0 * d**2.5)
    assert slope == pytest.approx(2.5) and math.exp(intercept) == pytest.approx(5.0)
    assert fit_exponent([8], [100.0]) is None


def synthetic_rows(
    exponent,
    dimensions=(4, 8, 16, 32),
    seeds=range(6),
    noise=0.05,
    learner="quad_h",
    theory="quad-h",
    degree=4,
    statuses=None,
):
    """Rows whose error is (4 d^exponent / n)^0.7 times a per-seed factor."""
    generator = np.random.default_rng(1)
    rows = []
    for d in dimensions:
        sizes = np.unique(np.round(np.geomspace(d, 400 * d**exponent, 25)).astype(int))
        for seed in seeds:
            factor = math.exp(noise * generator.standard_normal())
            for n in sizes:
                status = (statuses or {}).get((d, int(n), seed), "ok")
                error = factor * (4 * d**exponent / n) ** 0.7 if status == "ok" else None
                rows.append(
                    {
                        "spec": "synthetic",
                        "learner": learner,
                        "d": d,
                        "n": int(n),
                        "seed": seed,
                        "status": status,
                        "relative_test_error": error,
                        "seconds": 0.1,
                        "config": {"theory": theory, "target": {"degrees": [degree]}},
                    }
                )
    return rows


def test_exponent_and_interval_recover_a_known_slope():
    analysis = analyse(synthetic_rows(2.0), eps=0.1, n_bootstrap=300, seed=0)
    learner = analysis.learners["quad_h"]
    assert learner.exponent == pytest.approx(2.0, abs=0.05)
    assert learner.ci[0] <= 2.0 <= learner.ci[1]
    assert learner.ci[1] - learner.ci[0] < 0.3
    assert learner.bootstrap_used == 300
    assert learner.theory == predicted_exponent("quad-h", 4) == 2.0
    # n* itself: error = eps at n = 4 d^2 eps^(-1/0.7), up to the seed factors.
    expected = 4 * 16**2 * 0.1 ** (-1 / 0.7)
    assert learner.n_star[16].value == pytest.approx(expected, rel=0.15)


def test_bootstrap_is_reproducible_and_sensitive_to_noise():
    quiet = analyse(synthetic_rows(2.0, noise=0.01), 0.1, 200, seed=3).learners["quad_h"]
    again = analyse(synthetic_rows(2.0, noise=0.01), 0.1, 200, seed=3).learners["quad_h"]
    noisy = analyse(synthetic_rows(2.0, noise=0.5), 0.1, 200, seed=3).learners["quad_h"]
    assert quiet.ci == again.ci
    assert noisy.ci[1] - noisy.ci[0] > 3 * (quiet.ci[1] - quiet.ci[0])


def test_failed_rows_are_left_out_and_diverged_count_as_infinite():
    # Diverged cells at every seed of the smallest sizes at d = 8: still above eps there.
    statuses = {(8, 8, s): "diverged" for s in range(6)}
    statuses.update({(4, 4, 0): "failed"})
    analysis = analyse(synthetic_rows(2.0, statuses=statuses), 0.1, 50)
    learner = analysis.learners["quad_h"]
    assert learner.statuses == {
        "ok": sum(1 for _ in synthetic_rows(2.0)) - 7,
        "diverged": 6,
        "failed": 1,
    }
    assert 0 not in learner.errors[4][4]
    assert learner.errors[8][8][0] == math.inf
    assert learner.exponent == pytest.approx(2.0, abs=0.05)


def test_censored_dimensions_are_bounds_and_not_fitted():
    rows = synthetic_rows(2.0)
    # At d = 32 keep only sizes far below n*: eps is never reached there.
    rows = [r for r in rows if not (r["d"] == 32 and r["n"] > 2000)]
    rows += synthetic_rows(4.0, dimensions=(8,), learner="ntk_x", theory="ntk-x")
    analysis = analyse(rows, 0.1, 100)
    content = json.loads(json.dumps(exponents_json(analysis)))
    quad = content["learners"]["quad_h"]
    assert quad["n_star"]["32"]["lower_bound"] <= 2000
    assert quad["fitted_dimensions"] == [4, 8, 16]
    assert quad["exponent"] == pytest.approx(2.0, abs=0.05)
    ntk = content["learners"]["ntk_x"]
    assert ntk["exponent"] is None and ntk["ci"] is None
    assert ntk["theory"] == 4.0 and ntk["degree"] == 4
    assert isinstance(ntk["n_star"]["8"], float)
    assert content["eps"] == 0.1
    table = comparison_table(analysis)
    assert "| quad_h | quad-h | 4 |" in table and "> " in table and "n/a" in table


def test_several_specs_are_kept_apart():
    rows = synthetic_rows(2.0, dimensions=(4, 8))
    other = [{**r, "spec": "other"} for r in synthetic_rows(1.0, dimensions=(4, 8))]
    analysis = analyse(rows + other, 0.1, 20)
    assert set(analysis.learners) == {"synthetic:quad_h", "other:quad_h"}
    assert analysis.learners["other:quad_h"].exponent == pytest.approx(1.0, abs=0.1)


def test_figures_are_written(tmp_path):
    rows = synthetic_rows(2.0)
    rows = [r for r in rows if not (r["d"] == 32 and r["n"] > 2000)]
    rows += synthetic_rows(3.0, learner="quad_x", theory="quad-x")
    analysis = analyse(rows, 0.1, 50)
    learner = analysis.learners["quad_h"]
    paths = [tmp_path / name for name in ("curves.png", "staircase.png", "n_star.png")]
    plot_error_curves(learner, 0.1, paths[0])
    plot_staircase(learner, 0.1, paths[1])
    plot_n_star(analysis, paths[2])
    for path in paths:
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert path.stat().st_size > 10_000
