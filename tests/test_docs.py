"""The documentation site: it builds in strict mode (tutorials executed), the tutorial pages
embed their figures, the API pages name every public name, and the command-line reference is
exactly what ``--help`` prints."""

import html
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import hierlearn
from hierlearn.cli import help_texts

ROOT = Path(__file__).resolve().parents[1]
pytest.importorskip("mkdocs", reason="the docs extra is not installed")


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    out = tmp_path_factory.mktemp("site")
    environment = {**os.environ, "NO_MKDOCS_2_WARNING": "1", "MPLBACKEND": "Agg"}
    environment.pop("HIERLEARN_TUTORIAL_SIZE", None)  # the small size
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-d", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=environment,
        timeout=1800,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-8000:]
    return out


def _text(page: Path) -> str:
    """The visible text of a built page, whitespace collapsed."""
    content = re.sub(r"<(script|style)\b.*?</\1>", " ", page.read_text(), flags=re.DOTALL)
    return " ".join(html.unescape(re.sub(r"<[^>]+>", "", content)).split())


def test_tutorial_pages_embed_their_figures(site):
    for name in ("representations_help", "own_exponent"):
        page = (site / "tutorials" / name / "index.html").read_text()
        assert "data:image/png;base64," in page, name
    # The executed outputs are on the page, not only the code.
    assert "Quad-h" in _text(site / "tutorials" / "representations_help" / "index.html")
    scale_out = _text(site / "tutorials" / "scale_out" / "index.html")
    assert "already stored" in scale_out and "Dask workers" in scale_out


def test_api_pages_name_every_public_name(site):
    text = _text(site / "reference" / "api" / "index.html")
    for name in hierlearn.__all__:
        assert name in text, name


def test_cli_reference_equals_the_help_output(site):
    page = _text(site / "reference" / "cli" / "index.html")
    environment = {**os.environ, "COLUMNS": "100"}
    texts = help_texts(columns=100)
    assert set(texts) == {"", "reproduce", "run", "status", "report", "export"}
    for command, text in texts.items():
        printed = subprocess.run(
            [sys.executable, "-m", "hierlearn", *([command] if command else []), "--help"],
            capture_output=True,
            text=True,
            env=environment,
        ).stdout
        assert printed == text, command
        assert " ".join(printed.split()) in page, command


def test_theory_page_sections_are_linked_from_the_guide(site):
    guide = (site / "guide" / "kernels" / "index.html").read_text()
    assert "theory/#13-kernels-and-their-1d-conventions" in guide
    assert (
        'id="13-kernels-and-their-1d-conventions"' in (site / "theory" / "index.html").read_text()
    )
