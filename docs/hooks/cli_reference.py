"""Build hook: the command-line reference page is generated from the parser itself, so it
cannot drift from ``hierlearn --help`` (tests/test_docs.py compares the two)."""

from hierlearn.cli import help_texts

PLACEHOLDER = "<!-- cli-reference -->"


def render() -> str:
    """Markdown of every command's help, the top-level one first."""
    sections = []
    for command, text in help_texts().items():
        title = f"hierlearn {command}".strip()
        sections.append(f"## `{title}`\n\n```text\n{text.rstrip()}\n```\n")
    return "\n".join(sections)


def on_page_markdown(markdown, page, config, files):
    if PLACEHOLDER in markdown:
        return markdown.replace(PLACEHOLDER, render())
    return markdown
