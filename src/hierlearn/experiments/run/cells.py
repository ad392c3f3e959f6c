"""Cells: one (learner, d, n, seed) of a spec, resolved to plain data and run as a pure function.

A cell's *resolved config* is a JSON-able dict in which every size is a number and every
estimator parameter is explicit (spec values over the estimator's defaults). Its *key* is the
SHA-256 of the canonical JSON of that config without the fields that do not change the
computation (``theory``, ``time_limit``), cut to 24 hex digits. The spec's name is part of
the config, so two specs never share cells; the harness version is too, so a change in how
cells draw their data invalidates old keys.

Seeding (no global RNG anywhere; docs/theory.md §3):

* the data seed is derived from (inputs, target, d, seed) only, so every learner at a given
  (d, seed) sees the same target directions, labelled stream, design set and test set; the n
  labels of a cell are the first n of one stream, so they are nested across n;
* the representation and model seeds are derived from the *curve key*, the key of the config
  without n: one seed's learning curve uses the same h and the same W0 at every n.

Labels: every label a learner sees counts in n. The first n labels of the stream are split by
`validation_labels` (every 1/f-th label, f = ``validation_fraction``) into
training and validation labels, both nested across n; the validation labels choose the
penalty, the ridge and the stopping epoch.

`run_cell` draws the data, fits the representation once (on the training inputs, or on
fresh unlabelled ones), then for every candidate of the search space fits a scikit-learn
`Pipeline` of the frozen representation and the model, with the
validation labels routed to the model's ``fit`` and transformed by the representation on the
way (see `learner_pipeline`; a ridge list of the NTK and kernel models goes to the
estimator whole, which solves it with one factorisation), keeps the candidate with the
smallest validation error, and predicts the design set (its error steers the adaptive search)
and the test set (the reported error, with its standard error), in chunks.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import os
import socket
import threading
import time
import traceback
import warnings
from dataclasses import dataclass
from datetime import datetime, timezone

import numpy as np
import sklearn
from sklearn.exceptions import ConvergenceWarning
from sklearn.frozen import FrozenEstimator
from sklearn.pipeline import Pipeline

from ... import __version__
from ...estimators._batched import can_batch, fit_candidates
from ...exceptions import DivergenceError
from ...metrics import relative_error, relative_error_and_se
from ..spec import (
    AdaptiveSamples,
    RandomNetworkRepresentation,
    Spec,
    TargetSpec,
    model_input_width,
    polynomial_target,
    sample_sizes,
    validation_labels,
)
from ..spec.expressions import Expression
from ..spec.learners import (
    PATH_PARAMETERS,
    accepts_validation,
    build_estimator,
    build_representation,
    estimator_defaults,
    representation_defaults,
)
from ..spec.params import ESTIMATOR_KIND, SIZE_PARAMETERS, SizeD

HARNESS_VERSION = 3  # bump when the meaning of a resolved config changes (data drawing, ...)
NON_KEY_FIELDS = ("theory", "time_limit")  # recorded, but not part of the computation
CHUNK = 1024  # training points are drawn in chunks of this many, each from its own seed


class CellTimeout(BaseException):
    """Raised inside a running cell when its time limit is reached.

    A ``BaseException`` so that the ``except Exception`` clauses around fits let it through.
    """


# ---------------------------------------------------------------- hashing and seeds


def canonical_json(value) -> str:
    """Sorted-key, compact JSON; NaN and infinity are refused."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), allow_nan=False)


def cell_key(config: dict) -> str:
    """24 hex digits of the SHA-256 of the config without ``NON_KEY_FIELDS``."""
    payload = {k: v for k, v in config.items() if k not in NON_KEY_FIELDS}
    return hashlib.sha256(canonical_json(payload).encode()).hexdigest()[:24]


def derive_seed(*parts) -> int:
    """A seed in [0, 2^60) from JSON-able parts (a hash, independent of Python's hash salt)."""
    digest = hashlib.sha256(canonical_json(list(parts)).encode()).hexdigest()
    return int(digest[:15], 16)


def data_seed(config: dict) -> int:
    """The seed of everything data: target directions, labels, design and test sets, noise."""
    return derive_seed("data", config["inputs"], config["target"], config["d"], config["seed"])


def curve_key(config: dict) -> str:
    """The key of a cell's config without n: the same for every point of one seed's learning
    curve. The representation and model seeds derive from it, so h and W0 are nested across n
    as the data are."""
    return cell_key({k: v for k, v in config.items() if k != "n"})


def representation_seed(config: dict) -> int:
    """The seed of the cell's random representation h: one per learning curve."""
    return derive_seed(curve_key(config), "rep")


def model_seed(config: dict) -> int:
    """The seed of the model's initialisation W0 (and mini-batch order): one per curve."""
    return derive_seed(curve_key(config), "model")


# ---------------------------------------------------------------- resolution


def _representation_config(spec: Spec, name: str, d: int) -> dict:
    representation = spec.learners[name].representation
    if not isinstance(representation, RandomNetworkRepresentation):
        return {"kind": "identity"}
    fields = representation.model_dump(mode="json", exclude_none=True, exclude={"kind"})
    width = representation.width.evaluate_size({"d": d})
    fields["width"] = width
    fields["n_unlabeled"] = representation.n_unlabeled.evaluate_size({"d": d, "D": width}, 0)
    fields["unlabeled_law"] = spec.inputs
    return {"kind": "random_network", **representation_defaults(), **fields}


def _size_at(value, values: dict):
    # Model widths arrive as expression text after model_dump; everything else as is.
    return Expression(value, ("d",)).evaluate_size(values) if isinstance(value, str) else value


def _real_at(value, values: dict):
    # Real-valued expressions (input_bias, in d and D) arrive as text after model_dump;
    # "auto" (KernelRegressor's input_bias) is the estimator's to resolve.
    if isinstance(value, str) and value != "auto":
        return Expression(value, ("d", "D")).evaluate(values)
    return value


# Parameters given as expressions (params.SIZE_PARAMETERS), and how each is evaluated: sizes
# in d as positive integers, the others in d and D as reals.
_AT_D = {name: _size_at if kind is SizeD else _real_at for name, kind in SIZE_PARAMETERS.items()}


def _model_config(spec: Spec, name: str, d: int) -> dict:
    """The model part of a cell config: the learner's params and search merged with the
    spec's tuning protocol (which a learner may not override, see
    `protocol.check_protocol`), every expression evaluated at d and D (the model's
    input width)."""
    learner = spec.learners[name]
    model = learner.model
    if model.kind == ESTIMATOR_KIND:
        return _estimator_config(model)
    values = {"d": d, "D": model_input_width(learner, d)}
    protocol, protocol_search = {}, {}
    if spec.tuning is not None:
        protocol, protocol_search, _ = spec.tuning.for_kind(model.kind)
    params = {**protocol, **model.params.model_dump(mode="json", exclude_none=True)}
    search = {**model.search_space(), **protocol_search}
    for key, evaluate in _AT_D.items():
        if key in params:
            params[key] = evaluate(params[key], values)
    search = {
        key: [_AT_D[key](v, values) if key in _AT_D else v for v in search[key]]
        for key in sorted(search)
    }
    return {
        "kind": model.kind,
        "params": {**estimator_defaults(model.kind), **params},
        "search": search,
    }


def _estimator_config(model) -> dict:
    """The model part of an ``estimator`` learner's config: its class's canonical import path,
    its params over the class's own defaults (those that are plain data), and its search."""
    from ..spec.imports import constructor_defaults, plain, regressor_class

    cls, path = regressor_class(model.class_)
    return {
        "kind": model.kind,
        "class": path,
        "params": {**constructor_defaults(cls), **plain(model.params)},
        "search": plain(model.search_space()),
    }


def learner_config(spec: Spec, name: str, d: int) -> dict:
    """The part of a cell config that depends on the learner and d but not on n or seed."""
    target = spec.target.model_dump(mode="json")
    if isinstance(spec.target, TargetSpec):
        target["rank"] = spec.target.rank or len(spec.target.degrees)
    return {
        "harness": HARNESS_VERSION,
        "spec": spec.name,
        "learner": name,
        "theory": spec.learners[name].theory,
        "inputs": spec.inputs,
        "target": target,
        "d": d,
        "validation_fraction": spec.validation_fraction,
        "test_size": spec.test_size.evaluate_size({"d": d}),
        "design_size": spec.design_size.evaluate_size({"d": d}),
        "representation": _representation_config(spec, name, d),
        "model": _model_config(spec, name, d),
        "device": spec.device,
        "time_limit": spec.time_limit,
    }


def cell_config(base: dict, n: int, seed: int) -> dict:
    """A full cell config from `learner_config` plus the sample size and seed."""
    return {**base, "n": int(n), "seed": int(seed)}


@dataclass(frozen=True)
class Resolved:
    """One learner at one d with every expression of its spec evaluated: the plans and the
    report read these, never the spec's expressions.

    Attributes:
        name: the learner; d: the dimension.
        base: `learner_config`, the cell config without n and seed.
        sizes: the n of a list or grid spec (None for an adaptive one).
        bracket: (low, high) of an adaptive search (None for a list or grid).
    """

    name: str
    d: int
    base: dict
    sizes: tuple[int, ...] | None
    bracket: tuple[int, int] | None


def resolve(spec: Spec) -> list[Resolved]:
    """Every (learner, d) of ``spec`` resolved once, ordered by d, then the spec's learner
    order."""
    adaptive = isinstance(spec.samples, AdaptiveSamples)
    resolved = []
    for d in spec.all_dimensions():
        sizes = None if adaptive else tuple(sample_sizes(spec, d))
        for name, learner in spec.learners.items():
            if d not in spec.learner_dimensions(name):
                continue
            bracket = None
            if adaptive:
                low, high = learner.bracket or spec.samples.bracket
                bracket = (low.evaluate_size({"d": d}), high.evaluate_size({"d": d}))
            resolved.append(Resolved(name, d, learner_config(spec, name, d), sizes, bracket))
    return resolved


def grid_cells(spec: Spec) -> list[dict]:
    """Every cell of a list or grid spec, ordered by (d, n, learner, seed)."""
    if isinstance(spec.samples, AdaptiveSamples):
        raise ValueError(
            "an adaptive spec has no fixed grid; see hierlearn.experiments.run.adaptive"
        )
    cells = []
    by_d: dict[int, list[Resolved]] = {}
    for entry in resolve(spec):
        by_d.setdefault(entry.d, []).append(entry)
    for entries in by_d.values():
        for n in entries[0].sizes:
            for entry in entries:
                cells.extend(cell_config(entry.base, n, seed) for seed in spec.seeds)
    return cells


# ---------------------------------------------------------------- data


@dataclass
class CellData:
    """Arrays of one cell: training and validation labels (noisy, together the n of the cell),
    the design and test inputs with the noise-free f*, and the target."""

    X: np.ndarray
    y: np.ndarray
    X_val: np.ndarray
    y_val: np.ndarray
    X_design: np.ndarray
    f_design: np.ndarray
    X_test: np.ndarray
    f_test: np.ndarray
    target: object  # the LowRankPolynomial (or CallableTarget) f*


def build_target(config: dict):
    """The target f* of a cell config: a [`LowRankPolynomial`][hierlearn.LowRankPolynomial]
    (directions from the data seed) or, for ``kind: callable``, a ``CallableTarget``
    (``hierlearn.targets``) around the function at its import path."""
    from ...targets import CallableTarget

    d, spec_target = config["d"], config["target"]
    if spec_target.get("kind") == "callable":
        from ..spec.imports import target_function

        function, path = target_function(spec_target["function"])
        return CallableTarget(
            function,
            d,
            spec_target["second_moment"],
            noise_std=spec_target["noise_std"],
            name=path,
        )
    seed = derive_seed(data_seed(config), "target")
    return polynomial_target(spec_target, d, config["inputs"], seed)


def draw_data(config: dict) -> CellData:
    """Draw the data of a cell; a pure function of (inputs, target, d, seed, sizes)."""
    from ...inputs import make_inputs

    d, seed = config["d"], data_seed(config)
    target = build_target(config)
    law = make_inputs(config["inputs"], d)

    # Chunks of fixed size make the first n labels the same for every n.
    n = config["n"]
    xs, ys = [], []
    for j in range(math.ceil(n / CHUNK)):
        X = law.sample(CHUNK, derive_seed(seed, "labels", j))
        xs.append(X.numpy())
        ys.append(np.asarray(target.labels(X, derive_seed(seed, "labels-noise", j))))
    X_all, y_all = np.concatenate(xs)[:n], np.concatenate(ys)[:n]
    held = validation_labels(n, config["validation_fraction"])

    def noise_free(size: int, stream: str):
        X = law.sample(size, derive_seed(seed, stream)).numpy()
        return X, np.asarray(target(X))

    return CellData(
        X_all[~held],
        y_all[~held],
        X_all[held],
        y_all[held],
        *noise_free(config["design_size"], "design"),
        *noise_free(config["test_size"], "test"),
        target,
    )


# ---------------------------------------------------------------- running


def usable_error(status: str, error: float | None) -> float | None:
    """The error a row contributes to a median: None for "failed", inf when it did not finish."""
    if status == "ok":
        return float(error)
    if status in ("diverged", "timeout"):
        return math.inf
    return None


class PeakMemory:
    """Largest resident set size of this process, sampled every ``interval`` s while active.

    The value covers the whole process (interpreter and torch included), in MiB. Where
    /proc/self/statm does not exist it falls back to the process-lifetime peak of getrusage.
    """

    def __init__(self, interval: float = 0.05):
        self.interval, self.peak = interval, 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    @staticmethod
    def current() -> float:
        try:
            with open("/proc/self/statm") as statm:
                return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
        except (OSError, ValueError, IndexError):
            import resource

            return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux

    def _sample(self):
        while not self._stop.wait(self.interval):
            self.peak = max(self.peak, self.current())

    def __enter__(self):
        self.peak = self.current()
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self.current())


def _candidates(model: dict) -> list[dict]:
    """The parameter sets to try: the product of the search lists (a path list - a kernel's
    ridge, a quadratic form's penalty - stays whole: the estimator solves it as one path)."""
    search = dict(model["search"])
    name = PATH_PARAMETERS.get(model["kind"])
    path = search.pop(name, None) if name is not None else None
    keys = sorted(search)
    sets = [
        dict(zip(keys, values, strict=True))
        for values in itertools.product(*(search[k] for k in keys))
    ]
    if path is not None:
        sets = [{**s, name: list(path)} for s in sets]
    return sets


def learner_pipeline(representation, estimator) -> Pipeline:
    """The learner of a cell as a scikit-learn pipeline: representation, then model.

    ``representation`` is a fitted transformer (kept frozen: fitted once per cell, not once
    per candidate) or None for raw inputs. An estimator whose ``fit`` takes validation data
    requests ``X_val`` and ``y_val`` through scikit-learn's metadata routing, and the pipeline
    transforms ``X_val`` by the representation before the model sees it
    (``transform_input``). Fit and predict it inside
    ``sklearn.config_context(enable_metadata_routing=True)``.
    """
    first = "passthrough" if representation is None else FrozenEstimator(representation)
    steps = [("representation", first), ("model", estimator)]
    if accepts_validation(estimator):
        estimator.set_fit_request(X_val=True, y_val=True)
        return Pipeline(steps, transform_input=["X_val"])
    return Pipeline(steps)


def _fit_models(config: dict, representation, data: CellData, seed: int) -> dict:
    # A solver short of its tolerance is recorded in the row (details.training.converged, and
    # the report's "capped" count), so its warning would only repeat that in the sweep's log.
    with sklearn.config_context(enable_metadata_routing=True), warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return _search(config, representation, data, seed)


# Rows of a prediction chunk: the largest matrix a chunk forms is about (rows, max(n, D')),
# a kernel's test-by-training block; 2^24 float64 entries = 128 MiB.
PREDICTION_ENTRIES = 2**24


def predict_chunked(pipeline, X: np.ndarray, width: int) -> np.ndarray:
    """``pipeline.predict(X)`` in row chunks whose largest matrix stays under
    `PREDICTION_ENTRIES` (``width``: the training-set size or the feature width)."""
    rows = max(256, PREDICTION_ENTRIES // max(width, 1))
    parts = [pipeline.predict(X[i : i + rows]) for i in range(0, len(X), rows)]
    return np.concatenate([np.asarray(p, dtype=np.float64).reshape(-1) for p in parts])


def _batched_fits(estimators, representation, data: CellData) -> dict | None:
    """{index: DivergenceError or None} of the candidates trained as one batch
    (`hierlearn.estimators._batched.fit_candidates`: the same fits, one batched
    training loop), or None when they do not qualify and are fitted one by one."""
    if not can_batch(estimators) or not all(accepts_validation(e) for e in estimators):
        return None
    if representation is None:
        Z, Z_val = data.X, data.X_val
    else:
        Z, Z_val = representation.transform(data.X), representation.transform(data.X_val)
    outcome = fit_candidates(estimators, Z, data.y, Z_val, data.y_val)
    return dict(enumerate(outcome))


def _search(config: dict, representation, data: CellData, seed: int) -> dict:
    model = config["model"]
    moment = data.target.second_moment  # the exact E f*^2: every relative error's normaliser
    best, tried = None, []
    candidates = _candidates(model)
    estimators = [
        build_estimator(
            model["kind"],
            {**model["params"], **candidate},
            config["device"],
            seed,
            class_path=model.get("class"),
        )
        for candidate in candidates
    ]
    batched = _batched_fits(estimators, representation, data)
    for index, (candidate, estimator) in enumerate(zip(candidates, estimators, strict=True)):
        pipeline = learner_pipeline(representation, estimator)
        entry = {"params": candidate}
        try:
            if batched is not None:
                if batched[index] is not None:
                    raise batched[index]
            elif accepts_validation(estimator):
                pipeline.fit(data.X, data.y, X_val=data.X_val, y_val=data.y_val)
            else:
                pipeline.fit(data.X, data.y)
            validation_prediction = pipeline.predict(data.X_val)
        except DivergenceError as error:
            tried.append({**entry, "status": "diverged", "error": str(error)})
            continue
        if not np.all(np.isfinite(validation_prediction)):
            tried.append({**entry, "status": "diverged", "error": "non-finite predictions"})
            continue
        entry["validation_error"] = relative_error(validation_prediction, data.y_val, moment)
        for attribute in ("ridge_", "reg_", "best_epoch_"):
            if hasattr(estimator, attribute):
                entry[attribute.rstrip("_")] = _plain(getattr(estimator, attribute))
        entry["training"] = training_record(estimator)
        tried.append({**entry, "status": "ok"})
        if best is None or entry["validation_error"] < best[0]["validation_error"]:
            best = (entry, pipeline)
    if best is None:
        return {
            "status": "diverged",
            "search": tried,
            "error": "every candidate diverged: " + "; ".join(t["error"] for t in tried),
        }
    entry, pipeline = best
    training = {**entry["training"], "validation_error": entry["validation_error"]}
    chosen = {k: v for k, v in entry.items() if k not in ("validation_error", "status", "training")}
    hyperparameters = {**chosen.pop("params"), **chosen}
    width = max(len(data.X), data.X.shape[1], 1)
    test_prediction = predict_chunked(pipeline, data.X_test, width)
    design_prediction = predict_chunked(pipeline, data.X_design, width)
    train_prediction = predict_chunked(pipeline, data.X, width)
    predictions = (test_prediction, design_prediction, train_prediction)
    if not all(np.all(np.isfinite(p)) for p in predictions):
        return {"status": "diverged", "search": tried, "error": "non-finite test predictions"}
    test_error, test_se = relative_error_and_se(test_prediction, data.f_test, moment)
    return {
        "status": "ok",
        "relative_test_error": test_error,
        "relative_train_error": relative_error(train_prediction, data.y, moment),
        "relative_validation_error": entry["validation_error"],
        "hyperparameters": hyperparameters,
        "search": tried,
        "training": training,
        "measurement": {
            "test_error_se": test_se,
            "relative_design_error": relative_error(design_prediction, data.f_design, moment),
            "n_train": len(data.X),
            "n_validation": len(data.X_val),
        },
    }


def training_record(estimator) -> dict:
    """How a fitted estimator's training ended, for the row's ``details["training"]``.

    Gradient-trained models: ``stopped_by_plateau`` (the plateau rule stopped training before
    the epoch cap, see `hierlearn.estimators._training.train`; it says the validation
    error stopped improving, not that the objective is minimised), ``epochs`` run and
    ``best_epoch`` kept. Solvers: ``converged`` (an iterative solver reached its tolerance or
    certificate; closed-form solves always do), and where reported ``iterations`` and the
    relative duality ``gap`` (the convex quadratic form). ``train_loss``: the training
    objective at the kept iterate.
    """
    flag = "stopped_by_plateau" if hasattr(estimator, "n_epochs_") else "converged"
    record = {flag: bool(getattr(estimator, "converged_", True))}
    for attribute, name in (("n_epochs_", "epochs"), ("best_epoch_", "best_epoch")):
        if hasattr(estimator, attribute):
            record[name] = int(getattr(estimator, attribute))
    loss = getattr(estimator, "train_loss_", None)
    if loss is not None:
        record["train_loss"] = float(loss)
    if flag == "converged":  # a solver's certificate, where it reports one
        for attribute, name in (("n_iter_", "iterations"), ("gap_", "gap")):
            value = getattr(estimator, attribute, None)
            if isinstance(value, int | float | np.integer | np.floating):
                record[name] = _plain(value)
    return record


def _plain(value):
    if isinstance(value, np.generic):
        return value.item()
    return value


def run_cell(config: dict) -> dict:
    """Run one cell and return its result row (a dict of plain JSON-able values).

    Row fields: ``key``, ``spec``, ``learner``, ``d``, ``n``, ``seed``, ``status`` ("ok",
    "failed": an exception, with its traceback in ``error``; "diverged": every candidate
    diverged; "timeout": the time limit hit, see `CellTimeout`),
    ``relative_test_error`` (mean (f_hat - f*)^2 / E f*^2, the exact second moment, on the
    noise-free test set), ``relative_train_error`` (the same against the noisy training
    labels), ``relative_validation_error`` (against the noisy validation labels, the
    selection criterion), ``hyperparameters`` (the chosen candidate plus the chosen ``ridge`` and
    ``best_epoch`` where the estimator reports them), ``search`` (every candidate tried),
    ``details`` (representation diagnostics; ``training``: how the chosen candidate's
    training ended, see `training_record`; ``test_error_se``: the test error's standard
    error; ``relative_design_error``: the error on the design set, which steers the adaptive
    search; ``n_train`` and ``n_validation``, which add up to n), ``error``, ``seconds``,
    ``peak_memory_mb`` (see `PeakMemory`), ``library_version``, ``worker``
    (host:pid), ``finished_at`` (UTC) and ``config``.
    """
    row = unfinished_row(config, "failed", None, 0.0)
    start = time.perf_counter()
    memory = PeakMemory()
    try:
        with memory:
            row.update(_run(config, row["details"]))
    except CellTimeout:
        row.update(status="timeout", error=timeout_message(config))
    except Exception:  # a failing cell is recorded, and the sweep goes on
        row.update(status="failed", error=traceback.format_exc())
    row["seconds"] = time.perf_counter() - start
    row["peak_memory_mb"] = memory.peak
    row["finished_at"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
    return row


def timeout_message(config: dict) -> str:
    return f"time limit of {config.get('time_limit')} s reached"


def unfinished_row(config: dict, status: str, error: str | None, seconds: float) -> dict:
    """A row without results: for a cell that failed, diverged or timed out, or a stub."""
    return {
        "key": cell_key(config),
        "spec": config["spec"],
        "learner": config["learner"],
        "d": config["d"],
        "n": config["n"],
        "seed": config["seed"],
        "status": status,
        "relative_test_error": None,
        "relative_train_error": None,
        "relative_validation_error": None,
        "hyperparameters": {},
        "search": [],
        "details": {},
        "error": error,
        "seconds": seconds,
        "peak_memory_mb": None,
        "library_version": __version__,
        "worker": f"{socket.gethostname()}:{os.getpid()}",
        "finished_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "config": config,
    }


def fitted_representation(config: dict, X: np.ndarray):
    """The cell's representation h, fitted on the training inputs ``X`` (or on unlabelled
    ones), seeded per learning curve; None for raw inputs."""
    representation = config["representation"]
    if representation["kind"] == "identity":
        return None
    params = {k: v for k, v in representation.items() if k != "kind"}
    transformer = build_representation(params, config["device"], representation_seed(config))
    return transformer.fit(X)


def _run(config: dict, details: dict) -> dict:
    data = draw_data(config)
    transformer = fitted_representation(config, data.X)  # once per cell, not per candidate
    if transformer is not None:
        for attribute in ("n_fit_samples_", "n_floored_"):
            if hasattr(transformer, attribute):
                details[attribute.rstrip("_")] = _plain(getattr(transformer, attribute))
    result = _fit_models(config, transformer, data, model_seed(config))
    if "training" in result:
        details["training"] = result.pop("training")
    details.update(result.pop("measurement", {}))
    return result
