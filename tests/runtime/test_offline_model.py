"""The offline model routes to tools by rules, answers from tool results, keeps the conversation,
streams word by word with real tool-call chunks, and never pretends to be an LLM."""

from __future__ import annotations

import pytest
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage, HumanMessage, ToolMessage

from agent_runtime.offline_model import OfflineRulesModel
from agent_runtime.offline_rules import extract_expression, plan_reply
from agent_runtime.settings import Settings
from agent_runtime.tools import build_tools

ALL_TOOLS = {"calculator", "current_time", "analyze_dataset", "save_note"}


@pytest.mark.parametrize(
    ("prompt", "tool", "args"),
    [
        ("What is 5+5?", "calculator", {"expression": "5+5"}),
        ("what is 5 plus 3 times 2", "calculator", {"expression": "5 + 3 * 2"}),
        ("Compute (2+3)*4.", "calculator", {"expression": "(2+3)*4"}),
        ("What is 2 to the power of 8?", "calculator", {"expression": "2 ** 8"}),
        ("What time is it?", "current_time", {}),
        ("What time is it in Europe/Paris?", "current_time", {"timezone": "Europe/Paris"}),
        ("Analyse a sample data set and report its statistics.", "analyze_dataset", {}),
        ("Please analyze some data", "analyze_dataset", {}),
        (
            "Save a note titled groceries with the text milk and eggs.",
            "save_note",
            {"title": "groceries", "text": "milk and eggs"},
        ),
    ],
)
def test_routes_requests_to_the_right_tool(prompt: str, tool: str, args: dict[str, str]) -> None:
    reply = plan_reply([HumanMessage(prompt)], ALL_TOOLS)
    assert [(c["name"], c["args"]) for c in reply.tool_calls] == [(tool, args)]
    assert reply.thinking.startswith("Rule:")


def test_anything_else_gets_a_statement_of_what_it_can_do_and_says_it_is_offline() -> None:
    reply = plan_reply([HumanMessage("Tell me a poem about the sea")], ALL_TOOLS)
    assert reply.tool_calls == []
    assert "offline rules model" in reply.text
    assert "no language model" in reply.text
    assert "What is 5+5?" in reply.text


def test_a_rule_whose_tool_is_not_bound_falls_through() -> None:
    reply = plan_reply([HumanMessage("What is 5+5?")], set())
    assert reply.tool_calls == []
    assert "offline rules model" in reply.text


def _after_tool(
    prompt: str, tool: str, args: dict[str, str], result: str, status: str = "success"
) -> list[BaseMessage]:
    call = {"name": tool, "args": args, "id": "call_1", "type": "tool_call"}
    return [
        HumanMessage(prompt),
        AIMessage("", tool_calls=[call]),
        ToolMessage(result, name=tool, tool_call_id="call_1", status=status),
    ]


def test_answers_in_words_from_a_tool_result() -> None:
    reply = plan_reply(_after_tool("What is 5+5?", "calculator", {"expression": "5+5"}, "10"), ALL_TOOLS)
    assert reply.text == "5+5 = 10."
    assert reply.tool_calls == []


def test_reports_a_tool_error_plainly() -> None:
    messages = _after_tool(
        "What is x+1?", "calculator", {"expression": "x+1"}, "Error: the name 'x' is not allowed", "error"
    )
    assert plan_reply(messages, ALL_TOOLS).text == "I could not calculate x+1: the name 'x' is not allowed."


@pytest.mark.parametrize(
    ("follow_up", "expression"),
    [
        ("Multiply that by 3", "10*3"),
        ("Divide it by 4", "10/4"),
        ("Add 7 to the result", "10+7"),
        ("Subtract 2 from that", "10-2"),
        ("Square it", "10**2"),
        ("What is that minus 4?", "10 - 4"),
    ],
)
def test_a_follow_up_refers_to_the_previous_result(follow_up: str, expression: str) -> None:
    history = _after_tool("What is 5+5?", "calculator", {"expression": "5+5"}, "10")
    history += [AIMessage("5+5 = 10."), HumanMessage(follow_up)]
    reply = plan_reply(history, ALL_TOOLS)
    assert [c["args"] for c in reply.tool_calls] == [{"expression": expression}]


def test_extracts_the_longest_arithmetic_run() -> None:
    assert extract_expression("What is 12 * (3 + 4)?") == "12 * (3 + 4)"
    assert extract_expression("I have 3 apples") is None
    assert extract_expression("3 x 4") == "3 * 4"


def _model() -> OfflineRulesModel:
    return OfflineRulesModel(token_delay_s=0)


async def test_streams_word_by_word_and_the_chunks_add_up_to_the_message() -> None:
    model = _model().bind_tools(build_tools(Settings()))
    history = _after_tool("What is 5+5?", "calculator", {"expression": "5+5"}, "10")
    chunks = [chunk async for chunk in model.astream(history)]
    texts = [c.content for c in chunks if isinstance(c, AIMessageChunk) and c.content]
    assert texts == ["5+5", " =", " 10."]
    merged = chunks[0]
    for chunk in chunks[1:]:
        merged += chunk
    assert merged.content == "5+5 = 10."
    assert merged.additional_kwargs["reasoning_content"] == "Rule: a tool answered, so I report its result."
    assert merged.usage_metadata is not None and merged.usage_metadata["output_tokens"] == 3  # 9 chars / 4
    assert merged.response_metadata["model_name"] == "offline-rules"


async def test_streams_real_tool_call_chunks() -> None:
    model = _model().bind_tools(build_tools(Settings()))
    chunks = [chunk async for chunk in model.astream([HumanMessage("What is 6*7?")])]
    pieces = [c.tool_call_chunks[0] for c in chunks if c.tool_call_chunks]
    assert len(pieces) == 2  # arguments arrive as partial JSON, like a real model's
    assert pieces[0]["name"] == "calculator" and pieces[1]["name"] is None
    merged = chunks[0]
    for chunk in chunks[1:]:
        merged += chunk
    assert [(c["name"], c["args"]) for c in merged.tool_calls] == [("calculator", {"expression": "6*7"})]


def test_invoke_without_streaming_gives_the_same_reply() -> None:
    model = _model().bind_tools(build_tools(Settings()))
    message = model.invoke([HumanMessage("What time is it?")])
    assert isinstance(message, AIMessage)
    assert [c["name"] for c in message.tool_calls] == ["current_time"]
    assert message.usage_metadata is not None and message.usage_metadata["total_tokens"] > 0


def test_is_deterministic() -> None:
    model = _model().bind_tools(build_tools(Settings()))
    first = model.invoke([HumanMessage("Hello there")])
    second = model.invoke([HumanMessage("Hello there")])
    assert first.content == second.content
