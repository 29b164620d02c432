"""Fixtures of the runtime tests."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from runtime_helpers import RuntimeProcess


def pytest_configure(config: pytest.Config) -> None:
    # bedrock-agentcore 1.25 (imported by langchain-aws too) declares a class-based pydantic `Config`,
    # which pydantic 2 reports as deprecated when the module is imported. Nothing we can fix here.
    config.addinivalue_line(
        "filterwarnings",
        "ignore:Support for class-based `config` is deprecated:pydantic.warnings.PydanticDeprecatedSince20",
    )


@pytest.fixture
def start_runtime() -> Iterator[Any]:
    started: list[RuntimeProcess] = []

    def start(**env: str) -> RuntimeProcess:
        runtime = RuntimeProcess(env)
        started.append(runtime)
        runtime.wait_healthy()
        return runtime

    yield start
    for runtime in started:
        runtime.stop()


@pytest.fixture(scope="module")
def module_runtime(request: pytest.FixtureRequest) -> Iterator[RuntimeProcess]:
    """One runtime process for a whole test module (start-up costs seconds); env from `RUNTIME_ENV`."""
    runtime = RuntimeProcess(getattr(request.module, "RUNTIME_ENV", {}))
    try:
        runtime.wait_healthy()
        yield runtime
    finally:
        runtime.stop()
