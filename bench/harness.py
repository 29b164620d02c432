"""What every figure shares: running the load client, statistics, profiles, result files.

A figure module exposes `run(smoke: bool) -> dict` and a `main()` (`python -m bench.<figure>`).
The dict it returns (and writes to `bench/results/<figure>.json`) is what bench/report.py
renders: `rows` (metric, baseline, bff, ratio, target, verdict), `runs` (every repetition's
numbers), `config` and `notes`.

Side by side: inside one repetition the baseline and the BFF run back to back, in alternating
order from one repetition to the next, so slow drifts of a shared machine hit both; the figure
quotes the median over repetitions of each per-run percentile and of each per-run ratio.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.stack import LOCAL_ARN, ROOT, Service, python_for_clients

RESULTS = Path(os.environ.get("BENCH_RESULTS_DIR") or ROOT / "bench" / "results")

# Smoke tests run the load client in a thread of their own process (no interpreter start-up per run).
INPROCESS = os.environ.get("BENCH_CLIENT_INPROCESS") == "1"

# BFF settings every figure uses: the guard rails' per-principal limits would otherwise refuse a
# load generator that is one principal opening hundreds of runs (docs/security.md); 0 = off.
# Authentication stays on, as in production: the load client is a service client with an API key.
BENCH_API_KEY = "bench-load-client-not-a-secret"
BFF_BENCH_ENV = {
    "BFF_AUTH_MODE": "jwt",
    "BFF_API_KEYS": f"bench:{hashlib.sha256(BENCH_API_KEY.encode()).hexdigest()}",
    "BFF_RATE_LIMIT_PER_MINUTE": "0",
    "BFF_MAX_CONCURRENT_RUNS_PER_PRINCIPAL": "0",
    "BFF_MAX_CONCURRENT_RUNS": "0",
}


# --- statistics ----------------------------------------------------------------------------


def percentile(values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100); NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return float(ordered[min(rank, len(ordered)) - 1])


def median(values: Sequence[float]) -> float:
    clean = [v for v in values if not math.isnan(v)]
    return float(statistics.median(clean)) if clean else math.nan


def ratio(bff: float, baseline: float) -> float:
    return bff / baseline if baseline and not math.isnan(baseline) else math.nan


def summary(values: Sequence[float]) -> dict[str, float]:
    return {
        "n": len(values),
        "p50": percentile(values, 50),
        "p99": percentile(values, 99),
        "max": max(values) if values else math.nan,
    }


# --- the load client -----------------------------------------------------------------------


@dataclass
class ClientRun:
    spec: dict[str, Any]
    result: dict[str, Any]
    client_cpu_s: float
    samples: dict[str, list[int]] = field(default_factory=dict)  # RSS samples (KiB) per service

    @property
    def streams(self) -> list[dict[str, Any]]:
        return list(self.result["streams"])

    @property
    def latencies(self) -> list[float]:
        return list(self.result["latencies_ms"])

    @property
    def failures(self) -> list[str]:
        return [s["error"] or "no terminal event" for s in self.streams if not s["ok"]]

    def total(self, key: str) -> int:
        return sum(int(s[key]) for s in self.streams)


def client_spec(target: str, service: Service, params: dict[str, Any], **extra: Any) -> dict[str, Any]:
    headers = {"X-API-Key": BENCH_API_KEY} if target == "bff" else {}
    return {
        "target": target,
        "url": service.url,
        "arn": LOCAL_ARN,
        "params": params,
        "headers": headers,
        **extra,
    }


def run_client(spec: dict[str, Any], *, watch: Sequence[Service] = (), timeout_s: float = 600.0) -> ClientRun:
    """One load-client process; samples the RSS of `watch` every 100 ms while it runs."""
    if INPROCESS:
        return _run_client_here(spec, timeout_s)
    RESULTS.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=RESULTS, prefix="client-", suffix=".json", delete=False) as tmp:
        out_path = Path(tmp.name)
    argv = [python_for_clients(), "-m", "bench.client", json.dumps({**spec, "out": str(out_path)})]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    samples: dict[str, list[int]] = {s.name: [] for s in watch}
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            for service in watch:
                try:
                    samples[service.name].append(service.rss_kib())
                except (OSError, RuntimeError):
                    pass
            stop.wait(0.1)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    proc = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        _, err = proc.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        raise RuntimeError(f"load client timed out after {timeout_s} s: {spec['target']}") from None
    finally:
        stop.set()
        sampler.join()
    if proc.returncode != 0:
        raise RuntimeError(f"load client failed ({proc.returncode}): {err.decode()[-2000:]}")
    try:
        result = json.loads(out_path.read_text())
    finally:
        out_path.unlink(missing_ok=True)
    return ClientRun(spec, result, float(result.get("cpu_s", math.nan)), samples)


def _run_client_here(spec: dict[str, Any], timeout_s: float) -> ClientRun:
    """The smoke tests' shortcut: the same client code on its own loop in a thread of this process."""
    import uvloop

    from bench import client

    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["result"] = uvloop.run(client.run(spec))
        except BaseException as exc:
            box["error"] = exc

    thread = threading.Thread(target=target, name="bench-client")
    thread.start()
    thread.join(timeout_s)
    if thread.is_alive():
        raise RuntimeError(f"load client timed out after {timeout_s} s: {spec['target']}")
    if "error" in box:
        raise RuntimeError(f"load client failed: {box['error']!r}") from box["error"]
    return ClientRun(spec, box["result"], math.nan, {})


# --- profiles ----------------------------------------------------------------------------


def py_spy() -> str | None:
    found = Path(python_for_clients()).parent / "py-spy"
    return str(found) if found.exists() else shutil.which("py-spy")


@contextmanager
def profile(service: Service, name: str, *, rate: int = 200) -> Iterator[dict[str, Any]]:
    """Samples `service` with py-spy while the block runs; fills the dict with the top frames.

    Yields a dict that, after the block, holds `top_self` (functions where the samples were, by
    share) and `top_total` (functions on the stack, by share), or `error` when py-spy could not
    attach (it needs ptrace)."""
    report: dict[str, Any] = {}
    tool = py_spy()
    if tool is None:
        report["error"] = "py-spy not installed"
        yield report
        return
    out = RESULTS / f"profile-{name}.txt"
    out.parent.mkdir(parents=True, exist_ok=True)
    argv = [
        tool,
        "record",
        "--pid",
        str(service.pid),
        "--rate",
        str(rate),
        "--format",
        "raw",
        "--nonblocking",
    ]
    argv += ["--output", str(out)]
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        yield report
    finally:
        proc.send_signal(2)  # SIGINT: py-spy writes its output and exits
        try:
            _, err = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            _, err = proc.communicate()
        if out.exists() and out.stat().st_size:
            report.update(collapsed_top(out.read_text()))
            report["file"] = str(out.relative_to(ROOT)) if out.is_relative_to(ROOT) else str(out)
        else:
            report["error"] = f"py-spy wrote nothing: {err.decode()[-300:]}"


def collapsed_top(text: str, n: int = 12) -> dict[str, Any]:
    """Top functions of a py-spy raw (collapsed stacks) profile, by self and by total share."""
    self_counts: Counter[str] = Counter()
    total_counts: Counter[str] = Counter()
    samples = 0
    idle = 0
    for line in text.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [_short(f) for f in stack.split(";") if f and not f.startswith("process ")]
        frames = [f for f in frames if not f.startswith("thread ")]
        if not frames:
            continue
        samples += count
        leaf = frames[-1]
        if "select (selectors.py" in leaf or "epoll" in leaf.lower() or "poll (" in leaf:
            idle += count
        self_counts[leaf] += count
        for frame in set(frames):
            total_counts[frame] += count
    busy = max(1, samples - idle)
    packages: Counter[str] = Counter()
    for frame, count in self_counts.items():
        packages[_package(frame)] += count

    def top(counter: Counter[str], skip_roots: bool = False) -> list[tuple[str, float]]:
        if not samples:
            return []
        rows = [(frame, round(100 * c / samples, 1)) for frame, c in counter.most_common()]
        if skip_roots:  # frames under (nearly) every sample: the interpreter and the server's main
            rows = [(frame, share) for frame, share in rows if share < 60.0]
        return rows[:n]

    return {
        "samples": samples,
        "idle_share": round(100 * idle / samples, 1) if samples else math.nan,
        "busy_samples": busy,
        "top_self": top(self_counts),
        "top_total": top(total_counts, skip_roots=True),
        "by_package": top(packages),
    }


_IDLE_FRAMES = ("Runner.run (asyncio/runners.py)", "Condition.wait (threading.py)")


def _package(frame: str) -> str:
    """`func (pkg/mod.py)` -> `pkg`; the event loop and idle pool threads waiting -> one bucket."""
    if frame in _IDLE_FRAMES or "select (selectors.py" in frame:
        return "(waiting: event loop, idle threads)"
    where = frame.partition(" (")[2].rstrip(")")
    head = where.split("/", 1)[0] if "/" in where else where
    return head.removesuffix(".py") or "?"


def _short(frame: str) -> str:
    """`func (path/to/site-packages/pkg/mod.py:123)` -> `func (pkg/mod.py)`."""
    name, _, where = frame.partition(" (")
    where = where.rstrip(")")
    path = where.rsplit(":", 1)[0]
    for marker in ("site-packages/", "python3.11/", str(ROOT) + "/"):
        if marker in path:
            path = path.split(marker, 1)[1]
            break
    return f"{name} ({path})" if path else name


# --- results -------------------------------------------------------------------------------


def verdict(value: float, limit: float, *, higher_is_better: bool = False) -> dict[str, Any]:
    """`met` and, when missed, by how much (absolute and as a share of the target)."""
    if math.isnan(value):
        return {"met": None, "by": None}
    met = value >= limit if higher_is_better else value <= limit
    gap = (limit - value) if higher_is_better else (value - limit)
    return {"met": met, "by": None if met else gap, "by_pct": None if met else 100 * gap / limit}


def write_result(name: str, result: dict[str, Any]) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(result, indent=2, default=_json_default))
    return path


def _json_default(value: Any) -> Any:
    if isinstance(value, float) and math.isnan(value):
        return None
    raise TypeError(f"not JSON: {type(value).__name__}")


def command_for(module: str, smoke: bool) -> str:
    return f".venv-bff/bin/python -m bench.{module}" + (" --smoke" if smoke else "")


def parse_smoke(argv: Sequence[str] | None = None) -> bool:
    args = list(sys.argv[1:] if argv is None else argv)
    return "--smoke" in args


def alternate(rep: int, first: str, second: str) -> tuple[str, str]:
    """Baseline first in even repetitions, the BFF first in odd ones."""
    return (first, second) if rep % 2 == 0 else (second, first)


def stamp_check(run: ClientRun, expected_per_stream: int) -> list[str]:
    """Sanity: every stream ended, and every emitted delta arrived (stamps counted)."""
    problems = []
    if run.failures:
        problems.append(f"{len(run.failures)} streams failed, e.g. {run.failures[0]}")
    short = [s for s in run.streams if s["ok"] and s["stamps"] != expected_per_stream]
    if short:
        problems.append(f"{len(short)} streams got a different number of deltas than {expected_per_stream}")
    return problems
