"""Fixtures for the UI tests: a fake BFF at the HTTP boundary, the page under AppTest, and one
headless Chromium per test module for the browser tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser
from streamlit.testing.v1 import AppTest

from tests.ui.browser import launch_chromium
from tests.ui.fake_bff import FakeBff
from ui import client

APP = str(Path(__file__).resolve().parents[2] / "ui" / "app.py")


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> FakeBff:
    bff = FakeBff()
    monkeypatch.setattr(client, "transport_factory", bff.transport)
    return bff


@pytest.fixture
def app(fake: FakeBff) -> AppTest:
    return AppTest.from_file(APP, default_timeout=20)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with launch_chromium() as chromium:
        yield chromium
