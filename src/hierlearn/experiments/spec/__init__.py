"""Experiment specs: YAML files validated with pydantic (every model forbids unknown keys).

A spec names one experiment: an input law, a target, the dimensions d, the sample sizes n
(a list, a geometric grid or an adaptive n* search), the seeds, and named learners, each a
representation (raw input or a fixed random network) plus a trainable model with its
hyperparameters and a search space chosen on validation data inside every cell::

    name: tiny
    inputs: gaussian
    target: {degrees: 2, basis: hermite}
    dimensions: [4, 8]
    samples: {mode: grid, start: "4*d", stop: "32*d", num: 4}
    seeds: 2
    learners:
      quad_h:
        theory: quad-h
        representation: {kind: random_network, width: "d**2", activation: hermite-2}
        model:
          kind: quadratic_taylor
          params: {width: 64, lr: 0.05, epochs: 100}
          search: {reg: [0.0, 1.0e-4]}

Sizes (n, widths, test and validation sizes) are numbers or arithmetic expressions in ``d``
(``n_unlabeled`` may also use ``D``, the representation width), see `expressions`.
A model parameter left out takes the estimator's own default, which is written into every
cell's resolved config (and so into its key).

A model may also be any scikit-learn-compatible regressor (``kind: estimator``, ``class:``
its import path, ``params`` and ``search`` its constructor arguments) and the target any
function of the inputs (``kind: callable``, ``function:`` its import path, ``second_moment:``
its exact E f*(x)^2), both resolved and checked when the spec is loaded.

[`load_spec`][hierlearn.experiments.spec.load_spec] reads and validates a file and raises
[`SpecError`][hierlearn.experiments.spec.SpecError], whose lines name
the field path of each problem, e.g. ``learners.quad_h.model.params.lr: Input should be
greater than 0``.
"""

from __future__ import annotations

import inspect
import math
from fractions import Fraction
from pathlib import Path
from typing import Annotated, Literal

import numpy as np
import yaml
from pydantic import (
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    NonNegativeFloat,
    NonNegativeInt,
    PositiveFloat,
    PositiveInt,
    Tag,
    ValidationError,
    create_model,
    field_validator,
)

from ...theory import LEARNERS as THEORY_LEARNERS
from .expressions import Expression, ExpressionError
from .params import (
    ESTIMATOR_KIND,
    GRADIENT_KINDS,
    MODEL_KINDS,
    Dtype,
    Frozen,
    Model,
    RepresentationName,
    SizeD,
    SizeDD,
)
from .protocol import Tuning, check_protocol

NAME_PATTERN = r"^[A-Za-z][A-Za-z0-9_.-]{0,63}$"


class SpecError(ValueError):
    """A spec is invalid. ``errors`` lists (field path, message); ``str`` gives one per line."""

    def __init__(self, errors: list[tuple[str, str]]):
        self.errors = errors
        lines = (f"{path}: {message}" if path else message for path, message in errors)
        super().__init__("\n".join(lines))


# ---------------------------------------------------------------- target, sizes, samples


def _as_tuple(value):
    return (value,) if isinstance(value, int) and not isinstance(value, bool) else value


TARGET_KINDS = ("polynomial", "callable")


def _target_kind(value):
    if not isinstance(value, str) or value not in TARGET_KINDS:
        raise ValueError(f"unknown target kind {value!r}; accepted: {', '.join(TARGET_KINDS)}")
    return value


class TargetSpec(Frozen):
    """The low-rank polynomial target ([`hierlearn.targets.LowRankPolynomial`][])."""

    # ``polynomial`` (the default when left out; ``callable``: your own function, see
    # CallableTargetSpec). Left out of the resolved config: writing it changes no cell key.
    kind: Annotated[Literal["polynomial"] | None, BeforeValidator(_target_kind)] = Field(
        default=None, exclude=True
    )
    # One degree for every component, or a list with one degree per component.
    degrees: Annotated[tuple[PositiveInt, ...], BeforeValidator(_as_tuple), Field(min_length=1)]
    # Number of components when ``degrees`` is a single int; None: one per entry of degrees.
    rank: PositiveInt | None = None
    # hermite (unit variance under gaussian inputs), gegenbauer (sphere), monomial.
    basis: Literal["hermite", "gegenbauer", "monomial"] = "hermite"
    # alpha_s; None: 1/sqrt(r) each (rescaled to E f*^2 = 1 either way).
    coefficients: tuple[float, ...] | None = None
    # Standard deviation of the Gaussian label noise (test error is on noise-free f*).
    noise_std: NonNegativeFloat = 0.0

    @property
    def degree(self) -> int:
        """p, the largest degree (what the theory's exponents refer to)."""
        return max(self.degrees)

    def build(self, d: int, inputs: str, random_state=0):
        """The target at dimension ``d`` under the ``inputs`` law (see `polynomial_target`)."""
        return polynomial_target(self.model_dump(), d, inputs, random_state)


def polynomial_target(target: dict, d: int, inputs: str, random_state=0):
    """The [`hierlearn.targets.LowRankPolynomial`][] of a target config (a `TargetSpec`'s
    fields, as in a resolved cell config) at dimension ``d``: the one place a config becomes
    a target. ``rank`` left out is one component per entry of ``degrees``."""
    from ...targets import LowRankPolynomial

    degrees = tuple(target["degrees"])
    return LowRankPolynomial(
        d,
        degrees[0] if len(degrees) == 1 else list(degrees),
        rank=target.get("rank") or len(degrees),
        basis=target.get("basis", "hermite"),
        coefficients=target.get("coefficients"),
        noise_std=float(target.get("noise_std") or 0.0),
        random_state=random_state,
        inputs=inputs,
    )


def _resolve_function(value):
    from .imports import target_function

    return target_function(value)[1]  # the canonical "module:Name"


class CallableTargetSpec(Frozen):
    """Your own target f*, a function named by import path::

        target:
          kind: callable
          function: mypackage.targets:product   # f(X), X a (n, d) float64 tensor -> n values
          second_moment: 1.0                     # E f*(x)^2 under the spec's inputs (required)

    The relative error divides by ``second_moment`` (docs/theory.md §3: the exact second
    moment, never a sample estimate), so it is required: compute it for the spec's input law.
    The function is called on the inputs of each cell (no random directions: the same f* at
    every seed). No theory prediction refers to it.
    """

    kind: Literal["callable"]
    # Import path of f, "module.Name" or "module:Name", stored as "module:Name"; f(X) takes a
    # (n, d) float64 torch tensor and returns n values (required).
    function: Annotated[str, BeforeValidator(_resolve_function)]
    # E f*(x)^2 under the spec's input law (required): the relative error's normaliser.
    second_moment: Annotated[float, Field(gt=0.0, allow_inf_nan=False)]
    # Standard deviation of the Gaussian label noise (test error is on noise-free f*).
    noise_std: NonNegativeFloat = 0.0

    @property
    def degree(self) -> None:
        """None: the function's degree is not known (no theory prediction)."""
        return None


def _which_target(value):
    # ``kind: callable`` selects the callable target; anything else, the polynomial (whose
    # ``kind`` field names an unknown kind with the accepted ones).
    kind = value.get("kind") if isinstance(value, dict) else getattr(value, "kind", None)
    return "callable" if kind == "callable" else "polynomial"


Target = Annotated[
    Annotated[TargetSpec, Tag("polynomial")] | Annotated[CallableTargetSpec, Tag("callable")],
    Discriminator(_which_target),
]


class ListSamples(Frozen):
    """Explicit sample sizes, each a number or an expression in d."""

    mode: Literal["list"]
    values: Annotated[tuple[SizeD, ...], Field(min_length=1)]  # the sizes n (required)


class GridSamples(Frozen):
    """``num`` sizes spaced geometrically from ``start`` to ``stop`` (both included), rounded."""

    mode: Literal["grid"]
    start: SizeD  # smallest n (required)
    stop: SizeD  # largest n (required)
    num: PositiveInt = 5  # number of grid points; 1 means just ``start``


class AdaptiveSamples(Frozen):
    """Search n*(d) per learner: grow n geometrically from the low end, then bisect in log n."""

    mode: Literal["adaptive"]
    bracket: tuple[SizeD, SizeD]  # [low, high]: the first n tried and the largest allowed
    growth: Annotated[float, Field(gt=1.0)] = 2.0  # factor between sizes while growing
    rel_precision: PositiveFloat = 0.1  # stop bisecting once high / low <= 1 + rel_precision


def _samples_shorthand(value):
    # A bare list means ``{mode: list, values: [...]}``.
    return {"mode": "list", "values": value} if isinstance(value, (list, tuple)) else value


Samples = Annotated[
    ListSamples | GridSamples | AdaptiveSamples,
    BeforeValidator(_samples_shorthand),
    Field(discriminator="mode"),
]


# ---------------------------------------------------------------- representations


class IdentityRepresentation(Frozen):
    """The raw input x is fed to the model."""

    kind: Literal["identity"]


class RandomNetworkRepresentation(Frozen):
    """A fixed random network h ([`hierlearn.representations.RandomNetworkRepresentation`][])."""

    kind: Literal["random_network"]
    width: SizeD  # D, the number of features (required)
    depth: PositiveInt = 1  # number of random layers
    activation: RepresentationName = "relu"  # relu, step, sign, tanh, erf, monomial-k, hermite-k
    bias_std: NonNegativeFloat = 0.0  # standard deviation of the random biases
    normalize: Literal["whiten", "standardize", "none"] = "whiten"  # fitted on inputs only
    whiten_eps: NonNegativeFloat | None = None  # eigenvalue floor; None: the estimator's default
    # Unlabelled inputs (of the spec's input law) used to fit the normalisation; 0 fits it on
    # the n training inputs. Default: enough for a well-conditioned covariance estimate.
    n_unlabeled: SizeDD = Expression("max(4*D, 4000)", ("d", "D"))
    dtype: Dtype = "float64"  # feature dtype


Representation = Annotated[
    IdentityRepresentation | RandomNetworkRepresentation, Field(discriminator="kind")
]


class LearnerSpec(Frozen):
    """A named learner: representation + model (+ the theory row it is compared with)."""

    # Row of the theory table (hierlearn.theory) this learner measures; None: no comparison.
    theory: Literal[THEORY_LEARNERS] | None = None  # type: ignore[valid-type]
    representation: Representation = IdentityRepresentation(kind="identity")  # raw input
    model: Model  # the trainable model: kind, params and search (required)
    # [low, high] of this learner's adaptive n* search, replacing samples.bracket (learners
    # whose n* differ by orders of magnitude need not share one bracket); adaptive mode only.
    bracket: tuple[SizeD, SizeD] | None = None
    # The dimensions of this learner, replacing the spec's (a kernel whose n* ~ d^p outgrows
    # the budget at large d can be measured at small d); None: the spec's dimensions.
    dimensions: Annotated[tuple[PositiveInt, ...], Field(min_length=1)] | None = None

    @field_validator("dimensions")
    @classmethod
    def _distinct_dimensions(cls, value):
        if value is not None and len(set(value)) != len(value):
            raise ValueError("values must be distinct")
        return None if value is None else tuple(sorted(value))


# ---------------------------------------------------------------- the spec


def _seeds(value):
    # ``seeds: 3`` means seeds 0, 1, 2.
    if isinstance(value, int) and not isinstance(value, bool):
        if value < 1:
            raise ValueError("the number of seeds must be >= 1")
        return tuple(range(value))
    return value


EpsLevels = Annotated[tuple[Annotated[float, Field(gt=0.0)], ...], Field(min_length=1)]


class Spec(Frozen):
    """A whole experiment. See the module docstring for an example."""

    name: Annotated[str, Field(pattern=NAME_PATTERN)]  # identifies the experiment in a store
    description: str = ""  # free text, copied into the report
    inputs: Literal["gaussian", "sphere"] = "gaussian"  # the input law of x
    target: Target  # required: a low-rank polynomial, or kind: callable (your own function)
    dimensions: Annotated[tuple[PositiveInt, ...], Field(min_length=1)]  # the values of d
    samples: Samples  # the sizes n (required): a list, a geometric grid or an adaptive search
    # Seeds (data and model draws); an int k means 0..k-1.
    seeds: Annotated[tuple[NonNegativeInt, ...], BeforeValidator(_seeds), Field(min_length=1)] = (
        0,
        1,
        2,
    )
    # Share of the n labels of a cell held out as validation labels (penalty, ridge and
    # stopping are chosen on them); they count in n. Every 1/f-th label of the nested stream,
    # so training and validation sets are both nested across n (docs/theory.md §3).
    validation_fraction: Annotated[float, Field(gt=0.0, lt=1.0)] = 0.2
    # Fresh noise-free points for the reported test error (>= 1e5 for heavy-tailed targets:
    # He_4 has E f*^4 = 639); predicted in chunks.
    test_size: SizeD = Expression(100_000)
    # Fresh noise-free points, neither test nor validation, whose error steers the adaptive
    # search (which n to run next); the test set is used only for the reported number. As
    # many as the test set: a smaller set reads heavy-tailed errors low.
    design_size: SizeD = Expression(100_000)
    eps: Annotated[float, Field(gt=0.0)] = 0.1  # the n*(d; eps) adaptive search aims at
    # Thresholds at which the report also gives n* and the exponent; None: just ``eps``.
    report_eps: EpsLevels | None = None
    # Pairs of learners [A, B] compared seed by seed in the report (difference of exponents,
    # ratio of n* per d); they share data and seeds by construction.
    comparisons: tuple[tuple[str, str], ...] = ()
    tuning: Tuning | None = None  # one protocol for every learner; None: each learner's own
    device: Literal["cpu", "cuda"] = "cpu"  # where cells compute
    time_limit: PositiveFloat | None = None  # seconds per cell; None: no limit
    learners: Annotated[
        dict[Annotated[str, Field(pattern=NAME_PATTERN)], LearnerSpec], Field(min_length=1)
    ]  # the learners by name (required); the name identifies a learner in the store

    # Removed (validation labels now count in n): refused with a pointer to the new field.
    validation_size: None = Field(default=None, exclude=True)

    @field_validator("validation_size", mode="before")
    @classmethod
    def _removed_validation_size(cls, value):
        raise ValueError(
            "removed: validation labels now count in n; set validation_fraction (a number in "
            "(0, 1), default 0.2) instead"
        )

    @field_validator("dimensions", "seeds")
    @classmethod
    def _distinct(cls, value):
        if len(set(value)) != len(value):
            raise ValueError("values must be distinct")
        return tuple(sorted(value))

    def learner_dimensions(self, name: str) -> tuple[int, ...]:
        """The dimensions of learner ``name`` (its own, else the spec's)."""
        return self.learners[name].dimensions or self.dimensions

    def all_dimensions(self) -> tuple[int, ...]:
        """Every dimension any learner runs at, ascending."""
        return tuple(sorted({d for name in self.learners for d in self.learner_dimensions(name)}))

    def eps_levels(self) -> tuple[float, ...]:
        """The report's thresholds: ``report_eps`` plus ``eps``, descending."""
        return eps_levels(self.eps, self.report_eps)


# ---------------------------------------------------------------- loading and checks


class _UniqueKeyLoader(yaml.SafeLoader):
    """A safe YAML loader that refuses duplicate mapping keys."""


def _construct_mapping(loader, node, deep=False):
    seen = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r}", key_node.start_mark
            )
        seen.add(key)
    return yaml.SafeLoader.construct_mapping(loader, node, deep)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)

# Discriminated unions add the tag to the error location; the field path omits it.
_UNION_FIELDS = {
    "samples": ("list", "grid", "adaptive"),
    "target": TARGET_KINDS,
    "representation": ("identity", "random_network"),
    "model": MODEL_KINDS,
}


def _path(location: tuple) -> str:
    parts = []
    for i, item in enumerate(location):
        if item == "[key]":  # a bad mapping key: the path up to the key names it
            continue
        if (
            i > 0
            and isinstance(location[i - 1], str)
            and item in _UNION_FIELDS.get(location[i - 1], ())
        ):
            continue
        parts.append(str(item))
    return ".".join(parts)


def _message(error: dict) -> str:
    message = error["msg"]
    for prefix in ("Value error, ", "Assertion failed, "):
        message = message.removeprefix(prefix)
    if error["type"] == "extra_forbidden":
        message = "unknown key"
    return message


def parse_spec(data) -> Spec:
    """Validate already-parsed YAML data (a dict) into a [`Spec`][hierlearn.experiments.spec.Spec],
    or raise SpecError."""
    if not isinstance(data, dict):
        raise SpecError([("", f"a spec must be a mapping of keys, got {type(data).__name__}")])
    try:
        spec = Spec.model_validate(data)
    except ValidationError as error:
        raise SpecError([(_path(e["loc"]), _message(e)) for e in error.errors()]) from None
    problems = check_sizes(spec)
    if problems:
        raise SpecError(problems)
    return spec


def load_spec(path) -> tuple[Spec, str]:
    """Read, parse and validate the YAML file at ``path``; returns (spec, the file's text)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SpecError([("spec", f"no such file: {path}")]) from None
    except (OSError, UnicodeDecodeError) as error:
        raise SpecError([("spec", f"cannot read {path}: {error}")]) from None
    return parse_spec_text(text), text


def parse_spec_text(text: str, source: str = "spec") -> Spec:
    """Parse and validate the YAML ``text`` of a spec (``source`` names it in errors)."""
    try:
        data = yaml.load(text, Loader=_UniqueKeyLoader)  # a SafeLoader: builds plain data only
    except yaml.YAMLError as error:
        raise SpecError([(source, f"invalid YAML: {' '.join(str(error).split())}")]) from None
    return parse_spec(data)


# What a report reads of a stored spec text, validated by `Spec`'s own declarations of these
# fields (other keys ignored: a text an older version wrote may not parse as a whole spec).
REPORT_FIELDS = ("eps", "report_eps", "comparisons")
_ReportFields = create_model(
    "ReportFields",
    __config__=ConfigDict(extra="ignore", frozen=True),
    **{
        name: (Spec.model_fields[name].annotation, Spec.model_fields[name])
        for name in REPORT_FIELDS
    },
)


def report_fields(text: str | None) -> dict:
    """``eps``, ``report_eps`` and ``comparisons`` of a stored spec ``text`` (as `Spec`
    validates them) with ``eps_levels`` as `Spec.eps_levels` gives them; the spec defaults
    where the text has none of them, is no YAML mapping, or they do not validate."""
    try:
        data = yaml.load(text or "", Loader=_UniqueKeyLoader)
        fields = _ReportFields.model_validate(data if isinstance(data, dict) else {})
    except (yaml.YAMLError, ValidationError):
        fields = _ReportFields()
    values = fields.model_dump()
    values["eps_levels"] = eps_levels(fields.eps, fields.report_eps)
    return values


def eps_levels(eps: float, report_eps=None) -> tuple[float, ...]:
    """The report's thresholds: ``report_eps`` plus ``eps``, descending."""
    return tuple(sorted({float(eps), *(float(e) for e in report_eps or ())}, reverse=True))


def _as_fraction(fraction: float) -> Fraction:
    # The exact rational of the written value (0.2 -> 1/5): the split is integer arithmetic.
    return Fraction(str(fraction)).limit_denominator(10**6)


def validation_labels(n: int, fraction: float) -> np.ndarray:
    """Which of the first ``n`` labels of a cell's nested stream are validation labels.

    Label i (from 0) is a validation label when floor((i + 1) f) > floor(i f): every 1/f-th
    label for f = 1/k, evenly spread for any f. The first n labels hold floor(n f) validation
    labels, and the sets of both kinds are nested across n (docs/theory.md §3).
    """
    f = _as_fraction(fraction)
    index = np.arange(n, dtype=np.int64)
    return ((index + 1) * f.numerator) // f.denominator > (index * f.numerator) // f.denominator


def validation_count(n: int, fraction: float) -> int:
    """floor(n f): the validation labels among the first ``n`` (see `validation_labels`)."""
    f = _as_fraction(fraction)
    return (n * f.numerator) // f.denominator


def sample_sizes(spec: Spec, d: int) -> list[int]:
    """The sizes n of a list or grid spec at dimension ``d``, sorted and distinct."""
    samples, values = spec.samples, {"d": d}
    if isinstance(samples, ListSamples):
        return sorted({expression.evaluate_size(values) for expression in samples.values})
    if isinstance(samples, GridSamples):
        start, stop = samples.start.evaluate_size(values), samples.stop.evaluate_size(values)
        if samples.num == 1:
            return [start]
        ratio = math.log(stop / start) / (samples.num - 1)
        return sorted({round(start * math.exp(ratio * i)) for i in range(samples.num)})
    raise ValueError("sample_sizes needs a list or grid spec; adaptive specs search n")


def check_sizes(spec: Spec) -> list[tuple[str, str]]:
    """Evaluate every size expression at every d; return (field path, problem) pairs."""
    problems: list[tuple[str, str]] = []

    def size(path: str, expression: Expression, values: dict, minimum: int = 1) -> int | None:
        try:
            return expression.evaluate_size(values, minimum=minimum)
        except ExpressionError as error:
            problems.append((path, str(error)))
            return None

    def split(path: str, n: int | None, d: int) -> None:
        # The smallest n of a learner must hold at least one label of each kind.
        if n is None:
            return
        held = validation_count(n, spec.validation_fraction)
        if held < 1 or held >= n:
            problems.append(
                (
                    path,
                    f"n = {n} at d={d} holds {held} validation labels of {n} "
                    f"(validation_fraction {spec.validation_fraction}); every size needs at "
                    "least one training and one validation label",
                )
            )

    for d in spec.all_dimensions():
        at_d = {"d": d}
        size("test_size", spec.test_size, at_d)
        size("design_size", spec.design_size, at_d)
        samples = spec.samples
        if isinstance(samples, ListSamples):
            for i, expression in enumerate(samples.values):
                split(f"samples.values.{i}", size(f"samples.values.{i}", expression, at_d), d)
        elif isinstance(samples, GridSamples):
            start = size("samples.start", samples.start, at_d)
            split("samples.start", start, d)
            stop = size("samples.stop", samples.stop, at_d)
            if start is not None and stop is not None and stop < start:
                problems.append(("samples.stop", f"stop ({stop}) < start ({start}) at d={d}"))
        else:
            low = size("samples.bracket.0", samples.bracket[0], at_d)
            if any(learner.bracket is None for learner in spec.learners.values()):
                split("samples.bracket.0", low, d)
            high = size("samples.bracket.1", samples.bracket[1], at_d)
            if low is not None and high is not None and high <= low:
                problems.append(
                    (
                        "samples.bracket",
                        f"the high end ({high}) must exceed the low end ({low}) at d={d}",
                    )
                )
        if not isinstance(spec.target, TargetSpec):
            continue
        if spec.target.rank is not None and len(spec.target.degrees) > 1:
            if spec.target.rank != len(spec.target.degrees):
                problems.append(("target.rank", "rank must equal the number of degrees"))
        rank = spec.target.rank or len(spec.target.degrees)
        if rank > d:
            problems.append(("target.rank", f"rank {rank} exceeds d={d}"))
    for name, learner in spec.learners.items():
        for d in spec.learner_dimensions(name):
            problems.extend(_check_learner_at(spec, name, learner, d, size))
            if learner.bracket is not None and isinstance(spec.samples, AdaptiveSamples):
                low = size(f"learners.{name}.bracket.0", learner.bracket[0], {"d": d})
                split(f"learners.{name}.bracket.0", low, d)
    problems.extend(check_protocol(spec))
    problems.extend(_check_comparisons(spec))
    problems.extend(check_estimators(spec))
    polynomial = isinstance(spec.target, TargetSpec)
    if polynomial and spec.target.coefficients is not None:
        rank = spec.target.rank or len(spec.target.degrees)
        if len(spec.target.coefficients) != rank:
            problems.append(("target.coefficients", f"needs {rank} values, one per component"))
    combos = {("hermite", "sphere"), ("gegenbauer", "gaussian")}
    if polynomial and (spec.target.basis, spec.inputs) in combos:
        problems.append(
            (
                "target.basis",
                f"basis {spec.target.basis!r} does not match "
                f"inputs {spec.inputs!r} (hermite: gaussian, gegenbauer: sphere)",
            )
        )
    if not problems:
        problems.extend(_check_target(spec))
    return list(dict.fromkeys(problems))  # the same problem at several d is reported once


def model_input_width(learner: LearnerSpec, d: int) -> int:
    """D, the width of the model's input at ``d``: the representation width, or d."""
    representation = learner.representation
    if isinstance(representation, RandomNetworkRepresentation):
        return representation.width.evaluate_size({"d": d})
    return d


def _check_learner_at(spec: Spec, name: str, learner: LearnerSpec, d: int, size) -> list:
    problems: list[tuple[str, str]] = []
    where, at_d, samples = f"learners.{name}", {"d": d}, spec.samples
    if learner.bracket is not None:
        if not isinstance(samples, AdaptiveSamples):
            problems.append((f"{where}.bracket", "only allowed with samples.mode: adaptive"))
        else:
            low = size(f"{where}.bracket.0", learner.bracket[0], at_d)
            high = size(f"{where}.bracket.1", learner.bracket[1], at_d)
            if low is not None and high is not None and high <= low:
                problems.append(
                    (
                        f"{where}.bracket",
                        f"the high end ({high}) must exceed the low end ({low}) at d={d}",
                    )
                )
    representation = learner.representation
    width_at_d = d
    if isinstance(representation, RandomNetworkRepresentation):
        width_at_d = size(f"{where}.representation.width", representation.width, at_d)
        if width_at_d is not None:
            size(
                f"{where}.representation.n_unlabeled",
                representation.n_unlabeled,
                {"d": d, "D": width_at_d},
                minimum=0,
            )
    if width_at_d is None:
        return problems
    values = {"d": d, "D": width_at_d}
    biases = [("params.input_bias", getattr(learner.model.params, "input_bias", None))]
    candidates = getattr(learner.model.search, "input_bias", None) or ()
    biases += [(f"search.input_bias.{i}", c) for i, c in enumerate(candidates)]
    gradient = spec.tuning.gradient if spec.tuning is not None else None
    if gradient is not None and learner.model.kind in GRADIENT_KINDS:
        biases.append(("tuning.gradient.params.input_bias", gradient.params.input_bias))
        biases += [
            (f"tuning.gradient.search.input_bias.{i}", c)
            for i, c in enumerate(gradient.search.input_bias or ())
        ]
    for path, value in biases:
        full = path if path.startswith("tuning.") else f"{where}.model.{path}"
        if isinstance(value, Expression):
            try:
                if value.evaluate(values) < 0:
                    problems.append((full, f"must be >= 0 at d={d}"))
            except ExpressionError as error:
                problems.append((full, str(error)))
    width = getattr(learner.model.params, "width", None)
    if width is not None:
        size(f"{where}.model.params.width", width, at_d)
    for i, candidate in enumerate(getattr(learner.model.search, "width", None) or ()):
        size(f"{where}.model.search.width.{i}", candidate, at_d)
    return problems


def _check_comparisons(spec: Spec) -> list[tuple[str, str]]:
    problems = []
    for i, pair in enumerate(spec.comparisons):
        unknown = [(j, name) for j, name in enumerate(pair) if name not in spec.learners]
        for j, name in unknown:
            problems.append(
                (
                    f"comparisons.{i}.{j}",
                    f"unknown learner {name!r}; accepted: {', '.join(spec.learners)}",
                )
            )
        if pair[0] == pair[1]:
            problems.append((f"comparisons.{i}", "compares a learner with itself"))
        elif not unknown:
            shared = set(spec.learner_dimensions(pair[0])) & set(spec.learner_dimensions(pair[1]))
            if not shared:
                problems.append((f"comparisons.{i}", "the two learners share no dimension"))
    return problems


def check_estimators(spec: Spec) -> list[tuple[str, str]]:
    """The ``estimator`` learners' parameters against their class's constructor.

    Every key of ``params`` and ``search`` must be a constructor parameter (as scikit-learn's
    ``get_params`` lists them) and not one the harness sets (``random_state`` and ``device``,
    where the constructor takes them),
    every value plain data, every parameter without a default given, and the class built
    with each candidate must accept its parameters (scikit-learn's own parameter check, where
    the class has one), have scikit-learn's tags (the harness fits it in a pipeline) and not
    declare itself a classifier, clusterer or outlier detector.
    """
    import itertools

    from .imports import (
        HARNESS_PARAMETERS,
        constructor_parameters,
        estimator_type,
        is_plain,
        regressor_class,
    )

    problems: list[tuple[str, str]] = []
    for name, learner in spec.learners.items():
        model = learner.model
        if model.kind != ESTIMATOR_KIND:
            continue
        where = f"learners.{name}.model"
        cls, path = regressor_class(model.class_)
        named, any_keyword = constructor_parameters(cls)
        accepted = ", ".join(n for n in named if n not in HARNESS_PARAMETERS) or "none"
        bad = False
        for part, values in (("params", model.params), ("search", model.search)):
            for key, value in values.items():
                field = f"{where}.{part}.{key}"
                if key in HARNESS_PARAMETERS and key in named:
                    problems.append(
                        (field, f"set by the harness ({_HARNESS_SETS[key]}); remove it")
                    )
                elif key not in named and not any_keyword:
                    problems.append((field, f"not a parameter of {path}; accepted: {accepted}"))
                elif not is_plain(value):
                    problems.append(
                        (
                            field,
                            "must be plain data (finite numbers, strings, booleans, null, "
                            f"lists, mappings), got {value!r}",
                        )
                    )
                else:
                    continue
                bad = True
        required = [
            n
            for n, default in named.items()
            if default is inspect.Parameter.empty
            and n not in HARNESS_PARAMETERS
            and n not in model.params
            and n not in model.search
        ]
        if required:
            problems.append((f"{where}.params", f"{path} needs {', '.join(required)} (no default)"))
            bad = True
        if bad:
            continue

        # The params first (where they are complete), then every candidate of the search.
        keys = sorted(model.search)
        instance = None
        searched_only = [n for n in keys if n not in model.params]
        if not any(named.get(n) is inspect.Parameter.empty for n in searched_only):
            try:
                instance = _build_checked(cls, model.params)
            except Exception as error:
                problems.append(
                    (f"{where}.params", f"{path} refused them: {type(error).__name__}: {error}")
                )
                continue
        for values in itertools.product(*(model.search[k] for k in keys)) if keys else ():
            candidate = dict(zip(keys, values, strict=True))
            try:
                instance = _build_checked(cls, {**model.params, **candidate})
            except Exception as error:
                shown = ", ".join(f"{k}={v!r}" for k, v in candidate.items())
                problems.append(
                    (
                        f"{where}.search",
                        f"{path} refused the candidate {shown}: {type(error).__name__}: {error}",
                    )
                )
                break
        if instance is None:
            continue
        try:
            kind = estimator_type(instance)
        except ValueError as error:
            problems.append((f"{where}.class", f"{path} {error}"))
            continue
        if kind not in (None, "regressor"):
            problems.append((f"{where}.class", f"{path} is a {kind}, not a regressor"))
    return problems


def _build_checked(cls: type, arguments: dict):
    """``cls(**arguments)``, its parameters checked by scikit-learn's own rule where the class
    has one (its ``_validate_params``, which ``fit`` calls first)."""
    from .imports import plain

    instance = cls(**plain(arguments))
    check = getattr(instance, "_validate_params", None)
    if callable(check):
        check()
    return instance


_HARNESS_SETS = {"random_state": "the model seed of each learning curve", "device": "spec.device"}


def _check_target(spec: Spec) -> list[tuple[str, str]]:
    """Build the target at every d, so that anything it refuses is reported before a run."""
    target = spec.target
    if isinstance(target, CallableTargetSpec):
        return _check_callable_target(spec)
    for d in spec.all_dimensions():
        try:
            target.build(d, spec.inputs)
        except ValueError as error:
            return [("target", f"at d={d}: {error}")]
    return []


def _check_callable_target(spec: Spec) -> list[tuple[str, str]]:
    """Call the target's function on a few inputs of the spec's law at every d: one that
    fails, or returns the wrong shape or non-finite values, would fail every cell."""
    from ...inputs import make_inputs
    from ...targets import CallableTarget
    from .imports import target_function

    target = spec.target
    function, path = target_function(target.function)
    for d in spec.all_dimensions():
        X = make_inputs(spec.inputs, d).sample(16, 0)
        try:
            CallableTarget(function, d, target.second_moment, target.noise_std, name=path)(X)
        except Exception as error:
            return [("target.function", f"{path} at d={d}: {type(error).__name__}: {error}")]
    return []
