"""Several quadratic Taylor models trained together: one candidate search as one batched fit.

A tuning protocol tries the same model with several activations and penalties on the same
data (docs/theory.md §3). `fit_candidates` trains K such
[`QuadraticTaylorRegressor`][hierlearn.QuadraticTaylorRegressor] candidates as one (K, m, D')
parameter tensor:
every matrix product is batched over K, and each candidate keeps its own Adam moments, its
own plateau rule, best iterate and divergence check, so that each ends exactly as its own
``fit`` would (the same W0, a and starting point, the same updates up to floating-point
summation order). A candidate that stops leaves the batch; the others go on.

Only what the presets use is batched: Adam, full batch, validation data given, the
non-randomised objective, no step-size decays. `can_batch` says whether a list of
candidates qualifies; otherwise they are fitted one by one.
"""

from __future__ import annotations

import math

import torch

from .._random import make_generator
from .._validation import as_tensor, check_fit_data, check_validation_data
from ..activations import trainable_activation
from ..exceptions import DivergenceError
from ..metrics import relative_error
from ._common import with_input_bias
from ._training import TrainingResult, divergence
from .quadratic import QuadraticTaylorRegressor

# Parameters in which the candidates of one batch may differ.
BATCHED_PARAMETERS = ("activation", "reg")
# The most entries of one (n, K, m) tensor of a batch (float32: 2 MiB, about a core's share of
# the cache). The elementwise work of a step is memory-bound once its tensors leave the cache:
# measured on 2 cores, 12 candidates at n = 2,048, m = 256 in one batch took 2.4x the time
# of one by one, while groups under this bound run 1.3x-2x faster than one by one
# (benchmarks `candidates_batched_*`). Larger n trains one candidate at a time.
MAX_ENTRIES = 2**19
# torch.optim.Adam's defaults, reproduced step for step.
ADAM_BETAS = (0.9, 0.999)
ADAM_EPS = 1e-8


def can_batch(estimators) -> bool:
    """Whether `fit_candidates` can train these estimators together."""
    if len(estimators) < 2 or not all(type(e) is QuadraticTaylorRegressor for e in estimators):
        return False
    shared = [
        {k: v for k, v in e.get_params().items() if k not in BATCHED_PARAMETERS} for e in estimators
    ]
    first = shared[0]
    if any(params != first for params in shared[1:]):
        return False
    return (
        first["optimizer"] == "adam"
        and first["batch_size"] is None
        and not first["randomized"]
        and first["n_lr_decays"] == 0
        and first["gd_noise"] == 0
        and isinstance(first["random_state"], int)
    )


class _Candidate:
    """The training state of one candidate: plateau history, best iterate, curves."""

    def __init__(self, index: int, start_loss: float):
        self.index = index
        self.start_loss = start_loss
        self.best_validation = math.inf
        self.best_history: list[float] = []
        self.best_params = None
        self.best_epoch = 0
        self.best_train_loss = None
        self.epochs_run = 0
        self.train_loss: list[float] = []
        self.validation_error: list[float] = []
        self.converged = False
        self.error: DivergenceError | None = None


def fit_candidates(
    estimators, X, y, X_val, y_val, max_entries: int = MAX_ENTRIES
) -> list[DivergenceError | None]:
    """Fit every estimator on (X, y) with validation data (X_val, y_val), together.

    Each estimator ends with the attributes its own ``fit(X, y, X_val=X_val, y_val=y_val)``
    sets. Returns one entry per estimator: None, or the
    [`DivergenceError`][hierlearn.DivergenceError] its own fit
    would have raised (that estimator is then left unfitted). The candidates are trained in
    groups whose (n, K, m) tensors hold at most ``max_entries`` entries each.
    """
    if not can_batch(estimators):
        raise ValueError(
            "fit_candidates needs >= 2 QuadraticTaylorRegressor instances that differ only in "
            f"{', '.join(BATCHED_PARAMETERS)}, with optimizer='adam', batch_size=None, "
            "randomized=False, n_lr_decays=0, gd_noise=0 and an int random_state"
        )
    n, m = len(X) + len(X_val), estimators[0].width
    group = max(1, max_entries // max(n * m, 1))
    outcome = []
    for first in range(0, len(estimators), group):
        outcome += _fit_group(estimators[first : first + group], X, y, X_val, y_val)
    return outcome


def _fit_group(estimators, X, y, X_val, y_val) -> list[DivergenceError | None]:
    lead = estimators[0]
    device, dtype = lead._check_params()
    for estimator in estimators[1:]:
        estimator._check_params()
    checked = [check_fit_data(e, X, y) for e in estimators]
    X, y = checked[0]
    for estimator in estimators:
        X_val_checked, y_val_checked = check_validation_data(estimator, X_val, y_val)
    X = with_input_bias(X, lead.input_bias)
    X_val = with_input_bias(X_val_checked, lead.input_bias)

    # The same draws, in the same order, as GradientTwoLayerBase.fit.
    generator = make_generator(lead.random_state)
    start = lead._initialise(X.shape[1], generator, dtype, device)
    W0, a, scale = lead.W0_, lead.a_, lead.scale_
    for estimator in estimators:
        estimator.W0_, estimator.a_, estimator.scale_ = W0, a, scale

    z, targets = as_tensor(X, dtype, device), as_tensor(y, dtype, device)
    z_val, targets_val = as_tensor(X_val, dtype, device), as_tensor(y_val_checked, dtype, device)
    # a_r act''(w0_r . z_i) per activation, on the training and validation inputs.
    activations = sorted({e.activation for e in estimators})
    pre, pre_val = z @ W0.T, z_val @ W0.T
    # (For validation act'' alone: the prediction is formed as quadratic_term forms it, so
    # that every validation error, and with it every stopping decision, is the same number.)
    curvature_of = {
        name: (trainable_activation(name).d2(pre) * a, trainable_activation(name).d2(pre_val))
        for name in activations
    }
    del pre, pre_val
    half_inv_sqrt_m = 0.5 / math.sqrt(lead.width)
    n = z.shape[0]

    def batch_of(indices):
        # Layout (n, K, m): the K candidates' products with z are then one matrix product.
        curvature = torch.stack([curvature_of[estimators[k].activation][0] for k in indices], 1)
        curvature_val = torch.stack([curvature_of[estimators[k].activation][1] for k in indices], 1)
        regs = torch.tensor([float(estimators[k].reg) for k in indices], dtype=dtype, device=device)
        return curvature, curvature_val, regs

    def losses_and_grads(U, curvature, regs):
        """Per-candidate losses (K,) and gradients (K, m, D'), as the single objective."""
        K, m, width = U.shape
        # One (n, D') x (D', K m) product: z's rows against every candidate's neurons.
        projection = (z @ U.reshape(K * m, width).T).view(n, K, m)
        projection.mul_(scale)
        weighted = curvature * projection
        residual = half_inv_sqrt_m * (weighted * projection).sum(dim=2) - targets[:, None]
        losses = (residual * residual).mean(dim=0)  # (K,)
        weighted.mul_(residual.unsqueeze(2) * (2.0 * half_inv_sqrt_m))
        grads = (weighted.view(n, K * m).T @ z).view(K, m, width)
        grads.mul_(2.0 * scale / n)
        W = scale * U
        row_sq = (W * W).sum(dim=2)  # (K, m)
        fourth = (row_sq * row_sq).sum(dim=1)  # (K,)
        penalised = regs > 0
        losses = losses + torch.where(penalised, regs * fourth * fourth, 0.0)
        factor = torch.where(penalised, 8.0 * regs * fourth, 0.0).unsqueeze(1) * row_sq
        grads.add_(W * factor.unsqueeze(2), alpha=scale)
        return losses, grads

    def validation_errors(U, curvature_val):
        K, m, width = U.shape
        W = (scale * U).reshape(K * m, width)
        projection = (z_val @ W.T).view(-1, K, m)
        predictions = (curvature_val * projection * projection) @ a / (2.0 * math.sqrt(lead.width))
        return [relative_error(predictions[:, k], targets_val) for k in range(K)]

    K = len(estimators)
    active = list(range(K))
    curvature, curvature_val, regs = batch_of(active)
    params = start.unsqueeze(0).repeat(K, 1, 1)
    exp_avg, exp_avg_sq = torch.zeros_like(params), torch.zeros_like(params)
    start_losses, _ = losses_and_grads(params, curvature, regs)
    states = [_Candidate(k, float(loss)) for k, loss in enumerate(start_losses)]
    for state in states:
        state.best_params = params[state.index].clone()  # as train(): the start if never better
        state.error = divergence(
            state.start_loss, state.start_loss if math.isfinite(state.start_loss) else 1.0, 0
        )
    keep = [k for k in active if states[k].error is None]

    lr, (beta1, beta2) = lead.lr, ADAM_BETAS
    patience, tol = lead.n_iter_no_change, lead.tol
    for epoch in range(1, lead.epochs + 1):
        if keep != active:
            rows = [active.index(k) for k in keep]
            active = keep
            if not active:
                break
            params, exp_avg, exp_avg_sq = params[rows], exp_avg[rows], exp_avg_sq[rows]
            curvature, curvature_val, regs = batch_of(active)
        losses, grads = losses_and_grads(params, curvature, regs)
        # torch.optim.Adam (no weight decay, no amsgrad), batched over the candidates.
        exp_avg.lerp_(grads, 1 - beta1)
        exp_avg_sq.mul_(beta2).addcmul_(grads, grads, value=1 - beta2)
        correction1, correction2 = 1 - beta1**epoch, 1 - beta2**epoch
        denominator = (exp_avg_sq.sqrt() / math.sqrt(correction2)).add_(ADAM_EPS)
        params.addcdiv_(exp_avg, denominator, value=-lr / correction1)

        evaluate = epoch % lead.eval_every == 0 or epoch == lead.epochs
        errors = validation_errors(params, curvature_val) if evaluate else None
        keep = []
        for row, k in enumerate(active):
            state, loss = states[k], float(losses[row])
            state.error = divergence(loss, state.start_loss, epoch)
            if state.error is not None:
                continue
            state.train_loss.append(loss)
            state.epochs_run = epoch
            keep.append(k)
            if not evaluate:
                continue
            error = errors[row]
            state.validation_error.append(error)
            if error < state.best_validation:
                state.best_validation = error
                state.best_params = params[row].clone()
                state.best_epoch = epoch
                state.best_train_loss = loss
            state.best_history.append(state.best_validation)
            if patience is not None and len(state.best_history) > patience:
                before = state.best_history[-1 - patience]
                if math.isfinite(before) and state.best_validation >= before * (1.0 - tol):
                    state.converged = True
                    keep.pop()

    outcome: list[DivergenceError | None] = []
    for estimator, state in zip(estimators, states, strict=True):
        outcome.append(state.error)
        if state.error is not None:
            for name in ("W0_", "a_", "scale_"):
                delattr(estimator, name)
            continue
        estimator._record(
            TrainingResult(
                params=state.best_params,
                best_epoch=state.best_epoch,
                epochs_run=state.epochs_run,
                train_loss=state.train_loss,
                validation_error=state.validation_error,
                converged=state.converged,
                best_train_loss=state.best_train_loss,
            )
        )
    return outcome
