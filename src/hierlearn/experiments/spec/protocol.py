"""The tuning protocol of a spec: one training rule and one search space for every learner.

A spec's ``tuning`` section (docs/theory.md §3) gives every gradient-trained learner the same
training parameters and validation search (``tuning.gradient``) and every ridge-solved
learner the same ridge grid (``tuning.kernel``), and every convex quadratic-form learner
(``quadratic_form``, docs/quadratic-form.md) the same penalty grid
(``tuning.quadratic_form``). `check_protocol` refuses a learner that
sets a key the protocol sets, so no learner can be handed a value of its own.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, NonNegativeFloat

from .params import (
    GRADIENT_KINDS,
    PENALTY_PATH_KINDS,
    RIDGE_KINDS,
    Frozen,
    GradientParams,
    GradientSearch,
)


class GradientTuning(Frozen):
    """The protocol of every gradient-trained learner (``quadratic_taylor``, ``two_layer``).

    ``params`` is the training rule (optimiser, epoch cap, plateau rule) and ``search`` the
    candidates chosen on validation data; both apply to every such learner, and a learner may
    not set any of their keys itself (its own params keep the architecture: width,
    activation). ``input_bias`` may use ``D``, the width of the model's input.
    """

    params: GradientParams = GradientParams()  # the training rule shared by every learner
    search: GradientSearch = GradientSearch()  # the validation search shared by every learner


class KernelTuning(Frozen):
    """The protocol of every ridge-solved learner (``kernel``, ``ntk``): one ridge grid."""

    # Ridges r of (1/n) sum (y - f)^2 + r ||f||^2, chosen on validation data.
    ridge: Annotated[tuple[NonNegativeFloat, ...], Field(min_length=1)]


class QuadraticFormTuning(Frozen):
    """The protocol of every convex quadratic-form learner (``quadratic_form``): one grid of
    penalties, solved as a path (largest first, warm-started) and chosen on validation data."""

    # Penalties reg of (1/n) sum (y - u^T A u)^2 + reg ||A||_* (or the "taylor" penalty).
    reg: Annotated[tuple[NonNegativeFloat, ...], Field(min_length=1)]
    # "max": each reg is a fraction of the weight at which A = 0 becomes the minimiser,
    # computed on each fit's data, so a path from 1 down always holds the zero model.
    reg_scale: Literal["absolute", "max"] | None = None


class Tuning(Frozen):
    """One tuning protocol for every learner of a spec, printed in its report."""

    gradient: GradientTuning | None = None  # quadratic_taylor and two_layer learners
    kernel: KernelTuning | None = None  # kernel and ntk learners
    quadratic_form: QuadraticFormTuning | None = None  # quadratic_form learners

    def for_kind(self, kind: str) -> tuple[dict, dict, str | None]:
        """(params, search, section) the protocol sets for a model kind, JSON-ready.

        ``params`` are fixed values, ``search`` maps a parameter to its candidate list, and
        ``section`` names the part of the spec they come from (None: the protocol sets
        nothing for this kind).
        """
        if kind in GRADIENT_KINDS and self.gradient is not None:
            params = self.gradient.params.model_dump(mode="json", exclude_none=True)
            search = self.gradient.search.model_dump(mode="json", exclude_none=True)
            return params, search, "tuning.gradient"
        if kind in RIDGE_KINDS and self.kernel is not None:
            return {}, {"ridge": list(self.kernel.ridge)}, "tuning.kernel"
        if kind in PENALTY_PATH_KINDS and self.quadratic_form is not None:
            tuning = self.quadratic_form
            params = {} if tuning.reg_scale is None else {"reg_scale": tuning.reg_scale}
            return params, {"reg": list(tuning.reg)}, "tuning.quadratic_form"
        return {}, {}, None

    def governs(self, kind: str) -> dict[str, str]:
        """{parameter: protocol section} of the keys the protocol sets for a model kind."""
        params, search, section = self.for_kind(kind)
        return {key: section for key in (*params, *search)}


def check_protocol(spec) -> list[tuple[str, str]]:
    """A learner may not set what the tuning protocol sets (one protocol for every learner)."""
    if spec.tuning is None:
        return []
    problems = []
    for name, learner in spec.learners.items():
        governed = spec.tuning.governs(learner.model.kind)
        if not governed:  # e.g. an ``estimator`` learner: no section sets its keys
            continue
        for part in ("params", "search"):
            mine = getattr(learner.model, part).model_dump(exclude_none=True)
            for key in sorted(set(mine) & set(governed)):
                problems.append(
                    (
                        f"learners.{name}.model.{part}.{key}",
                        f"set by {governed[key]} (one protocol for every learner); "
                        "remove it here or change the protocol",
                    )
                )
    return problems
