"""The agent's tools, and how a tool reports progress to the stream.

- `calculator(expression)`: safe arithmetic (`agent_runtime.calculator`).
- `current_time(timezone?)`: the clock, in UTC or an IANA zone.
- `analyze_dataset(seed?, rows?)`: long-running (settings `AGENT_DATASET_STEPS` x
  `AGENT_DATASET_STEP_S`, about 5 s by default); reports progress at every step, a `table`
  artifact (in progress, then final) and a `chart` artifact. Cancellable: every step awaits, so a
  cancelled run stops at once; every step is logged (logger `agent_runtime.tools`, INFO).
- `save_note(title, text)`: writes `<workspace>/<safe title>.md`; needs human approval.

Progress goes out through LangGraph's `get_stream_writer()` as a `custom` chunk
`{"event": "tool_progress", ...}`; the tools node tells each tool which call it serves through a
context variable (`current_call`), so tool signatures stay what the model sees.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from langchain_core.tools import BaseTool, StructuredTool
from langgraph.config import get_stream_writer

from agent_runtime import calculator as calc
from agent_runtime import dataset
from agent_runtime.exceptions import ToolInputError
from agent_runtime.settings import Settings

logger = logging.getLogger("agent_runtime.tools")

APPROVAL_REQUIRED = "requires_approval"  # key in a tool's metadata

# The content of the ToolMessage of a call that did not run (status "error"), and why.
NOT_RUN = "Not run: "
REJECTED = NOT_RUN + "the user rejected this call."
SUPERSEDED = NOT_RUN + "a new message arrived before this call was approved."


@dataclass(frozen=True)
class ToolCallRef:
    tool: str
    call_id: str


current_call: contextvars.ContextVar[ToolCallRef | None] = contextvars.ContextVar(
    "current_call", default=None
)


@contextmanager
def serving(tool: str, call_id: str) -> Iterator[None]:
    token = current_call.set(ToolCallRef(tool, call_id))
    try:
        yield
    finally:
        current_call.reset(token)


def report_progress(progress: float | None, message: str, artifact: dict[str, Any] | None = None) -> None:
    """Send a TOOL_PROGRESS to the stream (a no-op outside a graph run, e.g. in unit tests)."""
    ref = current_call.get()
    chunk: dict[str, Any] = {
        "event": "tool_progress",
        "tool": ref.tool if ref else None,
        "call_id": ref.call_id if ref else None,
        "progress": progress,
        "message": message,
    }
    if artifact is not None:
        chunk["artifact"] = artifact
    try:
        writer = get_stream_writer()
    except RuntimeError:  # not inside a LangGraph run
        return
    writer(chunk)


def requires_approval(tool: BaseTool) -> bool:
    return bool((tool.metadata or {}).get(APPROVAL_REQUIRED))


def build_tools(settings: Settings) -> list[BaseTool]:
    return [
        StructuredTool.from_function(
            func=calculator,
            name="calculator",
            description="Evaluate an arithmetic expression with + - * / // % ** and parentheses, e.g. '(2+3)*4'.",
            handle_tool_error=_tool_error_text,
        ),
        StructuredTool.from_function(
            func=current_time,
            name="current_time",
            description="The current date and time, in UTC or in an IANA time zone such as 'Europe/Paris'.",
            handle_tool_error=_tool_error_text,
        ),
        StructuredTool.from_function(
            coroutine=_analyze_dataset_tool(settings),
            name="analyze_dataset",
            description=(
                "Generate a seeded synthetic data set (columns latency_ms, tokens, score) and report per-column "
                "count, mean, std, min and max, with a histogram. Takes several seconds."
            ),
            response_format="content_and_artifact",
            handle_tool_error=_tool_error_text,
        ),
        StructuredTool.from_function(
            func=_save_note_tool(settings),
            name="save_note",
            description="Save a Markdown note with a title and a text into the workspace. Needs human approval.",
            metadata={APPROVAL_REQUIRED: True},
            handle_tool_error=_tool_error_text,
        ),
    ]


def _tool_error_text(error: Exception) -> str:
    if isinstance(error, ToolInputError):
        return f"Error: {error.message}"
    return "Error: the tool failed"


def calculator(expression: str) -> str:
    """Evaluate an arithmetic expression."""
    return calc.format_number(calc.evaluate(expression))


def current_time(timezone: str | None = None) -> str:
    """The current time, ISO 8601, in UTC or the given IANA time zone."""
    if timezone:
        try:
            zone: Any = ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ToolInputError(f"unknown time zone {timezone!r}") from None
    else:
        zone = UTC
    now = datetime.now(zone)
    return f"{now.isoformat(timespec='seconds')} ({timezone or 'UTC'})"


def _analyze_dataset_tool(settings: Settings) -> Any:
    async def analyze_dataset(seed: int = 42, rows: int | None = None) -> tuple[str, dict[str, Any]]:
        """Generate a seeded synthetic data set and compute its statistics, step by step."""
        return await analyze(
            seed, rows or settings.dataset_rows, steps=settings.dataset_steps, step_s=settings.dataset_step_s
        )

    return analyze_dataset


async def analyze(seed: int, rows: int, *, steps: int, step_s: float) -> tuple[str, dict[str, Any]]:
    """The work of `analyze_dataset`: `steps` steps of `step_s` seconds, progress after each."""
    if not 10 <= rows <= 100_000:
        raise ToolInputError("rows must be between 10 and 100000")
    ref = current_call.get()
    call_id = ref.call_id if ref else "-"
    plan = _plan(steps)
    table_id, chart_id = f"table-{call_id}", f"chart-{call_id}"
    data: dict[str, list[float]] = {}
    stats: list[dataset.ColumnStats] = []
    chart_rows: list[list[str | int]] = []
    try:
        for index, step in enumerate(plan, start=1):
            await asyncio.sleep(step_s)
            artifact: dict[str, Any] | None = None
            if step == "generate":
                data = dataset.generate(rows, seed)
                message = f"Generated {rows} rows (seed {seed})"
            elif step in dataset.COLUMNS:
                stats.append(dataset.column_stats(step, data[step]))
                message = f"Computed statistics of {step}"
                artifact = _table(table_id, stats, "in_progress")
            elif step == "histogram":
                chart_rows = dataset.histogram(data["latency_ms"])
                message = "Built the latency_ms histogram"
                artifact = {
                    "id": chart_id,
                    "kind": "chart",
                    "title": "latency_ms histogram",
                    "status": "final",
                    "columns": ["bin", "count"],
                    "rows": chart_rows,
                    "x": "bin",
                    "y": "count",
                }
            else:
                message = "Checked the results"
            logger.info("analyze_dataset call_id=%s step %d/%d: %s", call_id, index, len(plan), message)
            report_progress(index / len(plan), message, artifact)
    except asyncio.CancelledError:
        logger.info("analyze_dataset call_id=%s cancelled after step %d/%d", call_id, index - 1, len(plan))
        raise
    logger.info("analyze_dataset call_id=%s completed", call_id)
    content = (
        f"Statistics of a synthetic data set ({rows} rows, seed {seed}):\n{dataset.markdown_table(stats)}"
    )
    return content, _table(table_id, stats, "final")


def _plan(steps: int) -> list[str]:
    """generate, one step per column, histogram, then checks to fill the configured step count."""
    plan = ["generate", *dataset.COLUMNS, "histogram"]
    return plan + ["check"] * max(0, steps - len(plan))


def _table(table_id: str, stats: list[dataset.ColumnStats], status: str) -> dict[str, Any]:
    return {
        "id": table_id,
        "kind": "table",
        "title": "Data set statistics",
        "status": status,
        "columns": dataset.STAT_COLUMNS,
        "rows": [s.row() for s in stats],
    }


_UNSAFE = re.compile(r"[^a-z0-9_-]+")


def note_filename(title: str) -> str:
    """A safe file name for a note title: lower-case letters, digits, `-` and `_`, then `.md`."""
    stem = _UNSAFE.sub("-", title.strip().lower()).strip("-_")[:80]
    if not stem:
        raise ToolInputError("the title has no usable characters")
    return f"{stem}.md"


def _save_note_tool(settings: Settings) -> Any:
    def save_note(title: str, text: str) -> str:
        """Save a Markdown note into the workspace."""
        return write_note(settings.workspace_dir, title, text)

    return save_note


def write_note(workspace: Path, title: str, text: str) -> str:
    root = workspace.resolve()
    path = (root / note_filename(title)).resolve()
    if path.parent != root:  # belt and braces: note_filename never makes a path separator
        raise ToolInputError("the note would leave the workspace")
    root.mkdir(parents=True, exist_ok=True)
    path.write_text(f"# {title.strip()}\n\n{text.strip()}\n", encoding="utf-8")
    logger.info("save_note wrote %s", path.name)
    return f"Saved the note {title.strip()!r} as {path.name}."
