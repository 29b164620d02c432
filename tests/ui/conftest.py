"""Fixtures for the UI tests: a fake BFF at the HTTP boundary, and the page under AppTest."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

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
