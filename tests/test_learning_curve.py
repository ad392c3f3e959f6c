"""Predicted kernel learning curves (hierlearn.theory.kernel_learning_curve) against kernel
ridge regression measured with KernelRegressor."""

import math

import numpy as np
import pytest

from hierlearn import KernelRegressor
from hierlearn.inputs import SphereInputs
from hierlearn.kernels import spectrum
from hierlearn.targets import LowRankPolynomial
from hierlearn.theory import (
    KERNEL_RIDGE_GRID,
    effective_regularization,
    kernel_learning_curve,
    kernel_ridge_error,
    predicted_n_star,
    target_degree_power,
)

RELU_H = {"activation": "relu", "depth": 1, "bias_std": 1.0}


def test_target_power_per_degree():
    target = LowRankPolynomial(6, [2, 2, 3], basis="gegenbauer", random_state=0)
    power = target_degree_power(target)
    assert sorted(power) == [2, 3]
    assert sum(power.values()) == pytest.approx(1.0, rel=1e-12)  # E f*^2 = 1
    X = SphereInputs(6).sample(200000, generator=0)
    values = target(X)
    # The degree-3 component is the one odd part of f*.
    odd = 0.5 * (values - target(-X))
    assert float((odd**2).mean()) == pytest.approx(power[3], rel=0.02)
    with pytest.raises(ValueError, match="sphere"):
        target_degree_power(LowRankPolynomial(6, 2, basis="hermite"))


def test_effective_regularization_solves_its_equation():
    lam, mult = np.array([1.0, 0.1, 0.01]), np.array([1.0, 10.0, 100.0])
    for n, shift, tail in [(5.0, 0.0, 0.3), (50.0, 1e-3, 0.0), (500.0, 2.0, 0.1)]:
        kappa = effective_regularization(lam, mult, n, shift, tail)
        assert float((mult * lam / (lam + kappa)).sum()) + (shift + tail) / kappa == pytest.approx(
            n, rel=1e-10
        )
    # A finite-rank kernel without ridge interpolates once n exceeds its rank.
    assert effective_regularization(lam, mult, 200.0, 0.0) == 0.0


def test_kernel_ridge_error_limits():
    lam, mult, power = np.array([1.0, 0.1]), np.array([1.0, 5.0]), np.array([0.0, 1.0])
    # A huge ridge learns nothing; many samples with a small ridge learn everything.
    assert kernel_ridge_error(lam, mult, power, 100, 1e6)[0] == pytest.approx(1.0, abs=1e-5)
    assert kernel_ridge_error(lam, mult, power, 1e6, 1e-9)[0] < 1e-6
    # Noise raises the error; the error falls with n.
    quiet = kernel_ridge_error(lam, mult, power, 20, 1e-3)[0]
    assert kernel_ridge_error(lam, mult, power, 20, 1e-3, noise_variance=0.1)[0] > quiet
    assert kernel_ridge_error(lam, mult, power, 40, 1e-3)[0] < quiet


def test_learning_curve_matches_measured_kernel_ridge(one_thread):
    # Median over seeds within 20%: at d = 8 the measured error sits within about 10% of the
    # prediction (docs/theory.md, "Predicted kernel learning curves"; at smaller d the
    # degree-4 space is small and the measurement lies above the prediction).
    d, sizes, seeds = 8, [1000, 3000], range(3)
    law = SphereInputs(d)
    for options, regressor in [
        ({"input_bias": math.sqrt(d)}, {"input_bias": math.sqrt(d)}),
        ({"representation": RELU_H}, {"representation": RELU_H}),
    ]:
        target = LowRankPolynomial(d, 4, basis="gegenbauer", random_state=0)
        curve = kernel_learning_curve(target, sizes, **options)
        assert curve.max_degree >= 12 and curve.spectrum.tail >= 0
        measured = {n: [] for n in sizes}
        for seed in seeds:
            target = LowRankPolynomial(d, 4, basis="gegenbauer", random_state=seed)
            X_val, X_test = law.sample(500, 100 + seed), law.sample(3000, 200 + seed)
            for n in sizes:
                X = law.sample(n, seed)
                model = KernelRegressor("ntk", ridge=list(KERNEL_RIDGE_GRID), **regressor)
                model.fit(X.numpy(), target(X).numpy(), X_val.numpy(), target(X_val).numpy())
                f_test = target(X_test).numpy()
                error = np.mean((model.predict(X_test.numpy()) - f_test) ** 2)
                measured[n].append(error / np.mean(f_test**2))
        for i, n in enumerate(sizes):
            assert np.median(measured[n]) == pytest.approx(curve.error[i], rel=0.2), (options, n)


def test_predicted_n_star_grows_like_d_to_the_p():
    stars = {d: predicted_n_star(0.1, {4: 1.0}, d=d, input_bias=math.sqrt(d)) for d in (16, 32, 64)}
    assert stars[16] < stars[32] < stars[64]
    slope = math.log(stars[64] / stars[32]) / math.log(2)
    assert 3.5 < slope < 4.3
    curve = kernel_learning_curve({4: 1.0}, [stars[32]], d=32, input_bias=math.sqrt(32))
    assert curve.error[0] == pytest.approx(0.1, rel=1e-6)
    h = predicted_n_star(0.1, {4: 1.0}, d=16, representation=RELU_H)
    assert 0.5 < h / stars[16] < 2.0  # NTK-h: no gain in the exponent, a similar constant
    assert predicted_n_star(1e-3, {4: 1.0}, d=16, input_bias=4.0, n_max=1e3) == math.inf


def test_spectrum_and_curve_refuse_gaussian_targets():
    with pytest.raises(ValueError, match="sphere"):
        kernel_learning_curve(LowRankPolynomial(5, 4), [100])
    assert spectrum("ntk", 5, 2).max_degree == 2


def _kernel_rows(inputs, basis, learner, bias):
    rows = []
    for d in (4, 6):
        for n in (50, 100, 200, 400):
            for seed in (0, 1):
                rows.append(
                    {
                        "key": f"{learner}-{d}-{n}-{seed}",
                        "spec": "sphere",
                        "learner": learner,
                        "d": d,
                        "n": n,
                        "seed": seed,
                        "status": "ok",
                        "relative_test_error": min(1.0, 2.0 * d**2 / n),
                        "seconds": 0.01,
                        "details": {"training": {"converged": True}},
                        "config": {
                            "inputs": inputs,
                            "theory": "ntk-x",
                            "target": {"degrees": [2], "basis": basis, "rank": 1},
                            "representation": {"kind": "identity"},
                            "model": {
                                "kind": "kernel",
                                "params": {"kernel": "ntk", "input_bias": bias(d)},
                                "search": {"ridge": [1e-10, 1e-2]},
                            },
                        },
                    }
                )
    return rows


def test_report_draws_predictions_for_kernels_on_the_sphere(tmp_path):
    import yaml

    from hierlearn.experiments.analysis.predicted import prediction_options
    from hierlearn.experiments.report import write_report
    from hierlearn.experiments.run.store import Store

    rows = _kernel_rows("sphere", "gegenbauer", "K", math.sqrt)
    rows += _kernel_rows("gaussian", "hermite", "G", lambda d: "auto")
    assert prediction_options(rows[0]["config"])["input_bias"] == pytest.approx(2.0)
    assert prediction_options(rows[-1]["config"]) is None
    text = "name: sphere\neps: 0.1\n"
    with Store(tmp_path / "s.sqlite", create=True) as store:
        for row in rows:
            store.put(row)
        store.add_spec(yaml.safe_load(text)["name"], text)
    with Store(tmp_path / "s.sqlite") as store:
        write_report(store, tmp_path / "out", n_bootstrap=20)
    summary = (tmp_path / "out" / "summary.md").read_text()
    assert "## Predicted kernel curves" in summary
    assert "No prediction for G" in summary
    assert "| 64 | - |" in summary
    assert "Predicted exponent over d = 16..64: 1.9" in summary
    for name in ("error_vs_n_K.png", "n_star_all.png"):
        assert (tmp_path / "out" / name).stat().st_size > 0


def test_prediction_options_take_the_estimators_defaults_and_the_specs_rank():
    """A config that leaves a kernel parameter out is predicted with KernelRegressor's own
    default (one source; the input bias excepted: such configs ran with the old default 0),
    and a target without a rank has one component per degree."""
    from hierlearn.experiments.analysis.predicted import config_target, prediction_options

    config = {
        "inputs": "sphere",
        "target": {"degrees": [2, 3], "basis": "gegenbauer"},
        "model": {"kind": "kernel", "params": {}},
        "d": 6,
    }
    options = prediction_options(config)
    defaults = KernelRegressor().get_params()
    assert options["ridge"] == defaults["ridge"]
    assert (options["kind"], options["activation"]) == (defaults["kernel"], defaults["activation"])
    assert options["input_bias"] == 0.0  # configs without one ran with the old default, 0
    config["model"]["params"]["input_bias"] = "auto"
    assert prediction_options(config)["input_bias"] == 1.0  # "auto" on raw inputs
    assert config_target(config).rank == 2
