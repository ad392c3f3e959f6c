"""Which cells to run: every cell of a grid, or an adaptive search for n*(d) per learner.

The adaptive search (`NStarSearch`), for one learner at one d, with a bracket
[low, high], a growth factor g and a relative precision rho:

1. *grow*: try n = low, then n <- min(high, ceil(g n)), until the median relative *design*
   error over the seeds is <= eps (or n = high is still above eps: n* is censored, n* > high);
2. *bisect* in log n between the largest size known above eps and the smallest known at or
   below it: try round(sqrt(n_bad n_good)) until n_good / n_bad <= 1 + rho;
3. *margin*: one more size, min(high, ceil((1 + rho) n_good)), past the crossing. The search
   is steered by the design error while n* is read from the test error; their crossings
   differ by sampling noise, and without a size past n_good the test curve could cross just
   beyond the largest size visited and read as censored.

The design error is measured on fresh noise-free points that are neither test nor validation
points (``details.relative_design_error`` of a row): the test set only gives the reported
number, so the sizes the search visits do not depend on the test noise that n* is then read
from. If n = low is already at or below eps, n* <= low (censored below). Every size is run for all
seeds; a "failed" cell (an exception) is left out of the median, a "diverged" or "timeout"
cell counts as an infinite error (the learner did not get below eps). The next size is
requested as soon as the seeds in hand fix the median's side of eps (`decided_side`),
while the other seeds of the size still run: the sizes visited are those of waiting for all.
The search visits about log_g(n*/low) + log2(log g / log(1 + rho)) sizes, against
log(high/low) / log(1 + rho) for a geometric grid of the same resolution over the bracket.

`GridPlan` and `AdaptivePlan` share the interface the driver uses:
``ready()`` returns the cells to run next, ``observe(config, status, error)`` reports a
finished one, ``finished()`` says whether nothing more will come.
"""

from __future__ import annotations

import math
from collections import defaultdict
from typing import Protocol

import numpy as np

from ..spec import AdaptiveSamples, Spec
from .cells import cell_config, resolve, usable_error


def decided_side(results: list[float | None], seeds: int, eps: float) -> str | None:
    """Which side of eps the median over all ``seeds`` errors falls on, if the ``results``
    in hand (usable errors, None for failed cells) already fix it whatever the others are:
    "above" when more than half of the seeds that can still count are above eps, "below"
    when more than half are at or below it, else None.

    The median leaves failed cells out, so a pending seed may count or not; with k_above >
    (seeds - failed) / 2 the errors above eps are a majority of every possible usable set,
    and both middle values of an even count lie above eps too (likewise below).
    """
    failed = sum(e is None for e in results)
    above = sum(e is not None and e > eps for e in results)
    below = sum(e is not None and e <= eps for e in results)
    countable = seeds - failed
    if countable <= 0:
        return None
    if 2 * above > countable:
        return "above"
    if 2 * below > countable:
        return "below"
    return None


class NStarSearch:
    """Adaptive search of n* for one learner at one d (see the module docstring)."""

    def __init__(
        self, low: int, high: int, eps: float, growth: float = 2.0, rel_precision: float = 0.1
    ):
        if not 1 <= low < high:
            raise ValueError(f"the bracket must satisfy 1 <= low < high, got [{low}, {high}]")
        self.low, self.high, self.eps = low, high, eps
        self.growth, self.rel_precision = growth, rel_precision
        self.medians: dict[int, float] = {}  # every size tried -> median error over seeds
        self.bad: int | None = None  # largest size tried with median > eps
        self.good: int | None = None  # smallest size tried with median <= eps
        # "found", "above" (n* > high), "below" (n* <= low) or "undecided" (all cells failed).
        self.outcome: str | None = None
        self.next_n: int | None = low  # the size to run next; None when the search is over
        self.margin: int | None = None  # the size run past the crossing once it is found

    def observe(self, n: int, errors: list[float]) -> None:
        """Report the usable errors (see `usable_error`) of all seeds at size ``n``."""
        if not errors:
            self.outcome, self.next_n = "undecided", None
            return
        median = float(np.median(errors))
        self.medians[n] = median
        if n == self.margin:  # recorded for the curve; it does not move the bracket
            self.next_n = None
            return
        if median <= self.eps:
            self.good = n if self.good is None else min(self.good, n)
        else:
            self.bad = n if self.bad is None else max(self.bad, n)
        self.next_n = self._decide()

    def _decide(self) -> int | None:
        if self.good is None:
            if self.bad >= self.high:
                self.outcome = "above"
                return None
            return min(self.high, max(self.bad + 1, math.ceil(self.bad * self.growth)))
        if self.bad is None:
            self.outcome = "below"
            return None
        middle = round(math.sqrt(self.bad * self.good))
        if self.good / self.bad <= 1 + self.rel_precision or not self.bad < middle < self.good:
            self.outcome = "found"
            margin = min(self.high, math.ceil(self.good * (1 + self.rel_precision)))
            if margin <= self.good or margin in self.medians:
                return None
            self.margin = margin
            return margin
        return middle

    def remaining_bound(self) -> int:
        """At most how many more sizes the search will try (the one running included)."""
        if self.next_n is None:
            return 0

        def bisections(ratio: float) -> int:
            # Each bisection halves log(good / bad) until good / bad <= 1 + rel_precision.
            halvings = math.log(ratio) / math.log1p(self.rel_precision)
            return max(0, math.ceil(math.log2(halvings))) if halvings > 1 else 0

        if self.next_n == self.margin:
            return 1
        if self.good is None:  # growing: next_n, g next_n, ... up to high, then bisecting
            grow = 1
            if self.next_n < self.high:
                grow += math.ceil(math.log(self.high / self.next_n) / math.log(self.growth))
            return grow + bisections(self.growth) + 1
        return bisections(self.good / self.bad) + 1

    def grid_equivalent(self) -> int:
        """Sizes in a geometric grid over [low, high] with ratio 1 + rel_precision."""
        return math.ceil(math.log(self.high / self.low) / math.log1p(self.rel_precision)) + 1


class Plan(Protocol):
    """What the driver asks of a plan (`GridPlan`, `AdaptivePlan`): the cells that may run
    now, the results it observes, and when it is done."""

    total: int | None  # cells of the whole plan, None while unknown

    def ready(self) -> list[dict]:
        """Cells that may run now (each returned once)."""

    def observe(self, config: dict, status: str, error: float | None) -> None:
        """A result of one of its cells (``error``: the steering error, None if none)."""

    def finished(self) -> bool:
        """Whether no cell will be ready any more."""

    def max_cells(self) -> int | None:
        """An upper bound on the cells of the whole plan while ``total`` is unknown."""

    def summary(self) -> dict:
        """What the plan did, for the run summary."""


class GridPlan:
    """Every cell of a list or grid spec, all ready at once."""

    def __init__(self, cells: list[dict]):
        self._cells = list(cells)
        self.total = len(cells)

    def ready(self) -> list[dict]:
        cells, self._cells = self._cells, []
        return cells

    def observe(self, config: dict, status: str, error: float | None) -> None:
        """Grid cells do not depend on each other."""

    def finished(self) -> bool:
        return not self._cells

    def max_cells(self) -> int | None:
        """None: the total is known (``total``)."""
        return None

    def summary(self) -> dict:
        return {"mode": "grid", "cells": self.total}


class AdaptivePlan:
    """One `NStarSearch` per (learner, d); each size is run for every seed."""

    def __init__(self, spec: Spec):
        samples = spec.samples
        if not isinstance(samples, AdaptiveSamples):
            raise ValueError("AdaptivePlan needs a spec with samples.mode: adaptive")
        self.seeds = spec.seeds
        self.total = None  # unknown in advance
        self.searches: dict[tuple[str, int], NStarSearch] = {}
        self._bases: dict[tuple[str, int], dict] = {}
        self._results: dict[tuple[str, int, int], list] = defaultdict(list)
        self._ready: list[dict] = []
        self._decided: set[tuple[str, int, int]] = set()  # sizes whose side of eps is known
        for entry in resolve(spec):
            key = entry.name, entry.d
            low, high = entry.bracket
            self.searches[key] = NStarSearch(
                low, high, spec.eps, samples.growth, samples.rel_precision
            )
            self._bases[key] = entry.base
            self._request(*key)

    def _request(self, name: str, d: int) -> None:
        n = self.searches[name, d].next_n
        if n is not None:
            self._ready.extend(cell_config(self._bases[name, d], n, s) for s in self.seeds)

    def ready(self) -> list[dict]:
        cells, self._ready = self._ready, []
        return cells

    def observe(self, config: dict, status: str, error: float | None) -> None:
        """Record a finished cell. A size is decided as soon as the seeds in hand fix which
        side of eps the median over all seeds falls on (see `decided_side`): the next
        size is requested then, while the other seeds of this one still run; the size's
        median is updated when they arrive. The sizes visited are those of waiting for every
        seed, whatever order the cells finish in."""
        name, d, n = config["learner"], config["d"], config["n"]
        results = self._results[name, d, n]
        results.append(usable_error(status, error))
        search = self.searches[name, d]
        usable = [e for e in results if e is not None]
        if (name, d, n) in self._decided:
            if len(results) == len(self.seeds) and usable:
                search.medians[n] = float(np.median(usable))
            return
        complete = len(results) == len(self.seeds)
        if complete or decided_side(results, len(self.seeds), search.eps) is not None:
            self._decided.add((name, d, n))
            search.observe(n, usable)
            self._request(name, d)

    def finished(self) -> bool:
        return not self._ready and all(s.next_n is None for s in self.searches.values())

    def max_cells(self) -> int:
        """An upper bound on the cells of the whole plan (those run included): what a
        progress display can show while the total is unknown."""
        sizes = sum(len(s.medians) + s.remaining_bound() for s in self.searches.values())
        return sizes * len(self.seeds)

    def summary(self) -> dict:
        """Cells run per search against a grid of the same resolution over the bracket."""
        per_search = {}
        for (name, d), search in self.searches.items():
            per_search[f"{name}/d={d}"] = {
                "sizes": sorted(search.medians),
                "outcome": search.outcome,
                "cells": len(search.medians) * len(self.seeds),
                "grid_cells": search.grid_equivalent() * len(self.seeds),
            }
        return {
            "mode": "adaptive",
            "cells": sum(s["cells"] for s in per_search.values()),
            "grid_cells": sum(s["grid_cells"] for s in per_search.values()),
            "searches": per_search,
        }
