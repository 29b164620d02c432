"""Figure 1: the delay the BFF adds per event, at 1 and at 200 concurrent streams.

Each stream asks the synthetic runtime (SDK bridge, the path real agents take) for `events`
64-byte TOKEN events at `rate` per second; every delta carries its emit time, and the client
records receive - emit for each. Baseline: the same lean client reading the same runtime through
the same local AgentCore endpoint, without the BFF. Overhead = BFF percentile - baseline
percentile, per repetition; the figure quotes the median over repetitions.

    .venv-bff/bin/python -m bench.overhead [--smoke]
"""

from __future__ import annotations

from typing import Any

from bench import harness as h
from bench.stack import Services, services

NAME = "overhead"
FULL: dict[str, Any] = {
    "reps": 5,
    "cases": [
        {"streams": 1, "events": 200, "rate": 50, "ramp_s": 0.0},
        {"streams": 200, "events": 30, "rate": 10, "ramp_s": 1.0},
    ],
    "size": 64,
}
SMOKE: dict[str, Any] = {
    "reps": 1,
    "cases": [
        {"streams": 1, "events": 5, "rate": 100, "ramp_s": 0.0},
        {"streams": 3, "events": 5, "rate": 100, "ramp_s": 0.0},
    ],
    "size": 64,
}
TARGET_P50_MS = 2.0
TARGET_P99_MS = 10.0
TARGET_STREAMS = 200


def run(smoke: bool = False, shared: Services | None = None) -> dict[str, Any]:
    cfg = SMOKE if smoke else FULL
    rows: list[dict[str, Any]] = []
    runs: list[dict[str, Any]] = []
    notes: list[str] = []
    profiles: dict[str, Any] = {}
    with services(shared, bff_env=h.BFF_BENCH_ENV) as procs:
        endpoint, bff = procs.endpoint, procs.bff
        targets = {"direct": endpoint, "bff": bff}
        for target, service in targets.items():  # warm-up: connections, imports, first-call caches
            h.run_client(h.client_spec(target, service, {"events": 3, "size": cfg["size"], "rate": 100}))
        for case in cfg["cases"]:
            params = {"events": case["events"], "size": cfg["size"], "rate": case["rate"], "bridge": "sdk"}
            per_rep: list[dict[str, Any]] = []
            for rep in range(cfg["reps"]):
                numbers: dict[str, Any] = {"rep": rep, "streams": case["streams"]}
                for target in h.alternate(rep, "direct", "bff"):
                    spec = h.client_spec(
                        target,
                        targets[target],
                        params,
                        streams=case["streams"],
                        ramp_s=case["ramp_s"],
                        warmup=True,
                    )
                    result = h.run_client(spec)
                    notes += [
                        f"{target}, {case['streams']} streams: {p}"
                        for p in h.stamp_check(result, case["events"])
                    ]
                    stats = h.summary(result.latencies)
                    numbers[target] = {**stats, "client_cpu_s": result.client_cpu_s}
                numbers["added_p50"] = numbers["bff"]["p50"] - numbers["direct"]["p50"]
                numbers["added_p99"] = numbers["bff"]["p99"] - numbers["direct"]["p99"]
                per_rep.append(numbers)
            runs += per_rep
            rows += _rows(case["streams"], per_rep)
            if not smoke and case["streams"] == TARGET_STREAMS:
                spec = h.client_spec("bff", bff, params, streams=case["streams"], ramp_s=case["ramp_s"])
                with h.profile(bff, f"{NAME}-{case['streams']}") as prof:
                    h.run_client(spec)
                profiles[f"bff at {case['streams']} streams"] = prof
    return {
        "figure": NAME,
        "title": "Overhead per event",
        "command": h.command_for(NAME, smoke),
        "config": cfg,
        "rows": rows,
        "runs": runs,
        "notes": sorted(set(notes)),
        "profiles": profiles,
    }


def _rows(streams: int, per_rep: list[dict[str, Any]]) -> list[dict[str, Any]]:
    def med(target: str, key: str) -> float:
        return h.median([r[target][key] for r in per_rep])

    out = []
    for pct, target_ms in (("p50", TARGET_P50_MS), ("p99", TARGET_P99_MS)):
        added = h.median([r[f"added_{pct}"] for r in per_rep])
        row: dict[str, Any] = {
            "metric": f"emit -> receive {pct}, {streams} stream{'s' if streams > 1 else ''}",
            "unit": "ms",
            "baseline": med("direct", pct),
            "bff": med("bff", pct),
            "ratio": h.median([h.ratio(r["bff"][pct], r["direct"][pct]) for r in per_rep]),
            "added": added,
            "spread": [min(r[f"added_{pct}"] for r in per_rep), max(r[f"added_{pct}"] for r in per_rep)],
        }
        if streams == TARGET_STREAMS:
            row["target"] = f"added {pct} <= {target_ms:g} ms"
            row.update(h.verdict(added, target_ms))
        out.append(row)
    return out


def main() -> None:
    smoke = h.parse_smoke()
    print(h.write_result(NAME, run(smoke)))


if __name__ == "__main__":
    main()
