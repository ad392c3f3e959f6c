"""Installing hierlearn without the harness extra: the library works, the command line says
which extra to install."""

import re
import subprocess
import sys
import textwrap

import pytest

from hierlearn._extras import EXPERIMENTS

# Blocks every harness dependency (an entry of None in sys.modules makes `import` fail as if
# the package were not installed), then runs the code.
BLOCK = f"import sys\nfor name in {sorted(EXPERIMENTS)!r}:\n    sys.modules[name] = None\n"


def _run(code: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", BLOCK + textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_the_library_works_without_the_experiments_extra():
    result = _run(
        """
        import numpy as np
        import hierlearn as hl
        X = hl.GaussianInputs(4).sample(200, generator=0).numpy()
        y = hl.LowRankPolynomial(4, degrees=2, random_state=0)(X)
        model = hl.KernelRegressor(ridge=1e-3).fit(X, y)
        print("fitted", float(np.mean((model.predict(X) - y) ** 2)) < 0.1)
        """
    )
    assert result.returncode == 0, result.stderr
    assert "fitted True" in result.stdout


def test_the_command_line_names_the_extra_to_install():
    result = _run(
        """
        from hierlearn.cli import main
        raise SystemExit(main(["status", "--store", "missing.sqlite"]))
        """
    )
    assert result.returncode == 1
    assert "pip install -e '.[experiments]' in a hierlearn checkout" in result.stderr
    assert "pyyaml" in result.stderr and "Traceback" not in result.stderr


def test_importing_the_harness_without_the_extra_says_which():
    result = _run("import hierlearn.experiments\n")
    assert result.returncode == 1
    assert "MissingExtra" in result.stderr and "'.[experiments]'" in result.stderr


def test_the_checked_modules_are_the_extra_in_pyproject():
    tomllib = pytest.importorskip("tomllib")
    from pathlib import Path

    pyproject = Path(__file__).resolve().parents[1] / "pyproject.toml"
    extra = tomllib.loads(pyproject.read_text())["project"]["optional-dependencies"]
    names = {re.split(r"[<>=!~ ]", requirement)[0] for requirement in extra["experiments"]}
    assert names == set(EXPERIMENTS.values())
