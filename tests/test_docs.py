"""The documentation site: it builds in strict mode (tutorials executed), the tutorial pages
embed their figures, the API pages name every public name, and the command-line reference is
exactly what ``--help`` prints."""

import html
import json
import os
import posixpath
import re
import subprocess
import sys
import warnings
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urljoin, urlsplit

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


# Prints what ``hierlearn [COMMAND] --help`` prints for every COMMAND given ("" for none),
# as JSON, from one interpreter: the entry point's own ``main`` with a fresh argv each time.
PRINT_HELP = """
import contextlib, io, json, sys
from hierlearn.cli import main
printed = {}
for command in sys.argv[1:]:
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer), contextlib.suppress(SystemExit):
        main([command, "--help"] if command else ["--help"])
    printed[command] = buffer.getvalue()
print(json.dumps(printed))
"""


def test_cli_reference_equals_the_help_output(site):
    page = _text(site / "reference" / "cli" / "index.html")
    environment = {**os.environ, "COLUMNS": "100"}
    texts = help_texts(columns=100)
    assert set(texts) == {"", "reproduce", "run", "status", "report", "export"}
    entry = [sys.executable, "-m", "hierlearn", "--help"]
    top = subprocess.run(entry, capture_output=True, text=True, env=environment).stdout
    assert top == texts[""]  # the real entry point, once
    printed = json.loads(
        subprocess.run(
            [sys.executable, "-c", PRINT_HELP, *texts],
            capture_output=True,
            text=True,
            env=environment,
            check=True,
        ).stdout
    )
    for command, text in texts.items():
        assert printed[command] == text, command
        assert " ".join(printed[command].split()) in page, command


def test_theory_page_sections_are_linked_from_the_guide(site):
    guide = (site / "guide" / "kernels" / "index.html").read_text()
    assert "theory/#13-kernels-and-their-1d-conventions" in guide
    assert (
        'id="13-kernels-and-their-1d-conventions"' in (site / "theory" / "index.html").read_text()
    )


class _Links(HTMLParser):
    """The href and src attributes of a page, and the ids it defines."""

    def __init__(self):
        super().__init__()
        self.links: list[str] = []
        self.ids: set[str] = set()

    def handle_starttag(self, tag, attrs):
        for name, value in attrs:
            if name in ("href", "src") and value:
                self.links.append(value)
            elif name in ("id", "name") and value:
                self.ids.add(value)


def _pages(site: Path) -> dict[Path, _Links]:
    pages = {}
    for page in sorted(site.rglob("*.html")):
        parser = _Links()
        parser.feed(page.read_text())
        pages[page] = parser
    return pages


def test_internal_links_resolve(site):
    """Every internal href and src of every page (the executed tutorials included) names a file
    of the site, and every anchor into a page names an id of that page."""
    pages = _pages(site)
    assert site / "tutorials" / "representations_help" / "index.html" in pages
    broken = []
    for page, parser in pages.items():
        if page.name == "404.html":  # served at any depth: its links are absolute by design
            continue
        base = "/" + page.relative_to(site).as_posix()
        for link in parser.links:
            parts = urlsplit(link)
            if parts.scheme or parts.netloc or link.startswith(("mailto:", "data:")):
                continue
            path = posixpath.normpath(urljoin(base, unquote(parts.path))) if parts.path else base
            if path.startswith("/.."):
                broken.append(f"{page.relative_to(site)}: {link} (outside the site)")
                continue
            target = site / path.lstrip("/")
            if target.is_dir() or link.split("#")[0].endswith("/"):
                target = target / "index.html"
            if not target.is_file():
                broken.append(f"{page.relative_to(site)}: {link}")
            elif parts.fragment and target in pages and parts.fragment not in pages[target].ids:
                broken.append(f"{page.relative_to(site)}: {link} (no such anchor)")
    assert not broken, "\n".join(broken)


def test_no_raw_restructuredtext_on_any_page(site):
    """Docstrings are Markdown: no Sphinx role or reST math directive reaches a page."""
    role = re.compile(r":(class|func|meth|mod|attr|data|exc|obj):(`|<code>)")
    for page in site.rglob("*.html"):
        content = page.read_text()
        assert ".. math::" not in content, page
        assert not role.search(content), (page, role.search(content))


def test_pages_with_math_load_mathjax(site):
    with_math = [p for p in site.rglob("*.html") if 'class="arithmatex"' in p.read_text()]
    assert site / "reference" / "api" / "index.html" in with_math
    for page in with_math:
        content = page.read_text()
        assert re.search(r'<script src="[^"]*javascripts/mathjax\.js"', content), page
        assert re.search(r'<script src="[^"]*mathjax@3[^"]*"', content), page
    assert (site / "javascripts" / "mathjax.js").is_file()


def _spec_sections(page: Path) -> dict[str, dict[str, str]]:
    """{model name: {field key: description}} from the tables of the spec reference page."""
    content = page.read_text()
    sections = {}
    for match in re.finditer(r'<h2 id="([^"]+)">(\w+)<a', content):
        end = content.find("<h2", match.end())
        body = content[match.end() : end if end > 0 else len(content)]
        rows = {}
        for row in re.findall(r"<tr>(.*?)</tr>", body, flags=re.DOTALL):
            cells = re.findall(r"<td>(.*?)</td>", row, flags=re.DOTALL)
            if len(cells) == 4:
                key = html.unescape(re.sub(r"<[^>]+>", "", cells[0])).strip()
                rows[key] = " ".join(html.unescape(re.sub(r"<[^>]+>", "", cells[3])).split())
        sections[match.group(2)] = rows
    return sections


def test_spec_reference_lists_every_field_with_a_description(site):
    from hierlearn.experiments.spec import Spec

    sections = _spec_sections(site / "reference" / "spec" / "index.html")
    with warnings.catch_warnings():  # size defaults (expressions) are left out of the schema
        warnings.simplefilter("ignore")
        schema = Spec.model_json_schema()
    models = {"Spec": schema, **schema.get("$defs", {})}
    missing = []
    for name, model in models.items():
        if "properties" not in model:
            continue
        rows = sections.get(name)
        if rows is None:
            missing.append(f"{name}: no section")
            continue
        for key in model["properties"]:
            if not rows.get(key):
                missing.append(f"{name}.{key}: {'no description' if key in rows else 'absent'}")
    assert not missing, "\n".join(missing)
    assert "validation_fraction" in sections["Spec"]


def test_examples_page_lists_every_example(site):
    text = _text(site / "examples" / "index.html")
    examples = ROOT / "examples"
    files = [*examples.glob("*.py"), *(examples / "specs").glob("*.yaml")]
    assert files
    for path in files:
        assert f"examples/{path.relative_to(examples).as_posix()}" in text, path.name
