"""Renders bench/results/*.json into docs/benchmarks.md (`make bench` calls it last).

The generated part is rewritten on every run; the hand-written analysis between the markers
`<!-- analysis:start -->` and `<!-- analysis:end -->` of the existing file is kept as it is.

    .venv-bff/bin/python -m bench.report        # re-render from the last results
"""

from __future__ import annotations

import datetime as dt
import importlib.metadata as md
import json
import math
import os
import platform
import subprocess
from pathlib import Path
from typing import Any

from bench import harness
from bench.stack import ROOT, RUNTIME_PYTHON

DOC = ROOT / "docs" / "benchmarks.md"
FIGURES = ("overhead", "ttfb", "throughput", "concurrency", "seed_claims", "coalescing")
START, END = "<!-- analysis:start -->", "<!-- analysis:end -->"
BFF_PACKAGES = (
    "fastapi",
    "starlette",
    "uvicorn",
    "uvloop",
    "httptools",
    "aioboto3",
    "aiobotocore",
    "botocore",
    "aiohttp",
    "httpx",
    "py-spy",
)
RUNTIME_PACKAGES = ("bedrock-agentcore", "starlette", "uvicorn")

METHOD = """\
Every figure starts its own processes on free loopback ports, as `make run` does: the synthetic
runtime (bench/synthetic_runtime.py, a real `BedrockAgentCoreApp` in `.venv-runtime` whose
entrypoint emits N TOKEN events of a given size at a given rate, no model), the local AgentCore
endpoint (`python -m agentcore_local`) and the BFF (`python -m bff`, one uvicorn worker, in-memory
event log). Each TOKEN's text starts with its emit time (`time.time()`), so a client measures
emit -> receive per event on every path, coalesced or not.

- **Baseline ("direct")**: the same client reading the same runtime through the same local
  endpoint (`POST /runtimes/{arn}/invocations`, the hop the BFF's own upstream client makes),
  without the BFF. Chosen over aioboto3 as the baseline reader because it is the same reader as
  on the BFF path: aioboto3 in the client costs ~1 ms of CPU per chunk and at 200 streams it
  became the bottleneck itself. aioboto3 is measured too, where the figure is about it.
- **Client**: bench/client.py, its own process (uvloop, aiohttp's C parser de-chunks; frames are
  cut at blank lines with `bytes.rfind`/`count` and stamps found with one regex), so it is never
  the event loop being measured. Its CPU time is recorded in the JSON results.
- **Side by side**: inside each repetition the baseline and the BFF run back to back, in
  alternating order; a figure quotes the median over repetitions of each run's p50 / p99 (and of
  each run's ratio). Per-repetition numbers are in `bench/results/<figure>.json`.
- **Two cores for everything**: runtime, endpoint, BFF and client share the machine's 2 cores
  (and, while this ran, other engineers' test suites: see the load averages above). Wall-clock
  rates are what this machine relays end to end; "per BFF CPU-second" is read from
  `/proc/<pid>/stat` of the BFF process and says what one worker would do with a core to itself.
- **Profiles**: py-spy samples the BFF process during one extra, unmeasured run of a figure
  (`py-spy record --format raw`, 200 Hz); the tables list where the busy samples were.
- The BFF runs as in production, authentication on: the load client is a service client with
  an API key (`BFF_AUTH_MODE=jwt`, `BFF_API_KEYS`, header `X-API-Key`). Its per-principal guard
  rails are switched off, because the load client is one principal opening hundreds of runs:
  `BFF_RATE_LIMIT_PER_MINUTE=0`, `BFF_MAX_CONCURRENT_RUNS_PER_PRINCIPAL=0`, `BFF_MAX_CONCURRENT_RUNS=0`. The synthetic runtime raises Starlette's thread pool from 40 to
  4096 threads (the SDK bridge parks one per open stream).
"""


def _fmt(value: Any, unit: str = "") -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if abs(value) >= 1000:
            return f"{value:,.0f}"
        if abs(value) >= 100:
            return f"{value:.0f}"
        if abs(value) >= 10:
            return f"{value:.1f}"
        return f"{value:.2f}"
    return str(value)


def _verdict(row: dict[str, Any]) -> str:
    if "target" not in row:
        return ""
    if row.get("met") is None:
        return "not measured"
    if row["met"]:
        return "**met**"
    return f"**missed** by {_fmt(row.get('by'))} {row.get('unit', '')} ({row.get('by_pct', 0):.0f}%)"


def machine() -> list[str]:
    cpu = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    mem_kib = 0
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            mem_kib = int(line.split()[1])
    load = os.getloadavg()
    meta_path = harness.RESULTS / "meta.json"
    meta = json.loads(meta_path.read_text()) if meta_path.exists() else {}
    timing = []
    if meta:
        start, end = meta.get("load_start") or [0, 0, 0], meta.get("load_end") or [0, 0, 0]
        total = sum(meta.get("seconds", {}).values())
        timing = [
            f"- Load average (1, 5, 15 min) when `make bench` started: {start[0]:.2f}, {start[1]:.2f}, {start[2]:.2f};"
            f" when it ended: {end[0]:.2f}, {end[1]:.2f}, {end[2]:.2f}",
            f"- Time per figure (s): {json.dumps(meta.get('seconds', {}))}; total {total:.0f} s",
        ]
    return [
        f"- CPU: {os.cpu_count()} cores (`nproc`), {cpu}",
        f"- Memory: {mem_kib / 1024 / 1024:.1f} GiB",
        f"- Kernel: {platform.system()} {platform.release()}; Python {platform.python_version()}",
        f"- Load average when the report was written (1, 5, 15 min): {load[0]:.2f}, {load[1]:.2f}, {load[2]:.2f}",
        *timing,
    ]


def versions() -> list[str]:
    def have(name: str) -> str:
        try:
            return f"{name} {md.version(name)}"
        except md.PackageNotFoundError:
            return f"{name} (not installed)"

    bff = ", ".join(have(p) for p in BFF_PACKAGES)
    code = (
        "import importlib.metadata as m; "
        f"print(', '.join(p + ' ' + m.version(p) for p in {list(RUNTIME_PACKAGES)!r}))"
    )
    try:
        runtime = subprocess.run(
            [str(RUNTIME_PYTHON), "-c", code], capture_output=True, text=True, check=True, timeout=60
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError) as exc:
        runtime = f"unavailable ({type(exc).__name__})"
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, timeout=30
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        commit = "unknown"
    return [
        f"- BFF environment (`.venv-bff`): {bff}",
        f"- Runtime environment (`.venv-runtime`): {runtime}",
        f"- Commit: {commit}",
    ]


def figure_section(number: int, result: dict[str, Any]) -> list[str]:
    out = [f"## {number}. {result['title']}", "", f"`{result['command']}`", ""]
    out += [
        "| metric | unit | baseline | BFF | ratio BFF/baseline | target | verdict |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in result["rows"]:
        metric = row["metric"]
        if row.get("added") is not None:
            metric += f" (BFF adds {_fmt(row['added'])} {row['unit']})"
        out.append(
            f"| {metric} | {row.get('unit', '')} | {_fmt(row.get('baseline'))} | {_fmt(row.get('bff'))} | "
            f"{_fmt(row.get('ratio'))} | {row.get('target', '')} | {_verdict(row)} |"
        )
    out.append("")
    reps = result["config"].get("reps")
    out.append(f"Repetitions: {reps}. Configuration: `{json.dumps(result['config'], separators=(',', ':'))}`")
    out.append("")
    if result.get("notes"):
        out.append("Problems seen during the runs:")
        out += [f"- {note}" for note in result["notes"]]
        out.append("")
    for label, prof in (result.get("profiles") or {}).items():
        raw = ROOT / prof.get("file", "-")
        if raw.is_file():  # re-read: summaries improve without re-running the figure
            prof = {**prof, **harness.collapsed_top(raw.read_text())}
        if prof.get("error"):
            out += [f"Profile ({label}): {prof['error']}", ""]
            continue
        out.append(
            f"Profile ({label}; py-spy, {prof['samples']:,} samples, `{prof.get('file', '')}`): "
            "where the samples were (self), and what was on the stack (total)"
        )
        out += ["", "| self % | function | | total % | function |", "|---|---|---|---|---|"]
        for (f_self, p_self), (f_tot, p_tot) in zip(prof["top_self"], prof["top_total"], strict=False):
            out.append(f"| {p_self} | `{f_self}` | | {p_tot} | `{f_tot}` |")
        if prof.get("by_package"):
            shares = ", ".join(f"{name} {share}%" for name, share in prof["by_package"])
            out += ["", f"Samples by package (self): {shares}."]
        out.append("")
    return out


def targets_table(results: list[dict[str, Any]]) -> list[str]:
    out = ["| figure | target | measured (BFF) | verdict |", "|---|---|---|---|"]
    for result in results:
        for row in result["rows"]:
            if "target" in row:
                measured = row.get("added") if row.get("added") is not None else row.get("bff")
                out.append(
                    f"| {result['title']} | {row['target']} | {_fmt(measured)} {row['unit']} | {_verdict(row)} |"
                )
    return out


def render() -> str:
    results = []
    for name in FIGURES:
        path = harness.RESULTS / f"{name}.json"
        if path.exists():
            results.append(json.loads(path.read_text()))
    analysis = f"{START}\n(No analysis written yet.)\n{END}"
    if DOC.exists():
        text = DOC.read_text()
        if START in text and END in text:
            analysis = text[text.index(START) : text.index(END) + len(END)]
    stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        "# Benchmarks",
        "",
        f"Written by `make bench` (bench/report.py) on {stamp}. Everything above **Analysis** is",
        "regenerated on every run; the analysis is written by hand and kept between its markers.",
        "",
        "## Machine and versions",
        "",
        *machine(),
        *versions(),
        "",
        "## Commands",
        "",
        "`make bench` runs `.venv-bff/bin/python -m bench`, which runs every figure in turn and then",
        "writes this file. One figure alone:",
        "",
        *[f"- `{r['command']}`" for r in results],
        "",
        "`--smoke` runs a figure at tiny sizes (what `make test-bench` checks). Raw results:",
        "`bench/results/<figure>.json` (not committed).",
        "",
        "## Method",
        "",
        METHOD,
        "## Targets at a glance",
        "",
        *targets_table(results),
        "",
    ]
    for number, result in enumerate(results, start=1):
        lines += figure_section(number, result)
    lines += ["## Analysis", "", analysis, ""]
    return "\n".join(lines)


def write() -> Path:
    DOC.write_text(render())
    return DOC


def main() -> None:
    print(write())


if __name__ == "__main__":
    main()
