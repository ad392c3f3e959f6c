"""The two-layer network and its Taylor expansion around a random initialisation.

The formulas are those of docs/theory.md §1 and §1.1.

On inputs z in R^{D'} (rows of ``z``, shape (n, D')), with first-layer weights W0 (m, D'),
fixed output signs a in {+1, -1}^m and a movement W (m, D'):

    f_{W0+W}(z) = (1/sqrt m) sum_r a_r act((w0_r + w_r) . z)                  network_output
    f^L_W(z)    = (1/sqrt m) sum_r a_r act'(w0_r . z) (w_r . z)                linear_term
    f^Q_W(z)    = (1/(2 sqrt m)) sum_r a_r act''(w0_r . z) (w_r . z)^2         quadratic_term

so f^L and f^Q are the first-order term and half the second derivative in t of
t -> f_{W0+tW}(z) at t = 0 (Bai & Lee 2020, arXiv 1910.01619, eq. (2); arXiv 2006.13436
section 3). With the symmetric initialisation f_{W0} = 0.

All functions take and return torch tensors; ``activation`` is a trainable activation name
(see [`hierlearn.activations`][]) or a
[`TrainableActivation`][hierlearn.activations.TrainableActivation].
"""

from __future__ import annotations

import math

import torch

from ._validation import check_int
from .activations import trainable_activation


def _check_shapes(z: torch.Tensor, W0: torch.Tensor, a: torch.Tensor, W: torch.Tensor | None):
    if z.ndim != 2:
        raise ValueError(f"z must be 2-D of shape (n_samples, D), got shape {tuple(z.shape)}")
    if W0.ndim != 2 or W0.shape[1] != z.shape[1]:
        raise ValueError(f"W0 must have shape (m, {z.shape[1]}), got {tuple(W0.shape)}")
    if a.shape != (W0.shape[0],):
        raise ValueError(f"a must have shape ({W0.shape[0]},), got {tuple(a.shape)}")
    if W is not None and W.shape != W0.shape:
        raise ValueError(f"W must have the shape of W0 {tuple(W0.shape)}, got {tuple(W.shape)}")


def network_output(z, W0, a, W, activation) -> torch.Tensor:
    """f_{W0+W}(z) = (1/sqrt m) sum_r a_r act((w0_r + w_r) . z), shape (n,)."""
    _check_shapes(z, W0, a, W)
    act = trainable_activation(activation).act
    return act(z @ (W0 + W).T) @ a / math.sqrt(W0.shape[0])


def linear_term(z, W0, a, W, activation) -> torch.Tensor:
    """f^L_W(z) = (1/sqrt m) sum_r a_r act'(w0_r . z) (w_r . z), shape (n,)."""
    _check_shapes(z, W0, a, W)
    d1 = trainable_activation(activation).d1
    return (d1(z @ W0.T) * (z @ W.T)) @ a / math.sqrt(W0.shape[0])


def quadratic_term(z, W0, a, W, activation) -> torch.Tensor:
    """f^Q_W(z) = (1/(2 sqrt m)) sum_r a_r act''(w0_r . z) (w_r . z)^2, shape (n,)."""
    _check_shapes(z, W0, a, W)
    d2 = trainable_activation(activation).d2
    projections = z @ W.T
    return (d2(z @ W0.T) * projections * projections) @ a / (2.0 * math.sqrt(W0.shape[0]))


def symmetric_init(
    m: int, dim: int, generator: torch.Generator, dtype=torch.float64, device="cpu"
) -> tuple[torch.Tensor, torch.Tensor]:
    """Symmetric initialisation: w0_r ~ N(0, I/dim), neurons r and r + m/2 share w0_r and
    have opposite signs a_r, so f_{W0} = 0.

    Returns:
        (W0, a) of shapes (m, dim) and (m,).
    """
    m = check_int("width", m, minimum=2)
    if m % 2:
        raise ValueError(f"width must be even with symmetric initialisation, got {m}")
    half = torch.randn(m // 2, dim, generator=generator, dtype=torch.float64) / math.sqrt(dim)
    W0 = torch.cat([half, half])
    a = torch.cat([torch.ones(m // 2), -torch.ones(m // 2)]).to(torch.float64)
    return W0.to(device=device, dtype=dtype), a.to(device=device, dtype=dtype)


def random_init(
    m: int, dim: int, generator: torch.Generator, dtype=torch.float64, device="cpu"
) -> tuple[torch.Tensor, torch.Tensor]:
    """Plain initialisation: w0_r ~ N(0, I/dim) independent, a_r uniform random signs."""
    m = check_int("width", m, minimum=1)
    W0 = torch.randn(m, dim, generator=generator, dtype=torch.float64) / math.sqrt(dim)
    a = torch.randint(0, 2, (m,), generator=generator).to(torch.float64) * 2.0 - 1.0
    return W0.to(device=device, dtype=dtype), a.to(device=device, dtype=dtype)


def quadratic_loss(z, y, W0, a, W, activation, randomized: bool = False) -> torch.Tensor:
    """Mean squared error of the quadratic model, (1/n) sum_i (y_i - f^Q_W(z_i))^2.

    With ``randomized=True`` it is the closed form of Bai & Lee's random-sign loss,
    E_sigma (1/n) sum_i (y_i - f^L_{sigma W}(z_i) - f^Q_{sigma W}(z_i))^2 over independent
    uniform signs sigma_r multiplying the rows w_r:

        (1/n) sum_i [ (y_i - f^Q_W(z_i))^2 + (1/m) sum_r act'(w0_r . z_i)^2 (w_r . z_i)^2 ],

    exact because f^Q is even in each sigma_r, f^L is odd, and a_r^2 = 1.
    """
    residual = y - quadratic_term(z, W0, a, W, activation)
    loss = (residual * residual).mean()
    if randomized:
        d1 = trainable_activation(activation).d1
        linear_parts = d1(z @ W0.T) * (z @ W.T)
        loss = loss + (linear_parts * linear_parts).sum(dim=1).mean() / W0.shape[0]
    return loss


def norm_2_4(W: torch.Tensor) -> torch.Tensor:
    """||W||_{2,4} = (sum_r ||w_r||_2^4)^{1/4}, the norm regularised by the quadratic model."""
    row_norms_sq = (W * W).sum(dim=1)
    return (row_norms_sq * row_norms_sq).sum() ** 0.25
