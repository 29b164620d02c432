"""The embedded offline chat model (`offline-rules`): a LangChain `BaseChatModel` over the rules.

It streams its reply word by word (`AGENT_OFFLINE_TOKEN_DELAY_S` between words, 20 ms by default),
first a one-line reasoning delta (`additional_kwargs["reasoning_content"]`: the rule it applied),
then the words, then tool-call chunks (`tool_call_chunks`, arguments split in two partial JSON
pieces as a real model sends them). Usage is estimated as characters / 4, rounded up.
"""

from __future__ import annotations

import asyncio
import json
import math
import time
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from typing import Any

from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel, LanguageModelInput
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.messages.tool import tool_call_chunk
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from langchain_core.runnables import Runnable
from langchain_core.tools import BaseTool
from langchain_core.utils.function_calling import convert_to_openai_tool

from agent_runtime.offline_rules import MODEL_NAME, Reply, message_text, plan_reply


class OfflineRulesModel(BaseChatModel):
    token_delay_s: float = 0.02

    @property
    def _llm_type(self) -> str:
        return MODEL_NAME

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {"model_name": MODEL_NAME}

    def bind_tools(
        self,
        tools: Sequence[dict[str, Any] | type | Callable[..., Any] | BaseTool],
        *,
        tool_choice: str | None = None,
        **kwargs: Any,
    ) -> Runnable[LanguageModelInput, AIMessage]:
        return self.bind(tools=[convert_to_openai_tool(tool) for tool in tools], **kwargs)

    def _reply(self, messages: list[BaseMessage], kwargs: dict[str, Any]) -> Reply:
        names = {tool["function"]["name"] for tool in kwargs.get("tools") or []}
        return plan_reply(messages, names)

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        reply = self._reply(messages, kwargs)
        message = AIMessage(
            content=reply.text,
            tool_calls=reply.tool_calls,
            additional_kwargs={"reasoning_content": reply.thinking},
            usage_metadata=_usage(messages, reply),
            response_metadata={"model_name": MODEL_NAME},
        )
        return ChatResult(generations=[ChatGeneration(message=message)])

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        for delay, chunk in _chunks(messages, self._reply(messages, kwargs), self.token_delay_s):
            if delay:
                time.sleep(delay)
            yield chunk

    async def _astream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[ChatGenerationChunk]:
        for delay, chunk in _chunks(messages, self._reply(messages, kwargs), self.token_delay_s):
            if delay:
                await asyncio.sleep(delay)
            yield chunk


def _chunks(
    messages: list[BaseMessage], reply: Reply, delay: float
) -> Iterator[tuple[float, ChatGenerationChunk]]:
    """(delay before, chunk) pairs: reasoning, words, tool-call pieces, then usage."""

    def chunk(**fields: Any) -> ChatGenerationChunk:
        return ChatGenerationChunk(message=AIMessageChunk(**fields))

    yield 0.0, chunk(content="", additional_kwargs={"reasoning_content": reply.thinking})
    for word in _words(reply.text):
        yield delay, chunk(content=word)
    for index, call in enumerate(reply.tool_calls):
        args = json.dumps(call["args"])
        half = len(args) // 2
        yield (
            delay,
            chunk(
                content="",
                tool_call_chunks=[
                    tool_call_chunk(name=call["name"], args=args[:half], id=call["id"], index=index)
                ],
            ),
        )
        yield (
            0.0,
            chunk(
                content="",
                tool_call_chunks=[tool_call_chunk(name=None, args=args[half:], id=None, index=index)],
            ),
        )
    yield (
        0.0,
        chunk(
            content="",
            usage_metadata=_usage(messages, reply),
            response_metadata={
                "model_name": MODEL_NAME,
                "stop_reason": "tool_use" if reply.tool_calls else "end_turn",
            },
            chunk_position="last",
        ),
    )


def _words(text: str) -> list[str]:
    """Split keeping the spaces, so that the deltas concatenate back to the text."""
    words: list[str] = []
    for index, piece in enumerate(text.split(" ")):
        words.append(piece if index == 0 else " " + piece)
    return [w for w in words if w]


def _usage(messages: list[BaseMessage], reply: Reply) -> dict[str, int]:
    """Estimated tokens: characters / 4, rounded up (there is no tokenizer offline)."""
    input_chars = sum(
        len(message_text(m)) + len(json.dumps(getattr(m, "tool_calls", []) or [])) for m in messages
    )
    output_chars = len(reply.text) + len(
        json.dumps(reply.tool_calls and [c["args"] for c in reply.tool_calls])
    )
    input_tokens, output_tokens = math.ceil(input_chars / 4), math.ceil(output_chars / 4)
    return {
        "input_tokens": input_tokens,
        "output_tokens": output_tokens,
        "total_tokens": input_tokens + output_tokens,
    }
