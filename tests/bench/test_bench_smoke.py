"""Smoke runs of every benchmark figure at tiny sizes: they run, and their output is well formed.

Speed is never asserted here (performance claims live in bench/ and docs/benchmarks.md); what is
checked is that each figure starts its real processes (synthetic runtime, local AgentCore
endpoint, BFF), that every stream it opened ended with its terminal event and delivered every
emitted delta, and that the numbers it reports are numbers, in a shape bench/report.py renders.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bench import coalescing, concurrency, harness, overhead, report, seed_claims, throughput, ttfb
from bench.stack import Services, services

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]  # five real processes start in the first test

FIGURES = [overhead, ttfb, throughput, concurrency, seed_claims, coalescing]


@pytest.fixture(autouse=True)
def results_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Smoke results go to a temporary directory, never over the last full `make bench` results;
    the load client runs in a thread here rather than as a process per run (same code)."""
    monkeypatch.setattr(harness, "RESULTS", tmp_path)
    monkeypatch.setattr(harness, "INPROCESS", True)
    return tmp_path


@pytest.fixture(scope="module")
def shared() -> Iterator[Services]:
    """One set of real processes for every figure: runtime, endpoint, BFF, coalescing BFF, alt relay."""
    with services(
        None,
        bff_env=harness.BFF_BENCH_ENV,
        coalescing_env={"BFF_COALESCE_TOKENS": "true", **harness.BFF_BENCH_ENV},
        alt_relay=True,
    ) as procs:
        yield procs


def is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def check_result(result: dict[str, Any], name: str) -> None:
    assert result["figure"] == name
    assert result["command"] == f".venv-bff/bin/python -m bench.{name} --smoke"
    assert result["notes"] == [], result["notes"]  # no failed stream, no lost delta
    assert result["runs"], "at least one repetition"
    assert result["rows"]
    for row in result["rows"]:
        assert row["metric"] and row["unit"]
        measured = [row.get("baseline"), row.get("bff")]
        assert any(is_number(v) for v in measured), row
        for value in [*measured, row.get("ratio")]:
            assert value is None or is_number(value), row
        if is_number(row.get("baseline")) and is_number(row.get("bff")) and row["baseline"]:
            assert row["ratio"] == pytest.approx(row["ratio"])  # a number, set from the per-run ratios
        if "target" in row:
            assert row["met"] in (True, False)
            assert (row["by"] is None) == row["met"]


@pytest.mark.parametrize("figure", FIGURES, ids=lambda m: m.NAME)
def test_figure_runs_at_tiny_size_and_reports_sane_numbers(
    figure: Any, results_dir: Path, shared: Services
) -> None:
    result = figure.run(smoke=True, shared=shared)
    check_result(result, figure.NAME)
    harness.write_result(figure.NAME, result)
    assert (results_dir / f"{figure.NAME}.json").exists()
    if figure is overhead:  # one latency per delta, all positive and ordered
        for rep in result["runs"]:
            events = overhead.SMOKE["cases"][0]["events"]
            for target in ("direct", "bff"):
                stats = rep[target]
                assert stats["n"] == rep["streams"] * events
                assert 0 < stats["p50"] <= stats["p99"] <= stats["max"]
    if figure is coalescing:  # on: fewer events on the wire for the same deltas
        for rep in result["runs"]:
            assert rep["off"]["frames_per_delta"] >= 1.0  # one event per delta, plus start, agent_start, done
            assert rep["on"]["frames_per_delta"] < rep["off"]["frames_per_delta"]


def test_the_report_renders_every_figure_and_keeps_the_analysis(
    results_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for figure in FIGURES:
        harness.write_result(
            figure.NAME,
            {
                "figure": figure.NAME,
                "title": f"title {figure.NAME}",
                "command": harness.command_for(figure.NAME, False),
                "config": {"reps": 1},
                "rows": [
                    {
                        "metric": "m",
                        "unit": "ms",
                        "baseline": 1.0,
                        "bff": 3.0,
                        "ratio": 3.0,
                        "added": 2.0,
                        "target": "added <= 1 ms",
                        **harness.verdict(2.0, 1.0),
                    },
                ],
                "runs": [],
                "notes": [],
                "profiles": {
                    "p": {"samples": 10, "top_self": [("f (a.py)", 50.0)], "top_total": [("g (b.py)", 90.0)]}
                },
            },
        )
    doc = tmp_path / "benchmarks.md"
    doc.write_text(f"old\n{report.START}\nhand-written words\n{report.END}\nold tail\n")
    monkeypatch.setattr(report, "DOC", doc)
    text = report.render()
    for figure in FIGURES:
        assert f"title {figure.NAME}" in text
        assert f"`.venv-bff/bin/python -m bench.{figure.NAME}`" in text
    assert "**missed** by 1.00 ms (100%)" in text
    assert "hand-written words" in text and "old tail" not in text
    assert "nproc" in text and "aioboto3" in text


def test_percentiles_and_profiles_are_computed_correctly() -> None:
    assert harness.percentile([5, 1, 3, 2, 4], 50) == 3
    assert harness.percentile(list(range(1, 101)), 99) == 99
    assert math.isnan(harness.percentile([], 50))
    top = harness.collapsed_top(
        "process 1;main (x.py:1);work (site-packages/bff/runs.py:10) 3\n"
        "process 1;main (x.py:1);Runner.run (asyncio/runners.py:118) 1\n"
    )
    assert top["samples"] == 4
    assert top["top_self"][0] == ("work (bff/runs.py)", 75.0)
