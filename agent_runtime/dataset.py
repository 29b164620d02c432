"""A seeded synthetic data set and the statistics `analyze_dataset` reports (sans-IO, no sleeps).

The data set has three numeric columns drawn from `random.Random(seed)`: `latency_ms` (log-normal),
`tokens` (normal, clipped at 1) and `score` (uniform 0..1), so the same seed gives the same table.
"""

from __future__ import annotations

import math
import random
import statistics
from dataclasses import dataclass

COLUMNS = ("latency_ms", "tokens", "score")
STAT_COLUMNS = ["column", "count", "mean", "std", "min", "max"]


@dataclass(frozen=True)
class ColumnStats:
    column: str
    count: int
    mean: float
    std: float
    min: float
    max: float

    def row(self) -> list[str | int | float]:
        return [
            self.column,
            self.count,
            round(self.mean, 3),
            round(self.std, 3),
            round(self.min, 3),
            round(self.max, 3),
        ]


def generate(rows: int, seed: int) -> dict[str, list[float]]:
    rng = random.Random(seed)
    return {
        "latency_ms": [rng.lognormvariate(5.0, 0.5) for _ in range(rows)],
        "tokens": [max(1.0, round(rng.normalvariate(400.0, 120.0))) for _ in range(rows)],
        "score": [rng.random() for _ in range(rows)],
    }


def column_stats(name: str, values: list[float]) -> ColumnStats:
    return ColumnStats(
        column=name,
        count=len(values),
        mean=statistics.fmean(values),
        std=statistics.stdev(values) if len(values) > 1 else 0.0,
        min=min(values),
        max=max(values),
    )


def histogram(values: list[float], bins: int = 10) -> list[list[str | int]]:
    """Rows `[bin label, count]` over `bins` equal-width bins from min to max."""
    low, high = min(values), max(values)
    width = (high - low) / bins or 1.0
    counts = [0] * bins
    for value in values:
        counts[min(bins - 1, math.floor((value - low) / width))] += 1
    return [[f"{low + i * width:.0f}-{low + (i + 1) * width:.0f}", count] for i, count in enumerate(counts)]


def markdown_table(stats: list[ColumnStats]) -> str:
    lines = ["| " + " | ".join(STAT_COLUMNS) + " |", "|" + "---|" * len(STAT_COLUMNS)]
    lines += ["| " + " | ".join(str(cell) for cell in s.row()) + " |" for s in stats]
    return "\n".join(lines)
