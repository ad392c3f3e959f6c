"""Your own learner and target in a spec: classes and functions named by import path.

A spec's ``model: {kind: estimator, class: ...}`` names any scikit-learn-compatible regressor
and ``target: {kind: callable, function: ...}`` any function of the inputs, both as
``"module.Name"`` or ``"module:Name"`` (after a colon the name may be dotted,
``"module:Outer.Inner"``). The path is resolved when the spec is loaded and stored in its
canonical form ``"module:Name"`` (the module as written, not the one that defines the
object), which is what a cell's config, and so its key, records.

A cell's key holds the path and the parameters, not the code: change the path (or the spec's
name) when the code behind it changes, or the store's cells of the old code are reused.
"""

from __future__ import annotations

import importlib
import inspect
import json
import math

# Parameters the harness passes to every estimator itself (never a spec's to set).
HARNESS_PARAMETERS = ("device", "random_state")

# Seeds reach a foreign class modulo 2^32: scikit-learn's check_random_state builds numpy's
# RandomState from an int, which accepts seeds below 2^32 only.
SEED_MODULUS = 2**32


def resolve_import_path(path) -> tuple[object, str]:
    """The object at ``path`` and the canonical path ``"module:Name"``.

    Raises ValueError naming the part that does not resolve: a module that does not exist, a
    module that fails while it is imported, or an attribute the module does not have.
    """
    if not isinstance(path, str) or not path.strip():
        raise ValueError(f"expected an import path 'module.Name' or 'module:Name', got {path!r}")
    path = path.strip()
    if ":" in path:
        module_name, _, attribute = path.partition(":")
        if not module_name or not attribute or ":" in attribute:
            raise ValueError(f"expected 'module:Name', got {path!r}")
        splits = [(module_name, attribute)]
    else:
        parts = path.split(".")
        if len(parts) < 2 or not all(parts):
            raise ValueError(
                f"expected an import path 'module.Name' or 'module:Name', got {path!r}"
            )
        # The longest prefix that is a module holds the object.
        splits = [(".".join(parts[:i]), ".".join(parts[i:])) for i in range(len(parts) - 1, 0, -1)]
    missing = None
    for module_name, attribute in splits:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as error:
            if (module_name + ".").startswith((error.name or "") + "."):
                missing = missing or error  # this prefix is not a module: try a shorter one
                continue
            raise ValueError(f"cannot import {module_name!r} (from {path!r}): {error}") from None
        except Exception as error:  # the module exists but fails while it is imported
            raise ValueError(
                f"importing {module_name!r} (from {path!r}) failed: {type(error).__name__}: {error}"
            ) from None
        value, found = module, f"module {module_name!r}"
        for part in attribute.split("."):
            if not hasattr(value, part):
                raise ValueError(f"{found} has no attribute {part!r}")
            value, found = getattr(value, part), f"{found[:-1]}.{part}'"
        return value, f"{module_name}:{attribute}"
    raise ValueError(f"cannot import {splits[-1][0]!r} (from {path!r}): {missing}")


def regressor_class(path) -> tuple[type, str]:
    """(class, canonical path) of a class with ``fit`` and ``predict`` at ``path``."""
    value, canonical = resolve_import_path(path)
    if not inspect.isclass(value):
        raise ValueError(
            f"{canonical} is a {type(value).__name__}, not a class; give the class of a "
            "scikit-learn-compatible regressor (with fit and predict), e.g. "
            "sklearn.linear_model.Ridge"
        )
    missing = [name for name in ("fit", "predict") if not callable(getattr(value, name, None))]
    if missing:
        raise ValueError(
            f"{canonical} has no {' and no '.join(missing)} method: not a regressor; give the "
            "class of a scikit-learn-compatible regressor (with fit and predict)"
        )
    return value, canonical


def target_function(path) -> tuple[object, str]:
    """(function, canonical path) of a callable target at ``path`` (not a class)."""
    value, canonical = resolve_import_path(path)
    if inspect.isclass(value) or not callable(value):
        what = "a class" if inspect.isclass(value) else f"a {type(value).__name__}"
        raise ValueError(
            f"{canonical} is {what}, not a function; give a function f(X) of a (n, d) tensor "
            "that returns n values"
        )
    return value, canonical


def constructor_parameters(cls: type) -> tuple[dict[str, object], bool]:
    """({name: default, or inspect.Parameter.empty}, whether any other keyword is accepted)
    of ``cls.__init__``: the parameters a spec may set (as scikit-learn's ``get_params``)."""
    signature = inspect.signature(cls.__init__)
    named, any_keyword = {}, False
    for name, parameter in signature.parameters.items():
        if name == "self" or parameter.kind is inspect.Parameter.VAR_POSITIONAL:
            continue
        if parameter.kind is inspect.Parameter.VAR_KEYWORD:
            any_keyword = True
        else:
            named[name] = parameter.default
    return named, any_keyword


def is_plain(value) -> bool:
    """Whether ``value`` is plain JSON data (finite numbers, strings, booleans, None, lists
    and string-keyed mappings of them): what a cell's config, and its key, can hold."""
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError):
        return False
    return not isinstance(value, float) or math.isfinite(value)


def plain(value):
    """``value`` as JSON data (tuples become lists, numpy scalars Python numbers)."""
    return json.loads(json.dumps(value, default=lambda v: v.item()))


def constructor_defaults(cls: type) -> dict:
    """The defaults of ``cls.__init__`` that are plain data, without the harness's parameters;
    a default that is not (an object) stays out of the config and applies all the same."""
    named, _ = constructor_parameters(cls)
    defaults = {}
    for name, default in named.items():
        if name in HARNESS_PARAMETERS or default is inspect.Parameter.empty:
            continue
        try:
            value = plain(default)
        except (TypeError, ValueError, AttributeError):
            continue
        if is_plain(value):
            defaults[name] = value
    return defaults


def build_regressor(path: str, params: dict, device: str, random_state: int):
    """A fresh instance of the class at ``path`` with ``params``; ``random_state`` (modulo
    2^32) and ``device`` are passed where its constructor takes them."""
    cls, _ = regressor_class(path)
    named, _ = constructor_parameters(cls)
    harness = {}
    if "random_state" in named:
        harness["random_state"] = int(random_state) % SEED_MODULUS
    if "device" in named:
        harness["device"] = device
    return cls(**params, **harness)


def estimator_type(instance) -> str | None:
    """scikit-learn's estimator type of an instance ("regressor", "classifier", ...; None
    where the class declares none). ValueError ("is not scikit-learn-compatible: ...", to
    follow the class's name) where scikit-learn cannot read its tags: the
    harness fits it inside a scikit-learn pipeline, which needs them (a class that inherits
    from ``sklearn.base.BaseEstimator`` has them)."""
    from sklearn.utils import get_tags

    try:
        return get_tags(instance).estimator_type
    except Exception as error:
        raise ValueError(
            "is not scikit-learn-compatible: scikit-learn cannot read its tags "
            f"({type(error).__name__}); inherit from sklearn.base.RegressorMixin and "
            "sklearn.base.BaseEstimator"
        ) from None
