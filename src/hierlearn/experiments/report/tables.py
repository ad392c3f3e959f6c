"""Markdown tables from the content of ``exponents.json`` (see
[`analysis.exponents_json`][hierlearn.experiments.analysis.exponents_json]).

They read only the JSON content, so a report written earlier, or a combined file of several
reports, can be tabulated again. Notation: ``> n`` is a censored n* (eps not reached up to n),
``<= n`` one already reached at the smallest n tried; a flag in parentheses marks an n* whose
fitted curve is flat where it crosses eps ("flat") or that rests on a cell whose training ended
at its epoch cap ("capped"). Intervals are 95% bootstrap percentile intervals over seeds.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from ..defaults import eps_key

if TYPE_CHECKING:
    from ..analysis import Analysis


def n_star_text(value, flags=()) -> str:
    """An n* of the JSON (number, bound dict or null) as text, with its flags."""
    if value is None:
        text = "-"
    elif isinstance(value, dict):
        ((kind, bound),) = value.items()
        if kind == "interval":
            text = f"({bound[0]:,.0f}, {bound[1]:,.0f}]"
        else:
            text = f"> {bound:,.0f}" if kind == "lower_bound" else f"<= {bound:,.0f}"
    else:
        text = f"{value:,.0f}"
    return text + (f" ({', '.join(flags)})" if flags else "")


def interval_text(value, ci, digits: int = 2, missing: str = "n/a") -> str:
    """``value [lo, hi]``, ``value`` without an interval, or ``missing``; an unbounded end
    (None or infinite: censored replicates) reads -inf / inf."""
    if value is None:
        return missing
    text = f"{value:.{digits}f}"
    if not ci:
        return text

    def end(bound, sign: str) -> str:
        if bound is None or not math.isfinite(bound):
            return f"{sign}inf"
        return f"{bound:.{digits}f}"

    return text + f" [{end(ci[0], '-')}, {end(ci[1], '')}]"


def _levels(content: dict) -> list[float]:
    return list(content.get("eps_levels") or [content["eps"]])


def _level_entry(entry: dict, eps: float, primary: float) -> dict:
    """The ``by_eps`` entry of a learner at eps (the top level for files without by_eps)."""
    by_eps = entry.get("by_eps")
    if by_eps and eps_key(eps) in by_eps:
        return by_eps[eps_key(eps)]
    if eps == primary:
        return entry
    return {"exponent": None, "ci": None, "n_star": {}}


def _dimensions(content: dict) -> list[int]:
    return sorted({int(d) for e in content["learners"].values() for d in e["n_star"]})


def _row(cells) -> str:
    return "| " + " | ".join(cells) + " |"


def exponents_table(content: dict) -> list[str]:
    """One table: per learner its theory row, p, the predicted exponent, the measured exponent
    [95% CI] at every eps level, and n* per d at the primary eps with its flags."""
    primary, levels = content["eps"], _levels(content)
    dimensions = _dimensions(content)
    header = [
        "learner",
        "theory row",
        "p",
        "theory",
        *[f"exponent [95% CI], eps={eps:g}" for eps in levels],
        *[f"n* (d={d})" for d in dimensions],
    ]
    lines = [_row(header), "|" + "---|" * len(header)]
    for name, entry in content["learners"].items():
        theory = "-" if entry["theory"] is None else f"{entry['theory']:g}"
        measured = []
        for eps in levels:
            level = _level_entry(entry, eps, primary)
            missing = "n/a (< 3 finite n*)"
            measured.append(interval_text(level["exponent"], level["ci"], missing=missing))
        flags = _level_entry(entry, primary, primary).get("flags") or {}
        n_stars = [
            n_star_text(entry["n_star"].get(str(d)), flags.get(str(d), ())) for d in dimensions
        ]
        degree = "-" if entry.get("degree") is None else str(entry["degree"])
        lines.append(
            _row([name, entry["theory_learner"] or "-", degree, theory, *measured, *n_stars])
        )
    return lines


def n_star_table(content: dict, eps: float) -> list[str]:
    """n* [95% CI] per learner and d at one eps level, with flags and the local slope."""
    dimensions = _dimensions(content)
    header = ["learner", *[f"n* (d={d})" for d in dimensions]]
    lines = [_row(header), "|" + "---|" * len(header)]
    for name, entry in content["learners"].items():
        level = _level_entry(entry, eps, content["eps"])
        cells = []
        for d in map(str, dimensions):
            value = level["n_star"].get(d)
            text = n_star_text(value)
            ci = (level.get("n_star_ci") or {}).get(d)
            if ci and not isinstance(value, dict):
                high = "inf" if ci[1] is None else f"{ci[1]:,.0f}"
                low = f"{ci[0]:,.0f}"
                text += f" [{low}, {high}]"
            slope = (level.get("local_slope") or {}).get(d)
            if slope is not None:
                text += f", slope {slope:.2f}"
            flags = (level.get("flags") or {}).get(d)
            if flags:
                text += f" ({', '.join(flags)})"
            cells.append(text)
        lines.append(_row([name, *cells]))
    return lines


def ratio_text(entry: dict) -> str:
    """A ratio entry of a comparison: ``r [lo, hi]``, a bound, or ``-``."""
    if entry.get("value") is not None:
        return interval_text(entry["value"], entry.get("ci"))
    bound = entry.get("bound")
    if bound:
        ((kind, value),) = bound.items()
        if kind == "interval":
            return f"in [{value[0]:.2f}, {value[1]:.2f}]"
        return f">= {value:.2f}" if kind == "lower_bound" else f"<= {value:.2f}"
    return "-"


def comparisons_table(content: dict) -> list[str]:
    """One table of the paired comparisons: per pair (a, b) and eps level, the difference of
    exponents e(a) - e(b) [95% CI] and the ratio n*(a)/n*(b) [95% CI] per d. Empty without
    comparisons."""
    comparisons = content.get("comparisons") or []
    if not comparisons:
        return []
    dimensions = sorted(
        {int(d) for c in comparisons for level in c["by_eps"].values() for d in level["ratio"]}
    )
    header = [
        "a - b",
        "eps",
        "e(a) - e(b) [95% CI]",
        "fitted d",
        "lines cross at d [95% CI]",
        *[f"n*(a)/n*(b) (d={d})" for d in dimensions],
    ]
    lines = [_row(header), "|" + "---|" * len(header)]
    for comparison in comparisons:
        for key, level in comparison["by_eps"].items():
            ratios = [
                ratio_text(level["ratio"][str(d)]) if str(d) in level["ratio"] else "-"
                for d in dimensions
            ]
            fitted = ", ".join(map(str, level["dimensions"])) or "-"
            pair = f"{comparison['a']} - {comparison['b']}"
            difference = interval_text(level["difference"], level["ci"])
            crossing = crossover_text(level.get("crossover"))
            lines.append(_row([pair, key, difference, fitted, crossing, *ratios]))
    return lines


def crossover_text(crossover: dict | None) -> str:
    """``12.3 [9.1, 20.4]`` (``outside`` the measured d marked), or ``-``."""
    if not crossover:
        return "-"
    value = crossover["d"]
    text = f"{value:.3g}" if value < 1e4 else f"{value:.2e}"
    if crossover.get("ci"):
        low, high = crossover["ci"]
        text += f" [{low:.3g}, {high:.3g}]"
    if not crossover.get("within_measured_range"):
        text += " (outside the measured d)"
    return text


def report_lines(content: dict) -> list[str]:
    """Plain-text lines of a report: each learner's exponent at every eps, each comparison."""
    lines = []
    levels = _levels(content)
    for name, entry in content["learners"].items():
        theory = "-" if entry["theory"] is None else f"{entry['theory']:g}"
        parts = []
        for eps in levels:
            level = _level_entry(entry, eps, content["eps"])
            if level is not None:
                parts.append(f"eps {eps:g}: {interval_text(level['exponent'], level['ci'])}")
        capped = entry.get("capped")
        note = f"; {capped} capped cells" if capped else ""
        lines.append(f"{name}: exponent " + ", ".join(parts) + f" (theory {theory}){note}")
    for comparison in content.get("comparisons", []):
        parts = []
        for eps in levels:
            level = comparison["by_eps"].get(eps_key(eps))
            if level is not None:
                parts.append(f"eps {eps:g}: {interval_text(level['difference'], level['ci'])}")
        lines.append(f"e({comparison['a']}) - e({comparison['b']}): " + ", ".join(parts or ["n/a"]))
    return lines


def analysis_table(analysis: Analysis) -> str:
    """`exponents_table` of an analysis, as one string."""
    from ..analysis import exponents_json  # the tables themselves read JSON content only

    return "\n".join(exponents_table(exponents_json(analysis)))
