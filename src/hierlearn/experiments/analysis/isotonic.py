"""n*(d; eps) from a learning curve made monotone by isotonic regression (``docs/theory.md``).

Definitions:

* a learning curve is a list of sizes n_1 < ... < n_k with a median error m_i at each (over
  seeds) and a weight w_i (the number of seeds the median is taken over; 1 by default). An
  infinite median (cells that diverged or timed out) stays infinite (a block that pools it is
  infinite: no arbitrary constant enters a mean) and a zero median is raised to
  `FLOOR` before taking logs;
* the fitted curve is the weighted least-squares non-increasing fit of y_i = log m_i in the
  order of n (pool-adjacent-violators: adjacent violating blocks are merged into one block
  whose value is their weighted mean, until the fit is non-increasing). Noise that makes the
  raw medians go up and down is averaged out, so n* no longer depends on a single lucky size;
* n*(eps) is the first size n_k whose fitted value f_k <= log eps, interpolated linearly in
  (log n, log fitted error) between n_{k-1} and n_k. A block of pooled sizes is flat, so no
  interpolation is possible inside it: the crossing is always at the first size of a block and
  the interpolation runs from the last size of the block before. When the fitted value before
  is infinite (non-finishing cells) there is no slope to follow: n* is only known to lie in
  (n_{k-1}, n_k], an "interval" n*;
* censoring: n* > n_max ("lower_bound") when no fitted value reaches eps; n* <= n_min
  ("upper_bound") when the first one already does; "missing" without any size. Only a
  "finite" n* enters a fit;
  [`NStar.log_range`][hierlearn.experiments.analysis.isotonic.NStar.log_range] gives every
  kind as a range of log n*
  for the interval-censored bootstrap of [`analysis`][hierlearn.experiments.analysis];
* ``local_slope`` = (f_k - f_{k-1}) / (log n_k - log n_{k-1}), the slope of the fitted curve
  in log-log over the bracketing interval (None when censored or an interval); the flag
  "flat" is set when local_slope > `FLAT_SLOPE`: the fitted error is not clearly
  falling where it crosses eps, so noise decides n*.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

FLOOR = 1e-300  # a zero median error is replaced by this before the log
FLAT_SLOPE = -0.25  # local_slope above this marks an n* decided by noise ("flat")


@dataclass(frozen=True)
class NStar:
    """n*(d; eps) at one d: ``kind`` is "finite", "lower_bound" (n* > value), "upper_bound"
    (n* <= value), "interval" (``lower`` < n* <= value) or "missing" (no usable rows).

    Diagnostics, ignored by ``==``: ``local_slope`` and ``flags`` (see the module docstring),
    and ``sizes``, the sizes the value rests on (the two bracketing sizes of a finite n*,
    n_min for an upper bound, n_max for a lower bound).
    """

    kind: str
    value: float | None
    local_slope: float | None = field(default=None, compare=False)
    flags: tuple[str, ...] = field(default=(), compare=False)
    sizes: tuple[float, ...] = field(default=(), compare=False)
    lower: float | None = None  # the open lower end of an "interval" n*

    def to_json(self):
        """A number when finite, ``{"lower_bound": n}`` / ``{"upper_bound": n}``,
        ``{"interval": [lo, hi]}``, or None."""
        if self.kind == "finite":
            return self.value
        if self.kind == "missing":
            return None
        if self.kind == "interval":
            return {"interval": [self.lower, self.value]}
        return {self.kind: self.value}

    def log_range(self) -> tuple[float, float]:
        """The range of log n* this value allows: a point when finite, half-lines for the
        bounds, both ends for an interval, the whole line when missing."""
        if self.kind == "finite":
            return math.log(self.value), math.log(self.value)
        if self.kind == "lower_bound":
            return math.log(self.value), math.inf
        if self.kind == "upper_bound":
            return -math.inf, math.log(self.value)
        if self.kind == "interval":
            return math.log(self.lower), math.log(self.value)
        return -math.inf, math.inf


def isotonic_decreasing(values, weights=None) -> np.ndarray:
    """The weighted least-squares non-increasing fit of ``values`` (pool adjacent violators).

    Minimises sum_i w_i (f_i - values_i)^2 over f_1 >= f_2 >= ... >= f_k; every fitted value
    is the weighted mean of the values of its block (+inf when the block holds +inf).
    """
    values = np.asarray(values, dtype=float)
    weights = np.ones_like(values) if weights is None else np.asarray(weights, dtype=float)
    blocks: list[list[float]] = []  # [mean, weight, count]
    for value, weight in zip(values, weights, strict=True):
        blocks.append([float(value), float(weight), 1])
        while len(blocks) > 1 and blocks[-2][0] < blocks[-1][0]:
            mean2, weight2, count2 = blocks.pop()
            mean1, weight1, count1 = blocks.pop()
            total = weight1 + weight2
            if math.isinf(mean2):  # only +inf can violate; the pooled block is infinite
                mean = math.inf
            else:
                mean = (mean1 * weight1 + mean2 * weight2) / total
            blocks.append([mean, total, count1 + count2])
    return np.repeat([b[0] for b in blocks], [int(b[2]) for b in blocks])


def log_fit(medians, weights=None) -> np.ndarray:
    """The fitted curve in log scale: `isotonic_decreasing` of log max(medians, FLOOR)
    (an infinite median stays infinite)."""
    medians = np.maximum(np.asarray(medians, dtype=float), FLOOR)
    return isotonic_decreasing(np.log(medians), weights)


def crossing(sizes, fitted_log, eps: float) -> NStar:
    """n* from sizes (ascending) and a non-increasing fitted curve in log scale."""
    sizes = [float(n) for n in sizes]
    if not sizes:
        return NStar("missing", None)
    level = math.log(eps)
    for k, value in enumerate(fitted_log):
        if value > level:
            continue
        if k == 0:
            return NStar("upper_bound", sizes[0], sizes=(sizes[0],))
        n_before, before = sizes[k - 1], float(fitted_log[k - 1])
        bracket = (n_before, sizes[k])
        if math.isinf(before):
            return NStar("interval", sizes[k], sizes=bracket, lower=n_before)
        log_ratio = math.log(sizes[k] / n_before)
        t = (before - level) / (before - float(value))
        slope = (float(value) - before) / log_ratio
        flags = ("flat",) if slope > FLAT_SLOPE else ()
        return NStar("finite", math.exp(math.log(n_before) + t * log_ratio), slope, flags, bracket)
    return NStar("lower_bound", sizes[-1], sizes=(sizes[-1],))


def n_star(sizes, medians, eps: float, weights=None) -> NStar:
    """n* of a learning curve (sizes ascending, medians possibly infinite), see the module
    docstring; ``weights`` (default 1) weight the isotonic fit, e.g. the seeds per size."""
    if len(sizes) == 0:
        return NStar("missing", None)
    return crossing(sizes, log_fit(medians, weights), eps)


def curve_n_stars(sizes, errors, columns, eps_levels) -> dict[float, NStar]:
    """n* at every eps of the curve made of some seeds of an error matrix.

    ``errors`` has one row per size (ascending ``sizes``) and one column per seed, NaN where a
    seed has no usable row (inf for non-finishing cells); ``columns`` selects seeds (with
    repetition, as in a bootstrap resample). The median at a size is over the selected seeds
    that have a value there, its weight their count; sizes without any are left out.
    """
    chosen = errors[:, columns]
    counts = np.sum(~np.isnan(chosen), axis=1)
    keep = counts > 0
    if not np.any(keep):
        return {eps: NStar("missing", None) for eps in eps_levels}
    medians = np.nanmedian(chosen[keep], axis=1)
    fitted = log_fit(medians, counts[keep])
    kept = np.asarray(sizes)[keep]
    return {eps: crossing(kept, fitted, eps) for eps in eps_levels}
