"""The codebase's layout: no import cycle, every module imports alone, references stay inside
the repository (docs/theory.md sections that exist)."""

import ast
import re
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "hierlearn"
THEORY = ROOT / "docs" / "theory.md"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {_module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def _resolve(module: str, path: Path, level: int, name: str | None) -> str:
    """The absolute name of a relative import in ``module`` (a package when path is __init__)."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for _ in range(level - 1):
        package = package.rpartition(".")[0]
    return f"{package}.{name}" if name else package


def import_graph() -> dict[str, set[str]]:
    """module -> the package modules it imports (at module level or inside functions)."""
    graph = {}
    for module, path in MODULES.items():
        edges = set()
        for node in ast.walk(ast.parse(path.read_text())):
            targets = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = (
                    _resolve(module, path, node.level, node.module) if node.level else node.module
                )
                targets = [base]
                # `from . import name` imports the submodule `name` when there is one.
                targets += [f"{base}.{alias.name}" for alias in node.names]
            for target in targets:
                if target in MODULES and target != module:
                    edges.add(target)
        graph[module] = edges
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of ``graph`` as a list of modules, or None (ignoring edges into a package
    from its own submodules, which Python resolves through the partly initialised package)."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node):
        state[node] = 1
        stack.append(node)
        for child in sorted(graph[node]):
            if node.startswith(child + "."):
                continue  # a submodule importing from its own package
            if state.get(child) == 1:
                return [*stack[stack.index(child) :], child]
            if child not in state:
                found = visit(child)
                if found:
                    return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


def test_the_cycle_finder_finds_a_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None


def test_no_import_cycle_among_the_package_modules():
    graph = import_graph()
    assert "hierlearn.experiments.workflow" in graph["hierlearn.cli"]
    assert find_cycle(graph) is None, " -> ".join(find_cycle(graph))


# The harness's layers, bottom up: its packages (and the shared constants below them, the
# two workflows above them); a module imports only from its own layer or those below.
HARNESS_LAYERS = [
    ("spec", ["defaults", "spec"]),
    ("run", ["run"]),
    ("analysis", ["analysis"]),
    ("report", ["report"]),
    ("workflow", ["workflow", "reproduce"]),
]
HARNESS_PACKAGES = ("spec", "run", "analysis", "report")


def harness_layer(module: str) -> int | None:
    """The layer index of a harness module (by its top package or top module under
    ``hierlearn.experiments``), None for the library and for the harness package itself."""
    prefix = "hierlearn.experiments."
    if not module.startswith(prefix):
        return None
    top = module[len(prefix) :].split(".")[0]
    for index, (_, names) in enumerate(HARNESS_LAYERS):
        if top in names:
            return index
    raise AssertionError(f"{module} is in no harness layer: add it to HARNESS_LAYERS")


def upward_imports(graph: dict[str, set[str]]) -> list[tuple[str, str]]:
    """Edges from a harness module into a higher layer, and from the library into the
    harness (the package's lazy entry points excepted)."""
    found = []
    for module, edges in graph.items():
        for target in edges:
            below, above = harness_layer(module), harness_layer(target)
            if above is None:
                continue
            if below is None:
                if module not in ("hierlearn", "hierlearn.experiments", "hierlearn.cli"):
                    found.append((module, target))
            elif above > below:
                found.append((module, target))
    return sorted(found)


def test_the_layer_check_finds_an_upward_import():
    graph = {
        "hierlearn.experiments.run.cells": {"hierlearn.experiments.report.tables"},
        "hierlearn.experiments.report.tables": {"hierlearn.experiments.run.cells"},
        "hierlearn.theory": {"hierlearn.experiments.spec"},
    }
    assert upward_imports(graph) == [
        ("hierlearn.experiments.run.cells", "hierlearn.experiments.report.tables"),
        ("hierlearn.theory", "hierlearn.experiments.spec"),
    ]


def test_the_harness_is_its_layer_packages_and_three_modules():
    root = PACKAGE / "experiments"
    packages = sorted(p.name for p in root.iterdir() if (p / "__init__.py").exists())
    modules = sorted(p.stem for p in root.glob("*.py") if p.stem != "__init__")
    assert packages == sorted(HARNESS_PACKAGES)
    assert modules == ["defaults", "reproduce", "workflow"]


def test_the_harness_imports_only_downward_through_its_layers():
    graph = import_graph()
    assert upward_imports(graph) == []
    layered = {harness_layer(m) for m in graph if m.startswith("hierlearn.experiments.")}
    assert layered == set(range(len(HARNESS_LAYERS)))


def test_the_library_does_not_import_the_command_line():
    graph = import_graph()
    importers = sorted(module for module, edges in graph.items() if "hierlearn.cli" in edges)
    assert importers == ["hierlearn.__main__"]


def test_every_module_imports_alone_in_a_fresh_interpreter():
    # Third-party libraries are loaded once; each package module is then imported in a fresh
    # forked child in which no hierlearn module has been imported yet (``__main__`` runs the
    # command line when imported, and is left out).
    script = textwrap.dedent(
        f"""
        import os, sys, importlib
        import numpy, scipy, torch, sklearn, pandas, yaml, pydantic, matplotlib
        assert not [m for m in sys.modules if m.startswith("hierlearn")]
        failed = []
        for name in {sorted(set(MODULES) - {"hierlearn.__main__"})!r}:
            pid = os.fork()
            if pid == 0:
                try:
                    importlib.import_module(name)
                except BaseException as error:
                    print(name, repr(error), flush=True)
                    os._exit(1)
                os._exit(0)
            if os.waitpid(pid, 0)[1] != 0:
                failed.append(name)
        print("FAILED", failed)
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, result.stderr
    assert "FAILED []" in result.stdout, result.stdout


def test_no_reference_to_a_document_outside_the_repository():
    # The starting brief's name, spelled so that this file does not contain it either: the
    # repository must pass `git grep` for it.
    brief = "S" + "PEC"
    offenders = []
    for folder in ("src", "tests", "examples", "benchmarks", "docs"):
        for path in sorted((ROOT / folder).rglob("*")):
            if path.suffix in (".py", ".md", ".yaml") and ".reference-env" not in path.parts:
                for number, line in enumerate(path.read_text().splitlines(), 1):
                    if brief in line:
                        offenders.append(f"{path.relative_to(ROOT)}:{number}")
    readme = (ROOT / "README.md").read_text()
    offenders += [
        f"README.md:{i}" for i, line in enumerate(readme.splitlines(), 1) if brief in line
    ]
    assert not offenders, offenders


def _theory_sections() -> set[str]:
    headings = re.findall(r"^#{2,4} (\d+(?:\.\d+)*)\.? ", THEORY.read_text(), flags=re.MULTILINE)
    return set(headings)


def test_docstring_references_to_the_theory_page_name_sections_that_exist():
    sections = _theory_sections()
    assert {"1", "1.1", "1.2", "1.3", "1.4", "2", "3"} <= sections
    checked = 0
    for module, path in MODULES.items():
        docstring = ast.get_docstring(ast.parse(path.read_text())) or ""
        for number in re.findall(r"docs/theory\.md §(\d+(?:\.\d+)*)", docstring):
            assert number in sections, f"{module} cites docs/theory.md §{number}"
            checked += 1
    assert checked >= 10


# Modules whose docstrings state the formulas they implement: each links to the theory page.
FORMULA_MODULES = [
    "hierlearn.activations",
    "hierlearn.inputs",
    "hierlearn.kernels.analytic",
    "hierlearn.kernels.empirical",
    "hierlearn.polynomials",
    "hierlearn.representations",
    "hierlearn.targets",
    "hierlearn.taylor",
    "hierlearn.theory",
    "hierlearn.experiments.analysis",
    "hierlearn.experiments.analysis.comparisons",
    "hierlearn.experiments.analysis.isotonic",
    "hierlearn.experiments.spec.protocol",
]


def test_modules_that_state_formulas_link_to_the_theory_page():
    for module in FORMULA_MODULES:
        docstring = ast.get_docstring(ast.parse(MODULES[module].read_text())) or ""
        assert "docs/theory.md" in docstring, module


def test_one_relative_error_for_numpy_and_torch():
    import numpy as np
    import torch

    from hierlearn.metrics import relative_error, relative_errors

    target = np.array([1.0, -2.0, 2.0])
    prediction = np.array([1.0, -1.0, 2.0])
    assert relative_error(prediction, target) == 1.0 / 9.0
    assert relative_error(torch.tensor(prediction), torch.tensor(target)) == 1.0 / 9.0
    assert relative_error(np.zeros(3), target) == 1.0
    columns = torch.tensor(np.stack([prediction, np.zeros(3), target], axis=1))
    assert relative_errors(columns, torch.tensor(target)) == [1.0 / 9.0, 1.0, 0.0]


def test_the_package_and_the_command_line_import_nothing_heavy_until_used():
    """``import hierlearn`` and the command line's module import neither torch nor
    scikit-learn nor the harness; each public name resolves on first use to the object of
    the module that defines it, and an unknown name is an AttributeError."""
    script = textwrap.dedent(
        """
        import sys
        import hierlearn, hierlearn.cli, hierlearn.experiments
        heavy = sorted(m for m in ("torch", "sklearn", "pandas", "hierlearn.experiments.run.runner")
                       if m in sys.modules)
        assert not heavy, heavy
        from hierlearn.estimators.kernel import KernelRegressor
        from hierlearn.experiments.run.store import Store
        from hierlearn.kernels import analytic
        assert hierlearn.KernelRegressor is KernelRegressor
        assert hierlearn.experiments.Store is Store
        assert hierlearn.kernels.ntk is analytic.ntk
        assert set(hierlearn.__all__) <= set(dir(hierlearn))
        assert set(hierlearn.experiments.__all__) <= set(dir(hierlearn.experiments))
        try:
            hierlearn.no_such_name
        except AttributeError as error:
            assert "no_such_name" in str(error)
        else:
            raise SystemExit("no AttributeError")
        """
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
