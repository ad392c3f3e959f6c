"""Write a report directory from a store: figures, ``summary.md`` and ``exponents.json``.

Files written into ``out``:

* ``error_vs_n_<learner>.png`` and ``staircase_<learner>.png`` for every learner;
* ``n_star.png``, one panel per learner, and ``n_star_all.png``, every learner on one axes
  (`hierlearn.experiments.report.plots.plot_comparison`);
* ``exponents.json`` (see [`hierlearn.experiments.analysis.exponents_json`][]);
* ``summary.md``: the exponents at every eps level, n* per d with intervals and flags, the
  paired comparisons, convergence of training, the tuning protocol, cell counts, figures.

The eps levels and comparisons default to the spec's own (``eps``, ``report_eps`` and
``comparisons`` of the most recent spec text of that name in the store).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from ..analysis import analyse, exponents_json, learner_label
from ..analysis.comparisons import compare
from ..defaults import N_BOOTSTRAP
from ..run.store import Store
from ..spec import report_fields
from .tables import (
    comparisons_table,
    exponents_table,
    n_star_table,
    n_star_text,
)


class ReportError(ValueError):
    """The store has nothing to report (no rows, or none of the requested spec), or a
    comparison names a learner the rows do not hold."""


def _latest_texts(store: Store) -> dict[str, str]:
    """{spec name: the text of its most recently added version}."""
    return {entry["name"]: entry["text"] for entry in store.specs()}  # oldest first


def _stored_fields(store: Store, spec_name: str | None = None) -> dict:
    """`spec.report_fields` of the most recently added spec (of ``spec_name``, if given)."""
    entries = store.specs()  # oldest first
    if spec_name is not None:
        entries = [entry for entry in entries if entry["name"] == spec_name]
    return report_fields(entries[-1]["text"] if entries else None)


def current_rows(store: Store, rows: list[dict]) -> tuple[list[dict], int]:
    """The rows of each spec's most recent text, and how many were left out.

    A store keeps every cell it ever ran: after a spec (or a preset) changes under the same
    name, the rows of its earlier version stay, with other keys. A row is current when its
    learning curve (`hierlearn.experiments.run.cells.curve_key`: the config without n) is
    one the latest text of its spec defines (its learners, dimensions and seeds); rows of a
    spec whose stored text no longer parses are all kept.
    """
    from ..run.cells import cell_config, curve_key, resolve
    from ..spec import parse_spec_text

    latest = _latest_texts(store)
    allowed: dict[str, set[str] | None] = {}
    for name in {row["spec"] for row in rows}:
        try:
            spec = parse_spec_text(latest[name], source=name)
        except Exception:  # no text, or one an older version wrote: keep its rows
            allowed[name] = None
            continue
        allowed[name] = {
            curve_key(cell_config(entry.base, 0, seed))
            for entry in resolve(spec)
            for seed in spec.seeds
        }
    kept = [
        row
        for row in rows
        if allowed[row["spec"]] is None or curve_key(row["config"]) in allowed[row["spec"]]
    ]
    return kept, len(rows) - len(kept)


def default_eps(store: Store, spec_name: str | None = None) -> float:
    """eps of the most recently added spec (of ``spec_name``, if given); the spec default
    (0.1) if none."""
    return _stored_fields(store, spec_name)["eps"]


def default_eps_levels(store: Store, eps: float, spec_name: str | None = None) -> list[float]:
    """The spec's eps levels (`Spec.eps_levels`) with ``eps``, descending."""
    levels = _stored_fields(store, spec_name)["eps_levels"]
    return sorted({float(eps), *levels}, reverse=True)


def default_comparisons(store: Store, specs: list[str]) -> list[tuple[str, str]]:
    """The ``comparisons`` of each spec's most recent text, as learner labels of the report
    (``spec:learner`` when the report covers several specs)."""
    pairs = []
    for spec in specs:
        for a, b in _stored_fields(store, spec)["comparisons"]:
            pairs.append((f"{spec}:{a}", f"{spec}:{b}") if len(specs) > 1 else (a, b))
    return pairs


def _file_name(label: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", label)


def write_report(
    store: Store,
    out,
    eps: float | None = None,
    n_bootstrap: int = N_BOOTSTRAP,
    spec_name: str | None = None,
    seed: int = 0,
    eps_levels=None,
    comparisons=None,
) -> dict:
    """Analyse the rows of ``store`` (of one spec if ``spec_name``) and write the report.

    Returns the content of ``exponents.json``. ``eps`` defaults to `default_eps`,
    ``eps_levels`` to `default_eps_levels` and ``comparisons`` (pairs of learner
    labels) to `default_comparisons`; ``seed`` seeds the bootstraps, so a report is
    reproducible. Raises `ReportError` without rows or when a comparison names a
    learner absent from the rows.
    """
    from .plots import (  # matplotlib: on demand
        plot_comparison,
        plot_error_curves,
        plot_n_star,
        plot_staircase,
    )

    rows = store.rows("spec = ?", (spec_name,)) if spec_name else store.rows()
    rows, superseded = current_rows(store, rows)
    if not rows:
        which = f"spec {spec_name!r}" if spec_name else "any spec"
        raise ReportError(f"the store holds no cells of {which}")
    specs = sorted({row["spec"] for row in rows})
    eps = default_eps(store, spec_name) if eps is None else float(eps)
    if eps_levels is None:
        eps_levels = default_eps_levels(store, eps, spec_name)
    if comparisons is None:
        comparisons = default_comparisons(store, specs)
    present = sorted({learner_label(row, len(specs) > 1) for row in rows})
    for pair in comparisons:
        for name in pair:
            if name not in present:
                raise ReportError(
                    f"comparison {pair[0]!r} vs {pair[1]!r}: no learner {name!r} in the "
                    f"rows; learners present: {', '.join(present)}"
                )
    analysis = analyse(rows, eps, n_bootstrap, seed, eps_levels)
    paired = [compare(analysis, a, b, n_bootstrap, seed) for a, b in comparisons]
    content = exponents_json(analysis, paired)
    content["superseded_rows"] = superseded  # rows of earlier versions of a spec, left out
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    curves, stars = _predictions(rows, len(specs) > 1, analysis.eps_levels)
    figures = []
    for name, learner in analysis.learners.items():
        for prefix, plot in (("error_vs_n", plot_error_curves), ("staircase", plot_staircase)):
            path = out / f"{prefix}_{_file_name(name)}.png"
            extra = (curves.get(name),) if prefix == "error_vs_n" else ()
            plot(learner, eps, path, *extra)
            figures.append(path.name)
    plot_n_star(analysis, out / "n_star.png")
    title = f"{', '.join(specs)}: n* against d"
    plot_comparison(content, out / "n_star_all.png", title, stars)
    figures[:0] = ["n_star.png", "n_star_all.png"]
    (out / "exponents.json").write_text(json.dumps(content, indent=2) + "\n")
    summary = _markdown(analysis, content, rows, figures)
    summary += _prediction_text(analysis, rows, len(specs) > 1, stars)
    (out / "summary.md").write_text(summary)
    return content


def _predictions(rows, several: bool, eps_levels) -> tuple[dict, dict]:
    """Predicted curves and n* of the kernel learners on sphere inputs (docs/theory.md §4)."""
    from ..analysis.predicted import predicted_curves, predicted_n_stars

    def label(row):
        return learner_label(row, several)

    return predicted_curves(rows, label), predicted_n_stars(rows, label, eps_levels)


def _prediction_text(analysis, rows, several: bool, stars: dict) -> str:
    """The predicted n* of the kernel learners beside the measured ones; a note for kernel
    learners whose inputs are not the sphere. Empty without kernel learners."""
    import math

    import numpy as np

    kernels = {}
    for row in rows:
        model = (row.get("config") or {}).get("model") or {}
        if model.get("kind") == "kernel":
            kernels.setdefault(learner_label(row, several), row["config"].get("inputs"))
    if not kernels:
        return ""
    lines = [
        "",
        "## Predicted kernel curves",
        "",
        "Kernel ridge on sphere inputs with a gegenbauer target has a predicted learning curve "
        "from its kernel's spectrum (docs/theory.md §4; dashed in the error and n* figures). "
        "The prediction is for the sphere only.",
    ]
    others = sorted(name for name in kernels if name not in stars)
    if others:
        lines += [
            "",
            f"No prediction for {', '.join(others)}: the prediction covers kernel ridge on "
            "sphere inputs with a gegenbauer target (not gaussian inputs, other bases or a "
            "centred representation).",
        ]
    eps = analysis.eps
    for name, by_eps in stars.items():
        predicted = by_eps.get(float(eps)) or {}
        measured = analysis.learners[name].n_star if name in analysis.learners else {}
        lines += ["", f"{name}, eps = {eps:g}:", "", "| d | measured n* | predicted n* |"]
        lines.append("|---|---|---|")
        for d, value in sorted(predicted.items()):
            estimate = measured.get(d)
            text = "-"
            if estimate is not None and estimate.value is not None:
                text = n_star_text(estimate.to_json())
            shown = f"{value:,.0f}" if math.isfinite(value) else "> 1e10"
            lines.append(f"| {d} | {text} | {shown} |")
        large = {d: v for d, v in predicted.items() if d >= 16 and math.isfinite(v)}
        if len(large) >= 2:
            slope = np.polyfit(np.log(list(large)), np.log(list(large.values())), 1)[0]
            lines += [
                "",
                f"Predicted exponent over d = {min(large)}..{max(large)}: {slope:.2f}.",
            ]
    return "\n".join(lines) + "\n"


def _representation_text(representation: dict | None, params: dict) -> str:
    if not representation or representation.get("kind") == "identity":
        inner = params.get("representation")
        if isinstance(inner, dict):  # a kernel composed with an infinite-width network
            return "infinite-width random network inside the kernel: " + ", ".join(
                f"{k}={_value_text(v)}" for k, v in sorted(inner.items())
            )
        return "raw input"
    keys = ("activation", "width", "depth", "bias_std", "normalize", "n_unlabeled")
    return ", ".join(f"{k}={_value_text(representation[k])}" for k in keys if k in representation)


def _markdown(analysis, content, rows, figures) -> str:
    specs = sorted({row["spec"] for row in rows})
    levels = ", ".join(f"{e:g}" for e in analysis.eps_levels)
    lines = [
        f"# Sample complexity report: {', '.join(specs)}",
        "",
        "n*(d; eps) is the smallest n where the median relative test error over seeds, made "
        "non-increasing in n by isotonic regression of its log, is <= eps, interpolated in "
        f"log-log (eps levels {levels}; primary eps = {analysis.eps:g}). The exponent is the "
        "slope of log n* against log d over the dimensions with a finite n* (at least three), "
        f"with a 95% bootstrap interval over seeds ({analysis.n_bootstrap} replicates, "
        "interval-censored: `inf` where more than 2.5% of them are censored on that side; "
        "docs/theory.md §3). n counts every label, validation labels included. `> n` marks a "
        "censored n* (eps not reached up to n), `<= n` one already reached at the smallest n "
        "tried; neither enters a fit. `(flat)`: the fitted error falls slower than n^-0.25 "
        "where it crosses eps, so noise decides n*; `(capped)`: n* rests on a cell whose "
        "training ended at its epoch cap (or a solver short of its tolerance).",
        "",
        *exponents_table(content),
        "",
        "## n* at every eps",
        "",
        "n* with its 95% bootstrap interval over seeds (interval-censored: a replicate in "
        "which n* is censored counts as its bound, so an end reads 0 or inf when more than "
        "2.5% of the replicates are censored on that side) and the local slope of the fitted "
        "curve in log-log where it crosses eps.",
    ]
    for eps in analysis.eps_levels:
        lines += ["", f"eps = {eps:g}:", "", *n_star_table(content, eps)]
    if content["comparisons"]:
        lines += [
            "",
            "## Paired comparisons",
            "",
            "Both learners of a pair see the same data and seeds; the bootstrap resamples the "
            "same seeds for both at every d. e(a) - e(b) is fitted over the dimensions where "
            "both have a finite n*; `>= r` / `<= r` is a bound on the ratio where one n* is "
            "censored.",
            "",
            *comparisons_table(content),
        ]
    lines += _convergence(analysis)
    lines += _tuning(analysis)
    lines += [
        "",
        "## Cells",
        "",
        "| learner | ok | diverged | timeout | failed |",
        "|---|---|---|---|---|",
    ]
    for name, learner in analysis.learners.items():
        counts = [str(learner.statuses.get(s, 0)) for s in ("ok", "diverged", "timeout", "failed")]
        lines.append(f"| {name} | " + " | ".join(counts) + " |")
    seconds = sum(row.get("seconds") or 0.0 for row in rows)
    lines += [
        "",
        f"{len(rows)} cells, {seconds:,.0f} s of cell time in total.",
        "",
        "## Figures",
        "",
    ]
    lines += [f"![{name}]({name})" for name in figures]
    return "\n".join(lines) + "\n"


def _convergence(analysis) -> list[str]:
    lines = [
        "",
        "## Training ends",
        "",
        "Cells whose training ran to its epoch cap without the plateau rule stopping it (or "
        "whose solver stopped short of its tolerance) are capped; rows without a training "
        "record are not counted. The plateau rule stops when the validation error stops "
        "improving: it does not certify that the objective is minimised.",
        "",
        "| learner | ok cells | capped | n* resting on capped cells |",
        "|---|---|---|---|",
    ]
    for name, learner in analysis.learners.items():
        resting = [
            f"d={d} (eps {eps:g})"
            for eps, result in learner.by_eps.items()
            for d, estimate in sorted(result.n_star.items())
            if "capped" in estimate.flags
        ]
        ok = learner.statuses.get("ok", 0)
        lines.append(f"| {name} | {ok} | {learner.capped} | {', '.join(resting) or 'none'} |")
    return lines


def _value_text(value) -> str:
    if isinstance(value, list):
        return "{" + ", ".join(_value_text(v) for v in value) + "}"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _kind_text(model: dict) -> str:
    """The model kind; for an ``estimator`` learner, with its class's import path."""
    kind = model.get("kind", "?")
    return f"{kind} {model['class']}" if model.get("class") else kind


def _tuning(analysis) -> list[str]:
    lines = [
        "",
        "## Tuning protocol",
        "",
        "Per learner, the model kind, its fixed training parameters and the search space "
        "(every candidate is fitted, the lowest validation error kept; the test set is never "
        "looked at), as stored in the cells at the smallest d. Expressions of the spec (such "
        "as sqrt(D) or d) were evaluated at each d; parameters whose value changes with d are "
        "listed per d. n counts every label: a fixed share of the n labels (every 1/f-th of "
        "the nested stream) is held out for validation, the same labels for every learner at "
        "a (d, seed, n).",
    ]
    for name, learner in analysis.learners.items():
        if not learner.models:
            continue
        dimensions = sorted(learner.models)
        first = learner.models[dimensions[0]]
        search = first.get("search") or {}
        # A searched parameter's fixed value is never used: show only its candidates.
        params = {k: v for k, v in (first.get("params") or {}).items() if k not in search}
        validation = first.get("validation_fraction")
        lines += [
            "",
            f"- **{name}** ({_kind_text(first)}, d = {dimensions[0]}"
            + (f", validation share {validation:g} of n" if validation else "")
            + "): "
            + (", ".join(f"{k}={_value_text(v)}" for k, v in sorted(params.items())) or "-"),
            "  - representation: "
            + _representation_text(
                learner.representations.get(dimensions[0]), first.get("params") or {}
            ),
            "  - search: "
            + (
                "; ".join(f"{k} in {_value_text(list(v))}" for k, v in sorted(search.items()))
                or "none"
            ),
        ]
        for part in ("params", "search"):
            keys = sorted({k for m in learner.models.values() for k in (m.get(part) or {})})
            if part == "params":
                keys = [k for k in keys if k not in search]
            for key in keys:
                values = {d: (learner.models[d].get(part) or {}).get(key) for d in dimensions}
                if len({json.dumps(v, sort_keys=True) for v in values.values()}) > 1:
                    per_d = ", ".join(f"d={d}: {_value_text(v)}" for d, v in values.items())
                    lines.append(f"  - {part} {key} per d: {per_d}")
    return lines
