"""Sample complexity from stored rows: n*(d; eps), the exponent of n* in d, and the theory.

Definitions (``docs/theory.md``; arXiv 2006.13436 for the predicted exponents):

* the error of a cell is its relative test error; a "diverged" or "timeout" cell counts as
  an infinite error, a "failed" cell is left out;
* the learning curve at d is the median error over seeds at every stored n, made monotone
  non-increasing in n by isotonic regression of its log (weighted by the number of seeds at
  each n; see `isotonic`);
* n*(d; eps) is the first n where the fitted curve is <= eps, interpolated linearly in
  (log n, log fitted error) from the size before. It is *censored* when no size reaches eps
  (n* > n_max, a lower bound) or the smallest size already does (n* <= n_min, an upper
  bound); censored values are shown as bounds and never enter a fit. Flags: "flat" (the
  fitted curve falls slower than n^-0.25 where it crosses eps) and "capped" (a cell at a
  size n* rests on, see [`NStar`][hierlearn.experiments.analysis.NStar] ``sizes``, ended its
  training at the epoch cap,
  ``details.training.stopped_by_plateau`` false, or a solver short of its tolerance,
  ``details.training.converged`` false; rows without a record are not counted);
* the exponent is the least-squares slope of log n* against log d over the dimensions with a
  finite n* (at least `MIN_DIMENSIONS`, else n/a);
* its 95% interval is an *interval-censored* percentile bootstrap: every replicate resamples,
  at every d, the seeds with replacement and recomputes n* at the point estimate's fitted
  dimensions. A replicate in which one of them is censored or an interval is never refitted
  on fewer d: its n* is a range of log n*
  ([`NStar.log_range`][hierlearn.experiments.analysis.NStar.log_range]), so its slope is a range
  [s_lo, s_hi] (the least-squares slope is linear in the log n*, so the ends are reached at
  the ends of the ranges; a half-line gives an infinite end). The interval is [the 2.5th
  percentile of s_lo, the 97.5th percentile of s_hi] (order statistics, no interpolation):
  the plain percentile interval when every replicate is finite, unbounded on a side where
  more than 2.5% of the replicates are censored towards it. ``bootstrap_censored`` counts
  the replicates whose slope is a range;
* the interval of n* at one d (only for a finite n*) is built the same way from the ranges
  of n* over the replicates; an infinite end is reported as None;
* the per-seed n* is n* of one seed's own curve (isotonic too);
* all of it is computed at every threshold of ``eps_levels``; the primary ``eps`` is also
  reported at the top level of [`exponents_json`][hierlearn.experiments.analysis.exponents_json].
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field, replace

import numpy as np

from ..defaults import N_BOOTSTRAP, eps_key
from ..run.cells import usable_error
from .isotonic import NStar, curve_n_stars, n_star
from .predicted import predicted_for_learner

__all__ = [
    "Analysis",
    "EpsResult",
    "LearnerAnalysis",
    "NStar",
    "analyse",
    "eps_key",
    "exponents_json",
    "fit_exponent",
    "learner_label",
    "n_star",
]

MIN_FINITE_SHARE = 0.5  # a ratio interval needs both n* finite in this share of replicates
MIN_DIMENSIONS = 3  # an exponent needs a finite n* at this many distinct d (two fit any line)


def fit_exponent(dimensions, values) -> tuple[float, float] | None:
    """(slope, intercept) of log value = intercept + slope log d, or None with fewer than
    `MIN_DIMENSIONS` distinct d."""
    if len(set(dimensions)) < MIN_DIMENSIONS:
        return None
    slope, intercept = np.polyfit(np.log(dimensions), np.log(values), 1)
    return float(slope), float(intercept)


def percentile_interval(values) -> tuple[float, float] | None:
    """The 2.5 and 97.5 percentiles of ``values``, None when empty."""
    if len(values) == 0:
        return None
    low, high = np.percentile(values, [2.5, 97.5])
    return float(low), float(high)


def censored_interval(lows, highs) -> tuple[float, float] | None:
    """[2.5th percentile of ``lows``, 97.5th percentile of ``highs``] as order statistics
    (no interpolation, so infinite ends stay infinite); None when empty."""
    if len(lows) == 0:
        return None
    low = float(np.percentile(np.asarray(lows, dtype=float), 2.5, method="lower"))
    high = float(np.percentile(np.asarray(highs, dtype=float), 97.5, method="higher"))
    return low, high


def slope_weights(dimensions) -> np.ndarray:
    """c_i with slope = sum_i c_i log n*_i for the least-squares fit against log d_i."""
    x = np.log(np.asarray(dimensions, dtype=float))
    centred = x - x.mean()
    return centred / np.sum(centred**2)


def slope_range(weights: np.ndarray, ranges) -> tuple[float, float]:
    """The least and largest least-squares slope over log n*_i in [lo_i, hi_i] (``ranges``):
    each end takes lo_i or hi_i by the sign of c_i; infinite ends give infinite slopes."""
    low = high = 0.0
    for c, (lo, hi) in zip(weights, ranges, strict=True):
        if c > 0:
            low, high = low + c * lo, high + c * hi
        elif c < 0:
            low, high = low + c * hi, high + c * lo
    return low, high


def interval_json(ci) -> list | None:
    """An interval for JSON: infinite ends as None."""
    if ci is None:
        return None
    return [value if math.isfinite(value) else None for value in ci]


@dataclass
class EpsResult:
    """n* and the exponent of one learner at one threshold eps."""

    eps: float
    n_star: dict[int, NStar] = field(default_factory=dict)
    per_seed: dict[int, dict[int, NStar]] = field(default_factory=dict)  # d -> seed -> n*
    n_star_ci: dict[int, tuple[float, float] | None] = field(default_factory=dict)
    exponent: float | None = None
    intercept: float | None = None
    ci: tuple[float, float] | None = None  # may have infinite ends (censored replicates)
    bootstrap_used: int = 0
    bootstrap_censored: int = 0  # replicates whose slope is a range, not a number

    def fitted_dimensions(self) -> list[int]:
        """The dimensions with a finite n*, ascending."""
        return sorted(d for d, s in self.n_star.items() if s.kind == "finite")

    def to_json(self) -> dict:
        """The ``by_eps`` entry of
        [`exponents_json`][hierlearn.experiments.analysis.exponents_json]."""
        return {
            "exponent": self.exponent,
            "ci": interval_json(self.ci),
            "n_star": {str(d): s.to_json() for d, s in sorted(self.n_star.items())},
            "n_star_ci": {str(d): interval_json(ci) for d, ci in sorted(self.n_star_ci.items())},
            "n_star_per_seed": {
                str(d): {str(s): v.to_json() for s, v in sorted(by_seed.items())}
                for d, by_seed in sorted(self.per_seed.items())
            },
            "local_slope": {str(d): s.local_slope for d, s in sorted(self.n_star.items())},
            "flags": {str(d): list(s.flags) for d, s in sorted(self.n_star.items())},
            "fitted_dimensions": self.fitted_dimensions(),
            "bootstrap_used": self.bootstrap_used,
            "bootstrap_censored": self.bootstrap_censored,
        }


@dataclass
class LearnerAnalysis:
    """Everything the report shows for one learner.

    ``n_star``, ``exponent``, ``intercept``, ``ci`` and ``bootstrap_used`` are those of the
    primary eps; ``by_eps`` holds every level.
    """

    name: str
    theory_learner: str | None  # row of the theory table, from the spec
    degree: int | None  # p, the largest target degree (None: a callable target, no degree)
    theory: float | None  # predicted exponent, None without a (finite) prediction
    errors: dict[int, dict[int, dict[int, float]]]  # d -> n -> seed -> usable error
    primary_eps: float = 0.1
    by_eps: dict[float, EpsResult] = field(default_factory=dict)
    statuses: dict[str, int] = field(default_factory=dict)
    capped_cells: dict[int, dict[int, set[int]]] = field(default_factory=dict)
    models: dict[int, dict] = field(default_factory=dict)  # d -> config["model"]
    representations: dict[int, dict] = field(default_factory=dict)  # d -> representation

    @property
    def primary(self) -> EpsResult:
        return self.by_eps[self.primary_eps]

    @property
    def n_star(self) -> dict[int, NStar]:
        return self.primary.n_star

    @property
    def exponent(self) -> float | None:
        return self.primary.exponent

    @property
    def intercept(self) -> float | None:
        return self.primary.intercept

    @property
    def ci(self) -> tuple[float, float] | None:
        return self.primary.ci

    @property
    def bootstrap_used(self) -> int:
        return self.primary.bootstrap_used

    @property
    def capped(self) -> int:
        """The "ok" cells whose training ended at its cap (see `training_capped`)."""
        return sum(len(s) for by_n in self.capped_cells.values() for s in by_n.values())

    def medians(self, d: int) -> tuple[list[int], list[float]]:
        """Sizes (ascending) and raw median errors over seeds at dimension d."""
        sizes = sorted(self.errors[d])
        return sizes, [float(np.median(list(self.errors[d][n].values()))) for n in sizes]

    def matrix(self, d: int) -> tuple[list[int], list[int], np.ndarray]:
        """(sizes, seeds, errors) at d: errors[i, j] of size i and seed j, NaN if absent."""
        sizes = sorted(self.errors[d])
        seeds = sorted({s for by_seed in self.errors[d].values() for s in by_seed})
        column = {s: j for j, s in enumerate(seeds)}
        errors = np.full((len(sizes), len(seeds)), np.nan)
        for i, n in enumerate(sizes):
            for s, value in self.errors[d][n].items():
                errors[i, column[s]] = value
        return sizes, seeds, errors


@dataclass
class Analysis:
    """The analysis of a set of rows: every learner at every eps level."""

    eps: float  # the primary threshold
    n_bootstrap: int
    learners: dict[str, LearnerAnalysis]
    eps_levels: tuple[float, ...] = ()  # every threshold, descending (the primary included)
    seed: int = 0  # of the bootstrap


def learner_label(row: dict, several_specs: bool) -> str:
    """``learner``, or ``spec:learner`` when the rows come from several specs."""
    return f"{row['spec']}:{row['learner']}" if several_specs else row["learner"]


def training_capped(row: dict) -> bool | None:
    """Whether a row's training ended at its cap: ``details.training.stopped_by_plateau``
    false (a gradient-trained model ran to its epoch cap) or ``converged`` false (a solver
    short of its tolerance); None when the row has no record."""
    training = (row.get("details") or {}).get("training")
    if not isinstance(training, dict):
        return None
    for flag in ("stopped_by_plateau", "converged"):
        if flag in training:
            return not bool(training[flag])
    return None


def _collect(rows: list[dict], eps: float) -> dict[str, LearnerAnalysis]:
    several = len({row["spec"] for row in rows}) > 1
    learners: dict[str, LearnerAnalysis] = {}
    statuses: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for row in rows:
        name = learner_label(row, several)
        statuses[name][row["status"]] += 1
        config = row.get("config") or {}
        if name not in learners:
            degrees = config["target"].get("degrees")
            degree = max(degrees) if degrees else None
            learners[name] = LearnerAnalysis(name, config.get("theory"), degree, None, {}, eps)
        learner = learners[name]
        d = row["d"]
        learner.representations.setdefault(d, config.get("representation") or {"kind": "identity"})
        if "model" in config:
            model = {**config["model"], "validation_fraction": config.get("validation_fraction")}
            learner.models.setdefault(d, model)
        error = usable_error(row["status"], row["relative_test_error"])
        if error is not None:
            learner.errors.setdefault(d, {}).setdefault(row["n"], {})[row["seed"]] = error
        if row["status"] == "ok" and training_capped(row):
            learner.capped_cells.setdefault(d, {}).setdefault(row["n"], set()).add(row["seed"])
    for name, learner in learners.items():
        learner.statuses = dict(statuses[name])
        if learner.theory_learner and learner.degree is not None:
            learner.theory = predicted_for_learner(
                learner.theory_learner, learner.degree, learner.representations
            )
    return learners


def analyse(
    rows: list[dict],
    eps: float,
    n_bootstrap: int = N_BOOTSTRAP,
    seed: int = 0,
    eps_levels=None,
) -> Analysis:
    """Analyse stored rows (as returned by
    [`Store.rows`][hierlearn.experiments.run.store.Store.rows], JSON columns decoded).

    ``eps`` is the primary threshold; ``eps_levels`` (default ``(eps,)``, the primary always
    added) every threshold n* and the exponent are computed at. ``seed`` seeds the bootstrap.
    """
    levels = tuple(sorted({float(eps), *(float(e) for e in eps_levels or ())}, reverse=True))
    learners = _collect(rows, float(eps))
    generator = np.random.default_rng(seed)
    for learner in learners.values():
        _analyse_learner(learner, levels, n_bootstrap, generator)
    return Analysis(float(eps), n_bootstrap, learners, levels, seed)


def _analyse_learner(learner: LearnerAnalysis, levels, n_bootstrap: int, generator) -> None:
    matrices = {d: learner.matrix(d) for d in sorted(learner.errors)}
    learner.by_eps = {eps: EpsResult(eps) for eps in levels}
    for d, (sizes, seeds, errors) in matrices.items():
        full = curve_n_stars(sizes, errors, np.arange(len(seeds)), levels)
        for eps, estimate in full.items():
            learner.by_eps[eps].n_star[d] = _mark_capped(learner, d, estimate)
        for j, s in enumerate(seeds):
            for eps, estimate in curve_n_stars(sizes, errors, [j], levels).items():
                learner.by_eps[eps].per_seed.setdefault(d, {})[s] = estimate
    for result in learner.by_eps.values():
        finite = {d: result.n_star[d].value for d in result.fitted_dimensions()}
        fitted = fit_exponent(list(finite), list(finite.values()))
        if fitted is not None:
            result.exponent, result.intercept = fitted
    fitted = {
        eps: result.fitted_dimensions() if result.exponent is not None else []
        for eps, result in learner.by_eps.items()
    }
    draws, slopes = _bootstrap(matrices, levels, fitted, n_bootstrap, generator)
    for eps, result in learner.by_eps.items():
        lows, highs = slopes[eps]
        result.bootstrap_used = len(lows)
        if result.exponent is not None:
            result.ci = censored_interval(lows, highs)
            censored = sum(lo != hi for lo, hi in zip(lows, highs, strict=True))
            result.bootstrap_censored = int(censored)
        for d, ranges in draws[eps].items():
            finite = result.n_star[d].kind == "finite"
            if finite and ranges:
                low, high = censored_interval(*zip(*ranges, strict=True))
                result.n_star_ci[d] = (math.exp(low), math.exp(high))  # unbounded: 0, inf
            else:
                result.n_star_ci[d] = None


def _mark_capped(learner: LearnerAnalysis, d: int, estimate: NStar) -> NStar:
    cells = learner.capped_cells.get(d, {})
    if any(cells.get(int(n)) for n in estimate.sizes):
        return replace(estimate, flags=(*estimate.flags, "capped"))
    return estimate


def _bootstrap(matrices, levels, fitted: dict, replicates: int, generator):
    """Seed-resampled ranges of log n* at every d and eps, and each replicate's slope range
    over the point estimate's ``fitted`` dimensions (see the module docstring)."""
    draws = {eps: {d: [] for d in matrices} for eps in levels}
    slopes: dict[float, tuple[list, list]] = {eps: ([], []) for eps in levels}
    weights = {eps: slope_weights(fitted[eps]) for eps in levels if fitted[eps]}
    for _ in range(replicates):
        for d, (sizes, seeds, errors) in matrices.items():
            columns = generator.integers(0, len(seeds), size=len(seeds))
            for eps, estimate in curve_n_stars(sizes, errors, columns, levels).items():
                draws[eps][d].append(estimate.log_range())
        for eps, c in weights.items():
            ranges = [draws[eps][d][-1] for d in fitted[eps]]
            low, high = slope_range(c, ranges)
            slopes[eps][0].append(low)
            slopes[eps][1].append(high)
    return draws, slopes


def exponents_json(analysis: Analysis, comparisons: list[dict] | None = None) -> dict:
    """The content of ``exponents.json``.

    ``{"eps": 0.1, "eps_levels": [0.3, 0.1], "n_bootstrap": 1000, "learners": {NAME: {
    "exponent": x or null, "ci": [lo, hi] or null, "theory": t or null, "theory_learner":
    "quad-h", "degree": p, "n_star": {"8": n, "16": {"lower_bound": n_max}, "4":
    {"upper_bound": n_min}}, "fitted_dimensions": [...], "bootstrap_used": k, "cells":
    {status: count}, "capped": count, "by_eps": {"0.3": {...}, "0.1": {...}}}},
    "comparisons": [...]}``. The top-level learner fields are those of the primary eps;
    ``by_eps`` (keys ``f"{eps:g}"``) holds, at every level, ``exponent``, ``ci``,
    ``n_star``, ``n_star_ci`` ({d: [lo, hi] or null}), ``n_star_per_seed`` ({d: {seed:
    n*}}), ``local_slope`` ({d: x or null}), ``flags`` ({d: ["flat", "capped"]}),
    ``fitted_dimensions`` and ``bootstrap_used``. ``exponent`` is null when fewer than two
    dimensions have a finite n*; censored n* appear as bounds (see
    [`NStar`][hierlearn.experiments.analysis.NStar]).
    ``comparisons`` are the entries of `hierlearn.experiments.analysis.comparisons.compare`.
    """
    learners = {}
    for name, learner in analysis.learners.items():
        primary = learner.primary
        learners[name] = {
            "exponent": primary.exponent,
            "ci": interval_json(primary.ci),
            "theory": learner.theory,
            "theory_learner": learner.theory_learner,
            "degree": learner.degree,
            "n_star": {str(d): s.to_json() for d, s in sorted(primary.n_star.items())},
            "fitted_dimensions": primary.fitted_dimensions(),
            "bootstrap_used": primary.bootstrap_used,
            "cells": dict(sorted(learner.statuses.items())),
            "capped": learner.capped,
            "by_eps": {eps_key(e): r.to_json() for e, r in learner.by_eps.items()},
        }
    return {
        "eps": analysis.eps,
        "eps_levels": list(analysis.eps_levels),
        "n_bootstrap": analysis.n_bootstrap,
        "learners": learners,
        "comparisons": list(comparisons or []),
    }
