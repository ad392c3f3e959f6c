"""Input distributions (docs/theory.md §1).

``gaussian``: x ~ N(0, I_d).  ``sphere``: x ~ Unif(S^{d-1}(sqrt d)), the sphere of radius
sqrt(d), so that E|x|^2 = d under both laws.
"""

from __future__ import annotations

import math

import torch

from ._random import make_generator
from ._validation import check_choice, check_int, resolve_dtype


class _Inputs:
    name = ""

    def __init__(self, d: int):
        self.d = check_int("d", d, minimum=1)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(d={self.d})"

    def __eq__(self, other) -> bool:
        return type(self) is type(other) and self.d == other.d

    def __hash__(self) -> int:
        return hash((type(self).__name__, self.d))

    def sample(self, n: int, generator=None, dtype="float64") -> torch.Tensor:
        """Draw ``n`` inputs as a CPU tensor of shape (n, d).

        Args:
            n: number of samples, n >= 1.
            generator: a ``torch.Generator`` or an int seed (see ``make_generator``).
            dtype: "float64" (default) or "float32".
        """
        n = check_int("n", n, minimum=1)
        gaussian = torch.randn(n, self.d, generator=make_generator(generator), dtype=torch.float64)
        return self._shape(gaussian).to(resolve_dtype(dtype))

    def _shape(self, gaussian: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError


class GaussianInputs(_Inputs):
    """Standard Gaussian inputs x ~ N(0, I_d)."""

    name = "gaussian"

    def _shape(self, gaussian: torch.Tensor) -> torch.Tensor:
        return gaussian


class SphereInputs(_Inputs):
    """Uniform inputs on the sphere of radius sqrt(d) in R^d."""

    name = "sphere"

    def _shape(self, gaussian: torch.Tensor) -> torch.Tensor:
        return gaussian * (math.sqrt(self.d) / gaussian.norm(dim=1, keepdim=True))


INPUT_LAWS = {"gaussian": GaussianInputs, "sphere": SphereInputs}


def make_inputs(name: str, d: int) -> _Inputs:
    """Return the input law called ``name`` ("gaussian" or "sphere") in dimension ``d``."""
    return INPUT_LAWS[check_choice("inputs", name, INPUT_LAWS)](d)
