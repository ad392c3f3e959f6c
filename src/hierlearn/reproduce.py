"""``hierlearn reproduce``: the paper's comparison (SPEC section 1) as one command.

A preset is a pair of specs shipped with the package (``hierlearn/presets/``):

* the **separation**: a degree-4 He_4 target on gaussian inputs, where theory predicts
  n* ~ d^4 for NTK-x and NTK-h, d^3 (upper bound) for Quad-x and d^2 for Quad-h;
* the **control**: a degree-2 target, where Quad-h should not beat Quad-x.

Both run into one resumable store; each gets its own report directory, and the output
directory receives a combined ``exponents.json`` (the separation's exponents in the harness
format, with the control under ``"control"``) and ``summary.md``. ``--quick`` takes minutes on
two CPU cores; ``--full`` is meant for a GPU or a Dask cluster and resumes after interruption.
"""

from __future__ import annotations

import json
import time
from importlib import resources
from pathlib import Path

from .experiments.spec import Spec, parse_spec_text

PRESETS = {
    "quick": {"separation": "quick.yaml", "control": "quick-control.yaml"},
    "full": {"separation": "full.yaml", "control": "full-control.yaml"},
}


def preset_specs(preset: str) -> dict[str, tuple[Spec, str]]:
    """{part: (spec, yaml text)} of a preset, part in ("separation", "control")."""
    if preset not in PRESETS:
        raise ValueError(f"preset={preset!r} is not valid; accepted values: {', '.join(PRESETS)}")
    folder = resources.files("hierlearn") / "presets"
    specs = {}
    for part, file_name in PRESETS[preset].items():
        text = (folder / file_name).read_text()
        specs[part] = (parse_spec_text(text, source=file_name), text)
    return specs


def _n_star_text(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, dict):
        ((kind, bound),) = value.items()
        return f"> {bound:,.0f}" if kind == "lower_bound" else f"<= {bound:,.0f}"
    return f"{value:,.0f}"


def _table(content: dict) -> list[str]:
    dimensions = sorted({int(d) for e in content["learners"].values() for d in e["n_star"]})
    header = [
        "learner",
        "theory row",
        "exponent [95% CI]",
        "theory",
        *[f"n* (d={d})" for d in dimensions],
    ]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for name, entry in content["learners"].items():
        if entry["exponent"] is None:
            measured = "n/a"
        elif entry["ci"]:
            measured = f"{entry['exponent']:.2f} [{entry['ci'][0]:.2f}, {entry['ci'][1]:.2f}]"
        else:
            measured = f"{entry['exponent']:.2f}"
        theory = "-" if entry["theory"] is None else f"{entry['theory']:g}"
        n_stars = [_n_star_text(entry["n_star"].get(str(d))) for d in dimensions]
        lines.append(
            "| "
            + " | ".join([name, entry["theory_learner"] or "-", measured, theory, *n_stars])
            + " |"
        )
    return lines


def plot_comparison(content: dict, path: Path, title: str) -> None:
    """All learners of one part on one log-log axes: n* against d, fitted lines, censoring.

    A finite n* is a filled marker; a censored one (eps not reached up to n_max) an open
    triangle at n_max with an arrow upwards. The legend gives each fitted exponent with its
    95% interval beside the theory.
    """
    import numpy as np
    from matplotlib import colormaps
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import FixedLocator, NullLocator, ScalarFormatter

    figure = Figure(figsize=(7.0, 5.0), layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    colors = colormaps["tab10"]
    for index, (name, entry) in enumerate(content["learners"].items()):
        color = colors(index % 10)
        finite = [(int(d), v) for d, v in entry["n_star"].items() if isinstance(v, (int, float))]
        censored = [
            (int(d), v["lower_bound"])
            for d, v in entry["n_star"].items()
            if isinstance(v, dict) and "lower_bound" in v
        ]
        label = f"{name}: "
        if entry["exponent"] is None:
            label += "no fit"
        else:
            label += f"slope {entry['exponent']:.2f}"
            if entry["ci"]:
                label += f" [{entry['ci'][0]:.2f}, {entry['ci'][1]:.2f}]"
        if entry["theory"] is not None:
            label += f" (theory {entry['theory']:g})"
        if finite:
            ds, ns = (np.array(v, dtype=float) for v in zip(*finite, strict=True))
            axes.plot(ds, ns, "o", color=color, label=label)
            grid = np.linspace(ds.min(), ds.max(), 20)
            for slope, style in ((entry["exponent"], "-"), (entry["theory"], ":")):
                if slope is not None and len(ds) > 1:
                    offset = np.mean(np.log(ns) - slope * np.log(ds))
                    axes.plot(grid, np.exp(offset) * grid**slope, style, color=color)
        if censored:
            ds, ns = (np.array(v, dtype=float) for v in zip(*censored, strict=True))
            ds = ds * (1.0 + 0.012 * (index - 1.5))  # side by side when several are censored
            axes.plot(
                ds,
                ns,
                "^",
                color=color,
                markerfacecolor="none",
                label=None if finite else label + ", censored",
            )
            for d, n in zip(ds, ns, strict=True):
                axes.annotate(
                    "",
                    xy=(d, n * 1.6),
                    xytext=(d, n),
                    arrowprops={"arrowstyle": "->", "color": color},
                )
    axes.plot([], [], "k-", label="fitted slope")
    axes.plot([], [], "k:", label="theory slope (through the points)")
    axes.set_xscale("log")
    axes.set_yscale("log")
    dimensions = sorted({int(d) for e in content["learners"].values() for d in e["n_star"]})
    axes.xaxis.set_major_locator(FixedLocator(dimensions))
    axes.xaxis.set_major_formatter(ScalarFormatter())
    axes.xaxis.set_minor_locator(NullLocator())
    axes.set_xlabel("dimension d")
    axes.set_ylabel(f"n* (median relative test error <= {content['eps']:g})")
    axes.set_title(title)
    axes.grid(True, which="both", alpha=0.3)
    axes.legend(fontsize=8, loc="upper left")
    figure.savefig(path, dpi=120)


def write_summary(out: Path, preset: str, parts: dict[str, dict], seconds: float) -> None:
    """The combined ``exponents.json`` and ``summary.md`` of a reproduce run."""
    separation, control = parts["separation"], parts["control"]
    combined = {**separation, "preset": preset, "seconds": round(seconds, 1), "control": control}
    (out / "exponents.json").write_text(json.dumps(combined, indent=2) + "\n")
    plot_comparison(separation, out / "separation.png", "Degree-4 target: n* against d")
    plot_comparison(control, out / "control.png", "Degree-2 control: n* against d")
    lines = [
        f"# hierlearn reproduce --{preset}",
        "",
        "Sample complexity n*(d; eps) of each learner (the smallest n whose median relative "
        f"test error over seeds is <= eps = {separation['eps']:g}) and the exponent of "
        "n* ~ d^e fitted over the dimensions with a finite n*, with a 95% bootstrap interval "
        "over seeds. `> n` is a censored value: eps was not reached up to n, so n* > n; it "
        "never enters a fit.",
        "",
        "## Separation: degree 4",
        "",
        *_table(separation),
        "",
        "![n* against d, every learner](separation.png)",
        "",
        "## Control: degree 2",
        "",
        *_table(control),
        "",
        "![n* against d, every learner](control.png)",
        "",
        f"Wall time: {seconds / 60:.1f} min. Per-learner figures (error against n, and the "
        "staircase view) and the full tables are in `separation/` and `control/`.",
    ]
    (out / "summary.md").write_text("\n".join(lines) + "\n")


def default_out(preset: str) -> Path:
    """Where results go when ``--out`` is not given."""
    return Path(f"hierlearn-reproduce-{preset}")


def run_reproduce(
    preset: str,
    out: Path,
    store_path: Path,
    args,
    n_bootstrap: int = 1000,
    log=print,
    specs: dict[str, tuple[Spec, str]] | None = None,
) -> dict:
    """Run both specs of ``preset`` into ``store_path`` and write the reports into ``out``.

    ``args`` carries the executor options of the command line (see
    :func:`hierlearn.cli.add_executor_arguments`); ``specs`` replaces the preset's specs
    ({"separation": (spec, text), "control": (spec, text)}, e.g. shrunk ones in tests).
    Returns {part: exponents}.
    """
    from .cli import report_into, run_into_store

    specs = preset_specs(preset) if specs is None else specs
    start = time.monotonic()
    parts = {}
    out.mkdir(parents=True, exist_ok=True)
    for part, (spec, text) in specs.items():
        log(f"[{part}] {spec.description}")
        run_into_store(spec, text, store_path, args)
        parts[part] = report_into(store_path, out / part, None, n_bootstrap, spec.name)
        for name, entry in parts[part]["learners"].items():
            exponent = "n/a" if entry["exponent"] is None else f"{entry['exponent']:.2f}"
            if entry["ci"]:
                exponent += f" [{entry['ci'][0]:.2f}, {entry['ci'][1]:.2f}]"
            n_stars = ", ".join(f"d={d}: {_n_star_text(v)}" for d, v in entry["n_star"].items())
            log(f"  {name}: exponent {exponent} (theory {entry['theory']}); n* {n_stars}")
    seconds = time.monotonic() - start
    write_summary(out, preset, parts, seconds)
    log(f"results in {out} (summary.md, exponents.json) after {seconds / 60:.1f} min")
    return parts
