"""What theory predicts for a spec's learners, from their resolved configs: the exponent of
each learner (`predicted_for_learner`), and the learning curves and n* of its kernel learners.

A ``kernel`` learner (kernel ridge with an infinite-width kernel) on ``sphere`` inputs with a
``gegenbauer`` target has a predicted curve (docs/theory.md, section 4:
[`hierlearn.theory.kernel_learning_curve`][], the ridge chosen per n from the learner's own
grid); every other learner, and every learner on ``gaussian`` inputs, has none: the prediction
is for the sphere only. A centred representation is not covered either.
"""

from __future__ import annotations

import math

import numpy as np

from ...estimators.kernel import KernelRegressor, resolve_input_bias
from ...theory import predicted_exponent, representation_law
from ..spec import polynomial_target

PREDICTED_DIMENSIONS = (16, 24, 32, 48, 64)  # beyond the measured d, in the separation figure
_KERNEL_DEFAULTS = KernelRegressor().get_params()


def predicted_for_learner(theory_learner: str, p: int, representations: dict[int, dict]):
    """[`hierlearn.theory.predicted_exponent`][] for a learner of the harness.

    ``representations`` maps d to the resolved representation config of the learner's cells
    (``{"kind": "identity"}`` or a random network with ``width``, ``activation``, ``depth``,
    ``bias_std``). Quad-h on a random network gets its law from those configs; on raw input
    (a misnamed row) or at a single d it falls back to the paper's assumption.
    """
    law = None
    networks = {d: c for d, c in representations.items() if c.get("kind") == "random_network"}
    if networks and theory_learner.lower().replace("_", "-") == "quad-h":
        any_config = next(iter(networks.values()))
        law = representation_law(
            {d: int(c["width"]) for d, c in networks.items()},
            any_config.get("activation", "relu"),
            int(any_config.get("depth", 1)),
            float(any_config.get("bias_std", 0.0)),
            p,
        )
    return predicted_exponent(theory_learner, p, law)


def prediction_options(config: dict) -> dict | None:
    """The keyword arguments of [`hierlearn.theory.kernel_learning_curve`][] for a cell's
    config, or None where the prediction does not apply (see the module docstring)."""
    model = config.get("model") or {}
    target = config.get("target") or {}
    if config.get("inputs") != "sphere" or model.get("kind") != "kernel":
        return None
    if target.get("basis") != "gegenbauer":
        return None
    params = model.get("params") or {}
    representation = params.get("representation")
    if params.get("center"):  # KernelRegressor(center=True): a centred representation
        return None
    if representation:
        representation = dict(representation)
        if representation.pop("center", False):  # the spelling of configs resolved before
            return None
    # A parameter that a config leaves out takes the estimator's own default, except the
    # input bias: configs without one were resolved when the default was 0 (the paper's
    # bias-free kernel), and their cells ran with it.
    ridge = (model.get("search") or {}).get("ridge", params.get("ridge", _KERNEL_DEFAULTS["ridge"]))
    bias = resolve_input_bias(params.get("input_bias", 0.0), bool(representation))
    return {
        "kind": params.get("kernel", _KERNEL_DEFAULTS["kernel"]),
        "activation": params.get("activation", _KERNEL_DEFAULTS["activation"]),
        "input_bias": bias,
        "representation": representation or None,
        "ridge": ridge,
        "noise_std": float(target.get("noise_std") or 0.0),
    }


def config_target(config: dict, d: int | None = None):
    """The cell's target (directions from a fixed seed: the power per degree does not depend
    on them, the directions being orthonormal)."""
    return polynomial_target(config["target"], config["d"] if d is None else d, "sphere")


def _predictable(rows: list[dict], label) -> tuple[dict, dict]:
    """({learner label: {d: a config}}, {learner label: {d: [n measured]}}) of the rows
    whose learner has a prediction."""
    configs: dict[str, dict[int, dict]] = {}
    sizes: dict[str, dict[int, list[int]]] = {}
    for row in rows:
        config = row.get("config") or {}
        if prediction_options(config) is None:
            continue
        name = label(row)
        configs.setdefault(name, {}).setdefault(row["d"], config)
        sizes.setdefault(name, {}).setdefault(row["d"], []).append(row["n"])
    return configs, sizes


def predicted_curves(rows: list[dict], label) -> dict[str, dict[int, tuple]]:
    """{learner label: {d: (n grid, predicted relative error)}} for the predictable learners,
    over the range of n measured at each d. ``label`` maps a row to its learner label."""
    from ...theory import kernel_learning_curve

    configs, sizes = _predictable(rows, label)
    curves: dict[str, dict[int, tuple]] = {}
    for name, by_d in configs.items():
        for d, config in sorted(by_d.items()):
            low, high = min(sizes[name][d]), max(sizes[name][d])
            grid = np.unique(np.geomspace(low, max(high, low), 24))
            target = config_target(config, d)
            curve = kernel_learning_curve(target, grid, **prediction_options(config))
            curves.setdefault(name, {})[d] = (grid, curve.error)
    return curves


def _input_bias_rule(by_d: dict[int, dict]):
    """b(d) from the measured dimensions: c sqrt(d) or a constant c (the spec's rules, e.g.
    ``sqrt(D)``), else None (no extrapolation)."""
    biases = {d: prediction_options(c)["input_bias"] for d, c in by_d.items()}
    values = list(biases.values())
    if all(math.isclose(v, values[0], rel_tol=1e-9) for v in values):
        return lambda d: values[0]
    ratios = [b / math.sqrt(d) for d, b in biases.items()]
    if all(math.isclose(r, ratios[0], rel_tol=1e-9) for r in ratios):
        return lambda d: ratios[0] * math.sqrt(d)
    return None


def predicted_n_stars(
    rows: list[dict], label, eps_levels, dimensions=PREDICTED_DIMENSIONS
) -> dict[str, dict[float, dict[int, float]]]:
    """{learner label: {eps: {d: predicted n*}}} at the measured d and at ``dimensions``
    (where the input bias rule can be extended: a constant or c sqrt(d))."""
    from ...theory import predicted_n_star

    configs, _ = _predictable(rows, label)
    result: dict[str, dict[float, dict[int, float]]] = {}
    for name, by_d in configs.items():
        rule = _input_bias_rule(by_d)
        reference = by_d[max(by_d)]
        targets = dict(by_d)
        if rule is not None:
            for d in dimensions:
                if d > max(by_d):
                    bias = rule(d)
                    model = reference["model"]
                    params = {**model["params"], "input_bias": bias}
                    targets[d] = {**reference, "d": d, "model": {**model, "params": params}}
        problems = {
            d: (config_target(config, d), prediction_options(config))
            for d, config in sorted(targets.items())
        }
        for eps in eps_levels:
            stars = {
                d: predicted_n_star(eps, target, **options)
                for d, (target, options) in problems.items()
            }
            result.setdefault(name, {})[float(eps)] = stars
    return result
