"""The runtime's exceptions.

    RuntimeFailure                 base: carries a stable `code` and a message safe for users
    ├── ConfigurationError         a bad setting at start-up (code `configuration_error`)
    ├── BadRequest                 a payload the entrypoint refuses (HTTP 400 before the stream opens)
    ├── UnknownApproval            a resume whose approval_id is not the pending interrupt
    ├── StoreUnavailable           the conversation store (PostgreSQL, AgentCore Memory) cannot be reached
    └── ToolInputError             a tool input it cannot work with; also a LangChain `ToolException`,
                                   so the tool answers a ToolMessage with status `error`

Third-party errors (botocore, psycopg, LangGraph) are translated once, in `agent_runtime.run`, into
an `ERROR` event whose message never carries a stack trace, an address or an ARN.
"""

from __future__ import annotations

from langchain_core.tools import ToolException


class RuntimeFailure(Exception):
    code = "runtime_error"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code


class ConfigurationError(RuntimeFailure):
    code = "configuration_error"


class BadRequest(RuntimeFailure):
    code = "bad_request"


class UnknownApproval(RuntimeFailure):
    code = "unknown_approval"


class StoreUnavailable(RuntimeFailure):
    code = "state_unavailable"


class ToolInputError(RuntimeFailure, ToolException):
    code = "tool_error"
