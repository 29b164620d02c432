"""Safe arithmetic: parse with `ast`, walk the tree, never `eval`.

Accepted: numbers (integers and decimals), `+ - * / // % **`, unary `+`/`-` and parentheses.
Everything else (names, calls, attributes, subscripts, comparisons, strings, ...) is refused with a
`ToolInputError` whose message says what was wrong. Exponents are bounded so that `9**9**9` cannot
hold the process hostage, and so is the expression length.
"""

from __future__ import annotations

import ast
import math
import operator
from collections.abc import Callable

from agent_runtime.exceptions import ToolInputError

Number = int | float

MAX_EXPRESSION_CHARS = 500
MAX_RESULT_DIGITS = 1000  # a power whose result would have more digits than this is refused
MAX_ABS_EXPONENT = 10_000

_BINARY: dict[type[ast.operator], Callable[[Number, Number], Number]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
}
_UNARY: dict[type[ast.unaryop], Callable[[Number], Number]] = {
    ast.UAdd: operator.pos,
    ast.USub: operator.neg,
}
_SYMBOLS: dict[type[ast.AST], str] = {
    ast.BitXor: "^ (use ** for powers)",
    ast.BitAnd: "&",
    ast.BitOr: "|",
    ast.LShift: "<<",
    ast.RShift: ">>",
    ast.MatMult: "@",
    ast.Invert: "~",
    ast.Not: "not",
}


def evaluate(expression: str) -> Number:
    """The value of an arithmetic expression, or `ToolInputError` saying why there is none."""
    if not isinstance(expression, str) or not expression.strip():
        raise ToolInputError("the expression is empty")
    if len(expression) > MAX_EXPRESSION_CHARS:
        raise ToolInputError(f"the expression is longer than {MAX_EXPRESSION_CHARS} characters")
    try:
        tree = ast.parse(expression.strip(), mode="eval")
    except SyntaxError:
        raise ToolInputError(f"{expression.strip()!r} is not an arithmetic expression") from None
    return _walk(tree.body)


def format_number(value: Number) -> str:
    """A number as people write it: `10`, `2.5`, `0.3` (12 significant digits), `1e+300`."""
    if isinstance(value, int):
        return str(value)
    if value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return format(value, ".12g")


def _walk(node: ast.AST) -> Number:
    if isinstance(node, ast.Constant):
        if isinstance(node.value, bool) or not isinstance(node.value, int | float):
            raise ToolInputError(f"{node.value!r} is not a number")
        return node.value
    if isinstance(node, ast.UnaryOp):
        unary = _UNARY.get(type(node.op))
        if unary is None:
            raise ToolInputError(
                f"unsupported operator {_SYMBOLS.get(type(node.op), type(node.op).__name__)}"
            )
        return unary(_walk(node.operand))
    if isinstance(node, ast.BinOp):
        binary = _BINARY.get(type(node.op))
        if binary is None:
            raise ToolInputError(
                f"unsupported operator {_SYMBOLS.get(type(node.op), type(node.op).__name__)}"
            )
        left, right = _walk(node.left), _walk(node.right)
        if isinstance(node.op, ast.Pow):
            _check_power(left, right)
        try:
            result = binary(left, right)
        except ZeroDivisionError:
            raise ToolInputError("division by zero") from None
        except OverflowError:
            raise ToolInputError("the result is too large") from None
        if isinstance(result, complex):
            raise ToolInputError("the result is not a real number")
        if isinstance(result, float) and not math.isfinite(result):
            raise ToolInputError("the result is too large")
        return result
    raise ToolInputError(f"{_describe(node)} is not allowed: only numbers, + - * / // % ** and parentheses")


def _check_power(base: Number, exponent: Number) -> None:
    if abs(exponent) > MAX_ABS_EXPONENT:
        raise ToolInputError(f"the exponent {format_number(exponent)} is too large")
    if base == 0 and exponent < 0:
        raise ToolInputError("division by zero")
    if abs(base) > 1 and exponent > 0 and exponent * math.log10(abs(base)) > MAX_RESULT_DIGITS:
        raise ToolInputError(f"the result would have more than {MAX_RESULT_DIGITS} digits")


def _describe(node: ast.AST) -> str:
    if isinstance(node, ast.Name):
        return f"the name {node.id!r}"
    if isinstance(node, ast.Call):
        return "a function call"
    if isinstance(node, ast.Attribute):
        return f"the attribute {node.attr!r}"
    return f"a {type(node).__name__} expression"
