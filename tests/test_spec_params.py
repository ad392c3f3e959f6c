"""One name and one source per hyperparameter: the spec's model parameters are the
estimators' constructor parameters, with the same constraints.

Every parameter of a learner's ``model.params`` (and of a ``random_network`` representation)
is probed with values built from both sides (the bounds of the estimator's
``_parameter_constraints`` intervals and their neighbours, its string options, the spec
field's literal values, wrong types); each value must be accepted by both or refused by both.
"""

import math
import typing
from numbers import Integral, Real

import pytest
from pydantic import BaseModel, ValidationError
from sklearn.base import BaseEstimator
from sklearn.utils._param_validation import (
    Interval,
    InvalidParameterError,
    StrOptions,
    validate_parameter_constraints,
)

from hierlearn.activations import representation_activation
from hierlearn.experiments import spec as spec_module
from hierlearn.experiments.spec import params as spec_params
from hierlearn.experiments.spec.expressions import Expression
from hierlearn.experiments.spec.learners import HARNESS_PARAMETERS, estimator_class
from hierlearn.kernels.analytic import RepresentationSpec
from hierlearn.kernels.blocks import parse_memory_budget
from hierlearn.representations import RandomNetworkRepresentation

MODELS = {
    "ntk": spec_params.NTKParams,
    "quadratic_taylor": spec_params.QuadraticParams,
    "two_layer": spec_params.TwoLayerParams,
    "kernel": spec_params.KernelParams,
    "quadratic_form": spec_params.QuadraticFormParams,
}
# Set by the harness from the spec, not by a learner: the representation's input law is the
# spec's ``inputs``.
REPRESENTATION_HARNESS = (*HARNESS_PARAMETERS, "unlabeled_law")
# Checks of our own beyond the constraints (names scikit-learn cannot enumerate, units).
OWN_CHECKS = {
    (RandomNetworkRepresentation, "activation"): representation_activation,
    (estimator_class("kernel"), "memory_budget"): parse_memory_budget,
}
WRONG_TYPES = ["bogus", [1], {"x": 1}]
# Values of our own vocabularies (activation families, memory units, "auto").
NAMED = ["relu", "hermite-2", "hermite-0", "monomial-3", "4GiB", "4 parsecs", 1000, 2**30, "auto"]


def _estimator_accepts(cls, name, value) -> bool:
    try:
        validate_parameter_constraints(
            {name: cls._parameter_constraints[name]}, {name: value}, caller_name=cls.__name__
        )
        check = OWN_CHECKS.get((cls, name))
        if check is not None:
            check(value)
    except (InvalidParameterError, ValueError, TypeError):
        return False
    return True


def _spec_accepts(model: type[BaseModel], name, value) -> bool:
    required = {}
    if model is spec_module.RandomNetworkRepresentation:
        required = {"kind": "random_network", "width": 8}
    try:
        parsed = getattr(model.model_validate({**required, name: value}), name)
    except ValidationError:
        return False
    if isinstance(parsed, Expression):  # the spec evaluates expressions when a spec loads
        try:
            if name in ("width", "n_unlabeled"):  # integer sizes; the others real
                parsed.evaluate_size({"d": 4, "D": 8}, minimum=1 if name == "width" else 0)
            elif parsed.evaluate({"d": 4, "D": 8}) < 0:
                return False
        except ValueError:
            return False
    return True


def _probes(constraints, field) -> list:
    values = [*WRONG_TYPES, *NAMED, -1, 0, 0.5, 1, 2, 1e-3]
    for constraint in constraints if isinstance(constraints, list) else []:
        if isinstance(constraint, Interval):
            for bound in (constraint.left, constraint.right):
                if bound is not None:
                    values += [bound - 1, bound, bound + 1, bound - 0.5, bound + 0.5]
                    if constraint.type is not Integral:
                        values += [bound - 1e-9, bound + 1e-9]
        elif isinstance(constraint, StrOptions):
            values += [*sorted(constraint.options), "float16", "swish"]
        elif constraint == "boolean":
            values += [True, False]
    for arg in (*typing.get_args(field.annotation), field.annotation):
        if typing.get_origin(arg) is typing.Literal:
            values += list(typing.get_args(arg))
    return [v for v in values if not (isinstance(v, float) and math.isnan(v))]


def _parameters(cls) -> set[str]:
    return set(cls().get_params(deep=False))


@pytest.mark.parametrize("kind", MODELS)
def test_every_estimator_parameter_has_a_constraint(kind):
    # The spec models are generated from the constraints (params.params_model): a parameter
    # without one would be no spec parameter.
    cls = estimator_class(kind)
    assert set(cls._parameter_constraints) == _parameters(cls)


class _Toy(BaseEstimator):
    _parameter_constraints: typing.ClassVar[dict] = {
        "width": [Interval(Integral, 1, None, closed="left")],
        "mode": [StrOptions({"a", "b"})],
        "strength": [Interval(Real, 0, 1, closed="right"), None],
        "device": [str],
    }

    def __init__(self, width=4, mode="a", strength=None, device="cpu"):
        self.width, self.mode, self.strength, self.device = width, mode, strength, device


def test_a_spec_model_is_generated_from_the_constructor_and_its_constraints():
    model = spec_params.params_model(_Toy, "ToyParams", "A toy.")
    assert list(model.model_fields) == ["width", "mode", "strength"]  # device: the harness's
    parsed = model(width="2*d", mode="b", strength=1)
    assert parsed.width.evaluate_size({"d": 3}) == 6 and parsed.strength == 1.0
    assert model().mode is None  # None: the estimator's own default
    for bad in ({"mode": "c"}, {"strength": 0}, {"strength": 1.5}, {"colour": 1}):
        with pytest.raises(ValidationError):
            model(**bad)


def test_a_constraint_without_a_spec_type_is_refused_when_the_model_is_built():
    class Odd(_Toy):
        _parameter_constraints: typing.ClassVar[dict] = {
            **_Toy._parameter_constraints,
            "mode": [callable],
        }

    with pytest.raises(TypeError, match="Odd.mode: no spec type"):
        spec_params.params_model(Odd, "OddParams", "")


def test_the_spec_representation_is_the_transformer():
    fields = set(spec_module.RandomNetworkRepresentation.model_fields) - {"kind"}
    assert fields == _parameters(RandomNetworkRepresentation) - set(REPRESENTATION_HARNESS)
    # A kernel's representation takes the keys of hierlearn.kernels' ``representation``.
    kernel_representation = set(spec_params.KernelRepresentationParams.model_fields)
    assert kernel_representation == set(RepresentationSpec.__dataclass_fields__)


def _cases():
    for kind, model in MODELS.items():
        cls = estimator_class(kind)
        for name, field in model.model_fields.items():
            yield pytest.param(cls, model, name, field, id=f"{kind}.{name}")
    cls, model = RandomNetworkRepresentation, spec_module.RandomNetworkRepresentation
    for name, field in model.model_fields.items():
        if name != "kind":
            yield pytest.param(cls, model, name, field, id=f"random_network.{name}")


# Where the two sides differ on purpose: a ridge list is the spec's ``search.ridge`` (solved
# with one factorisation), a single value its ``params.ridge``, and a list of the convex
# learner's ``reg`` is the protocol's penalty path; a kernel's representation is a
# dict of the estimator and a model of the spec (checked key by key above).
DIFFERENT_FORMS = {"ridge": "array-like", "reg": "array-like", "representation": dict}


@pytest.mark.parametrize(("cls", "model", "name", "field"), list(_cases()))
def test_the_spec_and_the_estimator_accept_the_same_values(cls, model, name, field):
    constraints = cls._parameter_constraints[name]
    disagreements = []
    for value in _probes(constraints, field):
        if value is None:  # None means "the estimator's default" in a spec
            continue
        if name in DIFFERENT_FORMS and not isinstance(value, (int, float, str)):
            continue
        estimator, spec = _estimator_accepts(cls, name, value), _spec_accepts(model, name, value)
        if estimator != spec:
            disagreements.append((value, f"estimator {estimator}, spec {spec}"))
    assert not disagreements, disagreements


def test_a_kernel_center_has_one_spelling():
    params = spec_params.KernelParams(representation={"activation": "relu"}, center=True)
    assert params.center is True and "center" not in params.model_dump()["representation"]
    with pytest.raises(ValidationError, match="center"):
        spec_params.KernelParams(representation={"activation": "relu", "center": True})


@pytest.mark.parametrize("kind", MODELS)
def test_every_spec_parameter_carries_the_estimator_description(kind):
    # The spec reference page shows these; a parameter missing from the estimator's Args:
    # would fall back to a bare pointer at the estimator.
    model = MODELS[kind]
    for name, field in model.model_fields.items():
        assert field.description and not field.description.endswith(f"``{name}``."), name
    described = spec_params.argument_docs(estimator_class("quadratic_taylor"))
    assert described["gd_noise"].startswith("standard deviation of the noise")
