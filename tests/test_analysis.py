"""n* interpolation, exponents with bootstrap intervals, censoring, theory, figures."""

import json
import math

import numpy as np
import pytest

from hierlearn.experiments.analysis import (
    NStar,
    analyse,
    exponents_json,
    fit_exponent,
    n_star,
)
from hierlearn.experiments.analysis.isotonic import FLAT_SLOPE, isotonic_decreasing, log_fit
from hierlearn.experiments.report.plots import (
    plot_comparison,
    plot_error_curves,
    plot_n_star,
    plot_staircase,
)
from hierlearn.experiments.report.tables import analysis_table
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
    assert n_star([10, 20, 40], [0.05, 0.03, 0.01], 0.1) == NStar("upper_bound", 10.0)
    assert n_star([], [], 0.1) == NStar("missing", None)
    # n* is read off the isotonic (non-increasing) fit of log median, no longer the raw
    # medians: a dip below eps followed by a rise above it is pooled with that rise. Here
    # the pool of 0.05 and 0.3 is sqrt(0.05 * 0.3) > 0.1, so the crossing moves to the
    # interval (40, 80) instead of (10, 20) as under the raw first-crossing rule.
    crossing = n_star([10, 20, 40, 80], [0.4, 0.05, 0.3, 0.01], 0.1)
    assert 40 < crossing.value < 80
    pooled = math.log(math.sqrt(0.05 * 0.3))
    t = (pooled - math.log(0.1)) / (pooled - math.log(0.01))
    assert crossing.value == pytest.approx(40 * 2**t, rel=1e-12)
    # Likewise an early dip below eps at n_min is no longer an upper bound when the next
    # sizes pool it back above eps.
    assert n_star([10, 20, 40], [0.05, 0.3, 0.01], 0.1).kind == "finite"
    # No slope to follow from an infinite median: n* is only known to lie in (10, 20].
    after_inf = n_star([10, 20], [math.inf, 0.05], 0.1)
    assert after_inf == NStar("interval", 20.0, lower=10.0)
    assert after_inf.to_json() == {"interval": [10.0, 20.0]}
    assert after_inf.log_range() == (math.log(10.0), math.log(20.0))
    assert NStar("lower_bound", 40.0).log_range() == (math.log(40.0), math.inf)
    assert NStar("upper_bound", 40.0).log_range() == (-math.inf, math.log(40.0))
    assert n_star([10, 20], [0.5, 0.0], 0.1).value == pytest.approx(10.0, rel=1e-2)
    assert NStar("lower_bound", 40.0).to_json() == {"lower_bound": 40.0}
    assert NStar("finite", 12.5).to_json() == 12.5
    assert NStar("missing", None).to_json() is None


def test_fit_exponent():
    d = np.array([8, 16, 32])
    slope, intercept = fit_exponent(d, 5.0 * d**2.5)
    assert slope == pytest.approx(2.5) and math.exp(intercept) == pytest.approx(5.0)
    assert fit_exponent([8], [100.0]) is None
    # Two dimensions fit any line: an exponent needs three.
    assert fit_exponent([8, 16], [100.0, 400.0]) is None


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
    table = analysis_table(analysis)
    assert "| quad_h | quad-h | 4 |" in table and "> " in table and "n/a" in table


def test_several_specs_are_kept_apart():
    rows = synthetic_rows(2.0, dimensions=(4, 8, 16))
    other = [{**r, "spec": "other"} for r in synthetic_rows(1.0, dimensions=(4, 8, 16))]
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
    paths.append(tmp_path / "all.png")
    plot_comparison(exponents_json(analysis), paths[3], "every learner")
    for path in paths:
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert path.stat().st_size > 10_000


SIZES = [100 * 2**k for k in range(6)]
NOISY = [0.5, 0.2, 0.3, 0.08, 0.12, 0.05]


def test_isotonic_fit_pools_adjacent_violators():
    # By hand: (0.2, 0.3) and (0.08, 0.12) go up; each pair pools to the mean of its logs,
    # i.e. the geometric mean, and the result is non-increasing.
    pooled_1, pooled_2 = math.sqrt(0.2 * 0.3), math.sqrt(0.08 * 0.12)
    fitted = [0.5, pooled_1, pooled_1, pooled_2, pooled_2, 0.05]
    assert np.exp(log_fit(NOISY)) == pytest.approx(fitted, rel=1e-12)
    # Weights: a block's value is the weighted mean; 3 seeds at 0.3 against 1 at 0.2.
    weighted = (math.log(0.2) + 3 * math.log(0.3)) / 4
    assert log_fit([0.2, 0.3], [1, 3]) == pytest.approx([weighted, weighted])
    # A cascade: pooling (1, 3) gives 2 > 0 and (0, 2) then pools too; already monotone stays.
    assert isotonic_decreasing([0.0, 1.0, 3.0]) == pytest.approx([4 / 3] * 3)
    assert isotonic_decreasing([3.0, 2.0, 2.0, 1.0]) == pytest.approx([3.0, 2.0, 2.0, 1.0])
    # Infinite medians stay infinite (no constant stands in for them), and a block that pools
    # one is infinite: they count as above every eps.
    assert log_fit([math.inf, 0.5]).tolist() == [math.inf, math.log(0.5)]
    assert log_fit([0.5, math.inf, 0.05]).tolist() == [math.inf, math.inf, math.log(0.05)]


def test_isotonic_n_star_on_a_noisy_curve():
    eps = 0.1
    pooled_1, pooled_2 = math.sqrt(0.2 * 0.3), math.sqrt(0.08 * 0.12)
    assert pooled_2 <= eps < pooled_1  # the fit crosses eps between sizes 400 and 800
    t = (math.log(pooled_1) - math.log(eps)) / (math.log(pooled_1) - math.log(pooled_2))
    result = n_star(SIZES, NOISY, eps)
    assert result.kind == "finite"
    assert result.value == pytest.approx(400 * 2**t, rel=1e-12)
    assert result.local_slope == pytest.approx(math.log(pooled_2 / pooled_1) / math.log(2))
    assert result.flags == () and result.sizes == (400.0, 800.0)
    # A bump above eps after the crossing that pools to below the crossing's block value
    # (0.05, 0.04, 0.13 -> (0.05 * 0.04 * 0.13)^(1/3) < pooled_2) leaves n* as it was.
    assert (0.05 * 0.04 * 0.13) ** (1 / 3) < pooled_2
    bumped = n_star([*SIZES, 6400, 12800], [*NOISY[:-1], 0.05, 0.04, 0.13], eps)
    assert bumped.value == pytest.approx(result.value, rel=1e-12)
    # A bump that lifts the crossing block above eps moves n* later (the definition pools it).
    lifted = n_star(SIZES, [0.5, 0.2, 0.3, 0.08, 0.2, 0.05], eps)
    assert lifted.value > 1600


def test_flat_crossing_is_flagged():
    # The fitted curve falls by 0.105 -> 0.099 over a doubling: slope ~ -0.085 > -0.25.
    flat = n_star(SIZES, [0.2, 0.11, 0.105, 0.099, 0.098, 0.097], 0.1)
    assert flat.local_slope == pytest.approx(math.log(0.099 / 0.105) / math.log(2))
    assert flat.local_slope > FLAT_SLOPE and flat.flags == ("flat",)
    steep = n_star(SIZES, [0.8, 0.4, 0.2, 0.05, 0.02, 0.01], 0.1)
    assert steep.local_slope == pytest.approx(-2.0) and steep.flags == ()
    assert n_star(SIZES, NOISY, 0.01).local_slope is None  # censored


def test_capped_cells_flag_the_n_star_resting_on_them():
    rows = synthetic_rows(2.0, dimensions=(4, 8))
    bracket = analyse(rows, 0.1, 0).learners["quad_h"].n_star[8].sizes
    assert len(bracket) == 2
    sizes_8 = sorted({r["n"] for r in rows if r["d"] == 8})
    elsewhere = sizes_8[0]
    assert elsewhere not in bracket
    for row in rows:
        plateau = not (row["d"] == 8 and row["seed"] == 2 and row["n"] in (bracket[1], elsewhere))
        row["details"] = {"training": {"stopped_by_plateau": plateau, "epochs": 5}}
    analysis = analyse(rows, 0.1, 20)
    learner = analysis.learners["quad_h"]
    assert learner.capped == 2
    assert learner.n_star[8].flags == ("capped",)
    assert learner.n_star[4].flags == ()
    content = exponents_json(analysis)
    assert content["learners"]["quad_h"]["capped"] == 2
    assert content["learners"]["quad_h"]["by_eps"]["0.1"]["flags"]["8"] == ["capped"]
    assert "(capped)" in analysis_table(analysis)
    # A solver short of its tolerance is capped too.
    rows[0]["details"] = {"training": {"converged": False}}
    assert analyse(rows, 0.1, 0).learners["quad_h"].capped == 3
    # Only the cells at the sizes n* rests on count: flagging the smallest size alone does not.
    for row in rows:
        row["details"] = {"training": {"stopped_by_plateau": row["n"] != elsewhere}}
    assert analyse(rows, 0.1, 0).learners["quad_h"].n_star[8].flags == ()


def test_per_seed_n_star_and_its_interval():
    analysis = analyse(synthetic_rows(2.0, dimensions=(8, 16), noise=0.3), 0.1, 200, seed=1)
    learner = analysis.learners["quad_h"]
    result = learner.by_eps[0.1]
    for d in (8, 16):
        per_seed = [s.value for s in result.per_seed[d].values()]
        assert len(per_seed) == 6 and all(s.kind == "finite" for s in result.per_seed[d].values())
        # Each seed's curve is (4 d^2 f_s / n)^0.7, so its n* is 4 d^2 f_s^(1/0.7) eps^(-1/0.7)
        # and the median curve's n* lies between the seeds' extremes.
        assert min(per_seed) <= learner.n_star[d].value <= max(per_seed)
        low, high = result.n_star_ci[d]
        assert low <= learner.n_star[d].value <= high
        assert min(per_seed) <= low and high <= max(per_seed)
