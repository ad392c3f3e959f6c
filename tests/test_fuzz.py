"""Property-based tests (Hypothesis) of the two parsers of user input: size expressions and
specs. Example counts are bounded so that each test takes a few seconds."""

import ast
import copy
import math
import re
import tempfile
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from conftest import hermite2_features, ntk_learner, quad_learner, sweep
from hierlearn.cli import main
from hierlearn.experiments.run.runner import make_plan
from hierlearn.experiments.spec import SpecError, parse_spec
from hierlearn.experiments.spec.expressions import (
    FUNCTIONS,
    MAX_LENGTH,
    Expression,
    ExpressionError,
)

# The recursive strategies' reprs are long; Hypothesis warns about building them.
pytestmark = pytest.mark.filterwarnings("ignore::hypothesis.errors.HypothesisWarning")
FAST = settings(max_examples=300, deadline=None)
SLOW = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# ---------------------------------------------------------------- a reference evaluator
# An independent recursive-descent parser of Python's arithmetic grammar (the subset the
# expressions allow), evaluated with the documented float semantics.


class Unsupported(Exception):
    """Text outside the reference grammar."""


DIGITS = r"\d(?:_?\d)*"
NUMBER = (
    r"0[xX](?:_?[0-9a-fA-F])+|0[oO](?:_?[0-7])+|0[bB](?:_?[01])+"
    rf"|(?:{DIGITS}\.(?:{DIGITS})?|\.{DIGITS}|{DIGITS})(?:[eE][-+]?{DIGITS})?"
)
TOKEN = re.compile(rf"\s*(?:({NUMBER})|([A-Za-z_]\w*)|(\*\*|//|[-+*/(),]))")


def number(text):
    """Python's numeric literals: prefixed integers, decimals with exponents, underscores."""
    text = text.replace("_", "")
    if text[:2].lower() in ("0x", "0o", "0b"):
        return float(int(text, 0))
    return float(text)


def tokens(text):
    position, result = 0, []
    text = text.rstrip()
    while position < len(text):
        match = TOKEN.match(text, position)
        if not match:
            raise Unsupported(text[position:])
        number, name, operator = match.groups()
        result.append(("num", number) if number else ("name", name) if name else ("op", operator))
        position = match.end()
    return [*result, ("end", "")]


def reference(text, values):
    items, index = tokens(text), 0

    def peek():
        return items[index]

    def take(expected=None):
        nonlocal index
        item = items[index]
        if expected is not None and item[1] != expected:
            raise Unsupported(f"expected {expected!r}, got {item[1]!r}")
        index += 1
        return item

    def expression():
        value = term()
        while peek()[1] in ("+", "-"):
            operator = take()[1]
            right = term()
            value = value + right if operator == "+" else value - right
        return value

    def term():
        value = factor()
        while peek()[1] in ("*", "/", "//"):
            operator = take()[1]
            right = factor()
            if operator == "*":
                value = value * right
            elif operator == "/":
                value = value / right
            else:
                value = float(math.floor(value / right))
        return value

    def factor():
        if peek()[1] in ("+", "-"):
            sign = take()[1]
            value = factor()
            return value if sign == "+" else -value
        return power()

    def power():
        base = atom()
        if peek()[1] == "**":
            take()
            return base ** factor()  # right-associative, binds tighter than a unary minus
        return base

    def atom():
        kind, text_ = take()
        if kind == "num":
            return number(text_)
        if kind == "name":
            if peek()[1] == "(":
                take("(")
                arguments = [expression()]
                while peek()[1] == ",":
                    take(",")
                    arguments.append(expression())
                take(")")
                return call(text_, arguments)
            return float(values[text_])
        if text_ == "(":
            value = expression()
            take(")")
            return value
        raise Unsupported(text_)

    def call(name, arguments):
        if name in ("min", "max"):
            return float((min if name == "min" else max)(arguments))
        (argument,) = arguments
        return float(
            {"ceil": math.ceil, "floor": math.floor, "log": math.log, "sqrt": math.sqrt}[name](
                argument
            )
        )

    value = expression()
    take("")
    if isinstance(value, complex) or not math.isfinite(value):
        raise ValueError("not a finite real number")
    return float(value)


# ---------------------------------------------------------------- expressions


def numbers_():
    return st.one_of(
        st.integers(0, 1000).map(str),
        st.tuples(st.integers(0, 99), st.integers(0, 99)).map(lambda p: f"{p[0]}.{p[1]}"),
    )


def arithmetic(names=("d",)):
    leaves = st.one_of(numbers_(), st.sampled_from(names))

    def extend(children):
        return st.one_of(
            st.tuples(children, st.sampled_from(["+", "-", "*", "/", "//", "**"]), children).map(
                lambda t: f"{t[0]} {t[1]} {t[2]}"
            ),
            st.tuples(children, st.sampled_from(["+", "-", "*", "/", "//", "**"]), children).map(
                lambda t: f"{t[0]}{t[1]}{t[2]}"
            ),
            st.tuples(st.sampled_from(["-", "+"]), children).map(lambda t: t[0] + t[1]),
            children.map(lambda c: f"({c})"),
            st.tuples(st.sampled_from(["ceil", "floor", "log", "sqrt"]), children).map(
                lambda t: f"{t[0]}({t[1]})"
            ),
            st.tuples(
                st.sampled_from(["min", "max"]), st.lists(children, min_size=1, max_size=3)
            ).map(lambda t: f"{t[0]}({', '.join(t[1])})"),
        )

    return st.recursive(leaves, extend, max_leaves=8)


ALLOWED_NODES = (ast.Constant, ast.Name, ast.BinOp, ast.UnaryOp, ast.Call, ast.Load)
ALLOWED_NODES += (ast.Add, ast.Sub, ast.Mult, ast.Div, ast.FloorDiv, ast.Pow, ast.UAdd, ast.USub)
HOSTILE = [
    "__import__('os').system('true')",
    "d.__class__",
    "d.real",
    "[d]",
    "{d: 1}",
    "(d,)",
    "lambda: 1",
    "1 if d else 2",
    "f'{d}'",
    "'d'",
    "b'1'",
    "d[0]",
    "min(*[d])",
    "min(d, key=abs)",
    "d == 1",
    "d and 1",
    "not d",
    "d % 2",
    "d @ d",
    "d << 1",
    "~d",
    "(x := 3)",
    "exec('1')",
    "eval('d')",
    "open('x')",
    "True",
    "None",
    "...",
    "1j",
    "ceil.__call__(1)",
    "getattr(d, 'x')",
    "globals()",
    "d; 1",
]
NOISE = st.text(
    alphabet="d D 0123456789.e+-*/()_,[]{}:;'\"abcdefghijklmnopqrstuvwxyz@%<>=!~\\\x00", max_size=60
)


def check_whitelist(expression, variables):
    for node in ast.walk(expression._tree):
        assert isinstance(node, ALLOWED_NODES), ast.dump(node)
        if isinstance(node, ast.Constant):
            assert type(node.value) in (int, float)
        if isinstance(node, ast.Name):
            assert node.id in variables or node.id in FUNCTIONS
        if isinstance(node, ast.Call):
            assert isinstance(node.func, ast.Name) and node.func.id in FUNCTIONS
            assert not node.keywords


@FAST
@given(st.one_of(NOISE, st.sampled_from(HOSTILE), arithmetic(("d", "D", "x"))), st.integers(1, 50))
def test_no_input_evaluates_outside_the_whitelist(text, d):
    try:
        expression = Expression(text, variables=("d", "D"))
    except ExpressionError:
        return
    assert text.strip() not in HOSTILE
    check_whitelist(expression, ("d", "D"))
    assert expression.names() <= {"d", "D"}
    try:
        value = expression.evaluate({"d": d, "D": 2 * d})
    except ExpressionError:
        return
    assert isinstance(value, float) and math.isfinite(value)


@FAST
@given(arithmetic(("d", "D")), st.integers(1, 64), st.integers(1, 4096))
def test_accepted_expressions_match_the_reference_evaluator(text, d, width):
    assume(len(text) <= MAX_LENGTH)
    values = {"d": d, "D": width}
    expression = Expression(text, variables=("d", "D"))  # every grammar string is accepted
    try:
        expected = reference(text, values)
    except (ZeroDivisionError, OverflowError, ValueError, TypeError):
        expected = None
    try:
        value = expression.evaluate(values)
    except ExpressionError:
        value = None
    if expected is None or value is None:
        assert expected is value, (text, expected, value)
    else:
        assert value == expected or (math.isnan(value) and math.isnan(expected)), text


@FAST
@given(NOISE)
def test_arbitrary_text_either_parses_like_the_reference_or_is_refused(text):
    try:
        expression = Expression(text)
    except ExpressionError:
        return
    try:
        expected = reference(text, {"d": 7})
    except Unsupported:
        raise AssertionError(f"accepted outside the grammar: {text!r}") from None
    except (ZeroDivisionError, OverflowError, ValueError, TypeError):
        expected = None
    try:
        value = expression.evaluate({"d": 7})
    except ExpressionError:
        value = None
    assert value == expected, text


# ---------------------------------------------------------------- specs

VALID = sweep(
    "fuzz",
    inputs="gaussian",
    target={"degrees": 2, "basis": "hermite"},
    dimensions=[3, 4],
    samples={"mode": "grid", "start": "2*d", "stop": "8*d", "num": 3},
    test_size=40,
    eps=0.3,
    time_limit=30,
    learners={
        "quad_h": quad_learner(
            8,
            theory="quad-h",
            representation=hermite2_features("d**2", "max(4*D, 100)"),
            search={"reg": [0.0, 1e-3]},
            lr=0.05,
            epochs=10,
        ),
        "ntk_x": ntk_learner(16, ridge=1e-3),
        "kern": {"model": {"kind": "kernel", "params": {"kernel": "ntk"}}},
        "adaptive_bracket": {**ntk_learner(8), "dimensions": [3]},
    },
)

ADAPTIVE = {**VALID, "samples": {"mode": "adaptive", "bracket": ["d", "16*d"]}}
ADAPTIVE["learners"] = {
    **VALID["learners"],
    "adaptive_bracket": {**VALID["learners"]["adaptive_bracket"], "bracket": ["2*d", "8*d"]},
}

SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-3, 40),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(["", "d", "2*d", "d**2", "ceil(d/3)", "x", "1e400", "-d", "__import__('os')"]),
    st.sampled_from(["ntk", "kernel", "grid", "list", "adaptive", "relu", "hermite", "sphere"]),
    st.text(max_size=8),
)
VALUES = st.recursive(
    SCALARS,
    lambda children: st.one_of(
        st.lists(children, max_size=3), st.dictionaries(st.text(max_size=6), children, max_size=2)
    ),
    max_leaves=4,
)


def paths(node, prefix=()):
    """Every (path, container) below ``node``."""
    yield prefix
    if isinstance(node, dict):
        for key, value in node.items():
            yield from paths(value, (*prefix, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from paths(value, (*prefix, index))


@st.composite
def mutated_specs(draw):
    spec = copy.deepcopy(draw(st.sampled_from([VALID, ADAPTIVE])))
    for _ in range(draw(st.integers(1, 3))):
        targets = [p for p in paths(spec) if p]
        path = draw(st.sampled_from(targets))
        *parents, last = path
        node = spec
        for part in parents:
            node = node[part]
        action = draw(st.sampled_from(["replace", "replace", "delete", "add"]))
        if action == "replace":
            node[last] = draw(VALUES)
        elif action == "delete":
            if isinstance(node, list):
                node.pop(last)
            else:
                del node[last]
        elif isinstance(node, dict):
            node[draw(st.text(min_size=1, max_size=6))] = draw(VALUES)
        else:
            node.append(draw(VALUES))
    return spec


def field_named(path: str) -> bool:
    return bool(path) and path != "spec"


@SLOW
@given(mutated_specs())
def test_mutated_specs_load_or_raise_a_spec_error_naming_a_field(data):
    try:
        spec = parse_spec(data)
    except SpecError as error:
        assert error.errors and all(field_named(path) for path, _ in error.errors), error.errors
        assert str(error)
        return
    make_plan(spec)  # an accepted spec resolves every cell


@SLOW
@given(mutated_specs())
def test_an_invalid_spec_exits_2_and_writes_no_store(data):
    try:
        parse_spec(copy.deepcopy(data))
    except SpecError:
        pass
    else:
        assume(False)  # running valid specs is what the other tests do
    with tempfile.TemporaryDirectory() as directory:
        spec_path, store_path = Path(directory) / "s.yaml", Path(directory) / "store.sqlite"
        spec_path.write_text(yaml.safe_dump(data))
        assert main(["run", str(spec_path), "--store", str(store_path), "--quiet"]) == 2
        assert not store_path.exists()
