"""The command line end to end: run, status, report, export; exit codes; bad input."""

import hashlib
import json
import re
from pathlib import Path

import pandas as pd
import pytest
import yaml

from conftest import ntk_learner, sweep
from hierlearn.cli import main

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "specs"

SMALL = sweep("small", dimensions=[4], samples=[16, 32], learners={"ntk": ntk_learner(16)})


def write_spec(directory, data, name="spec.yaml"):
    path = directory / name
    path.write_text(yaml.safe_dump(data) if isinstance(data, dict) else data)
    return path


def digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_tiny_end_to_end(tmp_path, capsys):
    store, out = tmp_path / "tiny.sqlite", tmp_path / "report"
    assert main(["run", str(EXAMPLES / "tiny.yaml"), "--store", str(store), "--workers", "2"]) == 0
    captured = capsys.readouterr()
    assert "ran 150 cells (150 ok)" in captured.out
    busy = re.search(r"2 cell slot\(s\) busy (\d+)% of the ([0-9.]+) s", captured.out)
    assert busy is not None and 0 < int(busy.group(1)) <= 100
    assert "150/150 cells" in captured.err  # plain progress lines: stderr is not a terminal
    assert "\r" not in captured.err

    assert main(["run", str(EXAMPLES / "tiny.yaml"), "--store", str(store)]) == 0
    rerun = capsys.readouterr().out
    assert "ran 0 cells" in rerun and "150 already stored" in rerun

    assert main(["status", "--store", str(store)]) == 0
    status = capsys.readouterr().out
    assert "150 cells" in status and "tiny:quad_h" in status

    assert main(["report", "--store", str(store), "--out", str(out), "--bootstrap", "200"]) == 0
    learners = {"ntk_x", "kernel_x", "quad_x", "quad_h", "two_layer_h"}
    for name in ["n_star.png", "summary.md", "exponents.json"] + [
        f"{kind}_{learner}.png" for learner in learners for kind in ("error_vs_n", "staircase")
    ]:
        assert (out / name).stat().st_size > 0, name
    content = json.loads((out / "exponents.json").read_text())
    assert content["eps"] == 0.3  # the spec's eps
    assert set(content["learners"]) == learners
    for entry in content["learners"].values():
        assert set(entry["n_star"]) == {"4", "8", "12"}
        for d, value in entry["n_star"].items():
            # The grid runs from 2 d to 48 d: a finite n* lies inside it; a censored one is a
            # bound at one of its ends.
            low, high = 2 * int(d), 48 * int(d)
            if isinstance(value, dict):
                assert value in ({"lower_bound": high}, {"upper_bound": low}), value
            else:
                assert low <= value <= high, (d, value)
    # The kernels reach eps = 0.3 on a degree-2 target well inside the grid at d = 4.
    for name in ("ntk_x", "kernel_x"):
        assert isinstance(content["learners"][name]["n_star"]["4"], float), name
        if entry["exponent"] is None:
            assert entry["ci"] is None
        else:
            assert entry["ci"] is None or entry["ci"][0] <= entry["ci"][1]
    # D = 2 d^2 He_2 features: the O~(D) bound gives d^2 at degree 2 (docs/theory.md).
    assert content["learners"]["quad_h"]["theory"] == 2.0
    assert content["learners"]["ntk_x"]["theory"] == 2.0
    summary = (out / "summary.md").read_text()
    assert "| ntk_x | ntk-x | 2 |" in summary and "![n_star.png](n_star.png)" in summary

    compared = tmp_path / "compared"
    arguments = ["report", "--store", str(store), "--out", str(compared), "--bootstrap", "100"]
    assert main([*arguments, "--eps", "0.5", "0.3", "--compare", "quad_x", "quad_h"]) == 0
    printed = capsys.readouterr().out
    assert "e(quad_x) - e(quad_h): eps 0.5:" in printed and "eps 0.3:" in printed
    content = json.loads((compared / "exponents.json").read_text())
    assert content["eps"] == 0.3 and content["eps_levels"] == [0.5, 0.3]
    assert [(c["a"], c["b"]) for c in content["comparisons"]] == [("quad_x", "quad_h")]
    assert main([*arguments, "--compare", "quad_x", "nope"]) == 2
    assert "nope" in capsys.readouterr().err
    assert main([*arguments, "--eps", "0.3", "-1"]) == 2
    assert "--eps" in capsys.readouterr().err

    for file_format in ("csv", "parquet"):
        target = tmp_path / f"rows.{file_format}"
        assert (
            main(
                ["export", "--store", str(store), "--format", file_format, "--output", str(target)]
            )
            == 0
        )
        frame = pd.read_csv(target) if file_format == "csv" else pd.read_parquet(target)
        assert len(frame) == 150 and frame["key"].is_unique
        assert set(frame["learner"]) == learners
        assert frame["git_revision"].notna().all()


BAD_INPUTS = [
    ("unknown: 1\n", "unknown: unknown key"),
    ({**SMALL, "dimensions": "eight"}, "dimensions:"),
    ({**SMALL, "samples": ["-d"]}, "samples.values.0:"),
    ({**SMALL, "samples": ["__import__('os')"]}, "samples.values.0: expression"),
    (
        {**SMALL, "learners": {"ntk": {"model": {"kind": "ntk", "params": {"width": "d - 9"}}}}},
        "learners.ntk.model.params.width:",
    ),
    (
        {**SMALL, "learners": {"q": {"model": {"kind": "quadratic_taylor", "params": {"lr": -1}}}}},
        "learners.q.model.params.lr: Input should be greater than 0",
    ),
    ("name: [\n", "spec: invalid YAML"),
]


@pytest.mark.parametrize(("data", "message"), BAD_INPUTS)
def test_bad_specs_exit_2_and_touch_no_store(tmp_path, capsys, data, message):
    spec = write_spec(tmp_path, data)
    store = tmp_path / "new.sqlite"
    assert main(["run", str(spec), "--store", str(store)]) == 2
    assert message in capsys.readouterr().err
    assert not store.exists()
    # An existing store is left byte for byte as it was.
    existing = tmp_path / "existing.sqlite"
    assert (
        main(
            [
                "run",
                str(write_spec(tmp_path, SMALL, "good.yaml")),
                "--store",
                str(existing),
                "--workers",
                "0",
                "--quiet",
            ]
        )
        == 0
    )
    before = {p.name: digest(p) for p in tmp_path.glob("existing.sqlite*")}
    assert main(["run", str(spec), "--store", str(existing)]) == 2
    assert {p.name: digest(p) for p in tmp_path.glob("existing.sqlite*")} == before


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["run", "{missing}", "--store", "{store}"], "spec: no such file"),
        (["run", "{spec}", "--store", "{dir}/absent/s.sqlite"], "does not exist"),
        (["run", "{spec}", "--store", "{store}", "--cluster", "remote:3"], "--cluster"),
        (["run", "{spec}", "--store", "{store}", "--workers", "-1"], "--workers"),
        (["run", "{spec}", "--store", "{store}", "--time-limit", "0"], "--time-limit"),
        (["run", "{spec}", "--store", "{notes}"], "not a hierlearn store"),
        (["status", "--store", "{store}"], "no store"),
        (["report", "--store", "{store}", "--out", "{dir}/r"], "no store"),
        (["report", "--store", "{store}", "--out", "{dir}/a/b"], "does not exist"),
        (["export", "--store", "{store}", "--format", "csv"], "no store"),
        (["report", "--store", "{store}", "--out", "{dir}/r", "--bootstrap", "0"], "--bootstrap"),
        (["reproduce", "--out", "{dir}/q", "--bootstrap", "-5"], "--bootstrap"),
    ],
)
def test_bad_arguments_exit_2(tmp_path, capsys, arguments, message):
    notes = tmp_path / "notes.txt"
    notes.write_text("my notes")
    values = {
        "missing": tmp_path / "absent.yaml",
        "store": tmp_path / "s.sqlite",
        "dir": tmp_path,
        "spec": write_spec(tmp_path, SMALL),
        "notes": notes,
    }
    assert main([a.format(**values) for a in arguments]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "s.sqlite").exists()
    assert notes.read_text() == "my notes"


@pytest.mark.parametrize("value", ["abc", "0", "-3"])
def test_a_bad_lease_duration_in_the_environment_exits_2(tmp_path, capsys, monkeypatch, value):
    monkeypatch.setenv("HIERLEARN_LEASE_SECONDS", value)
    store = tmp_path / "s.sqlite"
    assert main(["run", str(write_spec(tmp_path, SMALL)), "--store", str(store), "--quiet"]) == 2
    assert f"HIERLEARN_LEASE_SECONDS: must be a number > 0, got {value!r}" in (
        capsys.readouterr().err
    )
    assert not store.exists()


def test_library_errors_name_arguments_and_the_command_line_names_flags(tmp_path, capsys):
    """The library's InputError speaks of its own arguments; the command line of its flags."""
    from hierlearn.experiments.spec import load_spec
    from hierlearn.experiments.workflow import (
        ExecutorOptions,
        InputError,
        report_into,
        run_into_store,
    )

    spec_path = write_spec(tmp_path, SMALL)
    spec, text = load_spec(spec_path)
    store = tmp_path / "s.sqlite"
    with pytest.raises(InputError) as info:
        run_into_store(spec, text, store, ExecutorOptions(workers=-1))
    assert str(info.value) == "workers: must be >= 0, got -1"
    assert info.value.arguments == ("workers",) and info.value.problem == "must be >= 0, got -1"
    with pytest.raises(InputError, match=r"^scheduler and cluster: choose one$"):
        ExecutorOptions(scheduler="tcp://127.0.0.1:1", cluster=2).check()
    with pytest.raises(InputError, match=r"^store_path: directory .* does not exist$"):
        run_into_store(spec, text, tmp_path / "absent" / "s.sqlite")
    with pytest.raises(InputError, match=r"^n_bootstrap: must be >= 1, got 0$"):
        report_into(store, tmp_path / "r", n_bootstrap=0)

    run = ["run", str(spec_path), "--store"]
    assert main([*run, str(store), "--workers", "-1"]) == 2
    assert "run: error: --workers: must be >= 0, got -1\n" in capsys.readouterr().err
    assert main([*run, str(tmp_path / "absent" / "s.sqlite")]) == 2
    assert "run: error: --store: directory " in capsys.readouterr().err
    assert main([*run, str(store), "--time-limit", "0"]) == 2
    assert "run: error: --time-limit: must be > 0, got 0.0\n" in capsys.readouterr().err
    assert not store.exists()


def test_argparse_errors_exit_2(capsys):
    with pytest.raises(SystemExit) as info:
        main(["run"])
    assert info.value.code == 2
    with pytest.raises(SystemExit) as info:
        main(["export", "--store", "x", "--format", "json"])
    assert info.value.code == 2


def test_failed_cells_exit_1_and_are_listed(tmp_path, capsys):
    data = {
        **SMALL,
        "learners": {
            **SMALL["learners"],
            "broken": {"model": {"kind": "quadratic_taylor", "params": {"width": 7, "epochs": 3}}},
        },
    }
    store = tmp_path / "s.sqlite"
    assert (
        main(["run", str(write_spec(tmp_path, data)), "--store", str(store), "--workers", "0"]) == 1
    )
    assert "4 cells failed" in capsys.readouterr().err
    assert main(["status", "--store", str(store), "--failed"]) == 0
    listing = capsys.readouterr().out
    assert listing.count("failed ") == 4 and "ValueError" in listing and "small:broken" in listing
    # The report still works; the broken learner has no usable rows.
    assert (
        main(["report", "--store", str(store), "--out", str(tmp_path / "r"), "--bootstrap", "20"])
        == 0
    )


def test_dask_from_the_command_line(tmp_path, capsys):
    from distributed import LocalCluster

    spec = str(write_spec(tmp_path, SMALL))
    assert (
        main(
            ["run", spec, "--store", str(tmp_path / "a.sqlite"), "--cluster", "local:1", "--quiet"]
        )
        == 0
    )
    assert "ran 4 cells (4 ok)" in capsys.readouterr().out
    with LocalCluster(
        n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None
    ) as cluster:
        assert (
            main(
                [
                    "run",
                    spec,
                    "--store",
                    str(tmp_path / "b.sqlite"),
                    "--scheduler",
                    cluster.scheduler_address,
                    "--quiet",
                ]
            )
            == 0
        )
    assert "ran 4 cells (4 ok)" in capsys.readouterr().out


def test_cuda_spec_without_cuda_exits_2(tmp_path, capsys):
    import torch

    if torch.cuda.is_available():
        pytest.skip("a CUDA device is present")
    store = tmp_path / "s.sqlite"
    spec = write_spec(tmp_path, {**SMALL, "device": "cuda"})
    assert main(["run", str(spec), "--store", str(store)]) == 2
    assert "device:" in capsys.readouterr().err
    assert not store.exists()


def test_a_changed_spec_reports_its_own_rows_only(tmp_path, capsys):
    """Rerunning a spec whose learner changed, into the same store, leaves the old rows there;
    the report uses the rows of the spec's latest text and counts the others."""
    store, out = tmp_path / "s.sqlite", tmp_path / "report"
    first = write_spec(tmp_path, SMALL, "first.yaml")
    assert main(["run", str(first), "--store", str(store), "--quiet"]) == 0
    changed = json.loads(json.dumps(SMALL))
    changed["learners"]["ntk"]["model"]["params"]["width"] = 24
    second = write_spec(tmp_path, changed, "second.yaml")
    assert main(["run", str(second), "--store", str(store), "--quiet"]) == 0
    capsys.readouterr()
    assert main(["report", "--store", str(store), "--out", str(out), "--bootstrap", "50"]) == 0
    content = json.loads((out / "exponents.json").read_text())
    old_rows = len(SMALL["dimensions"]) * len(SMALL["samples"]) * SMALL["seeds"]
    assert content["superseded_rows"] == old_rows
    assert content["learners"]["ntk"]["cells"] == {"ok": old_rows}
