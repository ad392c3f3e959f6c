"""Spec validation: valid specs parse; malformed ones raise SpecError naming the field path."""

import copy
from pathlib import Path

import pytest
import yaml

from hierlearn.experiments.run.cells import grid_cells
from hierlearn.experiments.spec import (
    AdaptiveSamples,
    GridSamples,
    ListSamples,
    RandomNetworkRepresentation,
    SpecError,
    load_spec,
    parse_spec,
    sample_sizes,
)
from hierlearn.experiments.spec.learners import representation_defaults

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "specs"

BASE = {
    "name": "base",
    "inputs": "gaussian",
    "target": {"degrees": 2, "basis": "hermite"},
    "dimensions": [4, 8],
    "samples": {"mode": "grid", "start": "2*d", "stop": "16*d", "num": 3},
    "seeds": 2,
    "learners": {
        "quad_h": {
            "theory": "quad-h",
            "representation": {
                "kind": "random_network",
                "width": "d**2",
                "activation": "hermite-2",
            },
            "model": {
                "kind": "quadratic_taylor",
                "params": {"width": 16, "lr": 0.05},
                "search": {"reg": [0.0, 1e-3]},
            },
        },
        "ntk_x": {"model": {"kind": "ntk", "params": {"width": 16}}},
        "kern": {"model": {"kind": "kernel", "params": {"kernel": "ntk"}}},
    },
}


def with_change(path: str, value):
    """BASE with the value at a dotted path replaced (``...`` deletes the key)."""
    spec = copy.deepcopy(BASE)
    *parents, last = path.split(".")
    node = spec
    for part in parents:
        node = node[int(part)] if isinstance(node, list) else node[part]
    if value is ...:
        del node[last]
    else:
        node[last] = value
    return spec


QH = "learners.quad_h"
MALFORMED = [
    # (field to change, new value, the path the message must name)
    ("foo", 1, "foo"),
    ("name", ..., "name"),
    ("name", "has spaces", "name"),
    ("inputs", "uniform", "inputs"),
    ("target", ..., "target"),
    ("target.degrees", "four", "target.degrees"),
    ("target.degrees", [2, 0], "target.degrees.1"),
    ("target.degrees", [], "target.degrees"),
    ("target.basis", "legendre", "target.basis"),
    ("target.noise_std", -1.0, "target.noise_std"),
    ("target.extra", 1, "target.extra"),
    ("target.rank", 5, "target.rank"),
    ("target.coefficients", [1.0, 2.0], "target.coefficients"),
    ("target.basis", "gegenbauer", "target.basis"),
    ("target.coefficients", [0.0], "target"),
    ("dimensions", [], "dimensions"),
    ("dimensions", [4, -8], "dimensions.1"),
    ("dimensions", [4, 4], "dimensions"),
    ("dimensions", "eight", "dimensions"),
    ("samples.mode", "random", "samples"),
    ("samples", ["-d"], "samples.values.0"),
    ("samples", ["__import__('os')"], "samples.values.0"),
    ("samples", ["d/3"], "samples.values.0"),
    ("samples", [], "samples.values"),
    ("samples.stop", ..., "samples.stop"),
    ("samples.stop", "d", "samples.stop"),
    ("samples.num", 0, "samples.num"),
    ("samples.start", "exec('1')", "samples.start"),
    ("samples", {"mode": "adaptive", "bracket": ["10*d", "5*d"]}, "samples.bracket"),
    ("samples", {"mode": "adaptive", "bracket": ["d", "9*d", "99*d"]}, "samples.bracket"),
    ("samples", {"mode": "adaptive", "bracket": ["d", "9*d"], "growth": 1.0}, "samples.growth"),
    ("seeds", 0, "seeds"),
    ("seeds", [-1], "seeds.0"),
    ("seeds", [1, 1], "seeds"),
    ("validation_size", "d - 100", "validation_size"),
    ("test_size", "open('x')", "test_size"),
    ("test_size", 0, "test_size"),
    ("eps", 0, "eps"),
    ("device", "tpu", "device"),
    ("time_limit", -5, "time_limit"),
    ("learners", {}, "learners"),
    ("learners.bad name", {"model": {"kind": "ntk"}}, "learners.bad name"),
    (f"{QH}.model", ..., f"{QH}.model"),
    (f"{QH}.model.kind", "quadratic", f"{QH}.model"),
    (f"{QH}.model.params.lr", -0.1, f"{QH}.model.params.lr"),
    (f"{QH}.model.params.lr", "fast", f"{QH}.model.params.lr"),
    (f"{QH}.model.params.momentum", 0.9, f"{QH}.model.params.momentum"),
    (f"{QH}.model.params.activation", "rleu", f"{QH}.model.params.activation"),
    (f"{QH}.model.params.optimizer", "sgd", f"{QH}.model.params.optimizer"),
    (f"{QH}.model.params.width", "2*x", f"{QH}.model.params.width"),
    (f"{QH}.model.params.width", "d - 100", f"{QH}.model.params.width"),
    (f"{QH}.model.params.epochs", 1.5, f"{QH}.model.params.epochs"),
    (f"{QH}.model.search.lr", [], f"{QH}.model.search.lr"),
    (f"{QH}.model.search.lr", [0.1, -1.0], f"{QH}.model.search.lr.1"),
    (f"{QH}.model.search.momentum", [0.9], f"{QH}.model.search.momentum"),
    (f"{QH}.representation.kind", "cnn", f"{QH}.representation"),
    (f"{QH}.representation.activation", "hermite-0", f"{QH}.representation.activation"),
    (f"{QH}.representation.width", ..., f"{QH}.representation.width"),
    (f"{QH}.representation.normalize", "pca", f"{QH}.representation.normalize"),
    (f"{QH}.representation.n_unlabeled", "-D", f"{QH}.representation.n_unlabeled"),
    (f"{QH}.representation.depth", 0, f"{QH}.representation.depth"),
    (f"{QH}.theory", "ntk-z", f"{QH}.theory"),
    ("learners.ntk_x.model.params.ridge", -1.0, "learners.ntk_x.model.params.ridge"),
    ("learners.kern.model.params.kernel", "rbf", "learners.kern.model.params.kernel"),
    (
        "learners.kern.model.params.representation",
        {"activation": "relu", "width": 3},
        "learners.kern.model.params.representation.width",
    ),
]


def test_base_is_valid():
    spec = parse_spec(copy.deepcopy(BASE))
    assert spec.seeds == (0, 1)
    assert isinstance(spec.samples, GridSamples)
    assert sample_sizes(spec, 4) == [8, 23, 64]


@pytest.mark.parametrize(
    ("field", "value", "path"), MALFORMED, ids=[f"{f}={v!r}"[:60] for f, v, _ in MALFORMED]
)
def test_malformed(field, value, path):
    with pytest.raises(SpecError) as info:
        parse_spec(with_change(field, value))
    paths = [p for p, _ in info.value.errors]
    assert path in paths, f"expected {path!r} among {paths}: {info.value}"
    assert all(message for _, message in info.value.errors)
    for line in str(info.value).splitlines():
        assert ": " in line  # "field.path: message"


def test_at_least_thirty_malformed_cases():
    assert len(MALFORMED) >= 30


def test_messages_are_specific():
    with pytest.raises(
        SpecError,
        match=r"learners\.quad_h\.model\.params\.lr: Input should be "
        r"greater than 0",
    ):
        parse_spec(with_change(f"{QH}.model.params.lr", -0.1))
    with pytest.raises(SpecError, match=r"model\.params\.momentum: unknown key"):
        parse_spec(with_change(f"{QH}.model.params.momentum", 0.9))
    with pytest.raises(SpecError, match=r"function '__import__' is not allowed"):
        parse_spec(with_change("samples", ["__import__('os')"]))
    with pytest.raises(SpecError, match=r"accepted: relu, relu2"):
        parse_spec(with_change(f"{QH}.model.params.activation", "rleu"))


def test_several_errors_reported_together():
    spec = with_change("eps", -1)
    spec["inputs"] = "uniform"
    with pytest.raises(SpecError) as info:
        parse_spec(spec)
    assert {"eps", "inputs"} <= {p for p, _ in info.value.errors}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("name: a\nname: b\n", "duplicate key"),
        ("name: [unclosed\n", "invalid YAML"),
        ("- a\n- b\n", "a spec must be a mapping"),
        ("!!python/object/apply:os.system ['true']\n", "invalid YAML"),
        ("", "a spec must be a mapping"),
    ],
)
def test_bad_files(tmp_path, text, message):
    path = tmp_path / "spec.yaml"
    path.write_text(text)
    with pytest.raises(SpecError, match=message):
        load_spec(path)


def test_missing_file(tmp_path):
    with pytest.raises(SpecError, match="spec: no such file"):
        load_spec(tmp_path / "absent.yaml")


def test_shorthands_and_modes():
    spec = parse_spec(with_change("samples", [100, "10*d", "ceil(d**1.5)"]))
    assert isinstance(spec.samples, ListSamples)
    assert sample_sizes(spec, 8) == [23, 80, 100]
    spec = parse_spec(with_change("samples", {"mode": "adaptive", "bracket": ["2*d", "d**2"]}))
    assert isinstance(spec.samples, AdaptiveSamples)
    assert spec.samples.growth == 2.0
    spec = parse_spec(with_change("seeds", [7, 3]))
    assert spec.seeds == (3, 7)


def test_specs_are_frozen():
    spec = parse_spec(copy.deepcopy(BASE))
    with pytest.raises(Exception, match="frozen"):
        spec.eps = 0.5


@pytest.mark.parametrize("name", ["tiny.yaml", "paper-p4.yaml"])
def test_example_specs_are_valid(name):
    spec, text = load_spec(EXAMPLES / name)
    assert yaml.safe_load(text)["name"] == spec.name
    kinds = {learner.model.kind for learner in spec.learners.values()}
    if name == "tiny.yaml":
        assert kinds == {"ntk", "quadratic_taylor", "two_layer", "kernel"}
        representations = {learner.representation.kind for learner in spec.learners.values()}
        assert representations == {"identity", "random_network"}


def test_grid_cells_resolve_every_size():
    spec = parse_spec(with_change("learners", {"ntk_x": BASE["learners"]["ntk_x"]}))
    cells = grid_cells(spec)
    assert len(cells) == 2 * 3 * 2  # dimensions x sizes x seeds
    assert {c["n"] for c in cells if c["d"] == 8} == set(sample_sizes(spec, 8))
    assert all(c["model"]["params"]["width"] == 16 for c in cells)
    # Parameters left out take the estimator's defaults, written into the config.
    from hierlearn.estimators import NTKRegressor

    assert cells[0]["model"]["params"]["ridge"] == NTKRegressor().ridge


def test_every_representation_parameter_can_be_set():
    fields = set(RandomNetworkRepresentation.model_fields) - {"kind"}
    assert set(representation_defaults()) == fields | {"unlabeled_law"}  # from spec.inputs


@pytest.mark.parametrize(
    "bias, refused", [(1.0, True), ("sqrt(d)", True), (0.0, False), ("auto", False)]
)
def test_a_kernel_on_a_representation_takes_no_input_bias(bias, refused):
    data = copy.deepcopy(BASE)
    data["learners"]["kern"]["model"]["params"].update(
        representation={"activation": "relu", "bias_std": 1.0}, input_bias=bias
    )
    if refused:
        with pytest.raises(SpecError) as error:
            parse_spec(data)
        assert "learners.kern.model.params: input_bias applies to raw inputs only" in str(
            error.value
        )
    else:
        assert parse_spec(data).learners["kern"].model.params.representation is not None


def test_a_report_reads_the_eps_levels_and_comparisons_as_the_spec_declares_them():
    from hierlearn.experiments.spec import report_fields

    text = "name: x\neps: 0.3\nreport_eps: [0.5]\ncomparisons: [[a, b]]\nfuture_key: 1\n"
    fields = report_fields(text)
    assert fields["eps"] == 0.3 and fields["eps_levels"] == (0.5, 0.3)
    assert fields["comparisons"] == (("a", "b"),)
    # The spec's own validation: a report_eps that a Spec refuses gives the defaults.
    for bad in ("eps: -1\n", "eps: 0.3\neps: 0.2\n", "[not, a, mapping]\n", "eps: [\n", None):
        fields = report_fields(bad)
        assert (fields["eps"], fields["eps_levels"], fields["comparisons"]) == (0.1, (0.1,), ())
    spec = parse_spec(BASE)
    assert report_fields(yaml.safe_dump(BASE))["eps_levels"] == spec.eps_levels()
