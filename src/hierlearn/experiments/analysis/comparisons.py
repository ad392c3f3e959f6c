"""Paired comparisons of two learners of one spec (``docs/theory.md``).

Two learners of one spec see the same data at every (d, seed): the same training stream,
validation and test sets. Comparing them seed by seed removes the noise they share, so a
difference of exponents is resolved with fewer seeds than two separate intervals would need.

Definitions, for learners a and b at every eps level of the analysis:

* the difference is e(a) - e(b), each exponent the least-squares slope of log n* against
  log d over the dimensions where *both* have a finite n* (``dimensions``; at least
  `MIN_DIMENSIONS`, else the difference is null);
* the ratio at d is n*(a) / n*(b) when both are finite. When one is censored the ratio is a
  bound (``value`` null, ``bound`` {"lower_bound": r} meaning ratio >= r or {"upper_bound":
  r} meaning ratio <= r, when the two n* imply one); the n* of each are kept in "a" and "b";
* the crossover is the d where the two fitted lines meet (where one learner overtakes the
  other), with an interval only when the difference of exponents is resolved;
* point estimates use the analysis' n* (all seeds). The intervals come from bootstrap
  replicates that draw, at every d both learners share, seed indices with replacement from
  the seeds common to both at that d and use *the same* draw for a and b. They are
  interval-censored as in [`analysis`][hierlearn.experiments.analysis]: every replicate is evaluated
  at the point
  estimate's ``dimensions``; where an n* of the replicate is censored its log n* is a range,
  the replicate's difference of slopes is the range [lo_a - hi_b, hi_a - lo_b] and a ratio's
  log is [lo_a - hi_b, hi_a - lo_b]; the interval is [2.5th percentile of the low ends,
  97.5th percentile of the high ends] (an unbounded end is null in JSON). The crossover's
  interval uses the replicates whose two slopes are numbers (``bootstrap_censored`` counts
  the others).
"""

from __future__ import annotations

import math

import numpy as np

from ..defaults import N_BOOTSTRAP, eps_key
from . import (
    MIN_FINITE_SHARE,
    Analysis,
    LearnerAnalysis,
    censored_interval,
    fit_exponent,
    interval_json,
    percentile_interval,
    slope_range,
    slope_weights,
)
from .isotonic import NStar, curve_n_stars


def _crossover(point, interval, draws, dimensions) -> dict | None:
    """Where the fitted lines of a and b cross, with a 95% interval (see `compare`).

    The interval is given only when the difference of exponents is resolved (its interval
    excludes 0): otherwise the lines may be parallel and the crossing anywhere.
    """
    if point is None or not dimensions:
        return None
    resolved = interval is not None and (interval[0] > 0 or interval[1] < 0)
    ci = None
    if resolved:
        finite = [value for value in draws if math.isfinite(value)]
        if len(finite) >= MIN_FINITE_SHARE * max(len(draws), 1):
            ci = percentile_interval(finite)
    return {
        "d": point,
        "ci": list(ci) if ci else None,
        "within_measured_range": min(dimensions) <= point <= max(dimensions),
    }


class ComparisonError(ValueError):
    """A comparison names a learner that the analysis does not hold."""


def _difference(a: dict[int, float], b: dict[int, float]):
    """(e(a) - e(b), dimensions, crossover d) over the dimensions where both are finite.

    The crossover is the d where the two fitted lines log n* = c + e log d meet,
    exp((c_b - c_a) / (e_a - e_b)); None when the slopes are equal or a fit is missing.
    """
    shared = sorted(set(a) & set(b))
    fit_a = fit_exponent(shared, [a[d] for d in shared])
    fit_b = fit_exponent(shared, [b[d] for d in shared])
    if fit_a is None or fit_b is None:
        return None, shared, None
    slope = fit_a[0] - fit_b[0]
    crossover = None
    if slope != 0:
        log_d = (fit_b[1] - fit_a[1]) / slope
        crossover = math.exp(log_d) if abs(log_d) < 700 else None
    return slope, shared, crossover


def ratio_bound(a: NStar, b: NStar) -> dict | None:
    """The bound on n*(a) / n*(b) implied by two n* of which at least one is not finite:
    ``{"lower_bound": r}`` (ratio > r), ``{"upper_bound": r}`` (ratio <= r), ``{"interval":
    [lo, hi]}``, or None when they imply nothing (or one is missing)."""
    if a.kind == "missing" or b.kind == "missing":
        return None
    low_a, high_a = a.log_range()
    low_b, high_b = b.log_range()
    low, high = low_a - high_b, high_a - low_b
    if math.isfinite(low) and math.isfinite(high):
        return {"interval": [math.exp(low), math.exp(high)]}
    if math.isfinite(low):
        return {"lower_bound": math.exp(low)}
    if math.isfinite(high):
        return {"upper_bound": math.exp(high)}
    return None


def _common(first: LearnerAnalysis, second: LearnerAnalysis, d: int):
    """Both error matrices at d restricted to the seeds both have, in the same column order."""
    sizes_a, seeds_a, errors_a = first.matrix(d)
    sizes_b, seeds_b, errors_b = second.matrix(d)
    seeds = sorted(set(seeds_a) & set(seeds_b))
    columns_a = [seeds_a.index(s) for s in seeds]
    columns_b = [seeds_b.index(s) for s in seeds]
    return seeds, (sizes_a, errors_a[:, columns_a]), (sizes_b, errors_b[:, columns_b])


def compare(
    analysis: Analysis, a: str, b: str, n_bootstrap: int = N_BOOTSTRAP, seed: int = 0
) -> dict:
    """The paired comparison of learners ``a`` and ``b`` (see the module docstring).

    Returns ``{"a": a, "b": b, "by_eps": {"0.1": {"difference": x or null, "ci": [lo, hi]
    or null, "dimensions": [d, ...], "bootstrap_used": k, "ratio": {"8": {"value": r or
    null, "ci": [lo, hi] or null, "bound": {"lower_bound": r} or null, "a": n*, "b": n*}},
    "crossover": {"d": x, "ci": [lo, hi] or null, "within_measured_range": bool} or null}}}``
    with n* in the JSON form of [`NStar.to_json`][hierlearn.experiments.analysis.NStar.to_json].
    """
    for name in (a, b):
        if name not in analysis.learners:
            raise ComparisonError(
                f"comparison {a!r} vs {b!r}: no learner {name!r} in the rows; learners "
                f"present: {', '.join(sorted(analysis.learners))}"
            )
    first, second = analysis.learners[a], analysis.learners[b]
    levels = analysis.eps_levels or (analysis.eps,)
    shared = sorted(set(first.errors) & set(second.errors))
    common = {d: _common(first, second, d) for d in shared}
    common = {d: c for d, c in common.items() if c[0]}
    generator = np.random.default_rng(seed)
    points = {}
    for eps in levels:
        stars_a, stars_b = first.by_eps[eps].n_star, second.by_eps[eps].n_star
        both = [d for d in shared if stars_a[d].kind == stars_b[d].kind == "finite"]
        points[eps] = _difference(
            {d: stars_a[d].value for d in both}, {d: stars_b[d].value for d in both}
        )
    weights = {eps: slope_weights(p[1]) for eps, p in points.items() if p[0] is not None}
    differences = {eps: ([], []) for eps in levels}
    crossovers: dict[float, list[float]] = {eps: [] for eps in levels}
    ratios = {eps: {d: ([], []) for d in common} for eps in levels}
    for _ in range(n_bootstrap):
        ranges_a: dict[float, dict[int, tuple]] = {eps: {} for eps in levels}
        ranges_b: dict[float, dict[int, tuple]] = {eps: {} for eps in levels}
        for d, (seeds, (sizes_a, errors_a), (sizes_b, errors_b)) in common.items():
            columns = generator.integers(0, len(seeds), size=len(seeds))
            estimates_a = curve_n_stars(sizes_a, errors_a, columns, levels)
            estimates_b = curve_n_stars(sizes_b, errors_b, columns, levels)
            for eps in levels:
                range_a = ranges_a[eps][d] = estimates_a[eps].log_range()
                range_b = ranges_b[eps][d] = estimates_b[eps].log_range()
                ratios[eps][d][0].append(range_a[0] - range_b[1])
                ratios[eps][d][1].append(range_a[1] - range_b[0])
        for eps, c in weights.items():
            dimensions = points[eps][1]
            low_a, high_a = slope_range(c, [ranges_a[eps][d] for d in dimensions])
            low_b, high_b = slope_range(c, [ranges_b[eps][d] for d in dimensions])
            differences[eps][0].append(low_a - high_b)
            differences[eps][1].append(high_a - low_b)
            if low_a == high_a and low_b == high_b:
                values_a = {d: math.exp(ranges_a[eps][d][0]) for d in dimensions}
                values_b = {d: math.exp(ranges_b[eps][d][0]) for d in dimensions}
                crossover = _difference(values_a, values_b)[2]
                crossovers[eps].append(math.inf if crossover is None else crossover)
    by_eps = {}
    for eps in levels:
        stars_a, stars_b = first.by_eps[eps].n_star, second.by_eps[eps].n_star
        difference, dimensions, crossover = points[eps]
        both = {d for d in shared if stars_a[d].kind == stars_b[d].kind == "finite"}
        ratio = {}
        for d in shared:
            finite = d in both
            lows, highs = ratios[eps].get(d, ([], []))
            ci = censored_interval(lows, highs) if finite and lows else None
            ratio[str(d)] = {
                "value": stars_a[d].value / stars_b[d].value if finite else None,
                # exp: an end unbounded below is a ratio of 0, one above is inf (null).
                "ci": interval_json(tuple(math.exp(v) for v in ci)) if ci else None,
                "bound": None if finite else ratio_bound(stars_a[d], stars_b[d]),
                "a": stars_a[d].to_json(),
                "b": stars_b[d].to_json(),
            }
        lows, highs = differences[eps]
        interval = censored_interval(lows, highs) if difference is not None else None
        by_eps[eps_key(eps)] = {
            "difference": difference,
            "ci": interval_json(interval),
            "dimensions": dimensions,
            "bootstrap_used": len(lows),
            "bootstrap_censored": int(sum(lo != hi for lo, hi in zip(lows, highs, strict=True))),
            "ratio": ratio,
            "crossover": _crossover(crossover, interval, crossovers[eps], dimensions),
        }
    return {"a": a, "b": b, "by_eps": by_eps}
