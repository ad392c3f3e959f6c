"""First-order training loop shared by the gradient-trained estimators.

The estimators hand this loop an ``objective(U, rows) -> (loss, grad)`` that returns the
training loss on the rows ``rows`` (``None`` for all) and its gradient with respect to the
parameter tensor ``U``, computed however is fastest (by hand for the quadratic model, by
autograd for the real network). The loop owns the optimiser, mini-batching, divergence
detection and the choice of the best iterate on validation data.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from ..exceptions import DivergenceError

OPTIMIZERS = ("adam", "gd", "lbfgs")

# Training stops as diverged when the loss exceeds this multiple of its starting value.
DIVERGENCE_FACTOR = 1e6

# Fewest L-BFGS iterations per call (see ``train``).
LBFGS_MIN_CHUNK = 10

Objective = Callable[[torch.Tensor, torch.Tensor | None], tuple[torch.Tensor, torch.Tensor]]


@dataclass
class TrainingSettings:
    """Optimiser settings, copied from the estimator's hyperparameters."""

    optimizer: str  # "adam", "gd" (optionally noisy) or "lbfgs" (full batch)
    lr: float  # step size on the parameter tensor U
    epochs: int  # passes over the training data (L-BFGS: iterations)
    batch_size: int | None  # None: full batch
    gd_noise: float = 0.0  # std of Gaussian noise added to every "gd" update
    eval_every: int = 1  # epochs between validation evaluations
    n_iter_no_change: int | None = None  # k of the plateau rule (see ``train``); None: no rule
    tol: float = 0.0  # relative fall of the best validation error needed over k evaluations
    n_lr_decays: int = 0  # times the plateau rule lowers lr before it stops training
    lr_decay: float = 0.2  # the factor applied to lr at each of those plateaus


@dataclass
class TrainingResult:
    """What the loop returns: the chosen parameters and the loss curves."""

    params: torch.Tensor
    best_epoch: int
    epochs_run: int
    train_loss: list[float] = field(default_factory=list)
    validation_error: list[float] = field(default_factory=list)
    # True when the plateau rule stopped training before the epoch cap (see ``train``).
    converged: bool = False
    best_train_loss: float | None = None  # the training loss of the returned iterate


def divergence(loss: float, start: float, epoch: int) -> DivergenceError | None:
    """The error of a loss that is NaN/inf or grew by ``DIVERGENCE_FACTOR``, else None."""
    if not math.isfinite(loss):
        return DivergenceError(
            f"training diverged at epoch {epoch}: the loss is {loss}; lower lr", epoch, loss
        )
    if loss > DIVERGENCE_FACTOR * max(start, 1e-12):
        return DivergenceError(
            f"training diverged at epoch {epoch}: the loss grew from {start:.3g} to {loss:.3g}; "
            "lower lr",
            epoch,
            loss,
        )
    return None


def _check_finite(loss: float, start: float, epoch: int) -> None:
    error = divergence(loss, start, epoch)
    if error is not None:
        raise error


def train(
    objective: Objective,
    params: torch.Tensor,
    n_samples: int,
    settings: TrainingSettings,
    generator: torch.Generator,
    validate: Callable[[torch.Tensor], float] | None = None,
) -> TrainingResult:
    """Minimise ``objective`` over ``params`` (updated in place) and return the best iterate.

    Args:
        objective: (U, rows) -> (loss, dL/dU), rows a LongTensor of sample indices or None.
        params: the initial parameter tensor U.
        n_samples: number of training samples (for mini-batching).
        settings: optimiser settings.
        generator: source of the mini-batch order and of the gradient noise.
        validate: U -> validation error; when given, the iterate with the smallest validation
            error is returned (evaluated every ``eval_every`` epochs and after the last one),
            otherwise the last iterate.

    Plateau rule (with ``validate`` and ``settings.n_iter_no_change`` = k): training stops,
    marked ``converged``, as soon as the best validation error has fallen by less than the
    relative margin ``tol`` over the last k evaluations (best_now >= best_{k evaluations ago}
    * (1 - tol)); with ``tol = 0``, after k evaluations without a new best. Reaching the epoch
    cap leaves ``converged`` False: the validation error was still falling by more than
    ``tol`` per window, so the cap, not the data, decided where training ended.

    Raises:
        DivergenceError: the loss became NaN/inf or grew by ``DIVERGENCE_FACTOR``.
    """
    params = params.detach().clone()
    full_batch = settings.batch_size is None or settings.batch_size >= n_samples
    # L-BFGS loses its curvature pairs when stepped one iteration per call, so it runs in
    # chunks of ``lbfgs_chunk`` iterations; an "epoch" is then a chunk.
    lbfgs_chunk = max(settings.eval_every, LBFGS_MIN_CHUNK)
    if settings.optimizer == "lbfgs":
        optimizer = torch.optim.LBFGS(
            [params],
            lr=settings.lr,
            max_iter=lbfgs_chunk,
            history_size=20,
            line_search_fn="strong_wolfe",
        )
    elif settings.optimizer == "adam":
        optimizer = torch.optim.Adam([params], lr=settings.lr)
    else:
        optimizer = torch.optim.SGD([params], lr=settings.lr)

    result = TrainingResult(params=params.clone(), best_epoch=0, epochs_run=0)
    best_validation = math.inf
    best_history: list[float] = []  # the best validation error after each evaluation
    decays_left = settings.n_lr_decays
    start_loss = float(objective(params, None)[0])
    _check_finite(start_loss, start_loss if math.isfinite(start_loss) else 1.0, 0)

    def closure(rows=None):
        loss, grad = objective(params, rows)
        params.grad = grad
        return loss

    def perturb():  # the noise of noisy gradient descent, after every "gd" update
        if settings.optimizer == "gd" and settings.gd_noise > 0:
            noise = torch.randn(params.shape, generator=generator, dtype=params.dtype)
            params.data.add_(noise.to(params.device), alpha=settings.gd_noise)

    epochs = settings.epochs
    if settings.optimizer == "lbfgs":
        epochs = math.ceil(settings.epochs / lbfgs_chunk)
    for epoch in range(1, epochs + 1):
        if settings.optimizer == "lbfgs" or full_batch:
            loss = float(optimizer.step(closure))
            perturb()
        else:
            order = torch.randperm(n_samples, generator=generator).to(params.device)
            total = 0.0
            for start in range(0, n_samples, settings.batch_size):
                rows = order[start : start + settings.batch_size]
                batch_loss = float(optimizer.step(lambda rows=rows: closure(rows)))
                perturb()
                total += batch_loss * rows.numel()
                _check_finite(batch_loss, start_loss, epoch)
            loss = total / n_samples
        _check_finite(loss, start_loss, epoch)
        result.train_loss.append(loss)
        # Epochs are reported in iterations for L-BFGS.
        result.epochs_run = epoch * (lbfgs_chunk if settings.optimizer == "lbfgs" else 1)
        if validate is None:
            continue
        lbfgs = settings.optimizer == "lbfgs"
        if lbfgs or epoch % settings.eval_every == 0 or epoch == epochs:
            error = validate(params)
            result.validation_error.append(error)
            if error < best_validation:
                best_validation = error
                result.params = params.detach().clone()
                result.best_epoch = result.epochs_run
                result.best_train_loss = loss
            best_history.append(best_validation)
            patience = settings.n_iter_no_change
            if patience is not None and len(best_history) > patience:
                before = best_history[-1 - patience]
                if math.isfinite(before) and best_validation >= before * (1.0 - settings.tol):
                    if decays_left == 0:
                        result.converged = True
                        break
                    decays_left -= 1
                    params.data.copy_(result.params)
                    for group in optimizer.param_groups:
                        group["lr"] *= settings.lr_decay
                    best_history = [best_validation]
    if validate is None:
        result.params = params.detach().clone()
        result.best_epoch = result.epochs_run
        result.best_train_loss = result.train_loss[-1] if result.train_loss else start_loss
    return result
