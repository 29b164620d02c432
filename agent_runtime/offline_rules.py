"""The rules of the offline model (sans-IO): a conversation in, one reply out.

No LLM is involved and the replies say so. The rules, in order:

1. the conversation ends with tool results: answer in words from them ("5+5 = 10.");
2. "save a note titled T with the text X" -> `save_note(title=T, text=X)`;
3. analyse / statistics / data set -> `analyze_dataset()`;
4. time / clock / date -> `current_time(timezone?)` (an IANA name after "in", e.g. "in Europe/Paris");
5. arithmetic -> `calculator(expression)`; a follow-up may refer to the previous result
   ("Multiply that by 3" after "What is 5+5?" -> `calculator("10*3")`);
6. anything else: a plain statement of what the offline model can do.

A rule whose tool is not bound falls through to the next one.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, ToolMessage

from agent_runtime.tools import NOT_RUN

MODEL_NAME = "offline-rules"


@dataclass(frozen=True)
class Reply:
    thinking: str
    text: str = ""
    tool_calls: list[dict[str, Any]] = field(default_factory=list)


def message_text(message: BaseMessage) -> str:
    """The plain text of a message whose content is a string or a list of content blocks."""
    content = message.content
    if isinstance(content, str):
        return content
    parts = [
        block if isinstance(block, str) else str(block.get("text", ""))
        for block in content
        if isinstance(block, str) or (isinstance(block, dict) and block.get("type") == "text")
    ]
    return "".join(parts)


def plan_reply(messages: Sequence[BaseMessage], tool_names: set[str]) -> Reply:
    if messages and isinstance(messages[-1], ToolMessage):
        return _answer_from_tools(messages)
    human = next((m for m in reversed(messages) if isinstance(m, HumanMessage)), None)
    text = message_text(human).strip() if human else ""
    for rule in (_save_note, _analyze, _clock, _arithmetic):
        reply = rule(text, messages, tool_names)
        if reply is not None:
            return reply
    return _capabilities(tool_names)


def _call(name: str, args: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "args": args, "id": f"call_{uuid.uuid4().hex[:16]}", "type": "tool_call"}


_NOTE = re.compile(
    r"\bsave (?:a |the )?note (?:titled|called|named) [\"']?(?P<title>.+?)[\"']? with (?:the )?(?:text|content|body) "
    r"[\"']?(?P<text>.+?)[\"']?[.!]?$",
    re.IGNORECASE | re.DOTALL,
)


def _save_note(text: str, _: Sequence[BaseMessage], tools: set[str]) -> Reply | None:
    match = _NOTE.search(text)
    if not match or "save_note" not in tools:
        return None
    args = {"title": match["title"].strip(), "text": match["text"].strip()}
    return Reply(
        "Rule: the message asks to save a note, so I call save_note.", tool_calls=[_call("save_note", args)]
    )


_DATA = re.compile(r"\b(analy[sz]e|analysis|statistics|stats|data ?set)\b", re.IGNORECASE)


def _analyze(text: str, _: Sequence[BaseMessage], tools: set[str]) -> Reply | None:
    if not _DATA.search(text) or "analyze_dataset" not in tools:
        return None
    return Reply(
        "Rule: the message asks for data analysis, so I call analyze_dataset.",
        tool_calls=[_call("analyze_dataset", {})],
    )


_TIME = re.compile(r"\b(time|clock|date|today)\b", re.IGNORECASE)
_ZONE = re.compile(r"\bin (?P<zone>UTC|[A-Za-z_]+/[A-Za-z_]+(?:/[A-Za-z_]+)?)\b")


def _clock(text: str, _: Sequence[BaseMessage], tools: set[str]) -> Reply | None:
    if not _TIME.search(text) or "current_time" not in tools:
        return None
    zone = _ZONE.search(text)
    args = {"timezone": zone["zone"]} if zone and zone["zone"] != "UTC" else {}
    return Reply(
        "Rule: the message asks for the time, so I call current_time.",
        tool_calls=[_call("current_time", args)],
    )


_WORDS = [
    (re.compile(r"\bto the power of\b", re.I), "**"),
    (re.compile(r"\bmultiplied by\b|\btimes\b|×", re.I), "*"),
    (re.compile(r"\bdivided by\b|÷", re.I), "/"),
    (re.compile(r"\bplus\b", re.I), "+"),
    (re.compile(r"\bminus\b", re.I), "-"),
    (re.compile(r"\bsquared\b", re.I), "**2"),
]
_EXPRESSION = re.compile(r"[\d.(][\d.\s+\-*/%()]*")
_OPERATOR = re.compile(r"\d\s*[)]*\s*(\*\*|//|[+\-*/%])\s*[(]*\s*-?\d")
_REFERENCE = r"(?:that|it|this|the result|the answer)"
_FOLLOW_UPS = [
    (re.compile(rf"\bmultiply {_REFERENCE} by (?P<n>-?[\d.]+)", re.I), "{prev}*{n}"),
    (re.compile(rf"\bdivide {_REFERENCE} by (?P<n>-?[\d.]+)", re.I), "{prev}/{n}"),
    (re.compile(rf"\badd (?P<n>-?[\d.]+) to {_REFERENCE}", re.I), "{prev}+{n}"),
    (re.compile(rf"\bsubtract (?P<n>-?[\d.]+) from {_REFERENCE}", re.I), "{prev}-{n}"),
    (re.compile(rf"\bsquare {_REFERENCE}", re.I), "{prev}**2"),
    (re.compile(rf"\bdouble {_REFERENCE}", re.I), "{prev}*2"),
    (re.compile(rf"\bhalve {_REFERENCE}", re.I), "{prev}/2"),
]


def _arithmetic(text: str, messages: Sequence[BaseMessage], tools: set[str]) -> Reply | None:
    if "calculator" not in tools:
        return None
    previous = _previous_result(messages)
    if previous is not None:
        for pattern, template in _FOLLOW_UPS:
            match = pattern.search(text)
            if match:
                expression = template.format(prev=_parenthesised(previous), n=match.groupdict().get("n", ""))
                return Reply(
                    f"Rule: the message refers to the previous result {previous}, so I call calculator.",
                    tool_calls=[_call("calculator", {"expression": expression})],
                )
        text = re.sub(rf"\b{_REFERENCE}\b", _parenthesised(previous), text, flags=re.I)
    found = extract_expression(text)
    if found is None:
        return None
    return Reply(
        "Rule: the message contains arithmetic, so I call calculator.",
        tool_calls=[_call("calculator", {"expression": found})],
    )


def extract_expression(text: str) -> str | None:
    """The longest arithmetic-looking run in a sentence ("What is 5 plus 5?" -> "5 + 5")."""
    for pattern, symbol in _WORDS:
        text = pattern.sub(f" {symbol} ", text)
    text = re.sub(r"(?<=\d)\s*x\s*(?=\d)", " * ", text)
    candidates = [m.group().strip().rstrip(".").strip() for m in _EXPRESSION.finditer(text)]
    candidates = [c for c in candidates if _OPERATOR.search(c)]
    if not candidates:
        return None
    best = max(candidates, key=len)
    best = re.sub(r"\s+", " ", best)
    if best.count("(") != best.count(")"):
        best = best.strip("()")
    return best


def _parenthesised(number: str) -> str:
    return f"({number})" if number.startswith("-") else number


def _previous_result(messages: Sequence[BaseMessage]) -> str | None:
    """The last successful calculator result in the conversation, if any."""
    for message in reversed(messages):
        if isinstance(message, ToolMessage) and message.name == "calculator" and message.status == "success":
            return message_text(message).strip()
    return None


def _answer_from_tools(messages: Sequence[BaseMessage]) -> Reply:
    results: list[ToolMessage] = []
    for message in reversed(messages):
        if not isinstance(message, ToolMessage):
            break
        results.append(message)
    results.reverse()
    calls = _tool_calls_by_id(messages)
    sentences = [_sentence(result, calls.get(result.tool_call_id, {})) for result in results]
    return Reply("Rule: a tool answered, so I report its result.", text=" ".join(sentences))


def _tool_calls_by_id(messages: Sequence[BaseMessage]) -> dict[str, dict[str, Any]]:
    calls: dict[str, dict[str, Any]] = {}
    for message in messages:
        if isinstance(message, AIMessage):
            for call in message.tool_calls:
                if call["id"]:
                    calls[call["id"]] = call["args"]
    return calls


def _sentence(result: ToolMessage, args: dict[str, Any]) -> str:
    content = message_text(result).strip()
    error = content.removeprefix("Error:").strip()
    if content.startswith(NOT_RUN):
        reason = content.removeprefix(NOT_RUN).strip().rstrip(".")
        what = (
            f"save the note {args.get('title', '')!r}" if result.name == "save_note" else f"run {result.name}"
        )
        return f"I did not {what}: {reason}."
    match result.name, result.status:
        case "calculator", "success":
            return f"{args.get('expression', '?')} = {content}."
        case "calculator", _:
            return f"I could not calculate {args.get('expression', 'that')}: {error}."
        case "current_time", "success":
            return f"The current time is {content}."
        case "analyze_dataset", "success":
            return _dataset_summary(result, content)
        case "save_note", "success":
            return content
        case _, "success":
            return f"{result.name} returned: {content}"
        case _:
            return f"I did not complete {result.name}: {error}"


def _dataset_summary(result: ToolMessage, content: str) -> str:
    """One sentence per column from the tool's table artifact (the table itself is attached)."""
    artifact = result.artifact if isinstance(result.artifact, dict) else {}
    columns, rows = artifact.get("columns", []), artifact.get("rows", [])
    if not rows or "mean" not in columns:
        return f"The analyze_dataset tool returned:\n\n{content}"
    at = {name: index for index, name in enumerate(columns)}
    parts = [
        f"{row[at['column']]} has mean {row[at['mean']]} (std {row[at['std']]}, min {row[at['min']]}, max {row[at['max']]})"
        for row in rows
    ]
    count = rows[0][at["count"]]
    return f"The analyze_dataset tool computed statistics over {count} rows: " + "; ".join(parts) + "."


def _capabilities(tools: set[str]) -> Reply:
    examples = {
        "calculator": 'arithmetic ("What is 5+5?", then "Multiply that by 3")',
        "current_time": 'the time ("What time is it in Europe/Paris?")',
        "analyze_dataset": 'statistics of a sample data set ("Analyse a sample data set and report its statistics.")',
        "save_note": 'saving notes, with your approval ("Save a note titled groceries with the text milk and eggs.")',
    }
    can = [text for name, text in examples.items() if name in tools]
    text = "I am the offline rules model: no language model is running, I follow fixed rules."
    if can:
        text += " I can help with " + "; ".join(can) + "."
    return Reply("Rule: no rule matched, so I describe what I can do.", text=text)
