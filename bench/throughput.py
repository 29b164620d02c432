"""Figure 3: relay throughput of one BFF worker process (64-byte and 4 KiB payloads).

`streams` concurrent runs, each `events` TOKEN events emitted as fast as the synthetic runtime
can (its cheap `response` bridge, so that the runtime is not what is measured). Events per
second = deltas received by the client / the client's wall time. Baseline: the same client
reading the same runtime through the same endpoint without the BFF; for scale also aiobotocore
(`iter_chunks()`) reading it, which is what the BFF's upstream reader does.

On a 2-core machine the runtime, the endpoint, the BFF and the client share two cores, so the
wall-clock rate says what this machine relays; the BFF's own CPU time (from /proc) says what one
worker would relay with a core to itself: events per BFF CPU-second.

    .venv-bff/bin/python -m bench.throughput [--smoke]
"""

from __future__ import annotations

from typing import Any

from bench import harness as h
from bench.stack import Services, services

NAME = "throughput"
FULL: dict[str, Any] = {
    "reps": 3,
    "cases": [
        {"label": "64 B", "size": 64, "streams": 4, "events": 25_000, "boto": True},
        {"label": "4 KiB", "size": 4096, "streams": 4, "events": 2_500, "boto": False},
    ],
}
SMOKE: dict[str, Any] = {
    "reps": 1,
    "cases": [
        {"label": "64 B", "size": 64, "streams": 2, "events": 200, "boto": True},
        {"label": "4 KiB", "size": 4096, "streams": 2, "events": 20, "boto": False},
    ],
}
TARGET_EVENTS_PER_S = 25_000.0


def run(smoke: bool = False, shared: Services | None = None) -> dict[str, Any]:
    cfg = SMOKE if smoke else FULL
    rows: list[dict[str, Any]] = []
    runs: list[dict[str, Any]] = []
    notes: list[str] = []
    profiles: dict[str, Any] = {}
    with services(shared, bff_env=h.BFF_BENCH_ENV) as procs:
        runtime, endpoint, bff = procs.runtime, procs.endpoint, procs.bff
        targets = {"direct": endpoint, "boto": endpoint, "bff": bff}
        for target in ("direct", "bff"):
            h.run_client(
                h.client_spec(target, targets[target], {"events": 100, "size": 64, "bridge": "response"})
            )
        for case in cfg["cases"]:
            params = {"events": case["events"], "size": case["size"], "rate": 0, "bridge": "response"}
            per_rep: list[dict[str, Any]] = []
            for rep in range(cfg["reps"]):
                numbers: dict[str, Any] = {"rep": rep, "case": case["label"]}
                order = list(h.alternate(rep, "direct", "bff")) + (["boto"] if case["boto"] else [])
                for target in order:
                    spec = h.client_spec(
                        target, targets[target], params, streams=case["streams"], latency=False, warmup=True
                    )
                    cpu_before = {
                        name: s.cpu_s()
                        for name, s in (("bff", bff), ("endpoint", endpoint), ("runtime", runtime))
                    }
                    result = h.run_client(spec)
                    cpu = {
                        name: s.cpu_s() - cpu_before[name]
                        for name, s in (("bff", bff), ("endpoint", endpoint), ("runtime", runtime))
                    }
                    notes += [
                        f"{target}, {case['label']}: {p}" for p in h.stamp_check(result, case["events"])
                    ]
                    wall = result.result["wall_s"]
                    deltas = result.total("stamps")
                    numbers[target] = {
                        "events_per_s": deltas / wall,
                        "payload_bytes_per_s": deltas * case["size"] / wall,
                        "wire_bytes_per_s": result.total("bytes") / wall,
                        "wall_s": wall,
                        "cpu_s": {**cpu, "client": result.client_cpu_s},
                        "events_per_bff_cpu_s": deltas / cpu["bff"]
                        if target == "bff" and cpu["bff"]
                        else None,
                    }
                per_rep.append(numbers)
            runs += per_rep
            rows += _rows(case, per_rep)
            if not smoke and case["size"] == 64:
                spec = h.client_spec("bff", bff, params, streams=case["streams"], latency=False)
                with h.profile(bff, f"{NAME}-64B") as prof:
                    h.run_client(spec)
                profiles["bff relaying 64-byte events flat out"] = prof
    return {
        "figure": NAME,
        "title": "Relay throughput of one BFF worker",
        "command": h.command_for(NAME, smoke),
        "config": cfg,
        "rows": rows,
        "runs": runs,
        "notes": sorted(set(notes)),
        "profiles": profiles,
    }


def _rows(case: dict[str, Any], per_rep: list[dict[str, Any]]) -> list[dict[str, Any]]:
    def med(target: str, key: str) -> float:
        return h.median([r[target][key] for r in per_rep])

    def ratio(key: str) -> float:
        return h.median([h.ratio(r["bff"][key], r["direct"][key]) for r in per_rep])

    label = case["label"]
    out: list[dict[str, Any]] = []
    if case["size"] == 64:
        events = med("bff", "events_per_s")
        out.append(
            {
                "metric": f"events/s, {label} payloads, wall clock (whole chain on 2 cores)",
                "unit": "events/s",
                "baseline": med("direct", "events_per_s"),
                "bff": events,
                "ratio": ratio("events_per_s"),
                "target": f">= {TARGET_EVENTS_PER_S:,.0f} events/s per worker",
                **h.verdict(events, TARGET_EVENTS_PER_S, higher_is_better=True),
            }
        )
        out.append(
            {
                "metric": f"events per BFF CPU-second, {label} (one worker with a core to itself)",
                "unit": "events/s",
                "baseline": None,
                "bff": med("bff", "events_per_bff_cpu_s"),
                "ratio": None,
                "target": f">= {TARGET_EVENTS_PER_S:,.0f} events/s per worker",
                **h.verdict(med("bff", "events_per_bff_cpu_s"), TARGET_EVENTS_PER_S, higher_is_better=True),
            }
        )
        if case["boto"]:
            out.append(
                {
                    "metric": f"events/s, {label}, aiobotocore `iter_chunks()` reading the endpoint (no BFF)",
                    "unit": "events/s",
                    "baseline": med("boto", "events_per_s"),
                    "bff": None,
                    "ratio": None,
                }
            )
    else:
        out.append(
            {
                "metric": f"payload bytes/s, {label} payloads, wall clock",
                "unit": "MB/s",
                "baseline": med("direct", "payload_bytes_per_s") / 1e6,
                "bff": med("bff", "payload_bytes_per_s") / 1e6,
                "ratio": ratio("payload_bytes_per_s"),
            }
        )
        out.append(
            {
                "metric": f"events/s, {label} payloads, wall clock",
                "unit": "events/s",
                "baseline": med("direct", "events_per_s"),
                "bff": med("bff", "events_per_s"),
                "ratio": ratio("events_per_s"),
            }
        )
        out.append(
            {
                "metric": f"payload bytes per BFF CPU-second, {label}",
                "unit": "MB/s",
                "baseline": None,
                "bff": med("bff", "events_per_bff_cpu_s") * case["size"] / 1e6,
                "ratio": None,
            }
        )
    return out


def main() -> None:
    print(h.write_result(NAME, run(h.parse_smoke())))


if __name__ == "__main__":
    main()
