"""Build hook: the spec reference page (docs/reference/spec.md) is generated from the spec's
pydantic models, so that it cannot drift from what ``load_spec`` accepts. Every field is
listed with its type, its default and a description: the field's ``description`` where it
has one, else the comment that documents it in the model's source (on the field's lines or
the comment lines right above them). tests/test_docs.py checks that every field of the
schema is on the built page with a non-empty description."""

from __future__ import annotations

import ast
import inspect
import io
import json
import textwrap
import tokenize
import types
import typing
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache

import annotated_types
from formulas import escape_line, escape_markdown
from pydantic import BaseModel
from pydantic_core import PydanticUndefined

from hierlearn.experiments import spec as spec_module
from hierlearn.experiments.spec import Spec
from hierlearn.experiments.spec.expressions import Expression

PLACEHOLDER = "<!-- spec-reference -->"


@dataclass(frozen=True)
class FieldRow:
    """One row of the page: a field of a model, as a spec writes it."""

    model: type[BaseModel]
    key: str  # the YAML key (the alias where the field has one)
    type: str
    default: str
    description: str


# ---------------------------------------------------------------- descriptions


@cache
def _source_comments(cls: type) -> dict[str, str]:
    """{field name: its comment} from the class body: the comment lines right above a field
    and the comments on its own lines, joined."""
    try:
        source = textwrap.dedent(inspect.getsource(cls))
    except (OSError, TypeError):  # created at run time (the search models): no source
        return {}
    comments: dict[int, str] = {}
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type == tokenize.COMMENT:
            text = token.string.lstrip("#").strip()
            if not text.startswith(("type:", "noqa")):
                comments[token.start[0]] = text
    lines = source.splitlines()
    found: dict[str, str] = {}
    body = ast.parse(source).body[0].body
    for node in body:
        if not (isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)):
            continue
        above, line = [], node.lineno - 1
        while line >= 1 and lines[line - 1].strip().startswith("#") and line in comments:
            above.insert(0, comments[line])
            line -= 1
        own = [comments[i] for i in range(node.lineno, node.end_lineno + 1) if i in comments]
        found[node.target.id] = " ".join(above + own).strip()
    return found


def _description(cls: type[BaseModel], name: str) -> str:
    field = cls.model_fields[name]
    if field.description:
        return field.description.strip()
    for klass in cls.__mro__:  # an inherited field is documented where it is defined
        if isinstance(klass, type) and name in getattr(klass, "__annotations__", {}):
            comment = _source_comments(klass).get(name)
            if comment:
                return comment
    if cls.__name__.endswith("Search"):
        return f"Candidate values of `params.{name}`, chosen on validation data."
    annotation = field.annotation
    if typing.get_origin(annotation) is typing.Literal and len(typing.get_args(annotation)) == 1:
        value = typing.get_args(annotation)[0]
        return f"Selects this variant: `{name}: {value}`."
    return ""


# ---------------------------------------------------------------- types and defaults


def _constraint(metadata) -> str:
    parts = []
    for item in metadata:
        for attribute, symbol in (("gt", ">"), ("ge", ">="), ("lt", "<"), ("le", "<=")):
            value = getattr(item, attribute, None)
            if value is not None and isinstance(item, annotated_types.BaseMetadata):
                shown = f"{value:g}" if isinstance(value, float) else str(value)
                parts.append(f"{symbol} {shown}")
        if isinstance(item, annotated_types.MinLen) and item.min_length:
            parts.append("non-empty")
        pattern = getattr(item, "pattern", None)
        if pattern:
            parts.append("a name: letters, digits, `_.-`, starting with a letter")
    return ", ".join(parts)


def _size_variables(metadata) -> tuple[str, ...] | None:
    for item in metadata:
        function = getattr(item, "func", None)
        if getattr(function, "__qualname__", "") == "_size.<locals>.validate":
            return function.__closure__[0].cell_contents
    return None


def _type(annotation, metadata=(), links: bool = True) -> str:
    variables = _size_variables(metadata)
    if variables is not None:
        names = ", ".join(f"`{v}`" for v in variables)
        if variables == ("d",):
            return f"size (integer or expression in {names})"
        return f"number or expression in {names}"
    if annotation is type(None):
        return "removed: refused with a pointer to its replacement"
    if typing.get_origin(annotation) is typing.Annotated:
        inner, *extra = typing.get_args(annotation)
        flat = []
        for item in extra:
            flat.extend(getattr(item, "metadata", None) or [item])
        return _type(inner, [*metadata, *flat], links)
    constraint = _constraint(metadata)
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        options = [a for a in args if a is not type(None)]
        text = " or ".join(_type(a, (), links) for a in options)
        if len(options) < len(args):
            text += " or null"
        return f"{text} ({constraint})" if constraint else text
    if origin is typing.Literal:
        text = " \\| ".join(f"`{json.dumps(a) if not isinstance(a, str) else a}`" for a in args)
    elif origin is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            text = f"list of {_type(args[0], (), links)}"
        elif len(args) == 2 and args[0] == args[1]:
            text = f"pair of {_type(args[0], (), links)}"
        else:
            text = "[" + ", ".join(_type(a, (), links) for a in args) + "]"
    elif origin in (list, set):
        text = f"list of {_type(args[0], (), links)}"
    elif origin is dict:
        text = f"mapping of {_type(args[0], (), links)} to {_type(args[1], (), links)}"
    elif isinstance(annotation, type) and issubclass(annotation, BaseModel):
        text = f"[{annotation.__name__}](#{annotation.__name__.lower()})" if links else "object"
    elif annotation is typing.Any:
        text = "any"
    elif isinstance(annotation, type):
        text = {"str": "string", "int": "integer", "float": "number", "bool": "boolean"}.get(
            annotation.__name__, annotation.__name__
        )
    else:
        text = str(annotation)
    return f"{text} ({constraint})" if constraint else text


def _plain(value):
    if isinstance(value, Expression):  # a size: a number, or an expression (a string)
        text = str(value)
        return int(text) if text.isdigit() else text
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json", exclude_defaults=True, by_alias=True)
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, int | float | str | bool) or value is None:
        return value
    return str(value)


def _default(field) -> str:
    if field.is_required():
        return "required"
    if field.default_factory is not None:
        value = field.default_factory()
    elif field.default is PydanticUndefined:
        return "required"
    else:
        value = field.default
    return "`" + json.dumps(_plain(value)) + "`"


# ---------------------------------------------------------------- the walk


def _models_in(annotation) -> Iterator[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        yield annotation
        return
    for arg in typing.get_args(annotation):
        yield from _models_in(arg)


def _key(name: str, field) -> str:
    return field.alias or name


def models() -> list[tuple[type[BaseModel], str]]:
    """Every model reachable from ``Spec`` with the YAML path where it first appears,
    breadth first."""
    seen: dict[type[BaseModel], str] = {Spec: ""}
    queue = [Spec]
    while queue:
        cls = queue.pop(0)
        for name, field in cls.model_fields.items():
            key = _key(name, field)
            if typing.get_origin(field.annotation) is dict:
                key += ".<name>"
            for model in _models_in(field.annotation):
                if model not in seen:
                    path = f"{seen[cls]}.{key}" if seen[cls] else key
                    seen[model] = path
                    queue.append(model)
    return list(seen.items())


def rows(cls: type[BaseModel]) -> list[FieldRow]:
    """The page's rows for one model, in the model's field order."""
    return [
        FieldRow(
            model=cls,
            key=_key(name, field),
            type=_type(field.annotation, field.metadata),
            default=_default(field),
            description=_description(cls, name),
        )
        for name, field in cls.model_fields.items()
    ]


def _cell(text: str) -> str:
    """Table cell text: formula characters escaped, pipes outside code escaped."""
    parts = text.split("`")
    for i in range(0, len(parts), 2):
        parts[i] = parts[i].replace("|", "\\|")
    return escape_line("`".join(parts))


def _markdown(doc: str) -> str:
    """A docstring as Markdown: a paragraph ending in "::" introduces a YAML example."""
    out = []
    lines = inspect.cleandoc(doc).splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.rstrip().endswith("::"):
            out.append(line.rstrip()[:-1])
            block = []
            i += 1
            while i < len(lines) and (not lines[i].strip() or lines[i].startswith(" ")):
                block.append(lines[i])
                i += 1
            out += ["", "```yaml", *textwrap.dedent("\n".join(block)).strip("\n").split("\n")]
            out += ["```", ""]
            continue
        out.append(escape_markdown(line))
        i += 1
    return "\n".join(out).strip()


def _summary(cls: type[BaseModel]) -> str:
    if cls is Spec:  # its docstring points to the module's, which has the example
        return _markdown(spec_module.__doc__ or "")
    return _markdown(cls.__dict__.get("__doc__") or "")


def render() -> str:
    """Markdown of every model, Spec first."""
    sections = []
    for cls, path in models():
        where = f"`{path}`" if path else "the top level of a spec file"
        lines = [f"## {cls.__name__}", "", f"At {where}."]
        summary = _summary(cls)
        if summary:
            lines += ["", summary]
        lines += ["", "| Field | Type | Default | Description |", "|---|---|---|---|"]
        for row in rows(cls):
            lines.append(f"| `{row.key}` | {row.type} | {row.default} | {_cell(row.description)} |")
        sections.append("\n".join(lines) + "\n")
    return "\n".join(sections)


def on_page_markdown(markdown, page, config, files):
    if PLACEHOLDER in markdown:
        return markdown.replace(PLACEHOLDER, render())
    return markdown
