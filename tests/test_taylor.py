"""The Taylor terms against autograd derivatives, and the randomized closed form."""

import itertools
import math

import pytest
import torch

from hierlearn import taylor
from hierlearn.activations import TRAINABLE_ACTIVATIONS, trainable_activation


def _problem(seed, n=7, dim=5, m=6):
    generator = torch.Generator().manual_seed(seed)
    z = torch.randn(n, dim, generator=generator, dtype=torch.float64)
    W0, a = taylor.symmetric_init(m, dim, generator)
    W = torch.randn(m, dim, generator=generator, dtype=torch.float64) * 0.3
    return z, W0, a, W


@pytest.mark.parametrize("name", TRAINABLE_ACTIVATIONS)
def test_activation_derivatives_match_autograd(name):
    activation = trainable_activation(name)
    t = torch.linspace(-3, 3, 61, dtype=torch.float64)
    t = t[t.abs() > 1e-3]  # away from the kinks of the relu family
    first = torch.func.vmap(torch.func.grad(activation.act))(t)
    second = torch.func.vmap(torch.func.grad(torch.func.grad(activation.act)))(t)
    torch.testing.assert_close(activation.d1(t), first)
    torch.testing.assert_close(activation.d2(t), second)


@pytest.mark.parametrize("name", TRAINABLE_ACTIVATIONS)
def test_linear_and_quadratic_terms_are_taylor_coefficients(name):
    z, W0, a, W = _problem(seed=1)

    def along(t):
        return taylor.network_output(z, W0, a, t * W, name)

    zero = torch.zeros((), dtype=torch.float64)
    first = torch.func.jacfwd(along)(zero)
    second = torch.func.jacfwd(torch.func.jacfwd(along))(zero)
    torch.testing.assert_close(taylor.linear_term(z, W0, a, W, name), first)
    torch.testing.assert_close(taylor.quadratic_term(z, W0, a, W, name), 0.5 * second)


def test_symmetric_initialisation_gives_zero_output():
    z, W0, a, _ = _problem(seed=2, m=8)
    output = taylor.network_output(z, W0, a, torch.zeros_like(W0), "tanh")
    assert float(output.abs().max()) < 1e-15
    assert W0.shape == (8, 5) and set(a.tolist()) == {-1.0, 1.0}


@pytest.mark.parametrize("name", ["relu2", "tanh", "gelu"])
def test_randomized_closed_form_equals_average_over_all_sign_vectors(name):
    z, W0, a, W = _problem(seed=3, n=5, dim=3, m=6)
    y = torch.randn(5, generator=torch.Generator().manual_seed(4), dtype=torch.float64)
    losses = []
    for signs in itertools.product([-1.0, 1.0], repeat=W0.shape[0]):
        signed = torch.tensor(signs, dtype=torch.float64).unsqueeze(1) * W
        prediction = taylor.linear_term(z, W0, a, signed, name) + taylor.quadratic_term(
            z, W0, a, signed, name
        )
        losses.append(((y - prediction) ** 2).mean())
    average = torch.stack(losses).mean()
    closed_form = taylor.quadratic_loss(z, y, W0, a, W, name, randomized=True)
    torch.testing.assert_close(closed_form, average)
    # Without randomisation the linear term's variance is missing.
    assert float(taylor.quadratic_loss(z, y, W0, a, W, name)) < float(average)


def test_norm_2_4():
    W = torch.tensor([[3.0, 4.0], [1.0, 0.0]], dtype=torch.float64)
    assert math.isclose(float(taylor.norm_2_4(W)), (5.0**4 + 1.0) ** 0.25)


def test_bad_shapes_and_odd_width_raise():
    z, W0, a, W = _problem(seed=5)
    with pytest.raises(ValueError, match="W must have the shape"):
        taylor.quadratic_term(z, W0, a, W[:, :2], "relu2")
    with pytest.raises(ValueError, match="z must be 2-D"):
        taylor.linear_term(z[0], W0, a, W, "relu2")
    with pytest.raises(ValueError, match="activation='swish'.*accepted values"):
        taylor.network_output(z, W0, a, W, "swish")
    with pytest.raises(ValueError, match="width must be even"):
        taylor.symmetric_init(7, 3, torch.Generator().manual_seed(0))
