"""The paper's comparison as one function (``hierlearn reproduce`` on the command line).

A preset is a set of specs shipped with the package (``hierlearn/presets/``):

* the **separation**: a degree-4 He_4 target on gaussian inputs, where theory predicts
  n* ~ d^4 for NTK-x and NTK-h, d^3 (upper bound) for Quad-x and d^2 for Quad-h;
* the **control**: a degree-2 target, where Quad-h should not beat Quad-x;
* ``--standard``: the separation with and without label noise (sigma^2 = 0.1 E f*^2,
  docs/theory.md §3) and the control with label noise;
* ``--large``: the separation alone at d = 8 ... 24, the convex quadratic form on He_2
  features against Quad-x, with and without label noise.

All parts run into one resumable store; each gets its own report directory, and the output
directory receives a combined ``exponents.json`` (the separation's exponents in the harness
format, with every other part under its name, e.g. ``"control"``) and ``summary.md``.
``--quick`` takes minutes on two CPU cores, ``--standard`` and ``--large`` hours; ``--full`` is
sized for one GPU (``hierlearn reproduce --full --device cuda``) or a Dask cluster.
Every preset resumes after an interruption when rerun with the same ``--out``.
"""

from __future__ import annotations

import json
import os
import time
from importlib import resources
from pathlib import Path

import yaml

from .defaults import N_BOOTSTRAP
from .report.plots import plot_comparison
from .report.tables import comparisons_table, exponents_table, report_lines
from .spec import Spec, parse_spec_text
from .workflow import (
    ExecutorOptions,
    InputError,
    check_device,
    check_out_dir,
    check_positive,
    check_store_path,
    report_into,
    run_into_store,
    with_device,
)

# Label noise of the noisy variants: sigma^2 = 0.1 E f*^2 (docs/theory.md §3).
NOISE_STD = 0.1**0.5
# Preset -> {part: preset file, or (file, "noisy") for its label-noise variant}.
PRESETS = {
    "quick": {"separation": "quick.yaml", "control": "quick-control.yaml"},
    "standard": {
        "separation": "standard.yaml",
        "separation-noisy": ("standard.yaml", "noisy"),
        "control-noisy": ("standard-control.yaml", "noisy"),
    },
    "large": {"separation": "large.yaml", "separation-noisy": ("large.yaml", "noisy")},
    "full": {"separation": "full.yaml", "control": "full-control.yaml"},
}
TITLES = {
    "separation": "Separation: degree 4",
    "control": "Control: degree 2",
    "separation-noisy": f"Separation with label noise (sigma^2 = {NOISE_STD**2:.2g})",
    "control-noisy": f"Control with label noise (sigma^2 = {NOISE_STD**2:.2g})",
}


def without_noisy_block(text: str) -> str:
    """A preset's text without its top-level ``noisy`` block (read by
    [`noisy_variant`][hierlearn.experiments.reproduce.noisy_variant]
    only; not a spec key): unchanged when there is none."""
    data = yaml.safe_load(text)
    if "noisy" not in data:
        return text
    del data["noisy"]
    return yaml.safe_dump(data, sort_keys=False)


def noisy_variant(text: str) -> str:
    """The YAML text of a spec's label-noise variant: ``target.noise_std`` = NOISE_STD, the
    learners its ``noisy`` block names and the comparisons among them, ``-noisy`` after the
    name.

    The block is a top-level ``noisy: {learners: {name: {key: value}}}``: the variant keeps
    the learners it names (every learner where there is no block), each with those keys in
    place of its own (e.g. fewer dimensions where label noise multiplies n*; ``{}`` keeps the
    learner as it is)."""
    data = yaml.safe_load(text)
    overrides = (data.pop("noisy", None) or {}).get("learners")
    if overrides is None:
        overrides = {name: {} for name in data["learners"]}
    data["learners"] = {
        name: {**data["learners"][name], **changes} for name, changes in overrides.items()
    }
    data["name"] = f"{data['name']}-noisy"
    data["description"] = f"{data.get('description', '')} Label noise sigma^2 = 0.1.".strip()
    data["target"] = {**data["target"], "noise_std": NOISE_STD}
    data["comparisons"] = [
        pair for pair in data.get("comparisons", []) if set(pair) <= set(data["learners"])
    ]
    return yaml.safe_dump(data, sort_keys=False)


def preset_specs(preset: str) -> dict[str, tuple[Spec, str]]:
    """{part: (spec, yaml text)} of a preset (parts: "separation", "control", and in
    --standard their label-noise variants)."""
    if preset not in PRESETS:
        raise ValueError(f"preset={preset!r} is not valid; accepted values: {', '.join(PRESETS)}")
    folder = resources.files("hierlearn") / "presets"
    specs = {}
    for part, entry in PRESETS[preset].items():
        file_name, variant = (entry, None) if isinstance(entry, str) else entry
        text = (folder / file_name).read_text()
        text = noisy_variant(text) if variant == "noisy" else without_noisy_block(text)
        specs[part] = (parse_spec_text(text, source=f"{file_name} ({part})"), text)
    return specs


def write_summary(out: Path, preset: str, parts: dict[str, dict], seconds: float) -> None:
    """The combined ``exponents.json`` and ``summary.md`` of a reproduce run."""
    separation = parts["separation"]
    others = {part: content for part, content in parts.items() if part != "separation"}
    combined = {**separation, "preset": preset, "seconds": round(seconds, 1), **others}
    (out / "exponents.json").write_text(json.dumps(combined, indent=2) + "\n")
    lines = [
        f"# hierlearn reproduce --{preset}",
        "",
        "Sample complexity n*(d; eps) of each learner (the first n where a non-increasing fit "
        "of the median relative test error over seeds is <= eps; the headline eps is "
        f"{separation['eps']:g}) and the exponent of n* ~ d^e fitted over the dimensions with "
        "a finite n* (at least three), with a 95% bootstrap interval over seeds, at every eps "
        "level. n counts every label a learner sees (a fifth of them are its validation "
        "labels); errors are relative to the target's exact second moment on 100,000 test "
        "points. `> n` is a censored value (eps not reached up to n) and never enters a fit; "
        "`(flat)` marks an n* where the curve is not clearly falling, `(capped)` one resting on "
        "a cell whose training hit its epoch cap; an interval end `inf` means that more than "
        "2.5% of the bootstrap replicates are censored on that side. The paired comparisons "
        "resample the same seeds for both learners. Every learner was tuned by one protocol on "
        "validation labels, printed in each part's `summary.md` with the training-end counts "
        "(docs/theory.md §3).",
    ]
    for part, content in parts.items():
        title = TITLES.get(part, part)
        plot_comparison(content, out / f"{part}.png", f"{title}: n* against d")
        lines += [
            "",
            f"## {title}",
            "",
            *exponents_table(content),
            "",
            *comparisons_table(content),
            "",
            f"![n* against d, every learner]({part}.png)",
        ]
    lines += [
        "",
        f"Wall time: {seconds / 60:.1f} min. Per-learner figures (error against n, and the "
        f"staircase view) and the full tables are in {', '.join(f'`{p}/`' for p in parts)}.",
    ]
    (out / "summary.md").write_text("\n".join(lines) + "\n")


def default_cpu_workers() -> int:
    """Local worker processes of a preset on the CPU when none are asked for: one per core, at
    most 8 (one single-threaded worker per core suits a preset's many small fits)."""
    return max(1, min(os.cpu_count() or 1, 8))


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
    n_bootstrap: int = N_BOOTSTRAP,
    log=print,
    specs: dict[str, tuple[Spec, str]] | None = None,
    device: str | None = None,
) -> dict:
    """Run both specs of ``preset`` into ``store_path`` and write the reports into ``out``.

    ``store_path`` defaults to ``out/store.sqlite``; ``executor``, ``time_limit``,
    ``retry_failed``, ``progress`` and ``lease_seconds`` are those of
    [`workflow.run_into_store`][hierlearn.experiments.workflow.run_into_store];
    ``specs`` replaces the preset's specs ({"separation": (spec, text), "control": (spec,
    text)}, e.g. shrunk ones in tests). ``device`` ("cpu" or "cuda"; None: each spec's own,
    which is "cpu" in every packaged preset) sets the device of every part's spec (see
    [`run_into_store`][hierlearn.experiments.workflow.run_into_store]; "cuda" where torch sees
    no CUDA device raises [`InputError`][hierlearn.experiments.workflow.InputError]). Without
    ``executor``, or with ``executor.workers`` None, cells run in one worker per visible GPU
    on "cuda", else in [`default_cpu_workers`][hierlearn.experiments.reproduce.default_cpu_workers].
    Every option is checked before anything is written. Returns {part: exponents}.
    """
    if specs is None:
        try:
            specs = preset_specs(preset)
        except ValueError as error:
            raise InputError("preset", str(error)) from None
    out = check_out_dir(out, "out")
    executor = executor or ExecutorOptions(workers=None)
    executor.check()
    local = executor.scheduler is None  # else the scheduler's workers compute
    if device is not None:
        check_device(device, here=local)
        specs = {part: with_device(*entry, device) for part, entry in specs.items()}
    for spec, _ in specs.values():
        check_device(spec.device, here=local)
    check_positive("n_bootstrap", n_bootstrap)
    check_positive("time_limit", time_limit)
    check_positive("lease_seconds", lease_seconds)
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
            executor.for_device(spec.device, default_cpu_workers()),
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
