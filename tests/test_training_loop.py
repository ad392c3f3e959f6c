"""The shared training loop: the plateau rule and its step-size decays."""

import torch

from hierlearn.estimators._training import TrainingSettings, train


def _bowl(target: torch.Tensor):
    """Loss |U - target|^2 with a noisy gradient (as a mini-batch gives); the validation
    error is the same distance."""
    noise = torch.Generator().manual_seed(1)

    def objective(U, rows):
        diff = U - target
        jitter = torch.randn(U.shape, generator=noise, dtype=U.dtype)
        return (diff * diff).sum(), 2.0 * diff + jitter

    def validate(U):
        return float(((U - target) ** 2).sum())

    return objective, validate


def _run(n_lr_decays: int):
    target = torch.linspace(-1.0, 1.0, 8, dtype=torch.float64)
    objective, validate = _bowl(target)
    settings = TrainingSettings(
        optimizer="adam",
        lr=0.5,
        epochs=5000,
        batch_size=None,
        eval_every=5,
        n_iter_no_change=10,
        tol=0.0,
        n_lr_decays=n_lr_decays,
        lr_decay=0.1,
    )
    start = torch.zeros(8, dtype=torch.float64)
    return train(objective, start, 1, settings, torch.Generator().manual_seed(0), validate)


def test_a_constant_step_stalls_above_the_minimum_and_decays_go_below():
    plain, decayed = _run(0), _run(2)
    assert plain.converged and decayed.converged  # both stopped by the plateau rule
    best_plain, best_decayed = min(plain.validation_error), min(decayed.validation_error)
    # With a noisy gradient, Adam at lr 0.5 hovers at a distance of order lr from the minimum
    # and the plateau rule fires there; two decays of 10x, each restarted from the best
    # iterate, take the error more than 10x below that level.
    assert best_plain > 0.05
    assert best_decayed < 0.1 * best_plain
    assert decayed.epochs_run > plain.epochs_run


def test_each_decay_needs_its_own_plateau():
    one, two = _run(1), _run(2)
    # Two decays run at least one more window of 10 evaluations (50 epochs) than one decay.
    assert two.epochs_run >= one.epochs_run + 50
    assert min(two.validation_error) <= min(one.validation_error)


def test_gd_noise_is_added_after_every_update():
    # A zero gradient: the parameters move by the noise alone. With 5 epochs of 4 mini-batches
    # (20 updates) of noise std 0.1, each coordinate's displacement has variance 20 * 0.01;
    # noise once per epoch would give 5 * 0.01.
    settings = TrainingSettings(
        optimizer="gd", lr=0.1, epochs=5, batch_size=25, gd_noise=0.1, eval_every=1
    )

    def objective(U, rows):
        return torch.zeros((), dtype=U.dtype), torch.zeros_like(U)

    start = torch.zeros(20_000, dtype=torch.float64)
    result = train(objective, start, 100, settings, torch.Generator().manual_seed(0), None)
    variance = float(result.params.var())
    assert abs(variance - 20 * 0.01) < 0.01  # its standard error is about 0.002
