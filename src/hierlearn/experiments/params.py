"""Shared pieces of spec models: the frozen base, size types, activation names, and the
parameters and search spaces of every model kind.

Every model parameter defaults to None, meaning "the estimator's own default"; cells resolve
it from the estimator's signature (see `learners`), so that a resolved config names every
hyperparameter. A search space gives, per parameter, a non-empty list of candidate values with
the same constraints as the parameter itself.
"""

from __future__ import annotations

import typing
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    NonNegativeFloat,
    NonNegativeInt,
    PlainSerializer,
    PlainValidator,
    PositiveFloat,
    PositiveInt,
    StrictBool,
    create_model,
    field_validator,
    model_serializer,
    model_validator,
)

from ..activations import TRAINABLE_ACTIVATIONS, parse_representation_activation
from .expressions import Expression


def _size(*variables: str):
    """An annotated type: a number or an expression over ``variables``, kept as Expression."""

    def validate(value):
        return value if isinstance(value, Expression) else Expression(value, variables)

    return Annotated[Expression, PlainValidator(validate), PlainSerializer(str, return_type=str)]


SizeD = _size("d")
# A non-negative number or an expression in d and D (the width of the model's input: the
# representation width, or d on raw inputs), evaluated per d, e.g. the first-layer bias
# "sqrt(D)" or the unlabelled inputs "max(64*D, 4000)"; checked >= 0 when a spec is loaded.
SizeDD = _size("d", "D")
Dtype = Literal["float32", "float64"]


class Frozen(BaseModel):
    """Base of every spec model: immutable, and unknown keys are errors."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def _trainable(value):
    if value is not None and value not in TRAINABLE_ACTIVATIONS:
        raise ValueError(
            f"{value!r} is not a trainable activation; accepted: {', '.join(TRAINABLE_ACTIVATIONS)}"
        )
    return value


def _representation_activation(value):
    if value is not None:
        parse_representation_activation(value)  # raises ValueError listing the accepted names
    return value


TrainableName = Annotated[str, BeforeValidator(_trainable)]
RepresentationName = Annotated[str, BeforeValidator(_representation_activation)]


class NTKParams(Frozen):
    """Parameters of [`hierlearn.NTKRegressor`][]."""

    width: SizeD | None = None  # m, neurons
    activation: TrainableName | None = None  # act' enters the linear term
    ridge: NonNegativeFloat | None = None  # r in (1/n) sum (y - f)^2 + r ||W||_F^2
    solver: Literal["auto", "dual", "primal"] | None = None  # which linear system is solved
    symmetric: StrictBool | None = None  # symmetric initialisation
    input_bias: SizeDD | None = None  # constant input coordinate (a first-layer bias)
    dtype: Dtype | None = None  # compute dtype


class GradientParams(Frozen):
    """Parameters shared by the gradient-trained estimators (also the tuning protocol's)."""

    width: SizeD | None = None  # m, neurons
    activation: TrainableName | None = None  # trainable activation
    reg: NonNegativeFloat | None = None  # weight penalty lambda
    optimizer: Literal["adam", "gd", "lbfgs"] | None = None  # training algorithm
    lr: PositiveFloat | None = None  # step size
    epochs: PositiveInt | None = None  # passes over the data (L-BFGS: iterations)
    batch_size: PositiveInt | None = None  # None: full batch (also the estimator default)
    init_scale: NonNegativeFloat | None = None  # scale of the initial movement U
    symmetric: StrictBool | None = None  # symmetric initialisation
    early_stopping: StrictBool | None = None  # hold out data when no validation set is passed
    validation_fraction: Annotated[float, Field(gt=0.0, lt=1.0)] | None = None  # held-out share
    n_iter_no_change: PositiveInt | None = None  # patience in validation evaluations
    tol: Annotated[float, Field(ge=0.0, lt=1.0)] | None = None  # relative improvement needed
    n_lr_decays: NonNegativeInt | None = None  # plateaus that lower lr before one stops
    lr_decay: Annotated[float, Field(gt=0.0, lt=1.0)] | None = None  # their factor
    eval_every: PositiveInt | None = None  # epochs between validation evaluations
    gd_noise: NonNegativeFloat | None = None  # noise of noisy gradient descent
    input_bias: SizeDD | None = None  # constant input coordinate (a first-layer bias)
    dtype: Dtype | None = None  # compute dtype


class QuadraticParams(GradientParams):
    """Parameters of [`hierlearn.QuadraticTaylorRegressor`][]."""

    randomized: StrictBool | None = None  # Bai & Lee's random-sign objective


class TwoLayerParams(GradientParams):
    """Parameters of [`hierlearn.TwoLayerRegressor`][]."""


class KernelRepresentationParams(Frozen):
    """The infinite-width representation composed into a kernel (the ``representation``
    argument of [`hierlearn.kernels.ntk`][]; centring is the model's ``center``)."""

    activation: RepresentationName = "relu"  # representation activation
    depth: PositiveInt = 1  # number of random layers
    bias_std: NonNegativeFloat = 0.0  # standard deviation of the random biases


def _memory_budget(value):
    from ..kernels.blocks import parse_memory_budget

    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise ValueError(f"expected bytes (an int) or a string such as '4GiB', got {value!r}")
    parse_memory_budget(value)  # raises ValueError naming the accepted units
    return value


MemoryBudget = Annotated[int | str, PlainValidator(_memory_budget)]


class KernelParams(Frozen):
    """Parameters of [`hierlearn.KernelRegressor`][]."""

    kernel: Literal["ntk", "nngp", "linear"] | None = None  # which infinite-width kernel
    activation: TrainableName | None = None  # trainable activation of the kernel
    representation: KernelRepresentationParams | None = None  # None: kernel on raw input
    center: StrictBool | None = None  # centre the representation on the training inputs' law
    ridge: NonNegativeFloat | None = None  # r, solved as (K + n r I) alpha = y
    solver: Literal["auto", "cholesky", "iterative"] | None = None  # direct or iterative
    memory_budget: MemoryBudget | None = None  # bytes or e.g. "4GiB" for the solver
    n_centers: PositiveInt | None = None  # Nystrom centres of the iterative solver
    tol: PositiveFloat | None = None  # relative residual where conjugate gradients stop
    max_iter: PositiveInt | None = None  # conjugate-gradient iterations at most
    # constant input coordinate (raw inputs only); "auto": 1 on raw inputs, 0 with a
    # representation
    input_bias: Literal["auto"] | SizeDD | None = None
    dtype: Dtype | None = None  # compute dtype

    @model_validator(mode="after")
    def _bias_on_raw_inputs_only(self):
        """The constant input coordinate belongs to the kernel on raw inputs; composed with a
        representation, the representation's biases (``bias_std``) play that part (the
        estimator refuses it too, but every cell would fail)."""
        bias = self.input_bias
        if self.representation is not None and bias is not None and bias != "auto":
            constant = isinstance(bias, Expression) and not bias.names()
            if not (constant and bias.evaluate({"d": 1, "D": 1}) == 0):
                raise ValueError(
                    "input_bias applies to raw inputs only; with a representation use "
                    "representation.bias_std (or leave input_bias out: 'auto' gives 0 there)"
                )
        return self


class QuadraticFormParams(Frozen):
    """Parameters of [`hierlearn.estimators.QuadraticFormRegressor`][] (Quad-infinity).

    A list of ``reg`` values (a penalty path chosen on validation data) comes from the tuning
    protocol's ``tuning.quadratic_form.reg``; here ``reg`` is one value.
    """

    reg: NonNegativeFloat | None = None  # weight of the penalty on A
    # "absolute": reg is the weight; "max": a fraction of the weight that zeroes A
    reg_scale: Literal["absolute", "max"] | None = None
    penalty: Literal["nuclear", "taylor"] | None = None  # reg ||A||_* or the exact image
    input_bias: SizeDD | None = None  # constant input coordinate (a first-layer bias)
    solver: Literal["auto", "admm", "proximal", "factored"] | None = None  # convex solver
    max_rank: PositiveInt | None = None  # columns of each factor (factored solver)
    tol: PositiveFloat | None = None  # certificate threshold
    max_iter: PositiveInt | None = None  # iterations per reg value at most
    dtype: Dtype | None = None  # compute dtype


def _search_model(params: type[Frozen]) -> type[Frozen]:
    """A model with, for each parameter, an optional non-empty list of candidate values."""
    fields = {}
    for name, field in params.model_fields.items():
        inner = [arg for arg in typing.get_args(field.annotation) if arg is not type(None)]
        annotation = inner[0] if len(inner) == 1 else field.annotation
        fields[name] = (Annotated[tuple[annotation, ...], Field(min_length=1)] | None, None)
    return create_model(params.__name__.replace("Params", "Search"), __base__=Frozen, **fields)


GradientSearch = _search_model(GradientParams)
NTKSearch = _search_model(NTKParams)
QuadraticSearch = _search_model(QuadraticParams)
TwoLayerSearch = _search_model(TwoLayerParams)
KernelSearch = _search_model(KernelParams)
QuadraticFormSearch = _search_model(QuadraticFormParams)


class _Model(Frozen):
    def search_space(self) -> dict[str, tuple]:
        """The parameters with candidate lists, in a fixed (alphabetical) order."""
        return {k: v for k, v in sorted(self.search.model_dump(mode="json").items()) if v}


class NTKModel(_Model):
    kind: Literal["ntk"]
    params: NTKParams = NTKParams()  # every parameter at the estimator's default
    search: NTKSearch = NTKSearch()  # no search; a ridge list is solved with one factorisation


class QuadraticModel(_Model):
    kind: Literal["quadratic_taylor"]
    params: QuadraticParams = QuadraticParams()  # every parameter at the estimator's default
    search: QuadraticSearch = QuadraticSearch()  # no search


class TwoLayerModel(_Model):
    kind: Literal["two_layer"]
    params: TwoLayerParams = TwoLayerParams()  # every parameter at the estimator's default
    search: TwoLayerSearch = TwoLayerSearch()  # no search


class KernelModel(_Model):
    kind: Literal["kernel"]
    params: KernelParams = KernelParams()  # every parameter at the estimator's default
    search: KernelSearch = KernelSearch()  # no search; a ridge list uses one factorisation


class QuadraticFormModel(_Model):
    kind: Literal["quadratic_form"]
    params: QuadraticFormParams = QuadraticFormParams()  # every parameter at its default
    search: QuadraticFormSearch = QuadraticFormSearch()  # no search; a reg list is one path


class EstimatorModel(_Model):
    """Any scikit-learn-compatible regressor, named by import path::

        model:
          kind: estimator
          class: sklearn.kernel_ridge.KernelRidge   # "module.Name" or "module:Name"
          params: {kernel: poly, degree: 2}
          search: {alpha: [1.0e-6, 1.0e-3, 1.0]}

    ``params`` are constructor arguments (plain data: numbers, strings, booleans, null, lists,
    mappings) and ``search`` maps constructor arguments to candidate lists, every combination
    fitted on the training labels and chosen on the validation labels, as for the other
    kinds. When the spec is loaded the path is resolved (`hierlearn.experiments.imports`)
    and the parameters are checked against the constructor (``spec.check_estimators``).
    ``random_state`` (the model seed of each learning curve, modulo 2^32) and ``device`` are
    the harness's: passed where the constructor takes them, never set here. A spec's
    ``tuning`` protocol does not govern this kind: its search is its own.
    """

    kind: Literal["estimator"]
    # Import path of a scikit-learn-compatible regressor class, "module.Name" or "module:Name",
    # stored as "module:Name" (required).
    class_: str = Field(alias="class")
    # Constructor arguments (plain data); the others take the class's defaults.
    params: dict[str, Any] = {}
    # Constructor arguments -> candidate lists: every combination is fitted, the one with the
    # smallest validation error kept.
    search: dict[str, Annotated[list[Any], Field(min_length=1)]] = {}

    @field_validator("class_")
    @classmethod
    def _resolve(cls, value):
        from .imports import regressor_class

        return regressor_class(value)[1]  # the canonical "module:Name"

    @model_serializer(mode="wrap")
    def _dump_class(self, handler):
        data = handler(self)
        if isinstance(data, dict) and "class_" in data:
            data = {"class" if k == "class_" else k: v for k, v in data.items()}
        return data

    def search_space(self) -> dict[str, tuple]:
        """The parameters with candidate lists, in a fixed (alphabetical) order."""
        return {k: list(v) for k, v in sorted(self.search.items())}


Model = Annotated[
    NTKModel | QuadraticModel | TwoLayerModel | KernelModel | QuadraticFormModel | EstimatorModel,
    Field(discriminator="kind"),
]
MODEL_KINDS = ("ntk", "quadratic_taylor", "two_layer", "kernel", "quadratic_form", "estimator")
# Any scikit-learn-compatible regressor by import path (EstimatorModel).
ESTIMATOR_KIND = "estimator"
# Which section of a spec's ``tuning`` protocol governs each model kind.
GRADIENT_KINDS = ("quadratic_taylor", "two_layer")
RIDGE_KINDS = ("ntk", "kernel")
PENALTY_PATH_KINDS = ("quadratic_form",)
