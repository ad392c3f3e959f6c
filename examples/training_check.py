"""What the plateau rule hides: re-run cells of a preset to 4x the epochs it stopped at.

For every gradient-trained learner of a preset's separation spec, at one d and three sizes
(the low end of its bracket, 4x and 16x that, capped at the top), this runs the cell as the
preset does, then fits its chosen candidate again with the same data, the same h and W0 and
the plateau rule switched off, for 4x the epochs the first fit ran (the best iterate on the
validation labels is still kept, so the second fit can only pick a later iterate if the
validation error improves there). It prints both test errors, the change, and
whether the change exceeds 10% of eps (docs/theory.md §3, "Training ends").

    python examples/training_check.py --preset quick --d 6 --seed 0
"""

from __future__ import annotations

import argparse
import json
import time

import sklearn

from hierlearn.experiments.reproduce import preset_specs
from hierlearn.experiments.run.cells import (
    cell_config,
    draw_data,
    fitted_representation,
    learner_config,
    learner_pipeline,
    model_seed,
    run_cell,
)
from hierlearn.experiments.spec.learners import build_estimator
from hierlearn.experiments.spec.params import GRADIENT_KINDS
from hierlearn.metrics import relative_error


def refit(config: dict, row: dict, **changes) -> dict:
    """Fit the cell's chosen candidate again on the same data, with the same h and W0 (the
    seeds of the cell, not of a changed config) and the training parameters ``changes``
    (e.g. the plateau rule off and more epochs); the best iterate on the validation labels
    is kept."""
    data = draw_data(config)
    transformer = fitted_representation(config, data.X)
    model = config["model"]
    chosen = {k: v for k, v in row["hyperparameters"].items() if k in model["search"]}
    params = {**model["params"], **chosen, **changes}
    estimator = build_estimator(model["kind"], params, config["device"], model_seed(config))
    with sklearn.config_context(enable_metadata_routing=True):
        pipeline = learner_pipeline(transformer, estimator)
        pipeline.fit(data.X, data.y, X_val=data.X_val, y_val=data.y_val)
        prediction = pipeline.predict(data.X_test)
    moment = data.target.second_moment
    return {
        "test": relative_error(prediction, data.f_test, moment),
        "epochs": int(estimator.n_epochs_),
        "best_epoch": int(estimator.best_epoch_),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="quick")
    parser.add_argument("--d", type=int, default=6)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--factor", type=float, default=4.0)
    parser.add_argument("--tol", type=float, help="also refit with this plateau tol")
    parser.add_argument("--patience", type=int, help="... and this n_iter_no_change")
    parser.add_argument("--decays", type=int, help="... and this n_lr_decays")
    parser.add_argument("--json", help="write the rows of the table here")
    args = parser.parse_args()
    spec, _ = preset_specs(args.preset)["separation"]
    results = []
    print("| learner | d | n | epochs | test error | epochs x4 | test error x4 | change |")
    print("|---|---|---|---|---|---|---|---|")
    for name, learner in spec.learners.items():
        if learner.model.kind not in GRADIENT_KINDS or args.d not in spec.learner_dimensions(name):
            continue
        bracket = learner.bracket or spec.samples.bracket
        low = bracket[0].evaluate_size({"d": args.d})
        high = bracket[1].evaluate_size({"d": args.d})
        base = learner_config(spec, name, args.d)
        for n in sorted({min(low, high), min(4 * low, high), min(16 * low, high)}):
            config = cell_config(base, n, args.seed)
            start = time.perf_counter()
            first = run_cell(config)
            if first["status"] != "ok":
                print(f"| {name} | {args.d} | {n} | {first['status']} |")
                continue
            epochs = first["details"]["training"]["epochs"]
            second = refit(config, first, epochs=int(args.factor * epochs), n_iter_no_change=None)
            tight = None
            rule = {
                k: v
                for k, v in (
                    ("tol", args.tol),
                    ("n_iter_no_change", args.patience),
                    ("n_lr_decays", args.decays),
                )
                if v is not None
            }
            if rule:
                tight = refit(config, first, **rule)
            change = second["test"] - first["relative_test_error"]
            entry = {
                "learner": name,
                "d": args.d,
                "n": n,
                "epochs": first["details"]["training"]["epochs"],
                "best_epoch": first["details"]["training"]["best_epoch"],
                "test": first["relative_test_error"],
                "epochs_long": second["epochs"],
                "best_epoch_long": second["best_epoch"],
                "test_long": second["test"],
                "tight": tight,
                "change": change,
                "exceeds": abs(change) > 0.1 * spec.eps,
                "seconds": time.perf_counter() - start,
            }
            results.append(entry)
            print(
                f"| {name} | {args.d} | {n} | {entry['epochs']} (best {entry['best_epoch']}) | "
                f"{entry['test']:.4f} | "
                f"{entry['epochs_long']} (best {entry['best_epoch_long']}) | "
                f"{entry['test_long']:.4f} | {change:+.4f}{' (> 10% of eps)' * entry['exceeds']} |"
                + (
                    f" {rule}: {tight['epochs']} epochs (best {tight['best_epoch']}), "
                    f"test {tight['test']:.4f} |"
                    if tight
                    else ""
                ),
                flush=True,
            )
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(results, handle, indent=2)


if __name__ == "__main__":
    main()
