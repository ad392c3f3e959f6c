"""Your own learner and target in a spec: ``model: {kind: estimator, class: ...}`` and
``target: {kind: callable, function: ...}``, named by import path (the helpers are in
tests/own_components.py), validated when the spec is loaded and run through the harness."""

import copy
import json

import numpy as np
import pytest
import torch
import yaml

import own_components
from hierlearn.cli import main
from hierlearn.experiments.run.cells import (
    cell_config,
    cell_key,
    draw_data,
    grid_cells,
    learner_config,
    run_cell,
)
from hierlearn.experiments.run.store import Store
from hierlearn.experiments.spec import SpecError, parse_spec
from hierlearn.experiments.spec.learners import build_estimator
from hierlearn.experiments.workflow import ExecutorOptions, report_into, run_into_store
from hierlearn.targets import CallableTarget

RIDGE = {"kind": "estimator", "class": "sklearn.linear_model.Ridge"}
POLY2 = {
    "kind": "estimator",
    "class": "sklearn.kernel_ridge:KernelRidge",
    "params": {"kernel": "poly", "degree": 2, "coef0": 1.0},
    "search": {"alpha": [1.0e-8, 1.0e-2]},
}
PRODUCT = {"kind": "callable", "function": "own_components.product", "second_moment": 1.0}


def own_spec(**fields) -> dict:
    """A tiny valid spec: Ridge (two ridge candidates) and KernelRidge (degree-2 polynomial
    kernel) on raw x, a degree-2 Hermite target, d = 3, 4, 5."""
    spec = {
        "name": "own",
        "target": {"degrees": 2},
        "dimensions": [3, 4, 5],
        "samples": [20, 80],
        "seeds": 2,
        "test_size": 2000,
        "design_size": 200,
        "learners": {
            "ridge": {"model": {**RIDGE, "search": {"alpha": [1.0e-3, 1.0e3]}}},
            "poly2": {"model": copy.deepcopy(POLY2)},
        },
    }
    spec.update(fields)
    return spec


# ---------------------------------------------------------------- end to end


def test_sklearn_learners_run_end_to_end_and_store_their_class(tmp_path):
    spec = parse_spec(own_spec())
    store = tmp_path / "own.sqlite"
    run_into_store(
        spec, yaml.safe_dump(own_spec()), store, ExecutorOptions(workers=0), progress=False
    )
    with Store(store) as opened:
        rows = opened.rows()
    assert len(rows) == 2 * 3 * 2 * 2 and {row["status"] for row in rows} == {"ok"}
    by_learner = {name: [r for r in rows if r["learner"] == name] for name in ("ridge", "poly2")}

    ridge = by_learner["ridge"][0]["config"]["model"]
    assert ridge["kind"] == "estimator" and ridge["class"] == "sklearn.linear_model:Ridge"
    # Every constructor parameter is in the config, the class's defaults included.
    assert ridge["params"]["fit_intercept"] is True and ridge["params"]["solver"] == "auto"
    assert ridge["search"] == {"alpha": [1.0e-3, 1.0e3]}
    poly2 = by_learner["poly2"][0]["config"]["model"]
    assert poly2["class"] == "sklearn.kernel_ridge:KernelRidge"
    assert poly2["params"]["kernel"] == "poly" and poly2["params"]["degree"] == 2

    for row in rows:  # every candidate fitted and scored on the validation labels
        assert [entry["params"]["alpha"] for entry in row["search"]] == row["config"]["model"][
            "search"
        ]["alpha"]
        assert all(entry["status"] == "ok" for entry in row["search"])
        best = min(row["search"], key=lambda entry: entry["validation_error"])
        assert row["hyperparameters"]["alpha"] == best["params"]["alpha"]
        assert row["details"]["n_train"] + row["details"]["n_validation"] == row["n"]
    # A linear model cannot fit He_2; the degree-2 kernel interpolates it once n exceeds the
    # (d + 1)(d + 2) / 2 polynomials it spans.
    assert min(r["relative_test_error"] for r in by_learner["ridge"]) > 0.8
    largest = [r for r in by_learner["poly2"] if r["n"] == 80]
    assert max(r["relative_test_error"] for r in largest) < 1e-3

    content = report_into(store, tmp_path / "report", n_bootstrap=50)
    assert content["learners"]["poly2"]["degree"] == 2
    assert content["learners"]["poly2"]["theory"] is None
    summary = (tmp_path / "report" / "summary.md").read_text()
    assert "estimator sklearn.kernel_ridge:KernelRidge" in summary


def test_callable_target_runs_end_to_end_without_a_theory_prediction(tmp_path):
    data = own_spec(target=PRODUCT, samples=[40], seeds=1)
    data["learners"] = {"poly2": {"theory": "ntk-x", "model": copy.deepcopy(POLY2)}}
    store = tmp_path / "product.sqlite"
    run_into_store(parse_spec(data), yaml.safe_dump(data), store, ExecutorOptions(workers=0))
    with Store(store) as opened:
        rows = opened.rows()
    assert {row["status"] for row in rows} == {"ok"}
    assert rows[0]["config"]["target"] == {
        "kind": "callable",
        "function": "own_components:product",
        "second_moment": 1.0,
        "noise_std": 0.0,
    }
    assert max(row["relative_test_error"] for row in rows) < 1e-3  # x1 x2 is in the span
    content = report_into(store, tmp_path / "report", n_bootstrap=50)
    learner = content["learners"]["poly2"]
    assert learner["theory_learner"] == "ntk-x"
    assert learner["degree"] is None and learner["theory"] is None


def test_both_spellings_of_a_path_are_one_learner():
    dotted = parse_spec(own_spec())
    colon = copy.deepcopy(own_spec())
    colon["learners"]["ridge"]["model"]["class"] = "sklearn.linear_model:Ridge"
    colon = parse_spec(colon)
    assert dotted.learners["ridge"].model.class_ == "sklearn.linear_model:Ridge"
    assert learner_config(dotted, "ridge", 3) == learner_config(colon, "ridge", 3)
    # A changed parameter is a different cell.
    other = copy.deepcopy(own_spec())
    other["learners"]["poly2"]["model"]["params"]["coef0"] = 2.0
    keys = [
        cell_key(cell_config(learner_config(parse_spec(s), "poly2", 3), 20, 0))
        for s in (own_spec(), other)
    ]
    assert keys[0] != keys[1]


def test_random_state_is_passed_where_the_class_takes_one():
    seeded = build_estimator("estimator", {}, "cpu", 2**40 + 7, class_path="own_components:Seeded")
    assert seeded.random_state == 7  # modulo 2^32: numpy's RandomState takes no larger seed
    kernel = build_estimator("estimator", {"alpha": 0.5}, "cpu", 3, class_path=POLY2["class"])
    assert kernel.get_params()["alpha"] == 0.5  # KernelRidge takes no random_state


def test_the_spec_round_trips_through_its_json_dump():
    spec = parse_spec(own_spec(target=PRODUCT))
    dumped = json.loads(spec.model_dump_json())
    assert dumped["learners"]["ridge"]["model"]["class"] == "sklearn.linear_model:Ridge"
    assert parse_spec(dumped) == spec


# ---------------------------------------------------------------- refused specs


def with_model(**model) -> dict:
    spec = own_spec()
    spec["learners"]["ridge"]["model"] = model
    return spec


def with_target(**target) -> dict:
    return own_spec(target=target)


M = "learners.ridge.model"
BAD = [
    (with_model(kind="estimator", **{"class": "sklearn.linear_model.Nope"}), f"{M}.class: module"),
    (
        with_model(kind="estimator", **{"class": "no_such_package_xyz.Model"}),
        f"{M}.class: cannot import 'no_such_package_xyz'",
    ),
    (with_model(kind="estimator", **{"class": "Ridge"}), f"{M}.class: expected an import path"),
    (with_model(kind="estimator"), f"{M}.class: Field required"),
    (
        with_model(kind="estimator", **{"class": "sklearn.preprocessing.StandardScaler"}),
        f"{M}.class: sklearn.preprocessing:StandardScaler has no predict method",
    ),
    (
        with_model(kind="estimator", **{"class": "own_components:product"}),
        f"{M}.class: own_components:product is a function, not a class",
    ),
    (
        with_model(kind="estimator", **{"class": "sklearn.linear_model.LogisticRegression"}),
        f"{M}.class: sklearn.linear_model:LogisticRegression is a classifier, not a regressor",
    ),
    (
        with_model(kind="estimator", params={"width": 3}, **{"class": "own_components:NeedsWidth"}),
        f"{M}.class: own_components:NeedsWidth is not scikit-learn-compatible",
    ),
    (
        with_model(kind="estimator", **{"class": "own_components:NeedsWidth"}),
        f"{M}.params: own_components:NeedsWidth needs width (no default)",
    ),
    (
        with_model(**RIDGE, params={"alpah": 1.0}),
        f"{M}.params.alpah: not a parameter of sklearn.linear_model:Ridge; accepted: alpha, ",
    ),
    (
        with_model(**RIDGE, search={"alpah": [1.0]}),
        f"{M}.search.alpah: not a parameter of sklearn.linear_model:Ridge",
    ),
    (
        with_model(**RIDGE, params={"random_state": 1}),
        f"{M}.params.random_state: set by the harness",
    ),
    (with_model(**RIDGE, params={"alpha": float("nan")}), f"{M}.params.alpha: must be plain data"),
    (
        with_model(**RIDGE, params={"alpha": -1.0}),
        f"{M}.params: sklearn.linear_model:Ridge refused",
    ),
    (
        with_model(**RIDGE, search={"alpha": [1.0, -1.0]}),
        f"{M}.search: sklearn.linear_model:Ridge refused the candidate alpha=-1.0",
    ),
    (with_model(**RIDGE, search={"alpha": []}), f"{M}.search.alpha: List should have at least 1"),
    (with_model(**RIDGE, **{"class_": "x"}), f"{M}.class_: unknown key"),
    (
        with_target(kind="callable", function="own_components.product"),
        "target.second_moment: Field required",
    ),
    (
        with_target(**{**PRODUCT, "second_moment": 0.0}),
        "target.second_moment: Input should be greater than 0",
    ),
    (
        with_target(**{**PRODUCT, "second_moment": -1.0}),
        "target.second_moment: Input should be greater than 0",
    ),
    (with_target(**{**PRODUCT, "second_moment": float("inf")}), "target.second_moment:"),
    (
        with_target(**{**PRODUCT, "function": "own_components:nope"}),
        "target.function: module 'own_components' has no attribute 'nope'",
    ),
    (
        with_target(**{**PRODUCT, "function": "no_such_package_xyz:f"}),
        "target.function: cannot import 'no_such_package_xyz'",
    ),
    (
        with_target(**{**PRODUCT, "function": "own_components:NOT_CALLABLE"}),
        "target.function: own_components:NOT_CALLABLE is a float, not a function",
    ),
    (
        with_target(**{**PRODUCT, "function": "own_components:wrong_shape"}),
        "target.function: own_components:wrong_shape at d=3: ValueError: target "
        "own_components:wrong_shape returned shape (15,) for 16 inputs",
    ),
    (with_target(**PRODUCT, degrees=2), "target.degrees: unknown key"),
    (
        with_target(kind="nonsense", degrees=2),
        "target.kind: unknown target kind 'nonsense'; accepted: polynomial, callable",
    ),
]


@pytest.mark.parametrize(("data", "message"), BAD)
def test_bad_own_components_are_refused_naming_the_field(data, message):
    with pytest.raises(SpecError) as info:
        parse_spec(data)
    assert message in str(info.value)


def test_the_command_line_exits_2_and_writes_nothing(tmp_path, capsys):
    spec = tmp_path / "bad.yaml"
    spec.write_text(yaml.safe_dump(with_model(**RIDGE, params={"alpah": 1.0})))
    store = tmp_path / "bad.sqlite"
    assert main(["run", str(spec), "--store", str(store), "--workers", "0"]) == 2
    assert f"{M}.params.alpah: not a parameter" in capsys.readouterr().err
    assert not store.exists() and sorted(p.name for p in tmp_path.iterdir()) == ["bad.yaml"]


def test_an_explicit_polynomial_kind_changes_no_cell_key():
    plain = parse_spec(own_spec())
    explicit = parse_spec(own_spec(target={"kind": "polynomial", "degrees": 2}))
    assert grid_cells(plain) == grid_cells(explicit)


# ---------------------------------------------------------------- the callable target


def product_config(d=3, n=500, **target) -> dict:
    spec = parse_spec(own_spec(target={**PRODUCT, **target}, dimensions=[d]))
    return cell_config(learner_config(spec, "ridge", d), n, 0)


def test_labels_are_the_functions_values():
    data = draw_data(product_config())
    for X, values in ((data.X, data.y), (data.X_val, data.y_val), (data.X_test, data.f_test)):
        np.testing.assert_array_equal(values, X[:, 0] * X[:, 1])
    assert len(data.y) + len(data.y_val) == 500


def test_label_noise_is_added_to_training_and_validation_labels_only():
    data = draw_data(product_config(n=4000, noise_std=0.5))
    noise = np.concatenate(
        [data.y - data.X[:, 0] * data.X[:, 1], data.y_val - data.X_val[:, 0] * data.X_val[:, 1]]
    )
    assert abs(noise.std() - 0.5) < 0.03 and abs(noise.mean()) < 0.03
    np.testing.assert_array_equal(data.f_test, data.X_test[:, 0] * data.X_test[:, 1])
    np.testing.assert_array_equal(data.f_design, data.X_design[:, 0] * data.X_design[:, 1])


@pytest.mark.parametrize("second_moment", [1.0, 2.0])
def test_the_relative_error_divides_by_the_given_second_moment(second_moment):
    config = product_config(n=50, second_moment=second_moment)
    config["model"] = {**config["model"], "class": "own_components:Zero", "search": {}}
    config["model"]["params"] = {"scale": 1.0}
    config["test_size"] = 20_000
    row = run_cell(config)
    assert row["status"] == "ok", row["error"]
    f_test = draw_data(config).f_test
    # Predicting 0: the error is the test set's mean f*^2 over the given E f*^2, not over a
    # sample estimate of it ...
    assert row["relative_test_error"] == pytest.approx(np.mean(f_test**2) / second_moment, 1e-12)
    # ... and with the exact E (x_1 x_2)^2 = 1 it is 1 up to the test set's sampling error
    # (std of (x_1 x_2)^2 = sqrt(8), over sqrt(20,000) points: 0.02).
    assert abs(row["relative_test_error"] * second_moment - 1.0) < 0.1


def test_callable_target_accepts_arrays_and_keeps_the_input_type():
    target = CallableTarget(own_components.square_as_array, 2, 1.0)
    X = np.array([[1.0, 5.0], [3.0, -1.0]])
    np.testing.assert_allclose(target(X), [0.0, 8 / np.sqrt(2)])
    assert isinstance(target(torch.as_tensor(X)), torch.Tensor)
    with pytest.raises(ValueError, match=r"shape \(n_samples, 2\)"):
        target(np.ones((3, 4)))
    with pytest.raises(ValueError, match="second_moment must be > 0"):
        CallableTarget(own_components.product, 2, 0.0)
