"""Shared test settings: float64 reference computations and a small thread count."""

import pytest
import torch

# Two cores here: keep each test process to two threads so parallel tools don't oversubscribe.
torch.set_num_threads(2)


def pytest_collection_modifyitems(config, items):
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA device")
    for item in items:
        if "cuda" in item.keywords:
            item.add_marker(skip)
