"""Paired comparisons of two learners, several eps levels, and the report built on them."""

import json
import math

import numpy as np
import pytest
import yaml

from hierlearn.experiments.analysis import analyse, exponents_json
from hierlearn.experiments.analysis.comparisons import ComparisonError, compare, ratio_bound
from hierlearn.experiments.analysis.isotonic import NStar
from hierlearn.experiments.report import ReportError, write_report
from hierlearn.experiments.report.tables import comparisons_table, exponents_table
from hierlearn.experiments.run.store import Store

GRID = 1.1  # ratio of consecutive sizes of the synthetic grid
EPS = 0.1
DIMENSIONS = (4, 8, 16)
EXPONENTS = {"A": 3.0, "B": 2.0}


def paired_rows(
    seeds=range(10), cell_noise=0.02, spec="paired", drop=None, grid=GRID, factor_a=1.0
):
    """Rows of learners A and B with err(n) = min(1, c_s d^e / n) times a small cell noise.

    c_s (log-normal, sigma 0.5) depends on the seed only and is shared by A and B, as data
    and seeds are shared in a spec; e_A = 3, e_B = 2. Sizes run from d^e to 300 d^e on a
    geometric grid of ratio ``grid``. ``drop(learner, d, n)`` removes rows. ``factor_a``
    multiplies A's n* (its curve is shifted along n), so the lines cross at d = 1 / factor_a.
    """
    generator = np.random.default_rng(11)
    scale = {s: math.exp(0.5 * generator.standard_normal()) for s in seeds}
    rows = []
    for learner, exponent in EXPONENTS.items():
        for d in DIMENSIONS:
            low = d**exponent * (factor_a if learner == "A" else 1.0)
            count = int(math.log(300) / math.log(grid)) + 1
            sizes = np.unique(np.round(low * grid ** np.arange(count)).astype(int))
            for s in seeds:
                for n in sizes:
                    if drop and drop(learner, d, int(n)):
                        continue
                    noise = math.exp(cell_noise * generator.standard_normal())
                    rows.append(
                        {
                            "key": f"{spec}-{learner}-{d}-{n}-{s}",
                            "spec": spec,
                            "learner": learner,
                            "d": d,
                            "n": int(n),
                            "seed": s,
                            "status": "ok",
                            "relative_test_error": min(1.0, scale[s] * low / n) * noise,
                            "seconds": 0.01,
                            "details": {"training": {"converged": True, "epochs": 10}},
                            "config": {
                                "theory": None,
                                "target": {"degrees": [2]},
                                "representation": {"kind": "identity"},
                                "model": {
                                    "kind": "kernel",
                                    "params": {"kernel": "ntk", "input_bias": float(d)},
                                    "search": {"ridge": [1e-6, 1e-3]},
                                },
                            },
                        }
                    )
    return rows


def test_paired_bootstrap_recovers_a_known_difference():
    analysis = analyse(paired_rows(), EPS, n_bootstrap=300, seed=0)
    result = compare(analysis, "A", "B", n_bootstrap=300, seed=0)
    level = result["by_eps"]["0.1"]
    # n* is exact on the power law part of each curve up to the cell noise; one grid step
    # (a factor GRID) bounds the error of an n*, so the ratio may be off by GRID and the
    # slope of a difference by 2 log(GRID) / log(16 / 4).
    slope_tolerance = 2 * math.log(GRID) / math.log(16 / 4)
    low, high = level["ci"]
    assert low - slope_tolerance <= 1.0 <= high + slope_tolerance
    assert low > 0  # the difference is resolved
    assert level["difference"] == pytest.approx(1.0, abs=slope_tolerance)
    assert level["dimensions"] == list(DIMENSIONS)
    assert level["bootstrap_used"] == 300
    for d in DIMENSIONS:
        ratio = level["ratio"][str(d)]
        true = d ** (EXPONENTS["A"] - EXPONENTS["B"])
        assert ratio["ci"][0] / GRID <= true <= ratio["ci"][1] * GRID
        assert ratio["value"] == pytest.approx(true, rel=GRID - 1)
        assert ratio["a"] / ratio["b"] == pytest.approx(ratio["value"])
        assert ratio["bound"] is None
    # Pairing removes the seed factor c_s that both learners share: the paired interval is
    # much narrower than the two learners' own intervals combined.
    ci_a, ci_b = analysis.learners["A"].ci, analysis.learners["B"].ci
    unpaired = math.hypot(ci_a[1] - ci_a[0], ci_b[1] - ci_b[0])
    assert high - low < 0.5 * unpaired


def test_paired_bootstrap_is_reproducible_and_checks_names():
    analysis = analyse(paired_rows(seeds=range(6)), EPS, n_bootstrap=50, seed=0)
    first = compare(analysis, "A", "B", n_bootstrap=50, seed=4)
    assert first == compare(analysis, "A", "B", n_bootstrap=50, seed=4)
    reverse = compare(analysis, "B", "A", n_bootstrap=50, seed=4)
    assert reverse["by_eps"]["0.1"]["difference"] == pytest.approx(
        -first["by_eps"]["0.1"]["difference"]
    )
    with pytest.raises(ComparisonError, match="'C'.*learners present: A, B"):
        compare(analysis, "A", "C", 10)


def test_a_censored_learner_gives_a_bound_on_the_ratio():
    # B's sizes at d = 16 stop at 600 < n*_B(16) ~ 10 c 16^2 = 2560 c: censored there.
    def drop(learner, d, n):
        return learner == "B" and d == 16 and n > 600

    rows = paired_rows(seeds=range(6), drop=drop)
    analysis = analyse(rows, EPS, n_bootstrap=100, seed=0)
    assert analysis.learners["B"].n_star[16].kind == "lower_bound"
    level = compare(analysis, "A", "B", 100, 0)["by_eps"]["0.1"]
    assert level["dimensions"] == [4, 8]
    ratio = level["ratio"]["16"]
    assert ratio["value"] is None and ratio["ci"] is None
    assert ratio["b"] == {"lower_bound": analysis.learners["B"].n_star[16].value}
    assert ratio["bound"] == {
        "upper_bound": pytest.approx(ratio["a"] / ratio["b"]["lower_bound"], rel=1e-12)
    }
    assert ratio["bound"]["upper_bound"] >= 16  # n*_A / n*_B <= bound, and the truth is 16

    # The other combinations of ratio_bound.
    def close(bound):
        return {k: pytest.approx(v, rel=1e-12) for k, v in bound.items()}

    assert ratio_bound(NStar("lower_bound", 100.0), NStar("finite", 10.0)) == close(
        {"lower_bound": 10.0}
    )
    assert ratio_bound(NStar("finite", 50.0), NStar("upper_bound", 10.0)) == close(
        {"lower_bound": 5.0}
    )
    assert ratio_bound(NStar("upper_bound", 10.0), NStar("finite", 40.0)) == close(
        {"upper_bound": 0.25}
    )
    assert ratio_bound(NStar("lower_bound", 10.0), NStar("lower_bound", 40.0)) is None
    # An interval n* (after non-finishing cells) bounds the ratio on both sides.
    assert ratio_bound(NStar("interval", 20.0, lower=10.0), NStar("finite", 5.0)) == {
        "interval": [pytest.approx(2.0), pytest.approx(4.0)]
    }


def test_eps_levels_are_analysed_separately():
    analysis = analyse(paired_rows(seeds=range(6)), EPS, 100, 0, eps_levels=(0.2, 0.05))
    assert analysis.eps_levels == (0.2, 0.1, 0.05)
    content = json.loads(json.dumps(exponents_json(analysis)))
    entry = content["learners"]["A"]
    assert content["eps_levels"] == [0.2, 0.1, 0.05] and content["eps"] == 0.1
    assert list(entry["by_eps"]) == ["0.2", "0.1", "0.05"]
    assert entry["exponent"] == entry["by_eps"]["0.1"]["exponent"]
    assert entry["n_star"] == entry["by_eps"]["0.1"]["n_star"]
    for key, eps in (("0.2", 0.2), ("0.05", 0.05)):
        level = entry["by_eps"][key]
        assert level["exponent"] == pytest.approx(3.0, abs=0.15)
        # n* scales as 1 / eps on these curves: compare with the primary level.
        for d in ("4", "8", "16"):
            expected = entry["n_star"][d] * 0.1 / eps
            assert level["n_star"][d] == pytest.approx(expected, rel=0.1)
            low, high = level["n_star_ci"][d]
            assert low <= level["n_star"][d] <= high
            assert set(level["n_star_per_seed"][d]) == {str(s) for s in range(6)}
            assert level["local_slope"][d] == pytest.approx(-1.0, abs=0.5)
            assert level["flags"][d] == []
    cells = sum(r["learner"] == "A" for r in paired_rows(seeds=range(6)))
    assert entry["cells"] == {"ok": cells}
    assert entry["capped"] == 0


def write_store(path, rows, spec_text):
    with Store(path, create=True) as store:
        for row in rows:
            store.put(row)
        store.add_spec(yaml.safe_load(spec_text)["name"], spec_text)


PAIRED_TEXT = """
name: paired
eps: 0.1
report_eps: [0.2]
comparisons: [[A, B]]
"""


def test_report_reads_eps_levels_and_comparisons_from_the_spec(tmp_path):
    write_store(tmp_path / "s.sqlite", paired_rows(seeds=range(4), grid=1.5), PAIRED_TEXT)
    with Store(tmp_path / "s.sqlite") as store:
        content = write_report(store, tmp_path / "out", n_bootstrap=60)
    assert content["eps"] == 0.1 and content["eps_levels"] == [0.2, 0.1]
    assert [(c["a"], c["b"]) for c in content["comparisons"]] == [("A", "B")]
    assert set(content["comparisons"][0]["by_eps"]) == {"0.2", "0.1"}
    written = json.loads((tmp_path / "out" / "exponents.json").read_text())
    assert written == json.loads(json.dumps(content))
    for name in ("n_star.png", "n_star_all.png", "summary.md"):
        assert (tmp_path / "out" / name).stat().st_size > 0
    summary = (tmp_path / "out" / "summary.md").read_text()
    for section in ("## Paired comparisons", "## Training ends", "## Tuning protocol"):
        assert section in summary
    assert "| A - B | 0.1 |" in summary and "| A - B | 0.2 |" in summary
    assert "input_bias per d: d=4: 4, d=8: 8, d=16: 16" in summary
    assert "ridge in {1e-06, 0.001}" in summary
    assert exponents_table(content)[0].count("exponent [95% CI]") == 2
    assert len(comparisons_table(content)) == 2 + 2  # header, rule, one row per eps level
    # Explicit arguments override the spec.
    with Store(tmp_path / "s.sqlite") as store:
        content = write_report(
            store, tmp_path / "out2", n_bootstrap=20, eps_levels=[0.1], comparisons=[]
        )
    assert content["eps_levels"] == [0.1] and content["comparisons"] == []


def test_report_rejects_a_comparison_of_an_unknown_learner(tmp_path):
    text = PAIRED_TEXT.replace("[[A, B]]", "[[A, C]]")
    write_store(tmp_path / "s.sqlite", paired_rows(seeds=range(2), grid=2.0), text)
    with Store(tmp_path / "s.sqlite") as store:
        with pytest.raises(ReportError, match="no learner 'C'.*learners present: A, B"):
            write_report(store, tmp_path / "out", n_bootstrap=10)
        with pytest.raises(ReportError, match="no learner 'Z'"):
            write_report(store, tmp_path / "out", n_bootstrap=10, comparisons=[("Z", "A")])


def test_tables_and_figure_read_files_without_the_new_fields(tmp_path):
    # An exponents.json written before eps levels and comparisons existed: top level only.
    from hierlearn.experiments.report.plots import plot_comparison

    analysis = analyse(paired_rows(seeds=range(4), grid=1.5), EPS, 20, 0)
    content = exponents_json(analysis)
    old = {
        "eps": content["eps"],
        "n_bootstrap": 20,
        "learners": {
            name: {k: v for k, v in entry.items() if k not in ("by_eps", "cells", "capped")}
            for name, entry in content["learners"].items()
        },
    }
    assert exponents_table(old)[2:] == [
        line.replace(" (capped)", "") for line in exponents_table(content)[2:]
    ]
    assert comparisons_table(old) == []
    plot_comparison(old, tmp_path / "old.png", "old file")
    assert (tmp_path / "old.png").stat().st_size > 10_000


def test_crossover_of_the_fitted_lines():
    """n*_A = c d^3 / 8 and n*_B = c d^2 cross at d = 8, inside the measured 4..16."""
    analysis = analyse(paired_rows(factor_a=1 / 8), EPS, n_bootstrap=300, seed=0)
    crossover = compare(analysis, "A", "B", n_bootstrap=300, seed=0)["by_eps"]["0.1"]["crossover"]
    # One grid step on each n* moves log d* by at most 2 log(GRID) / (e_A - e_B).
    tolerance = math.exp(2 * math.log(GRID))
    assert 8 / tolerance <= crossover["d"] <= 8 * tolerance
    assert crossover["within_measured_range"]
    low, high = crossover["ci"]
    assert low / tolerance <= 8 <= high * tolerance and low < high
    # Without the shift the lines meet at d = 1, outside the measured dimensions.
    level = compare(analyse(paired_rows(), EPS, 200), "A", "B", 200)["by_eps"]["0.1"]
    assert not level["crossover"]["within_measured_range"]
    assert level["crossover"]["d"] == pytest.approx(1.0, rel=0.5)
