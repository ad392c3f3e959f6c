"""The tuning protocol: one search space and one training rule for every learner of a spec,
and the convergence record each cell stores."""

import copy

import numpy as np
import pytest

import hierlearn as hl
from hierlearn.experiments.run.cells import cell_config, learner_config, run_cell
from hierlearn.experiments.spec import SpecError, parse_spec

PROTOCOL_DATA = {
    "name": "protocol",
    "target": {"degrees": 2},
    "dimensions": [4, 9],
    "samples": [40],
    "seeds": 1,
    "test_size": 200,
    "tuning": {
        "gradient": {
            "params": {
                "lr": 0.1,
                "epochs": 300,
                "eval_every": 5,
                "n_iter_no_change": 4,
                "tol": 0.01,
            },
            "search": {"reg": [0.0, 1.0e-4], "input_bias": [1.0, "sqrt(D)"]},
        },
        "kernel": {"ridge": [1.0e-6, 1.0e-2]},
    },
    "learners": {
        "quad_x": {
            "model": {"kind": "quadratic_taylor", "params": {"width": 16, "activation": "relu3"}},
        },
        "quad_h": {
            "representation": {
                "kind": "random_network",
                "width": "d**2",
                "activation": "hermite-2",
                "n_unlabeled": 300,
            },
            "model": {"kind": "quadratic_taylor", "params": {"width": 16}},
        },
        "two_layer": {"model": {"kind": "two_layer", "params": {"width": 16}}},
        "kernel": {"model": {"kind": "kernel", "params": {"input_bias": 1.0}}},
        "ntk": {"dimensions": [4], "model": {"kind": "ntk", "params": {"width": 16}}},
    },
}


def spec_with(**changes):
    data = copy.deepcopy(PROTOCOL_DATA)
    for path, value in changes.items():
        *parents, last = path.split("__")
        node = data
        for part in parents:
            node = node[part]
        node[last] = value
    return parse_spec(data)


@pytest.mark.parametrize("d", [4, 9])
def test_every_gradient_learner_gets_the_protocol_search_space(d):
    spec = parse_spec(copy.deepcopy(PROTOCOL_DATA))
    models = {
        name: learner_config(spec, name, d)["model"] for name in ("quad_x", "quad_h", "two_layer")
    }
    input_width = {"quad_x": d, "quad_h": d * d, "two_layer": d}
    for name, model in models.items():
        # The same candidates; the bias rule sqrt(D) is evaluated at the model's input width.
        assert model["search"] == {
            "input_bias": [1.0, pytest.approx(np.sqrt(input_width[name]))],
            "reg": [0.0, 1.0e-4],
        }
        for key, value in PROTOCOL_DATA["tuning"]["gradient"]["params"].items():
            assert model["params"][key] == value
    kernels = [learner_config(spec, name, 4)["model"] for name in ("kernel", "ntk")]
    assert all(model["search"] == {"ridge": [1.0e-6, 1.0e-2]} for model in kernels)


@pytest.mark.parametrize(
    "path, value, field",
    [
        ("learners__quad_x__model__params__lr", 0.5, "learners.quad_x.model.params.lr"),
        ("learners__quad_h__model__search", {"reg": [1.0]}, "learners.quad_h.model.search.reg"),
        ("learners__kernel__model__search", {"ridge": [1.0]}, "learners.kernel.model.search.ridge"),
        ("learners__ntk__model__params__ridge", 1.0, "learners.ntk.model.params.ridge"),
    ],
)
def test_a_learner_cannot_override_the_protocol(path, value, field):
    with pytest.raises(SpecError) as error:
        spec_with(**{path: value})
    assert any(p == field and "tuning." in m for p, m in error.value.errors), error.value.errors


def test_protocol_bias_expression_is_checked_with_the_input_width():
    with pytest.raises(SpecError) as error:
        spec_with(tuning__gradient__search__input_bias=["sqrt(D) - 3"])
    assert "tuning.gradient.search.input_bias.0" in str(error.value)
    with pytest.raises(SpecError, match="tuning.gradient.search.input_bias.0"):
        spec_with(tuning__gradient__search__input_bias=["sqrt(q)"])


def test_comparisons_and_learner_dimensions_are_checked():
    with pytest.raises(SpecError, match="comparisons.0.1: unknown learner 'nope'"):
        spec_with(comparisons=[["quad_x", "nope"]])
    with pytest.raises(SpecError, match="comparisons.0: compares a learner with itself"):
        spec_with(comparisons=[["quad_x", "quad_x"]])
    spec = spec_with(comparisons=[["quad_x", "ntk"]], report_eps=[0.3, 0.2])
    assert spec.learner_dimensions("ntk") == (4,) and spec.learner_dimensions("quad_x") == (4, 9)
    assert spec.eps_levels() == (0.3, 0.2, 0.1)
    with pytest.raises(SpecError, match="learners.ntk.dimensions: values must be distinct"):
        spec_with(learners__ntk__dimensions=[4, 4])


def test_learner_dimensions_limit_its_cells():
    from hierlearn.experiments.run.cells import grid_cells

    cells = grid_cells(parse_spec(copy.deepcopy(PROTOCOL_DATA)))
    assert {c["d"] for c in cells if c["learner"] == "ntk"} == {4}
    assert {c["d"] for c in cells if c["learner"] == "quad_x"} == {4, 9}


def test_cells_record_how_training_ended():
    spec = parse_spec(copy.deepcopy(PROTOCOL_DATA))
    row = run_cell(cell_config(learner_config(spec, "quad_h", 4), 40, 0))
    assert row["status"] == "ok", row["error"]
    training = row["details"]["training"]
    assert len(row["search"]) == 4  # reg x input_bias
    assert isinstance(training["stopped_by_plateau"], bool)
    assert "converged" not in training
    assert 0 < training["best_epoch"] <= training["epochs"] <= 300
    assert training["train_loss"] >= 0
    assert training["validation_error"] == row["relative_validation_error"]
    kernel = run_cell(cell_config(learner_config(spec, "kernel", 4), 40, 0))
    assert kernel["details"]["training"]["converged"] is True


def test_plateau_rule_stops_and_marks_convergence():
    d = 4
    target = hl.LowRankPolynomial(d, 2, random_state=0)
    X = hl.GaussianInputs(d).sample(300, generator=1).numpy()
    X_val = hl.GaussianInputs(d).sample(200, generator=2).numpy()
    common = dict(width=32, lr=0.1, eval_every=5, input_bias=1.0, random_state=0)
    stopped = hl.QuadraticTaylorRegressor(epochs=5000, n_iter_no_change=5, tol=0.01, **common)
    stopped.fit(X, target(X), X_val=X_val, y_val=target(X_val))
    assert stopped.converged_ and stopped.n_iter_ < 5000
    # The rule's definition: over the last 5 evaluations the best error fell by < 1%.
    best = np.minimum.accumulate(stopped.validation_curve_)
    assert best[-1] >= best[-6] * (1 - 0.01)
    assert np.all(best[5:-1] < best[:-6] * (1 - 0.01))  # and not earlier
    capped = hl.QuadraticTaylorRegressor(epochs=20, n_iter_no_change=50, tol=0.01, **common)
    capped.fit(X, target(X), X_val=X_val, y_val=target(X_val))
    assert not capped.converged_ and capped.n_iter_ == 20


def test_tol_is_checked():
    with pytest.raises(ValueError, match="tol"):
        hl.QuadraticTaylorRegressor(tol=1.5).fit(np.zeros((4, 2)), np.zeros(4))
