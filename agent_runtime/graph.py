"""The LangGraph agent: a model node `agent` and a tool node `tools`, looping until the model answers.

    START -> agent --(tool calls?)--> tools -> agent ... -> END

Each node writes `node_start` with the stream writer as its first act (events.py). The tools node
asks for every approval first, with `interrupt()`, before it runs any tool, so that resuming (which
re-runs the node from its start) never runs a tool twice. Tools run one after the other; each knows
its call through `tools.serving` so its progress is attributed to the right call.
"""

from __future__ import annotations

import logging
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, ToolMessage
from langchain_core.runnables import RunnableConfig
from langchain_core.tools import BaseTool
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.config import get_stream_writer
from langgraph.graph import END, START, MessagesState, StateGraph
from langgraph.graph.state import CompiledStateGraph
from langgraph.types import interrupt

from agent_runtime.events import AGENT_NODE, APPROVAL_CHOICES, TOOLS_NODE, node_start_chunk
from agent_runtime.exceptions import RuntimeFailure
from agent_runtime.tools import REJECTED, requires_approval, serving

logger = logging.getLogger("agent_runtime.graph")


class ModelError(RuntimeFailure):
    code = "model_error"


def build_graph(
    model: BaseChatModel, tools: list[BaseTool], checkpointer: BaseCheckpointSaver[Any] | None
) -> CompiledStateGraph[Any, Any, Any, Any]:
    bound = model.bind_tools(tools)
    by_name = {tool.name: tool for tool in tools}

    async def agent(state: MessagesState, config: RunnableConfig) -> dict[str, Any]:
        get_stream_writer()(node_start_chunk(AGENT_NODE))
        try:
            response = await bound.ainvoke(state["messages"], config)
        except Exception as exc:
            logger.exception("the model failed")
            raise ModelError("The model failed to answer.") from exc
        return {"messages": [response]}

    async def run_tools(state: MessagesState, config: RunnableConfig) -> dict[str, Any]:
        get_stream_writer()(node_start_chunk(TOOLS_NODE))
        last = state["messages"][-1]
        calls = last.tool_calls if isinstance(last, AIMessage) else []
        decisions: dict[str, dict[str, Any]] = {}
        for call in calls:
            tool = by_name.get(call["name"])
            if tool is not None and requires_approval(tool):
                decisions[call["id"] or ""] = interrupt(
                    {
                        "type": "approval",
                        "tool": call["name"],
                        "call_id": call["id"],
                        "args": call["args"],
                        "choices": APPROVAL_CHOICES,
                    }
                )
        results = [await _run_tool(call, by_name, decisions.get(call["id"] or ""), config) for call in calls]
        return {"messages": results}

    graph = StateGraph(MessagesState)
    graph.add_node(AGENT_NODE, agent)
    graph.add_node(TOOLS_NODE, run_tools)
    graph.add_edge(START, AGENT_NODE)
    graph.add_conditional_edges(AGENT_NODE, _next_node, [TOOLS_NODE, END])
    graph.add_edge(TOOLS_NODE, AGENT_NODE)
    return graph.compile(checkpointer=checkpointer)


def _next_node(state: MessagesState) -> str:
    last = state["messages"][-1]
    return TOOLS_NODE if isinstance(last, AIMessage) and last.tool_calls else END


async def _run_tool(
    call: Any, by_name: dict[str, BaseTool], decision: dict[str, Any] | None, config: RunnableConfig
) -> ToolMessage:
    name, call_id = call["name"], call["id"]
    tool = by_name.get(name)
    if tool is None:
        return ToolMessage(
            f"Error: there is no tool named {name!r}", name=name, tool_call_id=call_id, status="error"
        )
    args = call["args"]
    if decision is not None:
        if decision.get("decision") == "reject":
            return ToolMessage(REJECTED, name=name, tool_call_id=call_id, status="error")
        if decision.get("decision") == "edit" and isinstance(decision.get("edited_args"), dict):
            args = decision["edited_args"]
    with serving(name, call_id):
        try:
            result = await tool.ainvoke(
                {"name": name, "args": args, "id": call_id, "type": "tool_call"}, config
            )
        except Exception:
            logger.exception("tool %s failed", name)
            return ToolMessage("Error: the tool failed", name=name, tool_call_id=call_id, status="error")
    if not isinstance(result, ToolMessage):  # a tool returning a Command or a raw value
        return ToolMessage(str(result), name=name, tool_call_id=call_id)
    return result
