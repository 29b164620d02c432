"""Fixtures of the end-to-end tests: the real stack (runtime, local AgentCore, BFF) on free ports."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from scripts.devstack import Ports, Stack, start_stack
from tests.e2e.client import FAST_TOOL_ENV


@pytest.fixture(scope="session")
def stack() -> Iterator[Stack]:
    """One shared stack for the tests that do not break it (killing a process needs its own)."""
    with start_stack(Ports.free(), env=FAST_TOOL_ENV) as running:
        yield running
