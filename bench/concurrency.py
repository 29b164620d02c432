"""Figure 4: open streams one BFF worker holds, one event per second each, and memory per stream.

`streams` runs opened over `ramp_s` seconds (so all of them are open together from then until
the first ones end), each emitting one 64-byte TOKEN per second for `events` seconds (runtime
`response` bridge: one runtime process cannot park thousands of SDK bridge threads cheaply, and
the runtime is not what is measured). Lateness = receive - emit per event. Memory per stream =
(the BFF's peak RSS while they are open - its RSS before) / streams; that includes each run's
entry in the in-memory event log.

The BFF's upstream connection pool (`BFF_MAX_POOL_CONNECTIONS`, default 1000) is set to twice
the stream count here: with the default, streams past 1000 wait for a free connection.

    .venv-bff/bin/python -m bench.concurrency [--smoke]
"""

from __future__ import annotations

from typing import Any

from bench import harness as h
from bench.stack import Services, services

NAME = "concurrency"
FULL: dict[str, Any] = {"reps": 2, "streams": 2000, "events": 30, "rate": 1.0, "ramp_s": 20.0}
SMOKE: dict[str, Any] = {"reps": 1, "streams": 5, "events": 3, "rate": 5.0, "ramp_s": 0.5}
TARGET_STREAMS = 2000
TARGET_LATE_MS = 1000.0
TARGET_KIB_PER_STREAM = 64.0


def run(smoke: bool = False, shared: Services | None = None) -> dict[str, Any]:
    cfg = SMOKE if smoke else FULL
    streams = cfg["streams"]
    params = {"events": cfg["events"], "size": 64, "rate": cfg["rate"], "bridge": "response"}
    runs: list[dict[str, Any]] = []
    notes: list[str] = []
    profiles: dict[str, Any] = {}
    bff_env = {"BFF_MAX_POOL_CONNECTIONS": str(2 * streams), **h.BFF_BENCH_ENV}
    with services(shared, bff_env=bff_env) as procs:
        bff = procs.bff
        targets = {"direct": procs.endpoint, "bff": bff}
        for target, service in targets.items():
            h.run_client(h.client_spec(target, service, {"events": 2, "size": 64, "rate": 50}, streams=20))
        for rep in range(cfg["reps"]):
            numbers: dict[str, Any] = {"rep": rep}
            for target in h.alternate(rep, "direct", "bff"):
                spec = h.client_spec(target, targets[target], params, streams=streams, ramp_s=cfg["ramp_s"])
                rss_before = bff.rss_kib()
                result = h.run_client(spec, watch=[bff], timeout_s=600)
                notes += [f"{target}: {p}" for p in h.stamp_check(result, cfg["events"])]
                peak = max(result.samples.get("bff") or [rss_before])
                numbers[target] = {
                    **h.summary(result.latencies),
                    "ok_streams": sum(1 for s in result.streams if s["ok"]),
                    "late_events": sum(1 for v in result.latencies if v > TARGET_LATE_MS),
                    "events": len(result.latencies),
                    "rss_before_kib": rss_before,
                    "rss_peak_kib": peak,
                    "client_cpu_s": result.client_cpu_s,
                }
                if target == "bff":
                    numbers["kib_per_stream"] = (peak - rss_before) / streams
            runs.append(numbers)
        if not smoke:
            spec = h.client_spec("bff", bff, params, streams=streams, ramp_s=cfg["ramp_s"])
            with h.profile(bff, NAME) as prof:
                h.run_client(spec, timeout_s=600)
            profiles[f"bff holding {streams} streams"] = prof

    rows = rows_for(runs, streams, smoke)
    if len(measured(runs)) < len(runs):
        notes.append("a repetition in which no stream completed on either path is left out of the figures")
    return {
        "figure": NAME,
        "title": "Concurrent streams on one worker",
        "command": h.command_for(NAME, smoke),
        "config": cfg,
        "rows": rows,
        "runs": runs,
        "notes": sorted(set(notes)),
        "profiles": profiles,
    }


def measured(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Repetitions in which some stream completed (a run whose runtime stopped answering is not one)."""
    return [r for r in runs if r["bff"]["ok_streams"] or r["direct"]["ok_streams"]] or runs


def rows_for(all_runs: list[dict[str, Any]], streams: int, smoke: bool) -> list[dict[str, Any]]:
    runs = measured(all_runs)

    def med(target: str, key: str) -> float:
        return h.median([r[target][key] for r in runs])

    worst = max(r["bff"]["max"] for r in runs)
    kib = h.median([r["kib_per_stream"] for r in runs])
    ok = min(r["bff"]["ok_streams"] for r in runs)
    rows = [
        {
            "metric": f"streams completed of {streams} (fewest over repetitions)",
            "unit": "streams",
            "baseline": min(r["direct"]["ok_streams"] for r in runs),
            "bff": ok,
            "ratio": None,
            **(
                {
                    "target": f"{TARGET_STREAMS:,} streams",
                    **h.verdict(ok, TARGET_STREAMS, higher_is_better=True),
                }
                if not smoke
                else {}
            ),
        },
        {
            "metric": "lateness p50 (emit -> receive)",
            "unit": "ms",
            "baseline": med("direct", "p50"),
            "bff": med("bff", "p50"),
            "ratio": h.median([h.ratio(r["bff"]["p50"], r["direct"]["p50"]) for r in runs]),
        },
        {
            "metric": "lateness p99",
            "unit": "ms",
            "baseline": med("direct", "p99"),
            "bff": med("bff", "p99"),
            "ratio": h.median([h.ratio(r["bff"]["p99"], r["direct"]["p99"]) for r in runs]),
        },
        {
            "metric": "latest event (max over repetitions)",
            "unit": "ms",
            "baseline": max(r["direct"]["max"] for r in runs),
            "bff": worst,
            "ratio": None,
            "target": f"no event later than {TARGET_LATE_MS:g} ms",
            **h.verdict(worst, TARGET_LATE_MS),
        },
        {
            "metric": "events later than 1 s (sum over repetitions)",
            "unit": "events",
            "baseline": sum(r["direct"]["late_events"] for r in runs),
            "bff": sum(r["bff"]["late_events"] for r in runs),
            "ratio": None,
        },
        {
            "metric": "BFF memory per open stream (peak RSS growth / streams)",
            "unit": "KiB",
            "baseline": None,
            "bff": kib,
            "ratio": None,
            "target": f"<= {TARGET_KIB_PER_STREAM:g} KiB",
            **h.verdict(kib, TARGET_KIB_PER_STREAM),
        },
    ]
    return rows


def main() -> None:
    print(h.write_result(NAME, run(h.parse_smoke())))


if __name__ == "__main__":
    main()
