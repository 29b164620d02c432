"""How one `Turn` looks on the page, drawn into placeholders that are updated in place.

A `TurnView` is created inside an assistant `st.chat_message` and lays out four fixed slots:

    reasoning   collapsed "Reasoning" expander, when the model gives any
    body        the blocks in order: Markdown text, one `st.status` per tool call (arguments,
                progress bar, result, duration), artifacts (table or chart), approval cards
    footer      while live: the thinking indicator and elapsed time; then metrics and timings
    actions     while live: Stop; after an error: Retry

History and the live answer are drawn by the same code, so when a finished answer moves into the
history the page keeps the same elements and nothing flickers. While streaming, `mark()` records
what an event changed and `flush()` re-renders only those blocks, at most every
`render_interval_s` for text: per token the work is one Markdown placeholder, never the history.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import altair  # noqa: F401  charts: pay this import when the page loads, not in the middle of a stream
import pandas as pd
import pyarrow  # noqa: F401  tables: same
import streamlit as st

from ui.turn import STATUS, THINKING, ApprovalBlock, ArtifactBlock, Block, TextBlock, ToolBlock, Turn

CURSOR = "▌"
Callback = Callable[..., None]


def fmt_ms(ms: float | None) -> str:
    if ms is None:
        return "?"
    return f"{ms:.0f} ms" if ms < 1000 else f"{ms / 1000:.1f} s"


def metrics_line(turn: Turn) -> str:
    parts = []
    if turn.ttft_s is not None:
        parts.append(f":material/bolt: {turn.ttft_s:.2f} s to first token")
    if turn.total_s is not None:
        parts.append(f":material/timer: {turn.total_s:.2f} s total")
    usage = turn.usage
    if usage.get("total_tokens") is not None:
        parts.append(
            f":material/toll: {usage.get('total_tokens')} tokens "
            f"({usage.get('input_tokens', '?')} in · {usage.get('output_tokens', '?')} out)"
        )
    return " · ".join(parts)


def _pretty(text: str) -> tuple[str, str | None]:
    """A tool result as code: JSON pretty-printed, anything else as plain text."""
    try:
        return json.dumps(json.loads(text), indent=2, ensure_ascii=False), "json"
    except ValueError:
        return text, None


class TurnView:
    def __init__(
        self,
        key: str,
        *,
        on_stop: Callback | None = None,
        on_retry: Callback | None = None,
        on_decide: Callback | None = None,
        render_interval_s: float = 0.05,
    ) -> None:
        self.key = key
        self.render_interval_s = render_interval_s
        self.on_stop = on_stop
        self.on_retry = on_retry
        self.on_decide = on_decide
        self.reasoning = st.empty()
        self.body = st.container()
        self.footer = st.empty()
        self.actions = st.empty()
        self.slots: list[_Slot] = []
        self._dirty: set[int | str] = set()
        self._last_flush = 0.0
        self._ticks = 0
        self.stopping = False

    # --- whole renders -----------------------------------------------------------------------
    def render(self, turn: Turn, *, live: bool) -> None:
        """Draw everything the turn has so far (history, or the state a resumed answer had)."""
        if turn.thinking:
            self._reasoning(turn)
        for index in range(len(turn.blocks)):
            self._block(turn, index, live=live)
        if live:
            self._live_footer(turn)
            if self.on_stop is not None and turn.status == "streaming":
                self.actions.button(
                    "Stop", key=f"stop-{self.key}", on_click=self.on_stop, icon=":material/stop_circle:"
                )
        else:
            self.finish(turn)

    def finish(self, turn: Turn) -> None:
        """The answer is over (or paused): final blocks, metrics, and Retry on an error."""
        self.flush(turn, force=True, live=False)
        self._final_footer(turn)
        if (
            turn.status == "error"
            and self.on_retry is not None
            and turn.error
            and turn.error.get("retryable")
        ):
            self.actions.button(
                "Retry", key=f"retry-{self.key}", on_click=self.on_retry, icon=":material/refresh:"
            )
        else:
            self.actions.empty()

    # --- incremental updates -----------------------------------------------------------------
    def mark(self, changed: set[int | str]) -> None:
        self._dirty |= changed

    def flush(self, turn: Turn, *, force: bool = False, live: bool = True) -> None:
        now = time.monotonic()
        if not self._dirty and not force:
            return
        text_only = all(isinstance(c, int) and isinstance(turn.blocks[c], TextBlock) for c in self._dirty)
        if text_only and not force and now - self._last_flush < self.render_interval_s:
            return  # tokens keep coming: re-render Markdown at most every render_interval_s
        dirty, self._dirty = self._dirty, set()
        self._last_flush = now
        if THINKING in dirty:
            self._reasoning(turn)
        for change in sorted(c for c in dirty if isinstance(c, int)):
            if change >= 1 and change >= len(self.slots) and isinstance(turn.blocks[change - 1], TextBlock):
                self._block(turn, change - 1, live=False)  # a new block follows: drop the cursor
            self._block(turn, change, live=live)
        if force:
            for index in range(len(turn.blocks)):
                if index >= len(self.slots) or self.slots[index].stale(turn.blocks[index], live):
                    self._block(turn, index, live=live)
        if live and (STATUS in dirty or any(isinstance(c, int) for c in dirty)):
            self._live_footer(turn)

    def tick(self, turn: Turn) -> None:
        """Nothing arrived for a while: move the elapsed timer (and give Streamlit a yield point)."""
        self._ticks += 1
        self._live_footer(turn)

    # --- pieces ------------------------------------------------------------------------------
    def _reasoning(self, turn: Turn) -> None:
        with (
            self.reasoning.container(),
            st.expander("Reasoning", expanded=False, icon=":material/psychology:"),
        ):
            st.markdown(turn.thinking)

    def _block(self, turn: Turn, index: int, *, live: bool) -> None:
        block = turn.blocks[index]
        while len(self.slots) <= index:
            self.slots.append(_Slot(self, turn.blocks[len(self.slots)]))
        streaming = live and index == len(turn.blocks) - 1 and turn.status == "streaming"
        self.slots[index].draw(block, streaming)

    def _live_footer(self, turn: Turn) -> None:
        elapsed = time.time() - turn.created
        if self.stopping:
            label = ":material/stop_circle: Stopping…"
        elif turn.status == "awaiting_approval":
            label = ":material/front_hand: Waiting for your decision"
        elif turn.first_token_ts is None and not any(isinstance(b, ToolBlock) for b in turn.blocks):
            label = ":material/psychology: Thinking" + "." * (1 + self._ticks % 3)
        else:
            running = [b.tool for b in turn.blocks if isinstance(b, ToolBlock) and b.status == "running"]
            label = (
                f":material/build: Running `{running[-1]}`…" if running else ":material/edit_note: Writing…"
            )
        self.footer.caption(f"{label} · {elapsed:.1f} s")

    def _final_footer(self, turn: Turn) -> None:
        with self.footer.container():
            if turn.status == "cancelled":
                st.caption(":material/stop_circle: Stopped before the answer was complete.")
            elif turn.status == "awaiting_approval":
                st.caption(":material/front_hand: Waiting for your decision")
            if turn.error is not None and turn.status != "cancelled":
                st.error(turn.error.get("message", "Something went wrong."), icon=":material/error:")
                st.caption(f"error code `{turn.error.get('code', 'error')}`")
            line = metrics_line(turn)
            if line:
                st.caption(line)
            if turn.node_timings_ms or turn.run_id:
                with st.expander("Timings and ids", expanded=False, icon=":material/timer:"):
                    if turn.node_timings_ms:
                        st.dataframe(
                            pd.DataFrame(
                                {
                                    "node": list(turn.node_timings_ms),
                                    "ms": list(turn.node_timings_ms.values()),
                                }
                            ),
                            hide_index=True,
                        )
                    st.caption(f"run `{turn.run_id}`")


class _Slot:
    """The placeholder(s) of one block, created once and redrawn in place."""

    def __init__(self, view: TurnView, block: Block) -> None:
        self.view = view
        self.drawn: tuple[Any, ...] | None = None
        self.status: Any = None
        if isinstance(block, ToolBlock):
            self.status = view.body.status(f"Running `{block.tool}`…", state="running", expanded=True)
            self.args = self.status.empty()
            self.progress = self.status.empty()
            self.result = self.status.empty()
        else:
            self.placeholder = view.body.empty()

    def stale(self, block: Block, live: bool) -> bool:
        return self.drawn != _signature(block, live)

    def draw(self, block: Block, streaming: bool) -> None:
        signature = _signature(block, streaming)
        if signature == self.drawn:
            return
        self.drawn = signature
        if isinstance(block, TextBlock):
            self.placeholder.markdown(block.text + (CURSOR if streaming else ""))
        elif isinstance(block, ToolBlock):
            self._tool(block)
        elif isinstance(block, ArtifactBlock):
            with self.placeholder.container():
                _artifact(block.artifact)
        elif isinstance(block, ApprovalBlock):
            with self.placeholder.container():
                _approval(block, self.view)

    def _tool(self, block: ToolBlock) -> None:
        if block.args:
            self.args.code(json.dumps(block.args, indent=2, ensure_ascii=False), language="json")
        if block.progress is not None or block.message:
            value = block.progress if block.progress is not None else 0.0
            text = block.message or f"{value:.0%}"
            if block.progress is not None and block.message:
                text = f"{block.message} ({value:.0%})"
            self.progress.progress(value, text=text)
        if block.result is not None:
            body, language = _pretty(block.result)
            with self.result.container():
                st.caption("Result")
                st.code(body, language=language, wrap_lines=True)
        if block.status == "running":
            return  # as created: running and open (an update without `expanded` would close it)
        took = f" · {fmt_ms(block.duration_ms)}" if block.duration_ms is not None else ""
        verb = {"error": "failed", "stopped": "stopped"}.get(block.status, "done")
        self.status.update(
            label=f"`{block.tool}` {verb}{took}",
            state="complete" if block.status == "success" else "error",
            expanded=False,
        )


def _signature(block: Block, streaming: bool) -> tuple[Any, ...]:
    if isinstance(block, TextBlock):
        return ("text", block.text, streaming)
    if isinstance(block, ToolBlock):
        return (
            "tool",
            json.dumps(block.args, default=str),
            block.progress,
            block.message,
            block.result,
            block.status,
        )
    if isinstance(block, ArtifactBlock):
        return ("artifact", json.dumps(block.artifact, default=str))
    return ("approval", block.approval_id, block.decision)


def _artifact(artifact: dict[str, Any]) -> None:
    final = artifact.get("status") == "final"
    title = artifact.get("title") or "Result"
    badge = (
        ":green-badge[:material/check: final]"
        if final
        else ":orange-badge[:material/hourglass_top: in progress]"
    )
    st.markdown(f"**{title}** &nbsp; {badge}")
    columns = [str(c) for c in artifact.get("columns") or []]
    rows = artifact.get("rows") or []
    try:
        frame = pd.DataFrame(rows, columns=columns or None)
    except (ValueError, TypeError):
        st.caption("This artifact could not be shown.")
        return
    x, y = artifact.get("x"), artifact.get("y")
    if artifact.get("kind") == "chart" and x in frame.columns and y in frame.columns and len(frame):
        if pd.api.types.is_numeric_dtype(frame[x]):
            st.line_chart(frame, x=x, y=y, height=260)
        else:  # categories (histogram bins): bars, in the tool's order
            st.bar_chart(frame, x=x, y=y, height=260, sort=False)
    else:
        st.dataframe(frame, hide_index=True)


def _approval(block: ApprovalBlock, view: TurnView) -> None:
    with st.container(border=True):
        st.markdown(f":material/front_hand: **Approval needed**: the agent wants to run `{block.tool}`")
        st.code(json.dumps(block.edited_args or block.args, indent=2, ensure_ascii=False), language="json")
        if block.decision is not None:
            verb = {
                "approve": ":material/check_circle: Approved",
                "reject": ":material/block: Rejected",
                "edit": ":material/edit: Edited and approved",
            }
            st.caption(verb.get(block.decision, block.decision))
            return
        if view.on_decide is None:
            return
        key = f"approval-{block.approval_id}"
        approve, reject, edit = st.columns(3)
        if "approve" in block.choices:
            approve.button(
                "Approve",
                key=f"{key}-approve",
                type="primary",
                on_click=view.on_decide,
                args=(block.approval_id, "approve"),
            )
        if "reject" in block.choices:
            reject.button(
                "Reject", key=f"{key}-reject", on_click=view.on_decide, args=(block.approval_id, "reject")
            )
        if "edit" in block.choices:
            with edit.popover("Edit"):
                st.text_area(
                    "Arguments (JSON)",
                    value=json.dumps(block.args, indent=2, ensure_ascii=False),
                    key=f"{key}-edited",
                    height=160,
                )
                st.button(
                    "Send edited",
                    key=f"{key}-edit",
                    on_click=view.on_decide,
                    args=(block.approval_id, "edit"),
                )
