"""How often the exponent's 95% interval covers the truth: a simulation (docs/theory.md §3).

Synthetic learning curves with a known exponent go through the same analysis as stored rows
([`analysis.analyse`][hierlearn.experiments.analysis.analyse]): for every replicate, at every d and
seed s,

    n*_s(d) = C d^e exp(spread z_{s,d}),   error_s(n) = eps (n / n*_s(d))^(-slope) exp(noise xi_n),

z and xi standard normal, on a geometric grid of sizes (ratio ``grid_ratio``) that covers every
n*_s. ``spread`` is the seed-to-seed spread of log n* (the harness measures 0.1-0.4 at one d),
``noise`` the size-to-size noise of one seed's error. The coverage is the share of replicates
whose interval contains e; the interval's end is taken as is, so an unbounded end counts as
covering.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from . import analyse


@dataclass(frozen=True)
class CoverageResult:
    """``coverage``: share of replicates whose interval holds the true exponent;
    ``standard_error``: its binomial standard error; ``undefined``: replicates without an
    exponent (fewer than three finite n*); ``median_width``: median width of the finite
    intervals; ``bias``: median of (estimate - truth)."""

    coverage: float
    standard_error: float
    replicates: int
    undefined: int
    median_width: float
    bias: float


def synthetic_rows(
    exponent: float,
    dimensions,
    seeds: int,
    spread: float,
    noise: float,
    generator: np.random.Generator,
    eps: float = 0.1,
    constant: float = 4.0,
    slope: float = 0.7,
    grid_ratio: float = 1.4,
) -> list[dict]:
    """Stored-row dicts of one synthetic measurement (see the module docstring)."""
    rows = []
    for d in dimensions:
        stars = constant * d**exponent * np.exp(spread * generator.standard_normal(seeds))
        low, high = stars.min() / 8, stars.max() * 8
        count = math.ceil(math.log(high / low) / math.log(grid_ratio)) + 1
        sizes = np.unique(np.round(low * grid_ratio ** np.arange(count)).astype(int))
        for seed, star in enumerate(stars):
            wiggle = np.exp(noise * generator.standard_normal(len(sizes)))
            errors = eps * (sizes / star) ** (-slope) * wiggle
            for n, error in zip(sizes, errors, strict=True):
                rows.append(
                    {
                        "spec": "coverage",
                        "learner": "synthetic",
                        "d": int(d),
                        "n": int(n),
                        "seed": seed,
                        "status": "ok",
                        "relative_test_error": float(error),
                        "config": {"target": {"degrees": [2]}},
                    }
                )
    return rows


def simulate_coverage(
    exponent: float = 2.0,
    dimensions=(4, 5, 6, 8, 10),
    seeds: int = 5,
    spread: float = 0.3,
    noise: float = 0.05,
    replicates: int = 200,
    n_bootstrap: int = 200,
    seed: int = 0,
    eps: float = 0.1,
) -> CoverageResult:
    """The coverage of the nominal 95% exponent interval of
    [`analysis.analyse`][hierlearn.experiments.analysis.analyse] over
    ``replicates`` synthetic measurements (see the module docstring)."""
    generator = np.random.default_rng(seed)
    covered = undefined = 0
    widths, errors = [], []
    for replicate in range(replicates):
        rows = synthetic_rows(exponent, dimensions, seeds, spread, noise, generator, eps)
        learner = analyse(rows, eps, n_bootstrap, seed=replicate).learners["synthetic"]
        if learner.exponent is None or learner.ci is None:
            undefined += 1
            continue
        low, high = learner.ci
        covered += low <= exponent <= high
        if math.isfinite(low) and math.isfinite(high):
            widths.append(high - low)
        errors.append(learner.exponent - exponent)
    defined = replicates - undefined
    share = covered / defined if defined else math.nan
    return CoverageResult(
        coverage=share,
        standard_error=math.sqrt(share * (1 - share) / defined) if defined else math.nan,
        replicates=replicates,
        undefined=undefined,
        median_width=float(np.median(widths)) if widths else math.nan,
        bias=float(np.median(errors)) if errors else math.nan,
    )
