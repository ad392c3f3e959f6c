"""Shared pieces of spec models: the frozen base, size types, activation names, and the
parameters and search spaces of every model kind.

Every model parameter defaults to None, meaning "the estimator's own default"; cells resolve
it from the estimator's signature (see `learners`), so that a resolved config names every
hyperparameter. A search space gives, per parameter, a non-empty list of candidate values with
the same constraints as the parameter itself.
"""

from __future__ import annotations

import inspect
import re
import typing
from numbers import Integral
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    NonNegativeFloat,
    PlainSerializer,
    PlainValidator,
    PositiveInt,
    StrictBool,
    create_model,
    field_validator,
    model_serializer,
    model_validator,
)
from sklearn.utils._param_validation import Interval, StrOptions

from ...activations import TRAINABLE_ACTIVATIONS, parse_representation_activation
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


class KernelRepresentationParams(Frozen):
    """The infinite-width representation composed into a kernel (the ``representation``
    argument of [`hierlearn.kernels.ntk`][]; centring is the model's ``center``)."""

    activation: RepresentationName = "relu"  # representation activation
    depth: PositiveInt = 1  # number of random layers
    bias_std: NonNegativeFloat = 0.0  # standard deviation of the random biases


def _memory_budget(value):
    from ...kernels.blocks import parse_memory_budget

    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise ValueError(f"expected bytes (an int) or a string such as '4GiB', got {value!r}")
    parse_memory_budget(value)  # raises ValueError naming the accepted units
    return value


MemoryBudget = Annotated[int | str, PlainValidator(_memory_budget)]

# ---------------------------------------------------------------- generated parameter models

# The model parameters that a spec may give as an expression (evaluated per d by the cells),
# with the variables each may use: the one home of that rule (a representation's width and
# n_unlabeled are fields of its own model in `spec`).
SIZE_PARAMETERS = {"width": SizeD, "input_bias": SizeDD}
# String options that are a vocabulary of our own, with a validator naming it (a clearer error).
_VOCABULARIES = {frozenset(TRAINABLE_ACTIVATIONS): TrainableName}
# Parameters whose spec form differs from the estimator's on purpose: a kernel's
# representation is a dict of the estimator and a model here; a memory budget is parsed.
_OVERRIDES = {
    "representation": KernelRepresentationParams,
    "memory_budget": MemoryBudget,
}


def _interval(constraint: Interval):
    bounds = {}
    if constraint.left is not None:
        closed = constraint.closed in ("left", "both")
        bounds["ge" if closed else "gt"] = constraint.left
    if constraint.right is not None:
        closed = constraint.closed in ("right", "both")
        bounds["le" if closed else "lt"] = constraint.right
    base = int if constraint.type is Integral else float
    return Annotated[base, Field(**bounds)] if bounds else base


def _constraint_type(owner: str, name: str, constraint):
    """The pydantic type of one scikit-learn parameter constraint (None: no type of its own)."""
    if constraint is None or constraint == "array-like":
        return None  # None is every spec field's "default"; a list comes from the search
    if isinstance(constraint, StrOptions):
        vocabulary = _VOCABULARIES.get(frozenset(constraint.options))
        return vocabulary or Literal[tuple(sorted(constraint.options))]
    if isinstance(constraint, Interval):
        return _interval(constraint)
    if constraint == "boolean":
        return StrictBool
    raise TypeError(
        f"{owner}.{name}: no spec type for the constraint {constraint!r}; add the parameter to "
        "params._OVERRIDES or the harness parameters"
    )


def parameter_type(owner: str, name: str, constraints):
    """The spec type of an estimator parameter from its ``_parameter_constraints`` entry:
    `SIZE_PARAMETERS` take expressions (besides their string options), `_OVERRIDES` a type of
    their own, the others the union of their constraints' types."""
    if name in _OVERRIDES:
        return _OVERRIDES[name]
    types = [_constraint_type(owner, name, c) for c in constraints]
    types = [t for t in types if t is not None]
    if name in SIZE_PARAMETERS:
        options = [t for t in types if typing.get_origin(t) is Literal]
        types = [*options, SIZE_PARAMETERS[name]]
    if not types:
        raise TypeError(f"{owner}.{name}: its constraints {constraints!r} give no spec type")
    return types[0] if len(types) == 1 else typing.Union[tuple(types)]  # noqa: UP007


_ARGUMENT = re.compile(r"^    ([A-Za-z_][A-Za-z0-9_]*): (.*)$")


def argument_docs(cls: type) -> dict[str, str]:
    """{parameter: its description} from the ``Args:`` sections of the docstrings of ``cls``
    and its bases (Google style: ``    name: text`` and deeper-indented continuations)."""
    found: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        doc = inspect.cleandoc(klass.__dict__.get("__doc__") or "")
        lines, current, inside = doc.splitlines(), None, False
        for line in lines:
            if line.strip() == "Args:":
                inside, current = True, None
                continue
            if not inside:
                continue
            match = _ARGUMENT.match(line)
            if match:
                current = match.group(1)
                found[current] = match.group(2).strip()
            elif line.startswith("        ") and current is not None:
                found[current] += " " + line.strip()
            else:
                inside = False
    return found


def params_model(
    cls: type, name: str, doc: str, base: type[Frozen] = Frozen, docs_from: type | None = None
) -> type[Frozen]:
    """A spec model of the constructor parameters of the estimator ``cls``, generated from its
    signature and ``_parameter_constraints`` (one source: a parameter added to the estimator
    is a spec parameter). Every field defaults to None, "the estimator's own default"; the
    harness's parameters (``device``, ``random_state``) are the harness's. Each field's
    description is the estimator's own (its docstring's ``Args:``; ``docs_from``: a class
    whose ``Args:`` it shares)."""
    from .imports import HARNESS_PARAMETERS

    signature = inspect.signature(cls.__init__)
    described = {**argument_docs(docs_from or cls), **argument_docs(cls)}
    fields = {}
    for parameter in list(signature.parameters)[1:]:
        if parameter in HARNESS_PARAMETERS:
            continue
        constraints = cls._parameter_constraints[parameter]
        annotation = parameter_type(cls.__name__, parameter, constraints)
        description = described.get(parameter) or f"`{cls.__name__}`'s ``{parameter}``."
        fields[parameter] = (annotation | None, Field(None, description=description))
    model = create_model(name, __base__=base, **fields)
    model.__doc__ = doc
    return model


def _estimator(kind: str) -> type:
    from .learners import estimator_class

    return estimator_class(kind)


class _KernelChecks(Frozen):
    @model_validator(mode="after")
    def _bias_on_raw_inputs_only(self):
        """The constant input coordinate belongs to the kernel on raw inputs; composed with a
        representation, the representation's biases (``bias_std``) play that part (the
        estimator refuses it too, but every cell would fail)."""
        bias, representation = self.input_bias, self.representation
        if representation is not None and bias is not None and bias != "auto":
            constant = isinstance(bias, Expression) and not bias.names()
            if not (constant and bias.evaluate({"d": 1, "D": 1}) == 0):
                raise ValueError(
                    "input_bias applies to raw inputs only; with a representation use "
                    "representation.bias_std (or leave input_bias out: 'auto' gives 0 there)"
                )
        return self


NTKParams = params_model(
    _estimator("ntk"), "NTKParams", "Parameters of [`hierlearn.NTKRegressor`][]."
)
QuadraticParams = params_model(
    _estimator("quadratic_taylor"),
    "QuadraticParams",
    "Parameters of [`hierlearn.QuadraticTaylorRegressor`][].",
)
TwoLayerParams = params_model(
    _estimator("two_layer"),
    "TwoLayerParams",
    "Parameters of [`hierlearn.TwoLayerRegressor`][].",
    docs_from=_estimator("quadratic_taylor"),  # "the arguments are those of" it
)
KernelParams = params_model(
    _estimator("kernel"),
    "KernelParams",
    "Parameters of [`hierlearn.KernelRegressor`][].",
    base=_KernelChecks,
)
QuadraticFormParams = params_model(
    _estimator("quadratic_form"),
    "QuadraticFormParams",
    "Parameters of [`hierlearn.estimators.QuadraticFormRegressor`][] (Quad-infinity); a "
    "penalty path (a list of ``reg``) comes from the tuning protocol's "
    "``tuning.quadratic_form.reg``, here ``reg`` is one value.",
)
# The training rule of the tuning protocol: the parameters every gradient-trained estimator
# shares (those of the quadratic model and the two-layer network both).
GradientParams = create_model(
    "GradientParams",
    __base__=Frozen,
    **{
        name: (field.annotation, Field(None, description=field.description))
        for name, field in QuadraticParams.model_fields.items()
        if name in TwoLayerParams.model_fields
    },
)
GradientParams.__doc__ = "Parameters shared by the gradient-trained estimators (the protocol's)."


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
    kinds. When the spec is loaded the path is resolved (`hierlearn.experiments.spec.imports`)
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
