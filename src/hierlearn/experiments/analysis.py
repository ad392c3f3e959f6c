"""Sample complexity from stored rows: n*(d; eps), the exponent of n* in d, and the theory.

Definitions (SPEC section 3):

* the error of a cell is its relative test error; a "diverged" or "timeout" cell counts as
  an infinite error, a "failed" cell is left out;
* the learning curve at d is the median error over seeds at every stored n;
* n*(d; eps) is the smallest n whose median is <= eps, interpolated linearly in
  (log n, log median) between that size and the one before it. It is *censored* when no size
  reaches eps (n* > n_max, a lower bound) or the smallest size already does (n* <= n_min, an
  upper bound); censored values are shown as bounds and never enter a fit;
* the exponent is the least-squares slope of log n* against log d over the dimensions with a
  finite n* (at least two), and its confidence interval the 2.5 and 97.5 percentiles of that
  slope over bootstrap replicates that resample, at every d, the seeds with replacement
  (replicates with fewer than two finite n* are dropped; ``bootstrap_used`` counts the rest).
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np

from ..theory import predicted_exponent
from .adaptive import usable_error


@dataclass(frozen=True)
class NStar:
    """n*(d; eps) at one d: ``kind`` is "finite", "lower_bound" (n* > value), "upper_bound"
    (n* <= value) or "missing" (no usable rows)."""

    kind: str
    value: float | None

    def to_json(self):
        """A number when finite, ``{"lower_bound": n}`` / ``{"upper_bound": n}``, or None."""
        if self.kind == "finite":
            return self.value
        if self.kind == "missing":
            return None
        return {self.kind: self.value}


def n_star(sizes, medians, eps: float) -> NStar:
    """n* from a learning curve (sizes ascending, medians possibly infinite)."""
    pairs = [(float(n), float(m)) for n, m in zip(sizes, medians, strict=True)]
    if not pairs:
        return NStar("missing", None)
    for index, (n, median) in enumerate(pairs):
        if median <= eps:
            if index == 0:
                return NStar("upper_bound", n)
            n_before, median_before = pairs[index - 1]
            if not math.isfinite(median_before):
                return NStar("finite", n)  # no slope to interpolate along: the size itself
            log_low, log_high = math.log(median_before), math.log(max(median, 1e-300))
            t = (log_low - math.log(eps)) / (log_low - log_high)
            return NStar("finite", math.exp(math.log(n_before) + t * math.log(n / n_before)))
    return NStar("lower_bound", pairs[-1][0])


def fit_exponent(dimensions, values) -> tuple[float, float] | None:
    """(slope, intercept) of log value = intercept + slope log d, or None with < 2 distinct d."""
    if len(set(dimensions)) < 2:
        return None
    slope, intercept = np.polyfit(np.log(dimensions), np.log(values), 1)
    return float(slope), float(intercept)


@dataclass
class LearnerAnalysis:
    """Everything the report shows for one learner."""

    name: str
    theory_learner: str | None  # row of the theory table, from the spec
    degree: int  # p, the largest target degree
    theory: float | None  # predicted exponent, None without a theory row
    errors: dict[int, dict[int, dict[int, float]]]  # d -> n -> seed -> usable error
    n_star: dict[int, NStar] = field(default_factory=dict)
    exponent: float | None = None
    intercept: float | None = None
    ci: tuple[float, float] | None = None
    bootstrap_used: int = 0
    statuses: dict[str, int] = field(default_factory=dict)

    def medians(self, d: int) -> tuple[list[int], list[float]]:
        """Sizes (ascending) and median errors over seeds at dimension d."""
        sizes = sorted(self.errors[d])
        return sizes, [float(np.median(list(self.errors[d][n].values()))) for n in sizes]


@dataclass
class Analysis:
    eps: float
    n_bootstrap: int
    learners: dict[str, LearnerAnalysis]


def learner_label(row: dict, several_specs: bool) -> str:
    """``learner``, or ``spec:learner`` when the rows come from several specs."""
    return f"{row['spec']}:{row['learner']}" if several_specs else row["learner"]


def analyse(rows: list[dict], eps: float, n_bootstrap: int = 1000, seed: int = 0) -> Analysis:
    """Analyse stored rows (as returned by :meth:`Store.rows`, JSON columns decoded)."""
    several = len({row["spec"] for row in rows}) > 1
    learners: dict[str, LearnerAnalysis] = {}
    statuses: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for row in rows:
        name = learner_label(row, several)
        statuses[name][row["status"]] += 1
        if name not in learners:
            config = row["config"]
            theory_learner = config.get("theory")
            degree = max(config["target"]["degrees"])
            theory = predicted_exponent(theory_learner, degree) if theory_learner else None
            learners[name] = LearnerAnalysis(name, theory_learner, degree, theory, {})
        error = usable_error(row["status"], row["relative_test_error"])
        if error is not None:
            by_n = learners[name].errors.setdefault(row["d"], {})
            by_n.setdefault(row["n"], {})[row["seed"]] = error
    generator = np.random.default_rng(seed)
    for name, learner in learners.items():
        learner.statuses = dict(statuses[name])
        for d in sorted(learner.errors):
            learner.n_star[d] = n_star(*learner.medians(d), eps)
        finite = {d: s.value for d, s in learner.n_star.items() if s.kind == "finite"}
        fitted = fit_exponent(list(finite), list(finite.values()))
        if fitted is not None:
            learner.exponent, learner.intercept = fitted
            slopes = _bootstrap(learner, eps, n_bootstrap, generator)
            learner.bootstrap_used = len(slopes)
            if slopes:
                low, high = np.percentile(slopes, [2.5, 97.5])
                learner.ci = (float(low), float(high))
    return Analysis(eps, n_bootstrap, learners)


def _bootstrap(learner: LearnerAnalysis, eps: float, replicates: int, generator) -> list[float]:
    slopes = []
    dimensions = sorted(learner.errors)
    seeds = {
        d: sorted({s for by_seed in learner.errors[d].values() for s in by_seed})
        for d in dimensions
    }
    for _ in range(replicates):
        points = {}
        for d in dimensions:
            drawn = generator.choice(seeds[d], size=len(seeds[d]), replace=True)
            sizes, medians = [], []
            for n in sorted(learner.errors[d]):
                values = [learner.errors[d][n][s] for s in drawn if s in learner.errors[d][n]]
                if values:
                    sizes.append(n)
                    medians.append(float(np.median(values)))
            estimate = n_star(sizes, medians, eps)
            if estimate.kind == "finite":
                points[d] = estimate.value
        fitted = fit_exponent(list(points), list(points.values()))
        if fitted is not None:
            slopes.append(fitted[0])
    return slopes


def exponents_json(analysis: Analysis) -> dict:
    """The content of ``exponents.json``.

    ``{"eps": 0.1, "n_bootstrap": 1000, "learners": {NAME: {"exponent": x or null,
    "ci": [lo, hi] or null, "theory": t or null, "theory_learner": "quad-h", "degree": p,
    "n_star": {"8": n, "16": {"lower_bound": n_max}, "4": {"upper_bound": n_min}},
    "fitted_dimensions": [...], "bootstrap_used": k}}}``: ``exponent`` is null when fewer
    than two dimensions have a finite n*; censored n* appear as bounds (see :class:`NStar`).
    """
    learners = {}
    for name, learner in analysis.learners.items():
        learners[name] = {
            "exponent": learner.exponent,
            "ci": list(learner.ci) if learner.ci else None,
            "theory": learner.theory,
            "theory_learner": learner.theory_learner,
            "degree": learner.degree,
            "n_star": {str(d): s.to_json() for d, s in sorted(learner.n_star.items())},
            "fitted_dimensions": sorted(d for d, s in learner.n_star.items() if s.kind == "finite"),
            "bootstrap_used": learner.bootstrap_used,
        }
    return {"eps": analysis.eps, "n_bootstrap": analysis.n_bootstrap, "learners": learners}


def _format_n_star(value: NStar) -> str:
    if value.kind == "finite":
        return f"{value.value:,.0f}"
    if value.kind == "lower_bound":
        return f"> {value.value:,.0f}"
    if value.kind == "upper_bound":
        return f"<= {value.value:,.0f}"
    return "-"


def comparison_table(analysis: Analysis) -> str:
    """A Markdown table: measured exponent with its CI beside the theory, and n* per d."""
    dimensions = sorted({d for a in analysis.learners.values() for d in a.n_star})
    header = [
        "learner",
        "theory row",
        "p",
        "exponent [95% CI]",
        "theory",
        *[f"n* (d={d})" for d in dimensions],
    ]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for name, learner in analysis.learners.items():
        if learner.exponent is None:
            measured = "n/a (< 2 finite n*)"
        elif learner.ci is None:
            measured = f"{learner.exponent:.2f}"
        else:
            measured = f"{learner.exponent:.2f} [{learner.ci[0]:.2f}, {learner.ci[1]:.2f}]"
        theory = "-" if learner.theory is None else f"{learner.theory:g}"
        cells = [
            _format_n_star(learner.n_star[d]) if d in learner.n_star else "-" for d in dimensions
        ]
        lines.append(
            "| "
            + " | ".join(
                [name, learner.theory_learner or "-", str(learner.degree), measured, theory, *cells]
            )
            + " |"
        )
    return "\n".join(lines)
