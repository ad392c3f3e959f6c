"""``--device cpu|cuda`` of ``hierlearn run`` and ``hierlearn reproduce``, and the ``device``
argument of the library functions under them: the device reaches every cell's config (and so
its key), ``cuda`` without a CUDA device is refused before anything is written, an unknown
device is refused by the parser, and with ``cuda`` the pool has one worker per visible GPU."""

import json

import pytest
import torch
import yaml

from conftest import ntk_learner, sweep
from hierlearn.cli import main
from hierlearn.experiments.reproduce import default_cpu_workers, run_reproduce
from hierlearn.experiments.run.cells import cell_key
from hierlearn.experiments.run.store import Store
from hierlearn.experiments.spec import parse_spec_text
from hierlearn.experiments.workflow import (
    ExecutorOptions,
    InputError,
    run_into_store,
    with_device,
)

SMALL = sweep("small", dimensions=[4], samples=[16, 32], learners={"ntk": ntk_learner(16)})
NO_CUDA = "torch sees no CUDA device"
needs_no_cuda = pytest.mark.skipif(
    torch.cuda.is_available(), reason="a CUDA device is present: the refusal is not tested here"
)


def write_spec(directory, data, name="spec.yaml"):
    path = directory / name
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def stored(store_path):
    """(rows, spec texts) of a store."""
    with Store(store_path) as store:
        return store.rows(), [entry["text"] for entry in store.specs()]


def test_run_device_flag_overrides_the_spec_and_reaches_every_cell(tmp_path, capsys):
    """A spec that says ``device: cuda`` runs on the CPU with ``--device cpu``: every stored
    cell's config (and the spec text the store keeps, which the report reads) says cpu, and
    the key of each cell differs from the key of the same cell on cuda."""
    spec = write_spec(tmp_path, {**SMALL, "device": "cuda"})
    store = tmp_path / "s.sqlite"
    command = ["run", str(spec), "--store", str(store), "--workers", "0", "--quiet"]
    assert main([*command, "--device", "cpu"]) == 0
    assert "ran 4 cells (4 ok)" in capsys.readouterr().out
    rows, texts = stored(store)
    assert len(rows) == 4
    assert [row["config"]["device"] for row in rows] == ["cpu"] * 4
    assert yaml.safe_load(texts[-1])["device"] == "cpu"
    for row in rows:
        assert cell_key(row["config"]) == row["key"]
        assert cell_key({**row["config"], "device": "cuda"}) != row["key"]
    # The same flag resumes into the same cells.
    assert main([*command, "--device", "cpu"]) == 0
    assert "ran 0 cells" in capsys.readouterr().out
    # The report selects the rows of the stored (cpu) text: all four are current.
    out = tmp_path / "report"
    assert main(["report", "--store", str(store), "--out", str(out), "--bootstrap", "20"]) == 0
    capsys.readouterr()
    content = json.loads((out / "exponents.json").read_text())
    assert set(content["learners"]) == {"ntk"}
    assert set(content["learners"]["ntk"]["n_star"]) == {"4"}


def test_run_without_the_flag_keeps_the_spec_device(tmp_path, capsys):
    spec = write_spec(tmp_path, SMALL)
    store = tmp_path / "s.sqlite"
    assert main(["run", str(spec), "--store", str(store), "--workers", "0", "--quiet"]) == 0
    rows, texts = stored(store)
    assert {row["config"]["device"] for row in rows} == {"cpu"} and len(rows) == 4
    assert texts == [spec.read_text()]  # the spec's own text, not rewritten


def test_with_device_rewrites_the_text_only_when_the_device_changes():
    text = yaml.safe_dump({**SMALL, "device": "cuda"}, sort_keys=False)
    spec = parse_spec_text(text)
    same_spec, same_text = with_device(spec, text, "cuda")
    assert same_spec is spec and same_text is text
    cpu_spec, cpu_text = with_device(spec, text, "cpu")
    assert cpu_spec.device == "cpu" and spec.device == "cuda"
    assert parse_spec_text(cpu_text) == cpu_spec
    assert cpu_spec.model_copy(update={"device": "cuda"}) == spec


@needs_no_cuda
def test_run_device_cuda_without_cuda_exits_2_and_writes_nothing(tmp_path, capsys):
    spec = write_spec(tmp_path, SMALL)
    store = tmp_path / "s.sqlite"
    assert main(["run", str(spec), "--store", str(store), "--device", "cuda"]) == 2
    error = capsys.readouterr().err
    assert "--device: cuda was asked for but torch sees no CUDA device" in error
    assert "accepted values: cpu, cuda" in error
    assert not store.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["spec.yaml"]


@needs_no_cuda
def test_reproduce_device_cuda_without_cuda_exits_2_and_writes_nothing(tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["reproduce", "--full", "--out", str(out), "--device", "cuda"]) == 2
    error = capsys.readouterr().err
    assert error.startswith("hierlearn reproduce: error: --device: cuda was asked for")
    assert not out.exists() and list(tmp_path.iterdir()) == []


@needs_no_cuda
def test_library_device_cuda_without_cuda_raises_with_library_wording(tmp_path):
    text = yaml.safe_dump(SMALL)
    spec = parse_spec_text(text)
    store = tmp_path / "s.sqlite"
    with pytest.raises(InputError, match=r"^device: cuda was asked for but torch sees no CUDA"):
        run_into_store(spec, text, store, ExecutorOptions(workers=0), device="cuda")
    out = tmp_path / "out"
    with pytest.raises(InputError, match=r"^device: cuda was asked for"):
        run_reproduce("quick", out, device="cuda", specs={"separation": (spec, text)})
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("command", ["run", "reproduce"])
def test_an_unknown_device_exits_2_naming_the_accepted_values(tmp_path, capsys, command):
    spec = write_spec(tmp_path, SMALL)
    store, out = tmp_path / "s.sqlite", tmp_path / "out"
    argv = (
        ["run", str(spec), "--store", str(store)]
        if command == "run"
        else ["reproduce", "--out", str(out)]
    )
    with pytest.raises(SystemExit) as stopped:
        main([*argv, "--device", "tpu"])
    assert stopped.value.code == 2
    error = capsys.readouterr().err
    assert "argument --device: invalid choice: 'tpu'" in error
    assert "cpu" in error.split("invalid choice")[1] and "cuda" in error.split("invalid choice")[1]
    assert not store.exists() and not out.exists()
    with pytest.raises(InputError, match=r"^device: 'tpu' is not a device; accepted values: cpu"):
        run_into_store(parse_spec_text(spec.read_text()), spec.read_text(), store, device="tpu")
    assert not store.exists()


def test_default_workers_follow_the_device(monkeypatch):
    assert ExecutorOptions(workers=None).for_device("cpu").workers == 1
    assert ExecutorOptions(workers=None).for_device("cpu", 6).workers == 6
    assert ExecutorOptions(workers=3).for_device("cuda").workers == 3
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 4)
    assert ExecutorOptions(workers=None).for_device("cuda", 6).workers == 4
    assert ExecutorOptions(workers=0).for_device("cuda").workers == 0


class _Stop(Exception):
    """Raised by the patched executor factory once it has seen the options."""


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["run", "--device", "cuda"], 2),
        (["run", "--device", "cuda", "--workers", "3"], 3),
        (["run", "--device", "cpu"], 1),
        (["run"], 1),
        (["reproduce", "--device", "cuda"], 2),
        (["reproduce"], "cpu default"),
    ],
)
def test_the_cli_asks_for_one_worker_per_visible_gpu_on_cuda(tmp_path, monkeypatch, argv, expected):
    """With two (pretended) GPUs, ``--device cuda`` without ``--workers`` starts two workers;
    the CPU defaults stay (1 for run, one per core up to 8 for reproduce). The executor is
    stopped as it is made, so no cell runs."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    seen = []

    def make(self):
        seen.append(self.workers)
        raise _Stop

    monkeypatch.setattr(ExecutorOptions, "make", make)
    if argv[0] == "run":
        spec = write_spec(tmp_path, SMALL)
        argv = ["run", str(spec), "--store", str(tmp_path / "s.sqlite"), *argv[1:]]
    else:
        argv = ["reproduce", "--out", str(tmp_path / "out"), "--quiet", *argv[1:]]
    assert main(argv) == 1  # the stop is a failure while running
    assert seen == [default_cpu_workers() if expected == "cpu default" else expected]


@pytest.mark.skipif(
    not torch.cuda.is_available(), reason="no CUDA device: the CUDA path is not tested here"
)
def test_run_device_cuda_end_to_end(tmp_path, capsys):
    """On a GPU: ``--device cuda`` runs every cell on cuda, in cells of their own (a CPU run of
    the same spec into the same store computes its own cells)."""
    spec = write_spec(tmp_path, SMALL)
    store = tmp_path / "s.sqlite"
    command = ["run", str(spec), "--store", str(store), "--quiet"]
    assert main([*command, "--device", "cuda"]) == 0
    assert "ran 4 cells (4 ok)" in capsys.readouterr().out
    rows, texts = stored(store)
    assert [row["config"]["device"] for row in rows] == ["cuda"] * 4
    assert yaml.safe_load(texts[-1])["device"] == "cuda"
    assert main([*command, "--device", "cpu", "--workers", "0"]) == 0
    assert "ran 4 cells (4 ok)" in capsys.readouterr().out
    rows, _ = stored(store)
    assert sorted(row["config"]["device"] for row in rows) == ["cpu"] * 4 + ["cuda"] * 4
    assert len({row["key"] for row in rows}) == 8
