"""Synthesize the CDK app once per test session (two configurations) and share the results."""

from __future__ import annotations

import pytest
from cdk_synth import VARIANT_CONTEXT, Synthesized, synth


@pytest.fixture(scope="session")
def default(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    """The app as `make synth` builds it: every default, no account."""
    return synth(tmp_path_factory.mktemp("cdk-default"), {})


@pytest.fixture(scope="session")
def variant(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    """HTTPS, AgentCore Memory, a plain foundation model, an API key secret, a replicated cache."""
    return synth(tmp_path_factory.mktemp("cdk-variant"), VARIANT_CONTEXT)


@pytest.fixture(scope="session", params=["default", "variant"])
def synthesized(request: pytest.FixtureRequest) -> Synthesized:
    return request.getfixturevalue(request.param)


SYNTH_FIXTURES = {"default", "variant", "synthesized"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The first test to use a synthesis pays for it (jsii start-up, two apps): seconds on an idle
    machine, more on a busy one, so those tests get a longer budget than the suite's 120 s."""
    for item in items:
        if (
            SYNTH_FIXTURES & set(getattr(item, "fixturenames", ()))
            and item.get_closest_marker("timeout") is None
        ):
            item.add_marker(pytest.mark.timeout(600))
