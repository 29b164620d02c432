"""Figure 5: the seed plan's claims, measured.

(a) Time to first event of a 3-second run (30 TOKENs at 10/s, SDK bridge) read with aioboto3
    two ways: the body read whole (`await response["response"].read()`) versus chunk by chunk
    (`iter_chunks()`), straight from the local AgentCore endpoint.
(b) The common alternative relay (bench/alt_relay.py: sync boto3 in `asyncio.to_thread`,
    relaying `read1()`) against this BFF at 200 concurrent streams: per-event emit -> receive
    latency and the wall time for all of them, same client, same runtime, same endpoint.

    .venv-bff/bin/python -m bench.seed_claims [--smoke]
"""

from __future__ import annotations

from typing import Any

from bench import harness as h
from bench.stack import Services, services

NAME = "seed_claims"
FULL: dict[str, Any] = {
    "reps": 3,
    "whole": {"events": 30, "rate": 10.0},
    "alt": {"streams": 200, "events": 30, "rate": 10.0, "ramp_s": 1.0},
}
SMOKE: dict[str, Any] = {
    "reps": 1,
    "whole": {"events": 3, "rate": 20.0},
    "alt": {"streams": 3, "events": 3, "rate": 20.0, "ramp_s": 0.0},
}


def run(smoke: bool = False, shared: Services | None = None) -> dict[str, Any]:
    cfg = SMOKE if smoke else FULL
    runs: list[dict[str, Any]] = []
    notes: list[str] = []
    with services(shared, bff_env=h.BFF_BENCH_ENV, alt_relay=True) as procs:
        endpoint, bff, alt = procs.endpoint, procs.bff, procs.alt_relay
        assert alt is not None
        whole = {"events": cfg["whole"]["events"], "size": 64, "rate": cfg["whole"]["rate"], "bridge": "sdk"}
        a = cfg["alt"]
        relay = {"events": a["events"], "size": 64, "rate": a["rate"], "bridge": "sdk"}
        for target, service in (("bff", bff), ("alt", alt)):
            h.run_client(h.client_spec(target, service, {"events": 2, "size": 64, "rate": 50}, streams=3))
        for rep in range(cfg["reps"]):
            numbers: dict[str, Any] = {"rep": rep}
            for read in h.alternate(rep, "whole", "chunks"):
                result = h.run_client(h.client_spec("boto", endpoint, whole, read=read, warmup=True))
                notes += [f"boto {read}: {p}" for p in h.stamp_check(result, whole["events"])]
                numbers[read] = {"first_event_ms": result.streams[0]["first_token_ms"]}
            for target in h.alternate(rep, "alt", "bff"):
                service = alt if target == "alt" else bff
                spec = h.client_spec(target, service, relay, streams=a["streams"], ramp_s=a["ramp_s"])
                result = h.run_client(spec)
                notes += [f"{target}: {p}" for p in h.stamp_check(result, a["events"])]
                numbers[target] = {**h.summary(result.latencies), "wall_s": result.result["wall_s"]}
            runs.append(numbers)

    def med(target: str, key: str) -> float:
        return h.median([r[target][key] for r in runs])

    streams = a["streams"]
    rows = [
        {
            "metric": f"time to first event, a {whole['events'] / whole['rate']:g} s run: read whole (baseline) vs `iter_chunks()`",
            "unit": "ms",
            "baseline": med("whole", "first_event_ms"),
            "bff": med("chunks", "first_event_ms"),
            "ratio": h.median(
                [h.ratio(r["chunks"]["first_event_ms"], r["whole"]["first_event_ms"]) for r in runs]
            ),
        },
    ]
    for pct in ("p50", "p99", "max"):
        rows.append(
            {
                "metric": f"emit -> receive {pct}, {streams} streams: to_thread + read1() relay (baseline) vs BFF",
                "unit": "ms",
                "baseline": med("alt", pct),
                "bff": med("bff", pct),
                "ratio": h.median([h.ratio(r["bff"][pct], r["alt"][pct]) for r in runs]),
            }
        )
    rows.append(
        {
            "metric": f"wall time for all {streams} streams: to_thread + read1() relay (baseline) vs BFF",
            "unit": "s",
            "baseline": med("alt", "wall_s"),
            "bff": med("bff", "wall_s"),
            "ratio": h.median([h.ratio(r["bff"]["wall_s"], r["alt"]["wall_s"]) for r in runs]),
        }
    )
    return {
        "figure": NAME,
        "title": "The seed's claims",
        "command": h.command_for(NAME, smoke),
        "config": cfg,
        "rows": rows,
        "runs": runs,
        "notes": sorted(set(notes)),
        "profiles": {},
    }


def main() -> None:
    print(h.write_result(NAME, run(h.parse_smoke())))


if __name__ == "__main__":
    main()
