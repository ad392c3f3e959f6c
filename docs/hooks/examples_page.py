"""Build hook: the examples page (docs/examples.md) lists every script and spec in examples/,
each with the first paragraph of its docstring (scripts) or of its leading comment (specs)
and how to run it, so that the page cannot miss a file or drift from what the files say."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from formulas import escape_markdown

PLACEHOLDER = "<!-- examples-list -->"
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _paragraphs(text: str) -> list[str]:
    return [p.strip() for p in re.split(r"\n\s*\n", text) if p.strip()]


def _commands(lines: list[str], start: str) -> list[str]:
    """Command lines starting with ``start``, with their backslash continuations."""
    found, i = [], 0
    while i < len(lines):
        line = lines[i].strip()
        if line.startswith(start):
            command = [line]
            while command[-1].endswith("\\") and i + 1 < len(lines):
                i += 1
                command.append("    " + lines[i].strip())
            found.append("\n".join(command))
        i += 1
    return found


def script(path: Path) -> dict:
    """The first paragraph of a script's docstring and its ``python examples/...`` lines."""
    docstring = ast.get_docstring(ast.parse(path.read_text())) or ""
    paragraphs = _paragraphs(docstring)
    summary = " ".join(paragraphs[0].split()) if paragraphs else ""
    commands = _commands(docstring.splitlines(), "python examples/")
    return {"summary": summary, "commands": commands or [f"python examples/{path.name} --help"]}


def spec(path: Path) -> dict:
    """The first paragraph of a spec's leading comment and the commands it names."""
    comment = []
    for line in path.read_text().splitlines():
        if not line.startswith("#"):
            break
        comment.append(line[1:])
    prose = []
    for line in comment:
        if not line.strip() or line.startswith("   ") or line.strip().startswith("Run:"):
            break
        prose.append(line.strip())
    unlabelled = [re.sub(r"^\s*(Run|Report):\s*", "", line) for line in comment]
    commands = _commands(unlabelled, "hierlearn ")
    stem = path.stem
    if not commands:
        commands = [
            f"hierlearn run examples/specs/{path.name} --store {stem}.sqlite",
            f"hierlearn report --store {stem}.sqlite --out {stem}-report",
        ]
    return {"summary": " ".join(prose), "commands": commands}


def _section(title: str, entry: dict, language: str = "bash") -> str:
    block = "\n".join(entry["commands"])
    summary = entry["summary"]
    summary = summary[:-1] + "." if summary.endswith(":") else summary
    return f"### `{title}`\n\n{escape_markdown(summary)}\n\n```{language}\n{block}\n```\n"


def render() -> str:
    """Markdown of every example: the scripts, then the specs."""
    scripts = sorted(EXAMPLES.glob("*.py"))
    specs = sorted((EXAMPLES / "specs").glob("*.yaml"))
    parts = ["## Scripts\n"]
    parts += [_section(f"examples/{p.name}", script(p)) for p in scripts]
    parts.append("## Specs\n")
    parts += [_section(f"examples/specs/{p.name}", spec(p)) for p in specs]
    return "\n".join(parts)


def example_files() -> list[str]:
    """Every example file the page lists, relative to examples/."""
    names = [p.name for p in sorted(EXAMPLES.glob("*.py"))]
    return names + [f"specs/{p.name}" for p in sorted((EXAMPLES / "specs").glob("*.yaml"))]


def on_page_markdown(markdown, page, config, files):
    if PLACEHOLDER in markdown:
        return markdown.replace(PLACEHOLDER, render())
    return markdown
