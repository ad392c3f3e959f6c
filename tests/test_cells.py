"""Cells: keys, seeding, data sharing and nesting, hyperparameter selection, statuses."""

import copy

import numpy as np
import pytest

from conftest import hermite2_features, ntk_learner, quad_learner, sweep
from hierlearn.estimators import NTKRegressor
from hierlearn.experiments.run.cells import (
    cell_config,
    cell_key,
    data_seed,
    draw_data,
    grid_cells,
    learner_config,
    run_cell,
)
from hierlearn.experiments.spec import parse_spec
from hierlearn.metrics import relative_error

CELLS_SWEEP = sweep(
    "cells",
    dimensions=[4],
    samples=[30, 60],
    test_size=300,
    design_size=300,
    learners={
        "ntk": ntk_learner(32, input_bias=1.0, theory="ntk-x", search={"ridge": [1e-6, 1e-3, 1.0]}),
        "quad_h": quad_learner(
            16,
            epochs=20,
            input_bias=1.0,
            representation=hermite2_features(16, 500),
            search={"lr": [0.01, 0.05]},
        ),
    },
)


def config_for(learner="ntk", n=30, seed=0, **changes):
    data = copy.deepcopy(CELLS_SWEEP)
    for path, value in changes.items():
        *parents, last = path.split("__")
        node = data
        for part in parents:
            node = node[part]
        node[last] = value
    spec = parse_spec(data)
    return cell_config(learner_config(spec, learner, 4), n, seed)


def test_keys_identify_the_computation():
    base = config_for()
    assert cell_key(base) == cell_key(config_for())
    assert len(cell_key(base)) == 24
    # Metadata that does not change the computation is not part of the key.
    assert cell_key({**base, "theory": None, "time_limit": 5.0}) == cell_key(base)
    others = [
        config_for(n=60),
        config_for(seed=1),
        config_for("quad_h"),
        config_for(learners__ntk__model__params__width=64),
    ]
    assert len({cell_key(c) for c in [base, *others]}) == 5


def test_grid_covers_every_cell_once():
    cells = grid_cells(parse_spec(copy.deepcopy(CELLS_SWEEP)))
    assert len(cells) == 2 * 2 * 2
    assert len({cell_key(c) for c in cells}) == len(cells)


def test_learners_share_data_and_training_sets_are_nested():
    ntk, quad = config_for("ntk", n=60), config_for("quad_h", n=60)
    assert data_seed(ntk) == data_seed(quad)
    a, b = draw_data(ntk), draw_data(quad)
    for name in ("X", "y", "X_val", "y_val", "X_design", "f_design", "X_test", "f_test"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    small = draw_data(config_for("ntk", n=30))
    # Every label counts in n: 30 = 24 training + 6 validation labels (every 5th label).
    assert (len(small.X), len(small.X_val), len(a.X), len(a.X_val)) == (24, 6, 48, 12)
    # Both kinds of labels are nested across n, and the design and test sets do not move.
    np.testing.assert_array_equal(small.X, a.X[:24])
    np.testing.assert_array_equal(small.y, a.y[:24])
    np.testing.assert_array_equal(small.X_val, a.X_val[:6])
    np.testing.assert_array_equal(small.X_test, a.X_test)
    np.testing.assert_array_equal(small.X_design, a.X_design)
    assert not np.allclose(a.X_design[: len(a.X_test)], a.X_test[: len(a.X_design)])
    other_seed = draw_data(config_for("ntk", n=60, seed=1))
    assert not np.allclose(other_seed.X_test, a.X_test)
    # The test targets are the noise-free f*, of exact unit second moment.
    assert a.target.second_moment == pytest.approx(1.0, rel=1e-12)
    assert np.mean(a.f_test**2) == pytest.approx(1.0, abs=0.2)


def test_the_validation_split_is_every_fifth_label_of_the_stream():
    from hierlearn.experiments.spec import validation_count, validation_labels

    held = validation_labels(23, 0.2)
    assert np.flatnonzero(held).tolist() == [4, 9, 14, 19]
    assert validation_count(23, 0.2) == 4
    for n in (1, 7, 30, 1000, 1001):
        for fraction in (0.2, 0.25, 1 / 3, 0.1):
            mask = validation_labels(n, fraction)
            assert mask.sum() == validation_count(n, fraction) == int(n * fraction + 1e-9)
            # Nested: the split of the first n labels is the start of the split of 2n.
            np.testing.assert_array_equal(validation_labels(2 * n, fraction)[:n], mask)


def test_representation_and_model_seeds_do_not_change_with_n():
    from hierlearn.experiments.run.cells import curve_key, model_seed, representation_seed

    small, large = config_for("quad_h", n=30), config_for("quad_h", n=60)
    assert cell_key(small) != cell_key(large)
    assert curve_key(small) == curve_key(large)
    assert curve_key(small) != curve_key(config_for("quad_h", n=30, seed=1))
    assert curve_key(small) != curve_key(config_for("ntk", n=30))
    for seed_of in (representation_seed, model_seed):
        assert seed_of(small) == seed_of(large)
        assert seed_of(small) != seed_of(config_for("quad_h", n=30, seed=1))
    assert representation_seed(small) != model_seed(small)


def test_label_noise_enters_training_and_validation_labels_only():
    noisy = draw_data(config_for(n=600, target__noise_std=0.5))
    np.testing.assert_allclose(noisy.f_test, noisy.target(noisy.X_test))
    assert np.std(noisy.y - noisy.target(noisy.X)) == pytest.approx(0.5, rel=0.15)
    assert np.std(noisy.y_val - noisy.target(noisy.X_val)) == pytest.approx(0.5, rel=0.25)
    clean = draw_data(config_for(n=600))
    np.testing.assert_array_equal(clean.y, clean.target(clean.X))


def test_run_cell_is_reproducible_and_matches_a_direct_fit():
    config = config_for("ntk", n=60)
    first, second = run_cell(config), run_cell(config)
    assert first["status"] == "ok", first["error"]
    for field in ("relative_test_error", "relative_train_error", "hyperparameters", "search"):
        assert first[field] == second[field]
    # The same learner fitted by hand on the same data gives the same test error.
    data = draw_data(config)
    params = {**config["model"]["params"], "ridge": first["hyperparameters"]["ridge"]}
    from hierlearn.experiments.run.cells import model_seed

    model = NTKRegressor(**params, random_state=model_seed(config))
    model.fit(data.X, data.y)
    # Divided by the exact E f*^2 = 1, not by the sample mean of f*^2 over the test set.
    squared = (model.predict(data.X_test) - data.f_test) ** 2
    assert first["relative_test_error"] == pytest.approx(np.mean(squared), rel=1e-9)
    assert first["relative_test_error"] != pytest.approx(
        relative_error(model.predict(data.X_test), data.f_test), rel=1e-6
    )
    se = np.std(squared, ddof=1) / np.sqrt(len(squared))
    assert first["details"]["test_error_se"] == pytest.approx(se, rel=1e-9)
    design = np.mean((model.predict(data.X_design) - data.f_design) ** 2)
    assert first["details"]["relative_design_error"] == pytest.approx(design, rel=1e-9)
    assert first["details"]["n_train"] + first["details"]["n_validation"] == 60
    assert first["hyperparameters"]["ridge"] in (1e-6, 1e-3, 1.0)
    assert first["library_version"] and first["seconds"] > 0 and first["peak_memory_mb"] > 0


def test_search_keeps_the_best_validation_candidate():
    row = run_cell(config_for("quad_h", n=60))
    assert row["status"] == "ok", row["error"]
    tried = row["search"]
    assert [t["params"]["lr"] for t in tried] == [0.01, 0.05]
    best = min(tried, key=lambda t: t["validation_error"])
    assert row["hyperparameters"]["lr"] == best["params"]["lr"]
    assert row["relative_validation_error"] == best["validation_error"]
    assert row["details"]["n_fit_samples"] == 500  # whitening fitted on unlabelled inputs


def test_a_raising_cell_is_failed_with_its_traceback():
    # An odd width cannot be split into symmetric pairs: the estimator raises ValueError.
    row = run_cell(config_for("quad_h", learners__quad_h__model__params__width=15))
    assert row["status"] == "failed"
    assert "Traceback" in row["error"] and "ValueError" in row["error"]
    assert "width" in row["error"]
    assert row["relative_test_error"] is None


def test_a_diverging_fit_is_diverged():
    config = config_for("quad_h", learners__quad_h__model__search={"lr": [1e4, 1e6]})
    row = run_cell(config)
    assert row["status"] == "diverged"
    assert all(t["status"] == "diverged" for t in row["search"])
    assert "diverged" in row["error"]


def test_one_diverging_candidate_does_not_sink_the_cell():
    config = config_for("quad_h", learners__quad_h__model__search={"lr": [0.05, 1e6]})
    row = run_cell(config)
    assert row["status"] == "ok"
    assert [t["status"] for t in row["search"]] == ["ok", "diverged"]
    assert row["hyperparameters"]["lr"] == 0.05


def test_the_harness_learner_is_a_pipeline_with_routed_transformed_validation_data():
    """The cell's pipeline gives what chaining the representation and the model by hand gives:
    X_val reaches the model's fit through metadata routing, transformed by the representation."""
    import sklearn
    from sklearn.pipeline import Pipeline

    from hierlearn.experiments.run.cells import learner_pipeline
    from hierlearn.experiments.spec.learners import build_estimator, build_representation

    config = config_for("quad_h", n=60)
    data = draw_data(config)
    params = {k: v for k, v in config["representation"].items() if k != "kind"}
    representation = build_representation(params, "cpu", 1).fit(data.X)
    model = config["model"]

    def estimator():
        return build_estimator(model["kind"], {**model["params"], "lr": 0.05}, "cpu", 2)

    with sklearn.config_context(enable_metadata_routing=True):
        pipeline = learner_pipeline(representation, estimator())
        pipeline.fit(data.X, data.y, X_val=data.X_val, y_val=data.y_val)
        predicted = pipeline.predict(data.X_test)
    Z, Z_val, Z_test = (representation.transform(a) for a in (data.X, data.X_val, data.X_test))
    by_hand = estimator().fit(Z, data.y, X_val=Z_val, y_val=data.y_val)
    assert isinstance(pipeline, Pipeline)
    assert pipeline[-1].validation_curve_ == by_hand.validation_curve_
    np.testing.assert_array_equal(predicted, by_hand.predict(Z_test))
    assert pipeline[0].estimator is representation  # fitted once per cell, frozen


def test_a_solver_short_of_its_tolerance_is_recorded_not_warned(recwarn):
    """A capped solver's cell is ok, says so in details.training.converged (the report counts
    it as capped), and leaves no ConvergenceWarning in the sweep's log."""
    data = copy.deepcopy(CELLS_SWEEP)
    data["learners"]["qform"] = {
        "theory": "quad-h",
        "representation": hermite2_features(16, 500),
        "model": {"kind": "quadratic_form", "params": {"reg": 1e-6, "max_iter": 2, "tol": 1e-12}},
    }
    spec = parse_spec(data)
    row = run_cell(cell_config(learner_config(spec, "qform", 4), 60, 0))
    assert row["status"] == "ok", row["error"]
    assert row["details"]["training"]["converged"] is False
    assert row["details"]["training"]["iterations"] == 2 and row["details"]["training"]["gap"] > 0
    assert not [w for w in recwarn if "max_iter" in str(w.message)]


def test_a_spec_is_resolved_once_into_learner_and_d_entries():
    from hierlearn.experiments.reproduce import preset_specs
    from hierlearn.experiments.run.cells import learner_config, resolve

    spec, _ = preset_specs("standard")["separation"]
    entries = {(e.name, e.d): e for e in resolve(spec)}
    assert len(entries) == 4 * 5 + 2 * 5  # the kernels run at d = 3 ... 8, not at 10
    assert entries["ntk_x", 3].bracket == (192, 8192)  # ["64*d", "8192"]
    assert entries["quad_h", 10].bracket == (100, 1600)  # ["d**2", "16*d**2"]
    assert entries["quad_x", 6].bracket == (144, 3456)  # ["4*d**2", "16*d**3"]
    assert ("ntk_h", 10) not in entries and entries["quad_h", 10].sizes is None
    assert entries["quad_h", 10].base == learner_config(spec, "quad_h", 10)
    assert entries["quad_h", 10].base["representation"]["width"] == 200  # "2*d**2"
