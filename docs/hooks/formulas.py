"""Docstrings write formulas in plain text (``f*(x)``, ``||W||_{2,4}``, ``<beta, x>``), which
reads well in ``help()`` but not as Markdown: ``*`` and ``_`` open emphasis and ``<a, b>`` is
taken for an HTML tag. This Griffe extension (loaded by mkdocstrings, see mkdocs.yml) escapes
those characters in every docstring before it is rendered; code spans, code blocks, links and
``$$`` math blocks are left as they are. The spec reference hook uses ``escape_markdown`` too.
"""

import re

import griffe

# Spans kept verbatim: code, autorefs and Markdown links, images, URLs.
_PROTECTED = re.compile(r"(``.+?``|`[^`]*`|\]\[[^\]]*\]|!\[[^\]]*\]|\]\([^)]*\)|https?://\S+)")
# "<" opening something that is not a tag: <beta, x>, <x, x'>, <learner>.
_ANGLE = re.compile(r"<(?=[A-Za-z/!])(?!https?:)")
# "_" after a non-word character opens emphasis: ||W||_{2,4}, phi(z)_r, |A - B|_F.
_UNDER = re.compile(r"(?<=[^\w\\])_(?=[\w{*\\])")
# "*" after a one-letter symbol (f*, n*, L*) or after ^, _ or | (M^*, ||A||_*).
_STAR = re.compile(r"(?<![\\A-Za-z*])([A-Za-z])\*(?!\*)|(?<=[\^_|])\*")
_SECTION = re.compile(
    r"^(\s*)(Args|Arguments|Parameters|Returns|Raises|Yields|Attributes|Examples?|Notes?|"
    r"Warns|Warnings?|Other Parameters|Receives|See Also|Todo|References?|Methods|Classes|"
    r"Functions|Modules):\s*$"
)


def _escape_plain(text: str) -> str:
    text = _ANGLE.sub("&lt;", text)
    text = _UNDER.sub(r"\\_", text)
    return _STAR.sub(lambda m: (m.group(1) or "") + "\\*", text)


def escape_line(line: str) -> str:
    """One line of Markdown prose with its formula characters escaped."""
    parts = _PROTECTED.split(line)
    return "".join(part if i % 2 else _escape_plain(part) for i, part in enumerate(parts))


def escape_markdown(text: str) -> str:
    """Markdown text (a docstring) with the formula characters of its prose escaped."""
    out = []
    fence = math = code = False
    previous_blank = True
    base = 0  # the indentation of the current docstring section's content
    for line in text.split("\n"):
        stripped = line.strip()
        indent = len(line) - len(line.lstrip())
        if stripped.startswith(("```", "~~~")):
            fence = not fence
        elif stripped == "$$":
            math = not math
        elif fence or math or stripped.startswith("$$"):
            pass
        elif not stripped:
            pass
        elif indent >= base + 4 and (previous_blank or code):
            code = True
        else:
            code = False
            if base and indent < base:
                base = 0
            section = _SECTION.match(line)
            if section:
                base = len(section.group(1)) + 4
            else:
                line = escape_line(line)
        out.append(line)
        previous_blank = not stripped
    return "\n".join(out)


class FormulaEscapes(griffe.Extension):
    """Escape formula characters in every docstring (see the module docstring)."""

    def on_object(self, *, obj: griffe.Object, **kwargs) -> None:
        if obj.docstring is not None:
            obj.docstring.value = escape_markdown(obj.docstring.value)
