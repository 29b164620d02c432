"""The agent service: runs turns, resumes after approvals and reads history, on one graph.

`AgentService.open(settings)` builds the model, the tools, the checkpointer and the graph; it must be
entered on the event loop that will run the graph. `events(request, session_id)` is the stream of
runtime events of one invocation: AGENT_START, the mapped graph chunks, AGENT_END (or ERROR), with
HEARTBEATs while silent. Errors are translated here, once, into ERROR events with a stable code and
a message safe for users; the details go to the log.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from typing import Any

from langchain_core.messages import AIMessage, HumanMessage, ToolMessage
from langchain_core.runnables import RunnableConfig
from langgraph.types import Command

from agent_runtime import history
from agent_runtime.checkpointers import open_checkpointer, thread_config
from agent_runtime.disconnect import Disconnect
from agent_runtime.events import TOOLS_NODE, Event, EventMapper
from agent_runtime.exceptions import RuntimeFailure, UnknownApproval
from agent_runtime.graph import build_graph
from agent_runtime.heartbeat import with_heartbeats
from agent_runtime.models import build_model
from agent_runtime.payloads import Resume, Turn
from agent_runtime.settings import Settings
from agent_runtime.tools import SUPERSEDED, build_tools

logger = logging.getLogger("agent_runtime.service")

STREAM_MODES = ["updates", "messages", "custom"]


class AgentService:
    def __init__(self, settings: Settings, graph: Any, stack: AsyncExitStack) -> None:
        self.settings = settings
        self.graph = graph
        self._stack = stack
        self._locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()

    @classmethod
    async def open(cls, settings: Settings) -> AgentService:
        stack = AsyncExitStack()
        try:
            checkpointer = await stack.enter_async_context(open_checkpointer(settings))
            graph = build_graph(build_model(settings), build_tools(settings), checkpointer)
        except BaseException:
            await stack.aclose()
            raise
        return cls(settings, graph, stack)

    async def aclose(self) -> None:
        await self._stack.aclose()

    def _session_lock(self, session_id: str) -> asyncio.Lock:
        """One run at a time per session (in this process): a second invocation waits, with
        heartbeats, for the first to finish instead of writing the same thread concurrently."""
        lock = self._locks.get(session_id)
        if lock is None:
            lock = self._locks[session_id] = asyncio.Lock()
        return lock

    def config(self, session_id: str) -> RunnableConfig:
        return {"configurable": thread_config(self.settings, session_id)}

    def events(
        self, request: Turn | Resume, session_id: str, *, stop: Disconnect | None = None
    ) -> AsyncIterator[Event]:
        """The runtime events of one invocation; `stop` (client gone) ends them and cancels the run."""
        mapper = EventMapper(session_id, self.settings.model_name)
        source = self._run(request, session_id, mapper)
        return with_heartbeats(source, self.settings.heartbeat_interval_s, mapper.heartbeat, stop=stop)

    async def _run(
        self, request: Turn | Resume, session_id: str, mapper: EventMapper
    ) -> AsyncIterator[Event]:
        config = self.config(session_id)
        prompt = request.prompt if isinstance(request, Turn) else None
        for event in mapper.start(prompt):
            yield event
        try:
            async with self._session_lock(session_id):
                graph_input: Any
                if isinstance(request, Turn):
                    await self._supersede_pending_approvals(config)
                    graph_input = {"messages": [HumanMessage(request.prompt)]}
                else:
                    graph_input = await self._resume_command(request, config)
                async for mode, chunk in self.graph.astream(graph_input, config, stream_mode=STREAM_MODES):
                    for event in mapper.feed(mode, chunk):
                        yield event
        except RuntimeFailure as exc:
            logger.warning("run failed: %s (%s)", exc.message, exc.code)
            yield mapper.error(exc.code, exc.message)
            return
        except Exception:
            logger.exception("run failed")
            yield mapper.error("internal_error", "The agent failed.")
            return
        yield mapper.end()

    async def history(self, session_id: str) -> dict[str, Any]:
        state = await self.graph.aget_state(self.config(session_id))
        return history.history(session_id, (state.values or {}).get("messages", []), state.interrupts)

    async def _supersede_pending_approvals(self, config: RunnableConfig) -> None:
        """A new prompt while approvals are pending: answer every open tool call with "not run".

        Refusing the prompt instead would strand a session whose approval was never answered (the
        BFF lets approvals expire). The tool messages keep the history valid for any model (every
        tool call has its result); the new input then starts a fresh run from START.
        """
        state = await self.graph.aget_state(config)
        if not state.interrupts:
            return
        messages = (state.values or {}).get("messages", [])
        last = messages[-1] if messages else None
        calls = last.tool_calls if isinstance(last, AIMessage) else []
        logger.info("a new prompt supersedes %d pending approval(s)", len(state.interrupts))
        results = [
            ToolMessage(SUPERSEDED, name=c["name"], tool_call_id=c["id"], status="error") for c in calls
        ]
        await self.graph.aupdate_state(config, {"messages": results}, as_node=TOOLS_NODE)

    async def _resume_command(self, request: Resume, config: RunnableConfig) -> Command[Any]:
        state = await self.graph.aget_state(config)
        pending = {interrupt.id for interrupt in state.interrupts}
        if request.approval_id not in pending:
            raise UnknownApproval(
                "There is no pending approval with that id in this session."
                if pending
                else "This session is not waiting for an approval."
            )
        value = {"decision": request.decision, "edited_args": request.edited_args}
        return Command(resume={request.approval_id: value})
