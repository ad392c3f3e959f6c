"""Build hook: the results page (docs/results.md) shows the README's measured sections (the
headings "### Measured here: ...") at build time, so the numbers have one source, the README,
and the page cannot drift from it. Headings move up one level, links into docs/ become links
within the site, and the prose's formula characters are escaped as in docstrings."""

from __future__ import annotations

import re
from pathlib import Path

from formulas import escape_line

PLACEHOLDER = "<!-- readme-results -->"
README = Path(__file__).resolve().parents[2] / "README.md"
PREFIX = "### Measured here: "


def sections(text: str) -> list[str]:
    """The README's "Measured here" sections, each up to the next heading of level <= 3."""
    found, current = [], None
    for line in text.split("\n"):
        if line.startswith(PREFIX):
            current = [f"## {line[len(PREFIX) :]}"]
            found.append(current)
        elif current is not None and re.match(r"#{1,3} ", line):
            current = None
        elif current is not None:
            current.append(line)
    return ["\n".join(section).strip() for section in found]


def convert(section: str) -> str:
    """README Markdown as a page of docs/: links into docs/ made relative, prose escaped."""
    lines, fence = [], False
    for line in section.split("\n"):
        if line.strip().startswith(("```", "~~~")):
            fence = not fence
        if not fence:
            line = re.sub(r"\]\(docs/", "](", line)
            line = line if line.startswith("#") else escape_line(line)
        lines.append(line)
    return "\n".join(lines)


def render() -> str:
    parts = sections(README.read_text())
    if not parts:
        raise ValueError(f"{README.name} has no '{PREFIX.strip()}' sections")
    return "\n\n".join(convert(part) for part in parts)


def on_page_markdown(markdown, page, config, files):
    if PLACEHOLDER in markdown:
        return markdown.replace(PLACEHOLDER, render())
    return markdown
