"""The clock tool, and the long tool's plan and statistics (without the graph)."""

from __future__ import annotations

import re
from datetime import datetime

import pytest

from agent_runtime import dataset
from agent_runtime.exceptions import ToolInputError
from agent_runtime.tools import analyze, current_time


def test_current_time_is_utc_by_default() -> None:
    answer = current_time()
    stamp, zone = re.fullmatch(r"(\S+) \((.+)\)", answer).groups()  # type: ignore[union-attr]
    assert zone == "UTC" and datetime.fromisoformat(stamp).utcoffset().total_seconds() == 0  # type: ignore[union-attr]


def test_current_time_in_a_named_zone() -> None:
    stamp = current_time("Asia/Kolkata").split(" ")[0]
    assert stamp.endswith("+05:30")


def test_an_unknown_zone_is_a_tool_error() -> None:
    with pytest.raises(ToolInputError, match="unknown time zone 'Mars/Olympus'"):
        current_time("Mars/Olympus")


async def test_analyze_reports_the_statistics_of_the_seeded_data_set() -> None:
    content, artifact = await analyze(7, 200, steps=5, step_s=0)
    data = dataset.generate(200, 7)
    expected = [dataset.column_stats(name, data[name]).row() for name in dataset.COLUMNS]
    assert artifact["rows"] == expected
    assert artifact["status"] == "final" and artifact["kind"] == "table"
    assert content.splitlines()[1] == "| column | count | mean | std | min | max |"
    again, _ = await analyze(7, 200, steps=5, step_s=0)
    assert again == content  # seeded: the same seed gives the same table


async def test_analyze_refuses_absurd_sizes() -> None:
    with pytest.raises(ToolInputError, match="rows must be between"):
        await analyze(1, 5, steps=5, step_s=0)


def test_histogram_counts_every_value_once() -> None:
    values = [float(v) for v in range(100)]
    rows = dataset.histogram(values, bins=10)
    assert [count for _, count in rows] == [10] * 10
