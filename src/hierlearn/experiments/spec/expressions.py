"""Safe arithmetic size expressions such as ``2*d**2`` or ``ceil(d**1.5)``.

A spec may give a size (sample size, width, test size...) as a number or as an arithmetic
expression in a few named variables (``d`` everywhere; ``D``, the representation width, for
``n_unlabeled``). Expressions are parsed with `ast.parse` (which only builds a syntax
tree and runs nothing) and every node of the tree is checked against a whitelist: numbers,
the allowed variable names, ``+ - * / // **``, unary ``+``/``-``, parentheses, and calls of
``ceil floor log sqrt min max`` with positional arguments. Nothing is ever passed to
``eval``; evaluation walks the checked tree.

Arithmetic is done in floating point (so ``10**10**10`` overflows into an error instead of
building a huge integer). `Expression.evaluate_size` then requires a finite value that
is an integer up to a relative tolerance of 1e-9 (write ``ceil(d/3)``, not ``d/3``) and at
least a stated minimum.
"""

from __future__ import annotations

import ast
import math
import numbers
import warnings
from collections.abc import Iterable, Mapping

MAX_LENGTH = 200  # longer text is refused before parsing (a guard against pathological input)

_BINARY = {
    ast.Add: lambda a, b: a + b,
    ast.Sub: lambda a, b: a - b,
    ast.Mult: lambda a, b: a * b,
    ast.Div: lambda a, b: a / b,
    ast.FloorDiv: lambda a, b: float(math.floor(a / b)),
    ast.Pow: lambda a, b: a**b,
}
_UNARY = {ast.UAdd: lambda a: a, ast.USub: lambda a: -a}
_FUNCTIONS = {
    "ceil": (1, lambda a: float(math.ceil(a))),
    "floor": (1, lambda a: float(math.floor(a))),
    "log": (1, math.log),
    "sqrt": (1, math.sqrt),
    # One argument or more: min(x) is x (the builtins would iterate over a lone argument).
    "min": (None, lambda *a: min(a)),
    "max": (None, lambda *a: max(a)),
}
FUNCTIONS: tuple[str, ...] = tuple(_FUNCTIONS)


class ExpressionError(ValueError):
    """An expression is malformed, uses something outside the whitelist, or has a bad value."""


class Expression:
    """A checked arithmetic expression over named variables.

    Args:
        source: the text, e.g. ``"2*d**2"``, or a number (int or float, not bool).
        variables: the variable names the expression may use.

    Raises:
        ExpressionError: the text is empty, too long, not valid syntax, or uses a node,
            name or function outside the whitelist.
    """

    def __init__(self, source, variables: Iterable[str] = ("d",)):
        self.variables = tuple(variables)
        if isinstance(source, bool) or not isinstance(source, (str, numbers.Real)):
            raise ExpressionError(
                f"expected a number or an arithmetic expression string, got {source!r}"
            )
        if isinstance(source, numbers.Real):
            value = float(source)
            if not math.isfinite(value):
                raise ExpressionError(f"number must be finite, got {source!r}")
            self.source = repr(int(value)) if value.is_integer() else repr(value)
            self._tree: ast.AST = ast.Constant(value)
            return
        text = source.strip()
        if not text:
            raise ExpressionError("expression is empty")
        if len(text) > MAX_LENGTH:
            raise ExpressionError(f"expression is longer than {MAX_LENGTH} characters")
        try:
            with warnings.catch_warnings():
                # e.g. "invalid decimal literal" for "2d": the text is refused below anyway.
                warnings.simplefilter("ignore", SyntaxWarning)
                tree = ast.parse(text, mode="eval")
        except (SyntaxError, ValueError, RecursionError, MemoryError) as error:
            raise ExpressionError(f"expression {text!r} is not valid arithmetic") from error
        self._check(tree.body, text)
        self.source = text
        self._tree = tree.body

    def __repr__(self) -> str:
        return f"Expression({self.source!r})"

    def __str__(self) -> str:
        return self.source

    def __eq__(self, other) -> bool:
        return isinstance(other, Expression) and other.source == self.source

    def __hash__(self) -> int:
        return hash(self.source)

    def names(self) -> set[str]:
        """The variable names the expression uses."""
        return {node.id for node in ast.walk(self._tree) if isinstance(node, ast.Name)} - set(
            FUNCTIONS
        )

    def _check(self, node: ast.AST, text: str) -> None:
        where = f"expression {text!r}"
        if isinstance(node, ast.Constant):
            value = node.value
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ExpressionError(f"{where}: only numbers are allowed as constants")
        elif isinstance(node, ast.Name):
            if node.id not in self.variables:
                allowed = ", ".join(self.variables)
                raise ExpressionError(
                    f"{where}: unknown name {node.id!r}; allowed variables: {allowed}"
                )
        elif isinstance(node, ast.BinOp):
            if type(node.op) not in _BINARY:
                raise ExpressionError(
                    f"{where}: operator {type(node.op).__name__} is not allowed; "
                    "allowed: + - * / // **"
                )
            self._check(node.left, text)
            self._check(node.right, text)
        elif isinstance(node, ast.UnaryOp):
            if type(node.op) not in _UNARY:
                raise ExpressionError(f"{where}: unary operator is not allowed")
            self._check(node.operand, text)
        elif isinstance(node, ast.Call):
            name = node.func.id if isinstance(node.func, ast.Name) else None
            if name not in _FUNCTIONS:
                shown = name if name is not None else ast.unparse(node.func)
                raise ExpressionError(
                    f"{where}: function {shown!r} is not allowed; allowed: {', '.join(FUNCTIONS)}"
                )
            if node.keywords or any(isinstance(arg, ast.Starred) for arg in node.args):
                raise ExpressionError(f"{where}: {name}() takes positional arguments only")
            arity = _FUNCTIONS[name][0]
            if (arity is not None and len(node.args) != arity) or not node.args:
                expected = "1 argument" if arity == 1 else "at least 1 argument"
                raise ExpressionError(f"{where}: {name}() takes {expected}")
            for arg in node.args:
                self._check(arg, text)
        else:
            raise ExpressionError(
                f"{where}: {type(node).__name__} is not allowed; only numbers, "
                f"{', '.join(self.variables)}, + - * / // ** ( ) and {', '.join(FUNCTIONS)}"
            )

    def evaluate(self, values: Mapping[str, float]) -> float:
        """The value of the expression (a finite float) with variables set from ``values``.

        Raises:
            ExpressionError: a variable is missing, or the arithmetic fails (division by
                zero, log of a non-positive number, overflow, a non-finite result).
        """
        try:
            result = self._evaluate(self._tree, values)
        except ZeroDivisionError as error:
            raise ExpressionError(f"expression {self.source!r}: division by zero") from error
        except OverflowError as error:
            raise ExpressionError(f"expression {self.source!r}: overflow") from error
        except (ValueError, TypeError) as error:
            raise ExpressionError(f"expression {self.source!r}: {error}") from error
        if isinstance(result, complex) or not math.isfinite(result):
            raise ExpressionError(f"expression {self.source!r} is not a finite real number")
        return float(result)

    def evaluate_size(self, values: Mapping[str, float], minimum: int = 1) -> int:
        """The value as an int >= ``minimum``; it must be an integer up to 1e-9 relative."""
        value = self.evaluate(values)
        rounded = round(value)
        if abs(value - rounded) > 1e-9 * max(1.0, abs(value)):
            raise ExpressionError(
                f"expression {self.source!r} gives {value:g} at "
                f"{_show(values)}, not an integer; wrap it in ceil() or floor()"
            )
        if rounded < minimum:
            raise ExpressionError(
                f"expression {self.source!r} gives {rounded} at {_show(values)}; "
                f"it must be >= {minimum}"
            )
        return int(rounded)

    def _evaluate(self, node: ast.AST, values: Mapping[str, float]) -> float:
        if isinstance(node, ast.Constant):
            return float(node.value)
        if isinstance(node, ast.Name):
            if node.id not in values:
                raise ExpressionError(f"expression {self.source!r}: no value for {node.id!r}")
            return float(values[node.id])
        if isinstance(node, ast.BinOp):
            left = self._evaluate(node.left, values)
            right = self._evaluate(node.right, values)
            return _BINARY[type(node.op)](left, right)
        if isinstance(node, ast.UnaryOp):
            return _UNARY[type(node.op)](self._evaluate(node.operand, values))
        assert isinstance(node, ast.Call)  # the only node kind left after _check
        arguments = [self._evaluate(arg, values) for arg in node.args]
        return float(_FUNCTIONS[node.func.id][1](*arguments))


def _show(values: Mapping[str, float]) -> str:
    return ", ".join(f"{name}={value:g}" for name, value in values.items())
