"""Shared test settings: float64 reference computations and a small thread count."""

import pytest
import torch

# Two cores here: keep each test process to two threads so parallel tools don't oversubscribe.
torch.set_num_threads(2)


@pytest.fixture
def one_thread():
    """One torch thread for the test: BLAS threads spin when the cores are shared, and one
    thread is then several times faster."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def pytest_collection_modifyitems(config, items):
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA device")
    for item in items:
        if "cuda" in item.keywords:
            item.add_marker(skip)


# ---------------------------------------------------------------- small specs shared by tests


def hermite2_features(width, n_unlabeled) -> dict:
    """A representation block: whitened He_2 features of ``width`` (an int or expression)."""
    return {
        "kind": "random_network",
        "width": width,
        "activation": "hermite-2",
        "n_unlabeled": n_unlabeled,
    }


def ntk_learner(width: int, *, search=None, theory=None, **params) -> dict:
    """A learner block: ``NTKRegressor(width=width, **params)``, optionally a search."""
    model = {"kind": "ntk", "params": {"width": width, **params}}
    return _learner(model, search, theory, None)


def quad_learner(width: int, *, representation=None, search=None, theory=None, **params) -> dict:
    """A learner block: ``QuadraticTaylorRegressor(width=width, **params)`` on raw inputs or on
    ``representation``."""
    model = {"kind": "quadratic_taylor", "params": {"width": width, **params}}
    return _learner(model, search, theory, representation)


def _learner(model, search, theory, representation) -> dict:
    if search:
        model["search"] = search
    learner = {"model": model}
    if representation is not None:
        learner = {"representation": representation, **learner}
    if theory is not None:
        learner = {"theory": theory, **learner}
    return learner


def sweep(name: str, *, dimensions, samples, learners: dict, **fields) -> dict:
    """A small valid spec as a dict: a degree-2 Hermite target, two seeds, 100 validation and
    200 test points unless ``fields`` say otherwise; ``samples`` a list of sizes or a
    ``samples`` block (a mapping)."""
    spec = {
        "name": name,
        "target": {"degrees": 2},
        "dimensions": list(dimensions),
        "samples": dict(samples) if isinstance(samples, dict) else list(samples),
        "seeds": 2,
        "test_size": 200,
        "design_size": 200,
        "learners": learners,
    }
    spec.update(fields)
    return spec
