"""LangGraph stream chunks -> runtime event dicts (sans-IO; the contract is in docs/architecture.md).

`EventMapper` is fed the `(mode, chunk)` pairs of
`graph.astream(..., stream_mode=["updates", "messages", "custom"])` and returns the runtime events
each one makes, in order:

- `custom` `{"event": "node_start", "node"}` (written by each node as its first act, so NODE_START
  goes out before the node's tokens)                             -> NODE_START
- `custom` `{"event": "tool_progress", ...}` (written by tools)    -> TOOL_PROGRESS
- `messages` `(AIMessageChunk, metadata)` from the `agent` node    -> THINKING / TOKEN deltas
- `updates` `{"agent": {"messages": [AIMessage]}}`                 -> LLM_RESPONSE, TOOL_CALL..., NODE_END
- `updates` `{"tools": {"messages": [ToolMessage...]}}`            -> TOOL_RESULT..., NODE_END
- `updates` `{"__interrupt__": (Interrupt, ...)}`                  -> NODE_END (open nodes), APPROVAL_REQUIRED...

`start()` makes AGENT_START; `end()` makes AGENT_END with the output, per-node totals, summed usage
and status (`interrupted` once an approval was asked for); `error()` and `heartbeat()` the rest.
Clocks are injected so tests control every timestamp and duration.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage, ToolMessage

Event = dict[str, Any]

AGENT_NODE, TOOLS_NODE = "agent", "tools"
APPROVAL_CHOICES = ["approve", "reject", "edit"]


def node_start_chunk(node: str) -> dict[str, str]:
    """What a node writes with `get_stream_writer()` as it starts."""
    return {"event": "node_start", "node": node}


class EventMapper:
    def __init__(
        self,
        session_id: str,
        model: str,
        *,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.session_id = session_id
        self.model = model
        self._clock = clock
        self._monotonic = monotonic
        self._started = monotonic()
        self._node_started: dict[str, float] = {}
        self.node_timings_ms: dict[str, float] = {}
        self.usage = {"input_tokens": 0, "output_tokens": 0, "total_tokens": 0}
        self.output = ""
        self.interrupted = False

    def event(self, type_: str, **fields: Any) -> Event:
        return {"type": type_, "timestamp": self._clock(), "session_id": self.session_id, **fields}

    def start(self, prompt: str | None) -> list[Event]:
        self._started = self._monotonic()
        return [self.event("AGENT_START", model=self.model, input=prompt)]

    def heartbeat(self) -> Event:
        return self.event("HEARTBEAT")

    def error(self, code: str, message: str) -> Event:
        return self.event("ERROR", code=code, message=message)

    def end(self) -> Event:
        return self.event(
            "AGENT_END",
            output=self.output,
            node_timings_ms={node: round(ms, 3) for node, ms in self.node_timings_ms.items()},
            usage=dict(self.usage),
            duration_ms=round((self._monotonic() - self._started) * 1000, 3),
            status="interrupted" if self.interrupted else "complete",
        )

    def feed(self, mode: str, chunk: Any) -> list[Event]:
        if mode == "custom":
            return self._custom(chunk)
        if mode == "messages":
            return self._message_chunk(*chunk)
        if mode == "updates":
            return self._updates(chunk)
        return []

    # -- custom chunks: node starts and tool progress

    def _custom(self, chunk: Any) -> list[Event]:
        if not isinstance(chunk, dict):
            return []
        kind = chunk.get("event")
        if kind == "node_start":
            node = str(chunk["node"])
            self._node_started[node] = self._monotonic()
            return [self.event("NODE_START", node=node)]
        if kind == "tool_progress":
            fields = {k: chunk.get(k) for k in ("tool", "call_id", "progress", "message")}
            if chunk.get("artifact") is not None:
                fields["artifact"] = chunk["artifact"]
            return [self.event("TOOL_PROGRESS", **fields)]
        return []

    # -- messages chunks: token and reasoning deltas of the model

    def _message_chunk(self, message: BaseMessage, metadata: dict[str, Any]) -> list[Event]:
        if not isinstance(message, AIMessageChunk) or metadata.get("langgraph_node") != AGENT_NODE:
            return []
        thinking, text = split_content(message)
        events = []
        if thinking:
            events.append(self.event("THINKING", delta=thinking))
        if text:
            events.append(self.event("TOKEN", delta=text, message_id=message.id))
        return events

    # -- updates: complete messages, tool results, node ends, interrupts

    def _updates(self, chunk: Any) -> list[Event]:
        if not isinstance(chunk, dict):
            return []
        events: list[Event] = []
        for node, update in chunk.items():
            if node == "__interrupt__":
                events += self._interrupts(update)
                continue
            messages = update.get("messages", []) if isinstance(update, dict) else []
            for message in messages if isinstance(messages, list) else [messages]:
                if isinstance(message, AIMessage):
                    events += self._ai_message(message)
                elif isinstance(message, ToolMessage):
                    events.append(self._tool_result(message))
            events += self._node_end(node)
        return events

    def _ai_message(self, message: AIMessage) -> list[Event]:
        _, text = split_content(message)
        self.output = text
        payload: dict[str, Any] = {
            "id": message.id,
            "content": text,
            "tool_calls": [{"id": c["id"], "name": c["name"], "args": c["args"]} for c in message.tool_calls],
        }
        if message.usage_metadata:
            reported: dict[str, Any] = dict(message.usage_metadata)
            usage = {k: int(reported.get(k) or 0) for k in self.usage}
            payload["usage"] = usage
            for key, value in usage.items():
                self.usage[key] += value
        events = [self.event("LLM_RESPONSE", message=payload)]
        events += [
            self.event("TOOL_CALL", tool=call["name"], call_id=call["id"], args=call["args"])
            for call in message.tool_calls
        ]
        return events

    def _tool_result(self, message: ToolMessage) -> Event:
        fields: dict[str, Any] = {
            "tool": message.name,
            "call_id": message.tool_call_id,
            "result": message.content if isinstance(message.content, str) else str(message.content),
            "status": message.status,
        }
        if isinstance(message.artifact, dict) and "kind" in message.artifact:
            fields["artifact"] = message.artifact
        return self.event("TOOL_RESULT", **fields)

    def _node_end(self, node: str) -> list[Event]:
        started = self._node_started.pop(node, None)
        if started is None:
            return []
        duration_ms = (self._monotonic() - started) * 1000
        self.node_timings_ms[node] = self.node_timings_ms.get(node, 0.0) + duration_ms
        return [self.event("NODE_END", node=node, duration_ms=round(duration_ms, 3))]

    def _interrupts(self, interrupts: Any) -> list[Event]:
        events: list[Event] = []
        for node in list(self._node_started):
            events += self._node_end(node)
        for interrupt in interrupts or ():
            value = interrupt.value if isinstance(interrupt.value, dict) else {}
            self.interrupted = True
            events.append(
                self.event(
                    "APPROVAL_REQUIRED",
                    approval_id=interrupt.id,
                    tool=value.get("tool"),
                    call_id=value.get("call_id"),
                    args=value.get("args", {}),
                    choices=value.get("choices", APPROVAL_CHOICES),
                )
            )
        return events


def split_content(message: BaseMessage) -> tuple[str, str]:
    """(reasoning text, answer text) of a message or chunk, whatever the provider's format.

    Handles string content, Bedrock Converse blocks (`text`, `reasoning_content`), standard
    LangChain blocks (`reasoning`, `thinking`) and `additional_kwargs["reasoning_content"]`.
    """
    thinking: list[str] = []
    text: list[str] = []
    reasoning = message.additional_kwargs.get("reasoning_content")
    if isinstance(reasoning, str):
        thinking.append(reasoning)
    content = message.content
    if isinstance(content, str):
        text.append(content)
    else:
        for block in content:
            if isinstance(block, str):
                text.append(block)
                continue
            kind = block.get("type")
            if kind == "text":
                text.append(str(block.get("text", "")))
            elif kind == "reasoning_content":
                inner = block.get("reasoning_content") or {}
                thinking.append(str(inner.get("text", "")) if isinstance(inner, dict) else str(inner))
            elif kind in ("reasoning", "thinking"):
                thinking.append(str(block.get(kind, "")))
    return "".join(thinking), "".join(text)
