"""The chat page: `streamlit run ui/app.py` (BFF_URL says where the BFF is).

Streamlit reruns this script top to bottom on every interaction, which shapes the design:

- Conversation state lives in `st.session_state`: the finished turns (`history`), the answer being
  streamed (`active`, a `Turn` updated in place, so it survives an interrupted script run), and the
  session id. The running answer's run id and the session id are also kept in the URL
  (`?session=...&run=...`), so a page reload can pick the answer up again.
- A click on Stop makes Streamlit interrupt the script inside the streaming loop (at its next
  redraw). The Stop callback only records the wish; the rerun then asks the BFF to cancel the run
  and follows it again from the last id it drew, until `done` (status cancelled).
- A page reload starts a fresh Streamlit session: with `run=<id>` in the URL, it follows
  `GET /v1/runs/{id}/stream` from the start into a fresh `Turn`, so no text is duplicated.
- An approval request pauses the run: the card's buttons record the decision, the rerun posts it
  and follows the same run from its last id, and the same answer continues in place.
- A BFF that requires sign-in (401, docs/security.md): the sidebar says so and offers a password
  field for a bearer token, kept in `st.session_state` only; pasting one retries what was refused.
  `BFF_BEARER_TOKEN` / `BFF_API_KEY` (ui/settings.py) give the page credentials from the start.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

# `streamlit run ui/app.py` puts ui/ (not the repository root) on sys.path.
_ROOT = str(Path(__file__).resolve().parent.parent)
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

import streamlit as st  # noqa: E402

from ui import client as bff  # noqa: E402
from ui.exceptions import BffError, BffHttpError  # noqa: E402
from ui.history import turns_from_messages  # noqa: E402
from ui.live import follow_run  # noqa: E402
from ui.settings import Settings  # noqa: E402
from ui.turn import Turn  # noqa: E402
from ui.view import TurnView  # noqa: E402

st.set_page_config(page_title="Agent chat", page_icon=":material/forum:", layout="centered")
st.set_option("client.toolbarMode", "minimal")  # no Deploy button
st.set_option("client.showErrorDetails", "none")  # never a stack trace on the page

settings = Settings.from_env()
state = st.session_state
state.setdefault("auth_token", None)  # a pasted bearer token: this browser session only
state.setdefault("auth_required", False)  # the BFF answered 401: offer the sign-in field
state.setdefault("retry_after_sign_in", False)
client = bff.BffClient(settings, token=state.auth_token)


# --- state ------------------------------------------------------------------------------------
def _reset(session_id: str | None = None) -> None:
    state.session_id = session_id
    state.history = []
    state.active = None
    state.stop = False
    state.decision = None
    state.pending_prompt = None
    state.notice = None


if "history" not in state:
    _reset(st.query_params.get("session"))
    state.adopt_run = st.query_params.get("run")
    if state.session_id:
        try:
            state.history = turns_from_messages(client.history(state.session_id) or [])
        except BffError as exc:
            state.notice = f"Could not load this conversation's history: {exc.message}"
elif state.pop("load_history", False) and state.session_id:  # signed in after a refused load
    try:
        state.history = turns_from_messages(client.history(state.session_id) or [])
    except BffError as exc:
        state.notice = f"Could not load this conversation's history: {exc.message}"


# --- callbacks (they run before the rerun they cause) -------------------------------------------
def _on_submit() -> None:
    prompt = (state.get("prompt") or "").strip()
    if prompt and state.active is None:
        state.pending_prompt = prompt


def _on_stop() -> None:
    state.stop = True


def _on_retry(index: int) -> None:
    turn = state.history.pop(index)
    state.pending_prompt = turn.prompt


def _on_decide(approval_id: str, decision: str) -> None:
    edited: dict[str, Any] | None = None
    if decision == "edit":
        raw = state.get(f"approval-{approval_id}-edited") or "{}"
        try:
            edited = json.loads(raw)
        except ValueError:
            state.notice = "The edited arguments are not valid JSON."
            return
        if not isinstance(edited, dict):
            state.notice = "The edited arguments must be a JSON object."
            return
    state.decision = {"approval_id": approval_id, "decision": decision, "edited_args": edited}


def _on_new_chat() -> None:
    _stop_active()
    _reset()
    st.query_params.clear()


def _on_pick_session(session_id: str) -> None:
    _stop_active()
    _reset(session_id)
    st.query_params.clear()
    st.query_params["session"] = session_id
    try:
        state.history = turns_from_messages(client.history(session_id) or [])
    except BffError as exc:
        state.notice = f"Could not load this conversation's history: {exc.message}"


def _stop_active() -> None:
    active: Turn | None = state.get("active")
    if active is not None and active.run_id and not active.finished:
        try:
            client.cancel(active.run_id)
        except BffError:
            pass  # leaving the conversation anyway


def _on_token() -> None:
    """A token was pasted: use it from this rerun on, and try again what the BFF refused."""
    state.auth_token = (state.get("token_input") or "").strip() or None
    state.auth_required = False
    if state.retry_after_sign_in and state.history and state.active is None:
        failed: Turn = state.history.pop()
        if failed.run_id:  # the run had started: follow it again rather than ask twice
            state.adopt_run = failed.run_id
        else:
            state.pending_prompt = failed.prompt
    elif state.session_id and not state.history and state.active is None:
        state.load_history = True
    state.retry_after_sign_in = False


def _on_run_started(turn: Turn) -> None:
    state.session_id = turn.session_id
    if turn.session_id:
        st.query_params["session"] = turn.session_id
    st.query_params["run"] = str(turn.run_id)


# --- sidebar ----------------------------------------------------------------------------------
with st.sidebar:
    st.header(":material/forum: Agent chat")
    healthy = client.health()
    st.markdown(
        ":green[:material/check_circle:] BFF online" if healthy else ":red[:material/error:] BFF unreachable"
    )
    st.caption(settings.bff_url)
    st.button("New chat", on_click=_on_new_chat, width="stretch", type="primary", icon=":material/add:")
    st.caption("Session")
    if state.session_id:
        st.code(state.session_id, language=None, wrap_lines=True)
    else:
        st.caption("A new conversation: the BFF gives it an id with the first answer.")
    try:
        sessions = client.sessions() if healthy else None
    except BffError:
        sessions = None
    if sessions:
        st.subheader("Past sessions")
        for item in sessions[:30]:
            session_id = str(item["session_id"])
            preview = str(item.get("preview") or session_id[:12])
            label = preview if len(preview) <= 40 else preview[:39] + "…"
            st.button(
                label,
                key=f"session-{session_id}",
                on_click=_on_pick_session,
                args=(session_id,),
                disabled=session_id == state.session_id,
                width="stretch",
                help=f"session {session_id}",
            )
    if client.auth_refused:
        state.auth_required = True
    if state.auth_required or state.auth_token:
        st.subheader("Sign in")
        if state.auth_required:
            st.warning("The BFF needs you to sign in.", icon=":material/lock:")
        st.text_input(
            "Bearer token",
            type="password",
            key="token_input",
            on_change=_on_token,
            placeholder="Paste an access token (JWT)",
            help="Sent as `Authorization: Bearer …`; kept only in this browser session.",
        )


# --- the answer to show live: a new question, or a reload while one was streaming ----------------
def _adopt(run_id: str) -> Turn | None:
    """The run named in the URL (a reload while it streamed): follow it again from the start."""
    try:
        status = client.run_status(run_id)
    except BffError:
        status = {}  # the BFF is down: following will fail and say so, with a Retry
    if status is None:  # unknown or expired run
        st.query_params.pop("run", None)
        return None
    running = status.get("status") in (None, "running", "awaiting_approval")
    if not running and state.history:
        st.query_params.pop("run", None)  # already over, and the stored history shows it
        return None
    prompt = str(status.get("message") or status.get("prompt") or "")
    if running and state.history and (not prompt or state.history[-1].prompt == prompt):
        # The stored history already holds the running turn's question (and maybe part of its
        # answer): the replay draws that turn, so take its question from there.
        prompt = state.history.pop().prompt
    return Turn(prompt=prompt, run_id=run_id, session_id=state.session_id)


if state.active is None and state.adopt_run:
    state.active = _adopt(state.adopt_run)
elif state.active is None and state.pending_prompt:
    state.active = Turn(prompt=state.pending_prompt, session_id=state.session_id)
    state.pending_prompt = None
state.adopt_run = None

# --- conversation -----------------------------------------------------------------------------
if not state.history and state.active is None:
    st.markdown("### What can I help you with?")
    st.caption("Answers stream from the agent through the BFF; tools show their progress as they run.")

if state.notice:
    st.warning(state.notice)
    state.notice = None

for index, turn in enumerate(state.history):
    if turn.prompt:
        with st.chat_message("user"):
            st.markdown(turn.prompt)
    with st.chat_message("assistant"):
        last = index == len(state.history) - 1
        retry = (lambda i=index: _on_retry(i)) if last else None
        TurnView(f"h{index}", on_retry=retry).render(turn, live=False)

# Rendered before the streaming loop so it is on the page (disabled) while an answer streams.
busy = state.active is not None or state.pending_prompt is not None
awaiting = state.active is not None and state.active.status == "awaiting_approval"
st.chat_input(
    "Answer the approval request above first" if awaiting else "Ask the agent…",
    key="prompt",
    on_submit=_on_submit,
    disabled=busy,
    submit_mode="disable",
)


active: Turn | None = state.active
if active is not None:
    if active.prompt:
        with st.chat_message("user"):
            st.markdown(active.prompt)
    with st.chat_message("assistant"):
        view = TurnView(
            "live", on_stop=_on_stop, on_decide=_on_decide, render_interval_s=settings.render_interval_s
        )
        if state.decision is not None and active.status == "awaiting_approval":
            decision, state.decision = state.decision, None
            try:
                client.answer_approval(
                    str(active.run_id), decision["approval_id"], decision["decision"], decision["edited_args"]
                )
                active.decide(decision["decision"], decision["edited_args"])
            except BffHttpError as exc:
                if exc.status in (409, 410):  # answered elsewhere, or expired: the run tells the rest
                    active.decide(decision["decision"], decision["edited_args"])
                state.notice = f"Could not send your decision: {exc.message}"
            except BffError as exc:
                state.notice = f"Could not send your decision: {exc.message}"
        view.stopping = bool(state.stop)
        view.render(active, live=active.status == "streaming")
        if state.stop:
            state.stop = False
            if active.run_id:
                try:
                    client.cancel(active.run_id)
                except BffError as exc:
                    state.notice = f"Could not stop the run: {exc.message}"
        if active.status == "streaming":
            first = client.chat(active.prompt, state.session_id) if active.run_id is None else None
            asyncio.run(follow_run(client, active, view, settings, first=first, on_start=_on_run_started))
            if client.auth_refused:
                state.auth_required = True
                state.retry_after_sign_in = active.status == "error"
            if active.finished:
                state.history.append(active)
                state.active = None
                st.query_params.pop("run", None)
            st.rerun()  # redraw with the answer in the history and the input enabled again
        # else: paused for approval; `render` drew the card, which waits for a decision

# A call above was refused (401) after the sidebar was drawn: draw it again with the sign-in field.
if client.auth_refused and not state.auth_required:
    state.auth_required = True
    st.rerun()
