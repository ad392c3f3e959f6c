"""What the plateau rule hides: re-run cells of a preset to 4x the epochs it stopped at.

For every gradient-trained learner of a preset's separation spec, at one d and three sizes
(the low end of its bracket, 4x and 16x that, capped at the top), this runs the cell as the
preset does, then runs it again with the same data, seeds and chosen hyperparameters, the
plateau rule switched off and the epoch cap at 4x the epochs the first run took (the best
iterate on the validation labels is still kept). It prints both test errors, the change, and
whether the change exceeds 10% of eps (docs/theory.md §3, "Training ends").

    python examples/training_check.py --preset quick --d 6 --seed 0
"""

from __future__ import annotations

import argparse
import copy
import json
import time

from hierlearn.experiments.cells import cell_config, learner_config, run_cell
from hierlearn.experiments.params import GRADIENT_KINDS
from hierlearn.experiments.reproduce import preset_specs


def extended(config: dict, row: dict, factor: float) -> dict:
    """The cell config rerun: the chosen candidate only, no plateau rule, factor x epochs."""
    config = copy.deepcopy(config)
    model = config["model"]
    chosen = {k: v for k, v in row["hyperparameters"].items() if k in model["search"]}
    model["search"] = {k: [v] for k, v in chosen.items()}
    epochs = row["details"]["training"]["epochs"]
    model["params"] = {
        **model["params"],
        "epochs": int(factor * epochs),
        "n_iter_no_change": None,
    }
    return config


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="quick")
    parser.add_argument("--d", type=int, default=6)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--factor", type=float, default=4.0)
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
            second = run_cell(extended(config, first, args.factor))
            if first["status"] != "ok" or second["status"] != "ok":
                print(f"| {name} | {args.d} | {n} | {first['status']} / {second['status']} |")
                continue
            change = second["relative_test_error"] - first["relative_test_error"]
            entry = {
                "learner": name,
                "d": args.d,
                "n": n,
                "epochs": first["details"]["training"]["epochs"],
                "test": first["relative_test_error"],
                "epochs_long": second["details"]["training"]["epochs"],
                "best_epoch_long": second["details"]["training"]["best_epoch"],
                "test_long": second["relative_test_error"],
                "change": change,
                "exceeds": abs(change) > 0.1 * spec.eps,
                "seconds": time.perf_counter() - start,
            }
            results.append(entry)
            print(
                f"| {name} | {args.d} | {n} | {entry['epochs']} | {entry['test']:.4f} | "
                f"{entry['epochs_long']} (best {entry['best_epoch_long']}) | "
                f"{entry['test_long']:.4f} | {change:+.4f}{' (> 10% of eps)' * entry['exceeds']} |",
                flush=True,
            )
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(results, handle, indent=2)


if __name__ == "__main__":
    main()
