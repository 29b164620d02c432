"""The calculator evaluates arithmetic by walking the AST and refuses everything else."""

from __future__ import annotations

import operator

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agent_runtime.calculator import evaluate, format_number
from agent_runtime.exceptions import ToolInputError
from agent_runtime.tools import calculator


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("5+5", "10"),
        ("10*3", "30"),
        ("7/2", "3.5"),
        ("7//2", "3"),
        ("-7//2", "-4"),
        ("10 % 4", "2"),
        ("2**10", "1024"),
        ("-3**2", "-9"),
        ("(-3)**2", "9"),
        ("+4 - -2", "6"),
        ("(1.5 + 2) * 2", "7"),
        ("0.1 + 0.2", "0.3"),
        ("2 ** 0.5", "1.41421356237"),
        ("((((1))))", "1"),
    ],
)
def test_evaluates_arithmetic(expression: str, expected: str) -> None:
    assert calculator(expression) == expected


@pytest.mark.parametrize(
    ("expression", "reason"),
    [
        ("__import__('os').system('true')", "function call"),
        ("open('/etc/passwd')", "function call"),
        ("x + 1", "the name 'x'"),
        ("(1).real", "attribute 'real'"),
        ("[1, 2][0]", "is not allowed"),
        ("'a' * 3", "is not a number"),
        ("True + 1", "is not a number"),
        ("1 if 1 else 2", "is not allowed"),
        ("lambda: 1", "is not allowed"),
        ("1 < 2", "is not allowed"),
        ("2 ^ 3", "use ** for powers"),
        ("9**9**9", "exponent"),
        ("10 ** 5000", "more than 1000 digits"),
        ("2 ** -100000", "exponent"),
        ("1/0", "division by zero"),
        ("5 % 0", "division by zero"),
        ("0 ** -1", "division by zero"),
        ("(-8) ** 0.5", "not a real number"),
        ("1e308 * 10", "too large"),
        ("", "empty"),
        ("5 +", "not an arithmetic expression"),
        ("1" * 600, "longer than"),
    ],
)
def test_refuses_what_is_not_arithmetic(expression: str, reason: str) -> None:
    with pytest.raises(ToolInputError, match=reason.replace("*", r"\*")):
        evaluate(expression)


def test_the_tool_answers_an_error_message_rather_than_raising() -> None:
    from agent_runtime.settings import Settings
    from agent_runtime.tools import build_tools

    tool = next(t for t in build_tools(Settings()) if t.name == "calculator")
    message = tool.invoke(
        {"name": "calculator", "args": {"expression": "x + 1"}, "id": "c1", "type": "tool_call"}
    )
    assert message.status == "error"
    assert message.content.startswith("Error: the name 'x' is not allowed")


def test_formats_numbers_as_people_write_them() -> None:
    assert format_number(10) == "10"
    assert format_number(10.0) == "10"
    assert format_number(2.5) == "2.5"
    assert format_number(1e300) == "1e+300"


_OPS = {"+": operator.add, "-": operator.sub, "*": operator.mul}


@st.composite
def expressions(draw: st.DrawFn) -> tuple[str, int]:
    """A random integer expression and its value, built side by side."""
    value = draw(st.integers(-1000, 1000))
    text = f"({value})"
    for _ in range(draw(st.integers(0, 6))):
        op = draw(st.sampled_from(sorted(_OPS)))
        operand = draw(st.integers(-1000, 1000))
        text, value = f"({text} {op} ({operand}))", _OPS[op](value, operand)
    return text, value


@given(expressions())
def test_agrees_with_integer_arithmetic(case: tuple[str, int]) -> None:
    text, value = case
    assert evaluate(text) == value
