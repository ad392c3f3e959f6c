"""Figures of a report (matplotlib, drawn off-screen with the Agg canvas; no pyplot state).

* :func:`plot_error_curves`: median relative test error against n, one line per d, log-log,
  with the seed range shaded and eps drawn;
* :func:`plot_staircase`: the same against log n / log d, where curves of a learner with
  n* ~ d^e collapse near e (the theory's e drawn as a vertical line);
* :func:`plot_n_star`: n* against d, log-log, one panel per learner: finite n* as points, the
  fitted slope with its confidence interval, the theory's slope through the points, and
  censored values as open triangles (n* > n_max pointing up, n* <= n_min pointing down).
"""

from __future__ import annotations

import math

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from .analysis import Analysis, LearnerAnalysis


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


def plot_error_curves(learner: LearnerAnalysis, eps: float, path) -> None:
    """Relative test error against n for every d (log-log)."""
    figure, axes = _figure(6.4, 4.4)
    ax = axes[0, 0]
    curves = list(_curves(learner))
    for colour, (d, (sizes, medians, low, high)) in zip(_colours(len(curves)), curves, strict=True):
        if len(sizes) == 0:
            continue
        ax.plot(sizes, medians, "o-", color=colour, label=f"d = {d}", markersize=4)
        high = np.where(np.isfinite(high), high, medians.max() * 10)
        ax.fill_between(sizes, np.maximum(low, 1e-12), high, color=colour, alpha=0.15, lw=0)
    ax.axhline(eps, color="black", linestyle="--", linewidth=1, label=f"eps = {eps:g}")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("training samples n")
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
    if finite:
        ax.plot(list(finite), list(finite.values()), "o", color="tab:blue", label="n* (measured)")
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
        ci = f" [{learner.ci[0]:.2f}, {learner.ci[1]:.2f}]" if learner.ci else ""
        ax.plot(
            ends,
            np.exp(learner.intercept) * ends**learner.exponent,
            "-",
            color="tab:blue",
            label=f"fit: slope {learner.exponent:.2f}{ci}",
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
