"""End to end in headless Chromium against the real stack: runtime (offline model), local AgentCore
endpoint, BFF and this UI, all started by `scripts.devstack.start_stack(with_ui=True)` on free ports.

What a person sees: the answer grows while it streams, a tool call is a status block with its
result, Stop during the long tool stops the run (the BFF says `cancelled`), a reload picks the
running answer up again without duplicated text, and an approval card continues the same answer.
Screenshots of each state go to the test's tmp dir (and to docs/img with UPDATE_SCREENSHOTS=1).
"""

from __future__ import annotations

import json
import re
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest
from playwright.sync_api import Browser, Page, expect

from scripts.devstack import Ports, Stack, start_stack
from tests.ui.browser import ChatPage

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

# A slower offline model and a longer data-set tool than the defaults, so that growth and Stop
# are observable (the defaults are tuned for a quick demo, not for a test that acts mid-way).
STACK_ENV = {
    "AGENT_OFFLINE_TOKEN_DELAY_S": "0.04",
    "AGENT_DATASET_STEPS": "100",
    "AGENT_DATASET_STEP_S": "0.25",
}
SAMPLE = "Analyse a sample data set and report its statistics."


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    with start_stack(ports=Ports.free(), env=STACK_ENV, with_ui=True) as running:
        yield running


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1200, "height": 1000})
    try:
        yield context.new_page()
    finally:
        context.close()


@pytest.fixture
def chat(page: Page, stack: Stack) -> ChatPage:
    return ChatPage(page, stack.url("ui")).open()


@pytest.fixture
def shots(tmp_path: Path) -> Path:
    return tmp_path / "screenshots"


def run_status(stack: Stack, run_id: str) -> dict[str, object]:
    with urllib.request.urlopen(f"{stack.url('bff')}/v1/runs/{run_id}", timeout=5) as response:
        body: dict[str, object] = json.load(response)
        return body


def run_in_url(page: Page) -> str:
    expect(page).to_have_url(re.compile(r"[?&]run=run_"), timeout=20_000)
    return parse_qs(urlparse(page.url).query)["run"][0]


def test_the_answer_grows_while_it_streams_then_shows_its_metrics(chat: ChatPage, shots: Path) -> None:
    chat.ask("Hello, what can you do?")
    answer = chat.page.get_by_text(re.compile(r"^I am the offline rules model"))
    expect(answer).to_be_visible(timeout=20_000)
    first = answer.inner_text()
    assert first.endswith("▌"), first  # still streaming: the cursor is there
    chat.screenshot("chat-streaming.png", shots)
    expect(answer).not_to_have_text(first, timeout=10_000)  # a later read differs: it grew
    second = answer.inner_text()
    assert len(second.rstrip("▌")) > len(first.rstrip("▌"))
    chat.wait_until_idle()
    final = answer.inner_text()
    assert final.startswith(first.rstrip("▌")) and "▌" not in final and "saving notes" in final
    expect(chat.answer().get_by_text(re.compile(r"s to first token .* s total .* tokens"))).to_be_visible()
    expect(chat.page.get_by_text("BFF online")).to_be_visible()


def test_a_tool_call_is_a_status_block_with_its_result(chat: ChatPage, shots: Path) -> None:
    chat.ask("What is 5+5?")
    chat.wait_until_idle()
    expect(chat.answer().get_by_text("5+5 = 10.")).to_be_visible()
    label = chat.answer().get_by_text(re.compile(r"calculator done"))
    expect(label).to_be_visible()
    label.click()  # finished tool blocks are collapsed: open it
    block = chat.answer().get_by_test_id("stExpander").filter(has_text="calculator done")
    expect(block.get_by_text('"expression"')).to_be_visible()
    expect(block.get_by_text("Result")).to_be_visible()
    expect(block.get_by_test_id("stCode").last).to_have_text("10")
    chat.screenshot("chat-tool.png", shots)


def test_stop_during_the_long_tool_cancels_the_run(chat: ChatPage, stack: Stack, shots: Path) -> None:
    chat.ask(SAMPLE)
    run_id = run_in_url(chat.page)
    bar = chat.answer().get_by_role("progressbar")
    expect(bar).to_be_visible(timeout=20_000)
    expect(chat.answer().get_by_text("Data set statistics")).to_be_visible(timeout=20_000)
    expect(chat.answer().get_by_text("latency_ms histogram", exact=True)).to_be_visible(timeout=20_000)
    expect(chat.answer().get_by_test_id("stVegaLiteChart")).to_be_visible(timeout=20_000)
    chat.screenshot("chat-long-tool.png", shots)
    chat.page.locator(".st-key-stop-live button").click()
    expect(chat.answer().get_by_text("Stopped before the answer was complete.")).to_be_visible(timeout=20_000)
    expect(chat.answer().get_by_text(re.compile(r"analyze_dataset stopped"))).to_be_visible()
    assert run_status(stack, run_id)["status"] == "cancelled"
    expect(chat.answer().get_by_text(re.compile(r"computed statistics over"))).to_have_count(0)
    expect(chat.page).not_to_have_url(re.compile(r"run="))  # the answer is over: nothing to resume
    chat.screenshot("chat-stopped.png", shots)


def test_a_reload_resumes_the_running_answer_without_duplicates(
    chat: ChatPage, stack: Stack, shots: Path
) -> None:
    chat.ask(SAMPLE)
    run_id = run_in_url(chat.page)
    expect(chat.answer().get_by_role("progressbar")).to_be_visible(timeout=20_000)
    url = chat.page.url
    chat.page.reload()
    assert chat.page.url == url
    expect(chat.page.get_by_role("progressbar").last).to_be_visible(timeout=20_000)  # following again
    chat.wait_until_idle()
    summary = chat.page.get_by_text(re.compile(r"^The analyze_dataset tool computed statistics over"))
    expect(summary).to_have_count(1)
    expect(chat.page.get_by_text(re.compile(r"analyze_dataset done"))).to_have_count(1)
    expect(chat.page.get_by_text(SAMPLE, exact=True)).to_have_count(1)
    assert run_status(stack, run_id)["status"] == "done"
    chat.screenshot("chat-artifacts.png", shots)


def test_an_approval_card_continues_the_same_answer(chat: ChatPage, shots: Path) -> None:
    chat.ask("Save a note titled groceries with the text milk and eggs.")
    card = chat.answer().get_by_text("Approval needed")
    expect(card).to_be_visible(timeout=20_000)
    expect(chat.answer().get_by_text('"milk and eggs"').last).to_be_visible()  # in the card
    expect(chat.page.get_by_test_id("stChatInputTextArea")).to_be_disabled()
    chat.screenshot("chat-approval.png", shots)
    chat.page.locator("[class*='st-key-approval-'][class*='-approve'] button").click()
    chat.wait_until_idle()
    expect(chat.answer().get_by_text("Approved")).to_be_visible()
    saved = chat.answer().get_by_role("paragraph").filter(has_text="Saved the note 'groceries'")
    expect(saved).to_be_visible()
    expect(chat.page.get_by_text("Approval needed")).to_have_count(1)  # the same answer, in place
