"""Reference helpers shared by the tests: data sets and plain comparisons, written naively so
that they can be read at a glance (the library's own versions are what the tests check)."""

import numpy as np
import torch

import hierlearn as hl


def polynomial_data(n: int, d: int, degree: int = 2, seed: int = 0):
    """(X, y): n gaussian inputs in R^d (drawn with ``seed``) and the labels of the low-rank
    polynomial target of this degree (Hermite basis, directions drawn with seed 0)."""
    X = hl.GaussianInputs(d).sample(n, seed).numpy()
    return X, np.asarray(hl.LowRankPolynomial(d, degree, random_state=0)(X))


def relative_difference(estimate, exact) -> float:
    """||estimate - exact|| / ||exact|| in the Frobenius (or Euclidean) norm; numpy or torch.
    Not the library's relative squared error (`hierlearn.relative_error`)."""
    if isinstance(estimate, torch.Tensor) or isinstance(exact, torch.Tensor):
        estimate, exact = torch.as_tensor(estimate), torch.as_tensor(exact)
        return float(torch.linalg.norm(estimate - exact) / torch.linalg.norm(exact))
    estimate, exact = np.asarray(estimate), np.asarray(exact)
    return float(np.linalg.norm(estimate - exact) / np.linalg.norm(exact))
