"""Figures of a report (matplotlib, drawn off-screen with the Agg canvas; no pyplot state).

* `plot_error_curves`: median relative test error against n, one line per d, log-log,
  with the seed range shaded and eps drawn;
* `plot_staircase`: the same against log n / log d, where curves of a learner with
  n* ~ d^e collapse near e (the theory's e drawn as a vertical line);
* `plot_n_star`: n* against d, log-log, one panel per learner: finite n* as points with
  their bootstrap interval as error bars, the n* of each seed's own curve as faint dots, the
  fitted slope with its confidence interval, the theory's slope through the points, and
  censored values as open triangles (n* > n_max pointing up, n* <= n_min pointing down);
* `plot_comparison`: every learner of an ``exponents.json`` content on one log-log
  axes, with the same marks, and the paired differences of exponents in a text box.
"""

from __future__ import annotations

import math

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from ..analysis import Analysis, LearnerAnalysis
from ..defaults import eps_key
from .tables import interval_text


def _figure(width: float, height: float, columns: int = 1, rows: int = 1):
    figure = Figure(figsize=(width, height), dpi=110, layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.subplots(rows, columns, squeeze=False)
    return figure, axes


def _colours(count: int):
    from matplotlib import colormaps

    cmap = colormaps["viridis"]
    return [cmap(0.9 * i / max(count - 1, 1)) for i in range(count)]


def _title(learner: LearnerAnalysis) -> str:
    theory = ""
    if learner.theory is not None:
        theory = f", theory {learner.theory_learner}: n* ~ d^{learner.theory:g}"
    if learner.degree is None:  # a callable target: no degree, no prediction
        return learner.name
    return f"{learner.name} (degree p = {learner.degree}{theory})"


def _curves(learner: LearnerAnalysis):
    for d in sorted(learner.errors):
        sizes, medians = learner.medians(d)
        low, high = [], []
        for n in sizes:
            values = np.array(list(learner.errors[d][n].values()))
            low.append(values.min())
            high.append(values.max())
        finite = [i for i, m in enumerate(medians) if math.isfinite(m) and m > 0]
        yield d, [np.array([seq[i] for i in finite]) for seq in (sizes, medians, low, high)]


def plot_error_curves(learner: LearnerAnalysis, eps: float, path, predicted=None) -> None:
    """Relative test error against n for every d (log-log); ``predicted`` ({d: (n, error)},
    `hierlearn.experiments.analysis.predicted.predicted_curves`) adds the predicted curves."""
    figure, axes = _figure(6.4, 4.4)
    ax = axes[0, 0]
    curves = list(_curves(learner))
    for colour, (d, (sizes, medians, low, high)) in zip(_colours(len(curves)), curves, strict=True):
        if len(sizes) == 0:
            continue
        ax.plot(sizes, medians, "o-", color=colour, label=f"d = {d}", markersize=4)
        high = np.where(np.isfinite(high), high, medians.max() * 10)
        ax.fill_between(sizes, np.maximum(low, 1e-12), high, color=colour, alpha=0.15, lw=0)
        if predicted and d in predicted:
            ax.plot(*predicted[d], "-.", color=colour, lw=1.2)
    if predicted:
        ax.plot([], [], "k-.", lw=1.2, label="predicted (sphere, kernel spectrum)")
    ax.axhline(eps, color="black", linestyle="--", linewidth=1, label=f"eps = {eps:g}")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("labels n (training and validation)")
    ax.set_ylabel("relative test error (median over seeds)")
    ax.set_title(_title(learner), fontsize=10)
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(fontsize=8, title="band: range over seeds", title_fontsize=7)
    figure.savefig(path)


def plot_staircase(learner: LearnerAnalysis, eps: float, path) -> None:
    """Relative test error against log n / log d for every d."""
    figure, axes = _figure(6.4, 4.4)
    ax = axes[0, 0]
    curves = list(_curves(learner))
    for colour, (d, (sizes, medians, _, _)) in zip(_colours(len(curves)), curves, strict=True):
        if len(sizes) and d > 1:
            ax.plot(
                np.log(sizes) / math.log(d),
                medians,
                "o-",
                color=colour,
                label=f"d = {d}",
                markersize=4,
            )
    ax.axhline(eps, color="black", linestyle="--", linewidth=1, label=f"eps = {eps:g}")
    if learner.theory is not None:
        ax.axvline(
            learner.theory, color="tab:red", linestyle=":", label=f"theory e = {learner.theory:g}"
        )
    ax.set_yscale("log")
    ax.set_xlabel("log n / log d  (n = d^x)")
    ax.set_ylabel("relative test error (median over seeds)")
    ax.set_title(_title(learner), fontsize=10)
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(fontsize=8)
    figure.savefig(path)


def plot_n_star(analysis: Analysis, path) -> None:
    """n* against d for every learner, one panel each (log-log)."""
    learners = list(analysis.learners.values())
    columns = min(3, len(learners))
    rows = math.ceil(len(learners) / columns)
    figure, axes = _figure(4.6 * columns, 3.8 * rows, columns, rows)
    for index in range(rows * columns):
        ax = axes[index // columns, index % columns]
        if index >= len(learners):
            ax.set_visible(False)
            continue
        _n_star_panel(ax, learners[index], analysis.eps)
    figure.suptitle(f"samples to reach relative test error eps = {analysis.eps:g}")
    figure.savefig(path)


def _n_star_panel(ax, learner: LearnerAnalysis, eps: float) -> None:
    from matplotlib.ticker import NullLocator

    finite = {d: s.value for d, s in learner.n_star.items() if s.kind == "finite"}
    primary = learner.primary if learner.by_eps else None
    if primary is not None:
        seeds = [
            (d, s.value)
            for d, by_seed in primary.per_seed.items()
            for s in by_seed.values()
            if s.kind == "finite"
        ]
        if seeds:
            ds, ns = (np.array(v, dtype=float) for v in zip(*seeds, strict=True))
            # Beside the error bar (x 1.05), so that the bar does not hide them.
            ax.plot(
                ds * 1.05, ns, ".", color="tab:blue", alpha=0.45, markersize=4, label="n* per seed"
            )
    if finite:
        ds = list(finite)
        ns = np.array(list(finite.values()))
        ax.errorbar(
            ds,
            ns,
            yerr=_error_bars(ns, [primary.n_star_ci.get(d) if primary else None for d in ds]),
            fmt="o",
            color="tab:blue",
            capsize=3,
            label="n* (median curve; bar: 95% CI)",
        )
    for kind, marker, label, direction in (
        ("lower_bound", "^", "n* > n_max (censored)", 2.0),
        ("upper_bound", "v", "n* <= n_min (censored)", 0.5),
    ):
        bounds = {d: s.value for d, s in learner.n_star.items() if s.kind == kind}
        if bounds:
            ax.plot(
                list(bounds),
                list(bounds.values()),
                marker,
                color="tab:gray",
                markerfacecolor="none",
                markersize=9,
                label=label,
            )
            for d, value in bounds.items():  # an arrow toward where n* lies
                ax.annotate(
                    "",
                    xy=(d, value * direction),
                    xytext=(d, value),
                    arrowprops={"arrowstyle": "->", "color": "tab:gray"},
                )
    all_d = sorted(learner.n_star)
    if all_d:
        # A margin around the dimensions, so that one d alone still gives a readable panel.
        span = np.array([min(all_d) / 1.25, max(all_d) * 1.25], dtype=float)
        ax.set_xlim(*span)
    if learner.exponent is not None:
        ends = np.array([min(finite), max(finite)], dtype=float)
        ax.plot(
            ends,
            np.exp(learner.intercept) * ends**learner.exponent,
            "-",
            color="tab:blue",
            label=f"fit: slope {interval_text(learner.exponent, learner.ci)}",
        )
    if learner.theory is not None and finite:
        centre_d = np.exp(np.mean(np.log(list(finite))))
        centre_n = np.exp(np.mean(np.log(list(finite.values()))))
        ax.plot(
            span,
            centre_n * (span / centre_d) ** learner.theory,
            "--",
            color="tab:red",
            label=f"theory: slope {learner.theory:g} (through the points)",
        )
    ax.set_xscale("log")
    ax.set_yscale("log")
    if all_d:
        ax.set_xticks(all_d, [str(d) for d in all_d])
        ax.xaxis.set_minor_locator(NullLocator())
    # Room for the points and the censoring arrows (annotations do not widen the limits).
    values = [
        s.value * {"lower_bound": 2.0, "upper_bound": 0.5}.get(s.kind, 1.0)
        for s in learner.n_star.values()
        if s.value is not None
    ]
    values += [s.value for s in learner.n_star.values() if s.value is not None]
    if primary is not None:
        values += [
            v for ci in primary.n_star_ci.values() if ci for v in ci if math.isfinite(v) and v > 0
        ]
        values += [
            s.value for by_seed in primary.per_seed.values() for s in by_seed.values() if s.value
        ]
    if values:
        ax.set_ylim(min(values) / 1.5, max(values) * 1.5)
    ax.set_xlabel("dimension d")
    ax.set_ylabel(f"n* (median error <= {eps:g})")
    ax.set_title(_title(learner), fontsize=9)
    ax.grid(True, which="major", alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=7)
    else:
        ax.text(0.5, 0.5, "no usable rows", ha="center", transform=ax.transAxes)


def _error_bars(values, intervals) -> np.ndarray:
    """Asymmetric error bars (2, k) from intervals [lo, hi] (none, or an unbounded end: a
    zero-length bar on that side; the tables print the unbounded end)."""
    bars = np.zeros((2, len(values)))
    for i, (value, ci) in enumerate(zip(values, intervals, strict=True)):
        if ci:
            low, high = (_finite_or(end, value) for end in ci)
            bars[:, i] = max(value - low, 0.0), max(high - value, 0.0)
    return bars


def _finite_or(value, fallback: float) -> float:
    # None, inf and 0 (an n* or ratio interval unbounded below) leave that side without a bar.
    usable = value is not None and math.isfinite(value) and value > 0
    return float(value) if usable else fallback


def _through(ds, ns, slope, grid):
    """The line of ``slope`` in log-log through the centroid of the points (ds, ns): the
    least-squares line when ``slope`` is the fitted slope of those points."""
    offset = np.mean(np.log(ns) - slope * np.log(ds))
    return np.exp(offset) * grid**slope


def plot_comparison(content: dict, path, title: str, predicted=None) -> None:
    """Every learner of ``content`` (an ``exponents.json``) on log-log axes, n* against d.

    One panel at the primary eps and, when the content has several eps levels, one at the
    largest (where slow learners such as the kernels reach a finite n*). In each: a finite n*
    is a filled marker with its 95% bootstrap interval as a vertical bar; each seed's own n* a
    faint dot; a censored n* an open triangle with an arrow toward where n* lies (up: n* >
    n_max, down: n* <= n_min). The fitted slope is a solid line through the fitted points, the
    theory's slope a dotted line through the same points (none without a theory). The legend,
    below the axes, gives each slope [95% CI] (theory t) and, with comparisons,
    e(a) - e(b) [95% CI] at that eps. Markers of different learners are shifted slightly along
    d so that they do not hide each other.
    """
    levels = [content["eps"]]
    largest = max(content.get("eps_levels") or levels)
    if largest != content["eps"]:
        levels.insert(0, largest)
    figure, axes = _figure(7.2 * len(levels), 6.2, columns=len(levels))
    for ax, eps in zip(axes[0], levels, strict=True):
        _comparison_panel(ax, content, eps, f"{title}, eps = {eps:g}", predicted)
    figure.savefig(path)


def _predicted_n_star(ax, stars: dict, name: str, colour) -> tuple[list, set]:
    """A predicted n* line (dashed, labelled as a prediction); (heights, dimensions) drawn."""
    finite = {d: n for d, n in sorted(stars.items()) if math.isfinite(n)}
    if not finite:
        return [], set()
    ax.plot(
        list(finite),
        list(finite.values()),
        "--",
        color=colour,
        lw=1.2,
        marker="x",
        markersize=4,
        label=f"{name}: prediction (sphere, kernel spectrum)",
    )
    return list(finite.values()), set(finite)


def _comparison_panel(ax, content: dict, eps: float, title: str, predicted=None) -> None:
    from matplotlib import colormaps
    from matplotlib.ticker import FixedLocator, NullLocator, ScalarFormatter

    colours = colormaps["tab10"]
    primary = eps_key(eps)
    count = len(content["learners"])
    heights, dimensions = [], set()
    for index, (name, entry) in enumerate(content["learners"].items()):
        colour = colours(index % 10)
        stars = ((predicted or {}).get(name) or {}).get(float(eps))
        if stars:
            drawn, drawn_d = _predicted_n_star(ax, stars, name, colour)
            heights += drawn
            dimensions |= drawn_d
        level = (entry.get("by_eps") or {}).get(primary, entry)
        shift = 1.0 + 0.025 * (index - (count - 1) / 2)
        stars = {int(d): v for d, v in level["n_star"].items()}
        dimensions |= set(stars)
        finite = {d: float(v) for d, v in stars.items() if isinstance(v, (int, float))}
        per_seed = [
            (int(d), float(v))
            for d, by_seed in (level.get("n_star_per_seed") or {}).items()
            for v in by_seed.values()
            if isinstance(v, (int, float))
        ]
        if per_seed:
            ds, ns = (np.array(v) for v in zip(*per_seed, strict=True))
            ax.plot(ds * shift * 1.04, ns, ".", color=colour, alpha=0.45, markersize=4)
            heights += list(ns)
        label = f"{name}: " + (
            "no fit (< 3 finite n*)"
            if level["exponent"] is None
            else "slope " + interval_text(level["exponent"], level["ci"])
        )
        if entry.get("theory") is not None:
            label += f" (theory {entry['theory']:g})"
        if finite:
            ds = np.array(sorted(finite), dtype=float)
            ns = np.array([finite[d] for d in sorted(finite)])
            intervals = [(level.get("n_star_ci") or {}).get(str(d)) for d in sorted(finite)]
            ax.errorbar(
                ds * shift,
                ns,
                yerr=_error_bars(ns, intervals),
                fmt="o",
                color=colour,
                capsize=3,
                markersize=6,
                label=label,
            )
            ends = [e for c in intervals if c for e in c if e is not None and 0 < e < math.inf]
            heights += list(ns) + ends
            if len(ds) > 1:
                grid = np.geomspace(ds.min(), ds.max(), 20)
                for slope, style in ((level["exponent"], "-"), (entry.get("theory"), ":")):
                    if slope is not None:
                        line = _through(ds, ns, slope, grid)
                        ax.plot(grid, line, style, color=colour, lw=1.4)
        for kind, marker, factor in (("lower_bound", "^", 1.8), ("upper_bound", "v", 1 / 1.8)):
            bounds = {d: v[kind] for d, v in stars.items() if isinstance(v, dict) and kind in v}
            if not bounds:
                continue
            ds = np.array(list(bounds), dtype=float) * shift
            ns = np.array(list(bounds.values()), dtype=float)
            ax.plot(
                ds,
                ns,
                marker,
                color=colour,
                markerfacecolor="none",
                markersize=9,
                label=None if finite else label + ", censored",
            )
            heights += list(ns) + list(ns * factor)
            for d, n in zip(ds, ns, strict=True):
                ax.annotate(
                    "",
                    xy=(d, n * factor),
                    xytext=(d, n),
                    arrowprops={"arrowstyle": "->", "color": colour},
                )
    ax.plot([], [], "k-", label="fitted slope")
    ax.plot([], [], "k:", label="theory slope (through the points)")
    ax.plot([], [], "k.", alpha=0.4, label="n* of each seed")
    ax.plot([], [], "k^", markerfacecolor="none", label="censored: n* > n_max")
    ax.set_xscale("log")
    ax.set_yscale("log")
    dimensions = sorted(dimensions)
    if dimensions:
        ax.set_xlim(min(dimensions) / 1.2, max(dimensions) * 1.2)
        ax.xaxis.set_major_locator(FixedLocator(dimensions))
        ax.xaxis.set_major_formatter(ScalarFormatter())
        ax.xaxis.set_minor_locator(NullLocator())
    if heights:
        ax.set_ylim(min(heights) / 1.6, max(heights) * 1.6)
    ax.set_xlabel("dimension d")
    ax.set_ylabel(f"n* (median relative test error <= {eps:g})")
    ax.set_title(title, fontsize=11)
    ax.grid(True, which="both", alpha=0.3)
    # The legend goes below the axes (inside it would hide points): the learners, then the
    # key of the marks, then the resolved paired comparisons at this eps.
    handles, labels = ax.get_legend_handles_labels()
    key = {"fitted slope", "theory slope (through the points)", "n* of each seed"}
    key.add("censored: n* > n_max")
    order = sorted(range(len(labels)), key=lambda i: (labels[i] in key, i))
    handles, labels = [handles[i] for i in order], [labels[i] for i in order]
    for comparison in content.get("comparisons") or []:
        level = comparison["by_eps"].get(primary)
        if level is not None and level["difference"] is not None:
            difference = interval_text(level["difference"], level["ci"])
            (blank,) = ax.plot([], [], " ")
            handles.append(blank)
            labels.append(f"e({comparison['a']}) - e({comparison['b']}) = {difference}")
    ax.legend(
        handles, labels, fontsize=7.5, loc="upper center", bbox_to_anchor=(0.5, -0.11), ncol=2
    )
