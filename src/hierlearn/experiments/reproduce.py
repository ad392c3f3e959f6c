"""The paper's comparison as one function (``hierlearn reproduce`` on the command line).

A preset is a pair of specs shipped with the package (``hierlearn/presets/``):

* the **separation**: a degree-4 He_4 target on gaussian inputs, where theory predicts
  n* ~ d^4 for NTK-x and NTK-h, d^3 (upper bound) for Quad-x and d^2 for Quad-h;
* the **control**: a degree-2 target, where Quad-h should not beat Quad-x.

Both run into one resumable store; each gets its own report directory, and the output
directory receives a combined ``exponents.json`` (the separation's exponents in the harness
format, with the control under ``"control"``) and ``summary.md``. ``--quick`` takes minutes on
two CPU cores, ``--standard`` about an hour; ``--full`` is meant for a GPU or a Dask cluster.
Every preset resumes after an interruption when rerun with the same ``--out``.
"""

from __future__ import annotations

import json
import time
from importlib import resources
from pathlib import Path

from .plots import plot_comparison
from .spec import Spec, parse_spec_text
from .tables import comparisons_table, exponents_table, report_lines
from .workflow import (
    ExecutorOptions,
    InputError,
    check_out_dir,
    check_positive,
    check_store_path,
    report_into,
    run_into_store,
)

PRESETS = {
    "quick": {"separation": "quick.yaml", "control": "quick-control.yaml"},
    "standard": {"separation": "standard.yaml", "control": "standard-control.yaml"},
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
        "Sample complexity n*(d; eps) of each learner (the first n where a non-increasing fit "
        "of the median relative test error over seeds is <= eps; the headline eps is "
        f"{separation['eps']:g}) and the exponent of n* ~ d^e fitted over the dimensions with "
        "a finite n*, with a 95% bootstrap interval over seeds, at every eps level. `> n` is a "
        "censored value (eps not reached up to n) and never enters a fit; `(flat)` marks an n* "
        "where the curve is not clearly falling, `(unconverged)` one resting on a cell whose "
        "training hit its epoch cap. The paired comparisons resample the same seeds for both "
        "learners. Every learner was tuned by one protocol on validation data, printed in "
        "`separation/summary.md` and `control/summary.md` with the convergence counts "
        "(docs/theory.md).",
        "",
        "## Separation: degree 4",
        "",
        *exponents_table(separation),
        "",
        *comparisons_table(separation),
        "",
        "![n* against d, every learner](separation.png)",
        "",
        "## Control: degree 2",
        "",
        *exponents_table(control),
        "",
        *comparisons_table(control),
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
    out,
    store_path=None,
    executor: ExecutorOptions | None = None,
    *,
    time_limit: float | None = None,
    retry_failed: bool = False,
    progress: bool = True,
    lease_seconds: float | None = None,
    n_bootstrap: int = 1000,
    log=print,
    specs: dict[str, tuple[Spec, str]] | None = None,
) -> dict:
    """Run both specs of ``preset`` into ``store_path`` and write the reports into ``out``.

    ``store_path`` defaults to ``out/store.sqlite``; ``executor``, ``time_limit``,
    ``retry_failed``, ``progress`` and ``lease_seconds`` are those of
    :func:`.workflow.run_into_store`;
    ``specs`` replaces the preset's specs ({"separation": (spec, text), "control": (spec,
    text)}, e.g. shrunk ones in tests). Every option is checked before anything is written.
    Returns {part: exponents}.
    """
    if specs is None:
        try:
            specs = preset_specs(preset)
        except ValueError as error:
            raise InputError(f"preset: {error}") from None
    out = check_out_dir(out)
    executor = executor or ExecutorOptions()
    executor.check()
    check_positive("--bootstrap", n_bootstrap)
    check_positive("--time-limit", time_limit)
    check_positive("--lease-seconds", lease_seconds)
    store_path = Path(store_path) if store_path is not None else out / "store.sqlite"
    if store_path.parent != out:
        check_store_path(store_path)  # before the output directory is created
    out.mkdir(exist_ok=True)
    start = time.monotonic()
    parts = {}
    for part, (spec, text) in specs.items():
        log(f"[{part}] {spec.description}")
        run_into_store(
            spec,
            text,
            store_path,
            executor,
            time_limit=time_limit,
            retry_failed=retry_failed,
            progress=progress,
            lease_seconds=lease_seconds,
        )
        parts[part] = report_into(
            store_path, out / part, n_bootstrap=n_bootstrap, spec_name=spec.name
        )
        for line in report_lines(parts[part]):
            log(f"  {line}")
    seconds = time.monotonic() - start
    write_summary(out, preset, parts, seconds)
    log(f"results in {out} (summary.md, exponents.json) after {seconds / 60:.1f} min")
    return parts
