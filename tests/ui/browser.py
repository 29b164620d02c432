"""Browser-test plumbing: Debian's Chromium driven by Playwright, the UI as a real Streamlit server.

- `launch_chromium()`: `/usr/bin/chromium` (never a downloaded browser), headless, the flags this
  machine needs (no background networking: the machine has no network), a new empty profile
  (Playwright makes one per launch).
  Missing Chromium fails the test with the command that installs it; it is never skipped.
- `serve_ui(bff_url)`: `streamlit run ui/app.py` on a free loopback port with `BFF_URL` set,
  waited on until `/_stcore/health` answers; stopped (and awaited) afterwards.
- `serve_asgi(app)`: an ASGI app (the fake BFF) under uvicorn in a thread, on a free port.
- `ChatPage`: what a person does and sees on the chat page, as Playwright calls.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from playwright.sync_api import Browser, Page, Playwright, expect, sync_playwright

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = ROOT / "docs" / "img"
# A loaded 2-core machine can take seconds per Streamlit rerun: wait up to 20 s for what must appear.
expect.set_options(timeout=20_000)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def require_chromium() -> str:
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(
            f"Chromium is missing at {CHROMIUM}: the browser tests need Debian's package. "
            "Install it with: apt-get update && apt-get install -y chromium  (make test-ui does this)",
            pytrace=False,
        )
    return CHROMIUM


@contextlib.contextmanager
def launch_chromium() -> Iterator[Browser]:
    executable = require_chromium()
    playwright: Playwright = sync_playwright().start()
    try:
        # Playwright gives every launch a new empty --user-data-dir of its own (and refuses ours).
        browser = playwright.chromium.launch(executable_path=executable, headless=True, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()
    finally:
        playwright.stop()


def wait_http(url: str, timeout_s: float = 60.0, process: subprocess.Popen[bytes] | None = None) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"the server exited with {process.returncode} before {url} answered")
        if time.monotonic() > deadline:
            raise TimeoutError(f"{url} did not answer within {timeout_s} s")
        time.sleep(0.1)


@contextlib.contextmanager
def serve_ui(bff_url: str) -> Iterator[str]:
    port = free_port()
    env = {**os.environ, "BFF_URL": bff_url, "STREAMLIT_BROWSER_GATHER_USAGE_STATS": "false"}
    argv = [
        sys.executable, "-m", "streamlit", "run", str(ROOT / "ui" / "app.py"),
        "--server.headless", "true", "--server.address", "127.0.0.1", "--server.port", str(port),
        "--server.fileWatcherType", "none", "--global.developmentMode", "false",
    ]  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            wait_http(f"{url}/_stcore/health", process=process)
            yield url
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            log.seek(0)
            output = log.read().decode(errors="replace")
            if "Traceback" in output:
                print(output[-4000:])  # shown by pytest when the test fails


@contextlib.contextmanager
def serve_asgi(app: Callable[..., Any]) -> Iterator[str]:
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, name="fake-bff", daemon=True)
    thread.start()
    try:
        wait_http(f"http://127.0.0.1:{port}/healthz", timeout_s=10)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        server.force_exit = True
        thread.join(timeout=10)


class ChatPage:
    """The chat as a person uses it."""

    def __init__(self, page: Page, url: str) -> None:
        self.page = page
        self.url = url

    def open(self) -> ChatPage:
        self.page.goto(self.url)
        expect(self.page.get_by_text("BFF online")).to_be_visible(timeout=30_000)
        return self

    def ask(self, question: str) -> None:
        box = self.page.get_by_test_id("stChatInputTextArea")
        expect(box).to_be_enabled(timeout=30_000)
        box.fill(question)
        box.press("Enter")
        expect(self.page.get_by_test_id("stChatMessage").filter(has_text=question).last).to_be_visible()

    def answer(self) -> Any:
        """The last assistant message."""
        return self.page.get_by_test_id("stChatMessage").last

    def answer_text(self) -> str:
        return str(self.answer().inner_text())

    def wait_until_idle(self, timeout_ms: int = 60_000) -> None:
        expect(self.page.get_by_test_id("stChatInputTextArea")).to_be_enabled(timeout=timeout_ms)
        expect(self.page.locator(".st-key-stop-live button")).to_have_count(0, timeout=timeout_ms)

    def screenshot(self, name: str, directory: Path) -> Path:
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / name
        self.page.screenshot(path=str(path), full_page=True)
        if os.environ.get("UPDATE_SCREENSHOTS") == "1":
            SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, SCREENSHOTS / name)
        return path
