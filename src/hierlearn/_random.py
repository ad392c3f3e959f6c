"""Random-number helpers: every random draw in the library goes through a ``torch.Generator``
made here, so a seed fixes a result and global random state is never read or changed."""

from __future__ import annotations

import numbers

import numpy as np
import torch


def make_generator(random_state, device: torch.device | str = "cpu") -> torch.Generator:
    """A fresh ``torch.Generator`` seeded from ``random_state``.

    ``random_state`` is an int (the seed), ``None`` (a seed drawn from the operating system's
    entropy, never from global state), a ``numpy.random.Generator`` (one integer drawn from it)
    or a ``torch.Generator`` (returned as is).
    """
    if isinstance(random_state, torch.Generator):
        return random_state
    if random_state is None:
        seed = int(np.random.SeedSequence().generate_state(1, dtype=np.uint64)[0] >> 1)
    elif isinstance(random_state, np.random.Generator):
        seed = int(random_state.integers(0, 2**62))
    elif isinstance(random_state, numbers.Integral) and not isinstance(random_state, bool):
        if random_state < 0:
            raise ValueError(f"random_state must be a non-negative integer, got {random_state}")
        seed = int(random_state)
    else:
        raise ValueError(
            "random_state must be None, a non-negative int, a numpy Generator or a "
            f"torch.Generator, got {random_state!r}"
        )
    generator = torch.Generator(device=device)
    generator.manual_seed(seed)
    return generator


def child_seed(generator: torch.Generator) -> int:
    """Draw a seed for an independent child stream from ``generator``."""
    return int(torch.randint(0, 2**62, (1,), generator=generator).item())
