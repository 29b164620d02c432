"""Errors as a person sees them, in headless Chromium: an `error` event with Retry (from a scripted
fake BFF, since the offline stack cannot fail on demand), and a BFF that cannot be reached."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.ui.browser import ChatPage, free_port, serve_asgi, serve_ui
from tests.ui.fake_bff import FakeBff, fake_bff_app

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1200, "height": 800})
    try:
        yield context.new_page()
    finally:
        context.close()


def test_an_error_is_a_clear_message_and_retry_asks_again(page: Page, tmp_path: Path) -> None:
    fake = FakeBff(delay_s=0.05)
    with serve_asgi(fake_bff_app(fake)) as bff, serve_ui(bff) as ui:
        chat = ChatPage(page, ui).open()
        chat.ask("This will fail")
        expect(chat.answer().get_by_text("The model is unavailable right now.")).to_be_visible(timeout=20_000)
        expect(chat.answer().get_by_text("model_error")).to_be_visible()
        retry = chat.answer().get_by_role("button", name="Retry")
        expect(retry).to_be_visible()
        chat.screenshot("chat-error.png", tmp_path)
        retry.click()
        fake.wait_for(lambda f: f.paths().count("/v1/chat/stream") == 2)  # asked again
        chat.wait_until_idle()
        expect(chat.answer().get_by_text("The model is unavailable right now.")).to_be_visible(timeout=20_000)
        expect(page.get_by_text("This will fail", exact=True)).to_have_count(1)  # replaced, not repeated
    assert [r[3]["message"] for r in fake.requests if r[1] == "/v1/chat/stream"] == ["This will fail"] * 2


def test_an_unreachable_bff_is_said_plainly(page: Page) -> None:
    nowhere = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    with serve_ui(nowhere) as ui:
        page.goto(ui)
        expect(page.get_by_text("BFF unreachable")).to_be_visible(timeout=30_000)
        chat = ChatPage(page, ui)
        chat.ask("Hello?")
        expect(chat.answer().get_by_text(f"Cannot reach the BFF at {nowhere}.")).to_be_visible(timeout=20_000)
        expect(chat.answer().get_by_role("button", name="Retry")).to_be_visible()
