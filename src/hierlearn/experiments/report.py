"""Write a report directory from a store: figures, ``summary.md`` and ``exponents.json``.

Files written into ``out``:

* ``error_vs_n_<learner>.png`` and ``staircase_<learner>.png`` for every learner;
* ``n_star.png``, one panel per learner;
* ``exponents.json`` (see :func:`hierlearn.experiments.analysis.exponents_json`);
* ``summary.md``: the comparison table, the cell counts by status, the figures.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml

from .analysis import analyse, comparison_table, exponents_json
from .store import Store


class ReportError(ValueError):
    """The store has nothing to report (no rows, or none of the requested spec)."""


def default_eps(store: Store, spec_name: str | None = None) -> float:
    """eps of the most recently added spec (of ``spec_name``, if given); 0.1 if none."""
    for entry in reversed(store.specs()):
        if spec_name is None or entry["name"] == spec_name:
            try:
                data = yaml.safe_load(entry["text"])
            except yaml.YAMLError:
                continue
            if isinstance(data, dict) and isinstance(data.get("eps"), (int, float)):
                return float(data["eps"])
            return 0.1
    return 0.1


def _file_name(label: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", label)


def write_report(
    store: Store,
    out,
    eps: float | None = None,
    n_bootstrap: int = 1000,
    spec_name: str | None = None,
    seed: int = 0,
) -> dict:
    """Analyse the rows of ``store`` (of one spec if ``spec_name``) and write the report.

    Returns the content of ``exponents.json``. ``eps`` defaults to :func:`default_eps`;
    ``seed`` seeds the bootstrap, so a report is reproducible.
    """
    from .plots import plot_error_curves, plot_n_star, plot_staircase  # matplotlib: on demand

    rows = store.rows("spec = ?", (spec_name,)) if spec_name else store.rows()
    if not rows:
        which = f"spec {spec_name!r}" if spec_name else "any spec"
        raise ReportError(f"the store holds no cells of {which}")
    eps = default_eps(store, spec_name) if eps is None else eps
    analysis = analyse(rows, eps, n_bootstrap, seed)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    figures = []
    for name, learner in analysis.learners.items():
        for prefix, plot in (("error_vs_n", plot_error_curves), ("staircase", plot_staircase)):
            path = out / f"{prefix}_{_file_name(name)}.png"
            plot(learner, eps, path)
            figures.append(path.name)
    plot_n_star(analysis, out / "n_star.png")
    figures.insert(0, "n_star.png")
    content = exponents_json(analysis)
    (out / "exponents.json").write_text(json.dumps(content, indent=2) + "\n")
    (out / "summary.md").write_text(_markdown(analysis, rows, figures))
    return content


def _markdown(analysis, rows, figures) -> str:
    specs = sorted({row["spec"] for row in rows})
    lines = [
        f"# Sample complexity report: {', '.join(specs)}",
        "",
        f"n*(d; eps) is the smallest n whose median relative test error over seeds is <= "
        f"eps = {analysis.eps:g}, interpolated in log-log. The exponent is the slope of log n* "
        f"against log d over the dimensions with a finite n*, with a 95% bootstrap interval "
        f"over seeds ({analysis.n_bootstrap} replicates). `> n` marks a censored n* (eps not "
        "reached up to n), `<= n` one already reached at the smallest n tried; neither enters "
        "a fit.",
        "",
        comparison_table(analysis),
        "",
        "## Cells",
        "",
        "| learner | ok | diverged | timeout | failed |",
        "|---|---|---|---|---|",
    ]
    for name, learner in analysis.learners.items():
        counts = [str(learner.statuses.get(s, 0)) for s in ("ok", "diverged", "timeout", "failed")]
        lines.append(f"| {name} | " + " | ".join(counts) + " |")
    seconds = sum(row["seconds"] or 0.0 for row in rows)
    lines += [
        "",
        f"{len(rows)} cells, {seconds:,.0f} s of cell time in total.",
        "",
        "## Figures",
        "",
    ]
    lines += [f"![{name}]({name})" for name in figures]
    return "\n".join(lines) + "\n"
