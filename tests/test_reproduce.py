"""`hierlearn reproduce`: the packaged presets parse, and the pipeline runs end to end."""

import json
import subprocess
import sys

import pytest
import yaml

from hierlearn.experiments.reproduce import preset_specs, run_reproduce
from hierlearn.experiments.spec import parse_spec
from hierlearn.experiments.workflow import ExecutorOptions
from hierlearn.theory import predicted_exponent


@pytest.mark.parametrize("preset", ["quick", "standard", "full"])
def test_presets_parse_and_name_the_paper_learners(preset):
    specs = preset_specs(preset)
    separation, _ = specs["separation"]
    # --standard runs its control with label noise only.
    control, _ = specs["control-noisy" if preset == "standard" else "control"]
    assert separation.target.degrees == (4,) and control.target.degrees == (2,)
    rows = {learner.theory for learner in separation.learners.values()}
    assert {"ntk-x", "quad-x", "quad-h"} <= rows
    if preset != "quick":
        assert "ntk-h" in rows
    assert {learner.theory for learner in control.learners.values()} >= {"quad-x", "quad-h"}
    assert len(separation.dimensions) >= 4 and len(separation.seeds) >= 3
    # The paper's representation (random affine map + step, whitened) is quad_h (trained) or,
    # in --quick, quad_inf_h (convex); the idealised He_2 features keep their own, honest name.
    paper = separation.learners["quad_inf_h" if preset == "quick" else "quad_h"].representation
    assert paper.activation == "step" and paper.bias_std > 0
    assert paper.normalize == "whiten"
    idealised = "quad_inf_hermite2" if preset == "quick" else "quad_h_hermite2"
    for spec in (separation, control):
        assert spec.learners[idealised].representation.activation == "hermite-2"
        # One protocol for every learner: no learner brings its own search space.
        assert spec.tuning is not None and spec.tuning.gradient and spec.tuning.kernel
        assert all(not learner.model.search_space() for learner in spec.learners.values())
        assert 0.0 in spec.tuning.gradient.search.reg
        # One activation rule for every quadratic learner: act'' is searched on validation
        # data, never fixed per learner (docs/theory.md §3).
        assert set(spec.tuning.gradient.search.activation) == {"relu2", "relu3", "quadratic"}
        kinds = {learner.model.kind for learner in spec.learners.values()}
        assert "quadratic_form" in kinds and spec.tuning.quadratic_form is not None
    if preset != "quick":
        assert len(separation.seeds) >= 5
        for name in separation.learners:
            dimensions = separation.learner_dimensions(name)
            assert max(dimensions) / min(dimensions) >= 2.5, name


def test_the_standard_preset_parts_and_their_noisy_learners():
    specs = preset_specs("standard")
    assert set(specs) == {"separation", "separation-noisy", "control-noisy"}
    clean, _ = specs["separation"]
    noisy, _ = specs["separation-noisy"]
    control, _ = specs["control-noisy"]
    assert clean.target.noise_std == 0
    assert noisy.target.noise_std**2 == pytest.approx(0.1) == control.target.noise_std**2
    # A noisy variant keeps exactly the learners its `noisy` block names, unchanged ({}).
    assert set(noisy.learners) == {"quad_x", "quad_h_hermite2", "quad_inf_hermite2"}
    assert set(control.learners) == {"ntk_x", "quad_x", "quad_h_hermite2", "quad_inf_hermite2"}
    for name in noisy.learners:
        assert noisy.learners[name] == clean.learners[name]
    assert set(clean.learners) == set(noisy.learners) | {"ntk_x", "ntk_h", "quad_h"}
    assert all(set(pair) <= set(noisy.learners) for pair in noisy.comparisons)
    # The same budget for both kinds of quadratic learner: as many penalties on the convex
    # path as trained candidates.
    for spec in (clean, noisy, control):
        search = spec.tuning.gradient.search
        assert len(search.activation) * len(search.reg) == len(spec.tuning.quadratic_form.reg)


def test_a_noisy_variant_without_a_block_keeps_every_learner():
    from hierlearn.experiments.reproduce import noisy_variant

    _, text = preset_specs("quick")["separation"]
    data = yaml.safe_load(noisy_variant(text))
    assert set(data["learners"]) == set(yaml.safe_load(text)["learners"])
    assert data["name"].endswith("-noisy")
    assert data["target"]["noise_std"] ** 2 == pytest.approx(0.1)


def _shrunk(text: str, name: str) -> tuple:
    """The preset's spec at toy size: two small d, tiny brackets and few epochs."""
    data = yaml.safe_load(text)
    data.update(name=name, dimensions=[3, 4], seeds=2, test_size=100, design_size=100)
    data["samples"].update(bracket=["4*d", "16*d"], rel_precision=0.5)
    data["tuning"]["gradient"]["params"].update(epochs=20, n_iter_no_change=2)
    for learner in data["learners"].values():
        learner.pop("bracket", None)
        learner.pop("dimensions", None)
        params = learner["model"]["params"]
        if learner["model"]["kind"] == "quadratic_taylor":
            params.update(width=16)
        if "representation" in learner and learner["representation"]["kind"] == "random_network":
            learner["representation"].update(width="d**2", n_unlabeled=200)
    shrunk = yaml.safe_dump(data)
    return parse_spec(yaml.safe_load(shrunk)), shrunk


def test_reproduce_pipeline_end_to_end(tmp_path):
    specs = {
        part: _shrunk(text, f"tiny-{part}") for part, (_, text) in preset_specs("quick").items()
    }
    inline = ExecutorOptions(workers=0, threads=1)
    out = tmp_path / "out"
    messages = []
    run_reproduce(
        "quick",
        out,
        executor=inline,
        progress=False,
        n_bootstrap=50,
        log=messages.append,
        specs=specs,
    )
    combined = json.loads((out / "exponents.json").read_text())
    assert combined["preset"] == "quick" and combined["eps"] == 0.1
    spec = specs["separation"][0]
    assert combined["eps_levels"] == list(spec.eps_levels())
    pairs = [(c["a"], c["b"]) for c in combined["comparisons"]]
    assert pairs == [tuple(pair) for pair in spec.comparisons]
    for comparison in combined["comparisons"]:
        assert set(comparison["by_eps"]) == {f"{eps:g}" for eps in spec.eps_levels()}
    separation = combined["learners"]
    assert set(separation) == set(specs["separation"][0].learners)
    for name, entry in separation.items():
        theory_row = specs["separation"][0].learners[name].theory
        assert entry["theory"] == predicted_exponent(theory_row, 4)
        assert set(entry["n_star"]) == {"3", "4"}
    assert set(combined["control"]["learners"]) == set(specs["control"][0].learners)
    for part in ("separation", "control"):
        assert (out / part / "n_star.png").stat().st_size > 0
        assert json.loads((out / part / "exponents.json").read_text())["learners"]
    summary = (out / "summary.md").read_text()
    assert "## Separation: degree 4" in summary and "quad_inf_h" in summary
    assert "e(quad_x) - e(quad_inf_h)" in summary or "quad_x - quad_inf_h" in summary
    assert "Tuning protocol" in (out / "separation" / "summary.md").read_text()
    assert any("results in" in message for message in messages)
    # Rerunning resumes: every cell is already stored, nothing is run again.
    run_reproduce(
        "quick",
        out,
        executor=inline,
        progress=False,
        n_bootstrap=50,
        log=messages.append,
        specs=specs,
    )
    assert json.loads((out / "exponents.json").read_text())["learners"] == separation


def test_reproduce_bad_options_exit_2(tmp_path):
    command = [sys.executable, "-m", "hierlearn", "reproduce"]
    missing = tmp_path / "missing" / "out"
    result = subprocess.run([*command, "--out", str(missing)], capture_output=True, text=True)
    assert result.returncode == 2 and "--out: directory" in result.stderr
    assert not missing.parent.exists()
    result = subprocess.run([*command, "--quick", "--full"], capture_output=True, text=True)
    assert result.returncode == 2 and "not allowed with argument" in result.stderr
    result = subprocess.run(
        [*command, "--workers", "-1", "--out", str(tmp_path / "o")], capture_output=True, text=True
    )
    assert result.returncode == 2 and "--workers" in result.stderr
    assert not (tmp_path / "o").exists()


def test_the_large_preset_runs_the_theorems_estimator_with_and_without_noise():
    specs = preset_specs("large")
    assert set(specs) == {"separation", "separation-noisy"}
    clean, _ = specs["separation"]
    noisy, _ = specs["separation-noisy"]
    assert clean.target.noise_std == 0 and noisy.target.noise_std**2 == pytest.approx(0.1)
    assert set(noisy.learners) == {"quad_inf_hermite2", "quad_x"}
    # The convex learner on the paper's step h and on its relu variant, noise-free only.
    assert set(clean.learners) == set(noisy.learners) | {"quad_inf_h", "quad_inf_h_relu"}
    for name, activation in (("quad_inf_h", "step"), ("quad_inf_h_relu", "relu")):
        representation = clean.learners[name].representation
        assert representation.activation == activation and representation.bias_std == 1.0
        assert representation.width.evaluate_size({"d": 12}) == 2 * 12**2
        assert clean.learners[name].model == clean.learners["quad_inf_hermite2"].model
    # The relu variant at d = 8 only (its d = 12 cells alone put the preset over budget).
    assert clean.learner_dimensions("quad_inf_h") == (8, 12)
    assert clean.learner_dimensions("quad_inf_h_relu") == (8,)
    assert max(clean.learner_dimensions("quad_inf_hermite2")) == 24
    # The preset's `noisy` block changes the dimensions in the noisy variant only, and is not
    # part of either spec's text; with noise both learners share them, so that they pair.
    assert clean.learner_dimensions("quad_x") == (8, 12, 16)
    assert noisy.learner_dimensions("quad_x") == (6, 8, 10)
    assert noisy.learner_dimensions("quad_inf_hermite2") == noisy.learner_dimensions("quad_x")
    assert ("quad_x", "quad_inf_hermite2") in noisy.comparisons
    assert all("noisy:" not in text for _, text in specs.values())
    assert len(clean.seeds) >= 5
    convex = clean.learners["quad_inf_hermite2"]
    assert convex.model.kind == "quadratic_form"
    assert convex.representation.activation == "hermite-2"
    # d(d+1)/2 He_2 features: exactly the dimension of the degree-2 polynomials (centred).
    assert convex.representation.width.evaluate_size({"d": 24}) == 300
    assert ("quad_x", "quad_inf_hermite2") in clean.comparisons


@pytest.mark.parametrize("preset", ["quick", "standard", "large", "full"])
def test_every_preset_grid_of_kernel_ridges_is_the_library_grid(preset):
    # A preset is a self-contained YAML document, so it writes the grid out; the library's
    # predicted curves (hierlearn.theory) use the same one.
    from hierlearn.theory import KERNEL_RIDGE_GRID

    for spec, _ in preset_specs(preset).values():
        if spec.tuning is not None and spec.tuning.kernel is not None:
            assert spec.tuning.kernel.ridge == KERNEL_RIDGE_GRID
