"""Figure 6: token coalescing (bff/coalesce.py) off versus on.

Two BFF processes side by side on the same runtime and endpoint: one with the defaults
(coalescing off), one with `BFF_COALESCE_TOKENS=true` and the default limits (50 characters or
50 ms). Deltas are 18 characters (the shortest that still carries its emit time; real model
tokens are ~4 characters, so real text merges about four times as many deltas per event).

(a) flat out: `streams` runs of `events` deltas as fast as the runtime emits them: deltas per
    second delivered, events (frames) per second the client has to parse, BFF CPU per delta.
(b) paced like a model: `streams` runs at `rate` deltas per second (SDK bridge): per-delta
    emit -> receive latency (a merged event is received once, for every delta in it).

    .venv-bff/bin/python -m bench.coalescing [--smoke]
"""

from __future__ import annotations

from typing import Any

from bench import harness as h
from bench.stack import Services, services

NAME = "coalescing"
SIZE = 18
FULL: dict[str, Any] = {
    "reps": 3,
    "flat": {"streams": 4, "events": 20_000},
    "paced": {"streams": 20, "events": 100, "rate": 50.0, "ramp_s": 0.5},
}
SMOKE: dict[str, Any] = {
    "reps": 1,
    "flat": {"streams": 2, "events": 200},
    "paced": {"streams": 2, "events": 10, "rate": 50.0, "ramp_s": 0.0},
}


def run(smoke: bool = False, shared: Services | None = None) -> dict[str, Any]:
    cfg = SMOKE if smoke else FULL
    runs: list[dict[str, Any]] = []
    notes: list[str] = []
    f, p = cfg["flat"], cfg["paced"]
    flat = {"events": f["events"], "size": SIZE, "rate": 0, "bridge": "response"}
    paced = {"events": p["events"], "size": SIZE, "rate": p["rate"], "bridge": "sdk"}
    on_env = {"BFF_COALESCE_TOKENS": "true", **h.BFF_BENCH_ENV}
    with services(shared, bff_env=h.BFF_BENCH_ENV, coalescing_env=on_env) as procs:
        assert procs.bff_coalescing is not None
        bffs = {"off": procs.bff, "on": procs.bff_coalescing}
        for service in bffs.values():
            h.run_client(h.client_spec("bff", service, {"events": 20, "size": SIZE, "rate": 200}, streams=2))
        for rep in range(cfg["reps"]):
            numbers: dict[str, Any] = {"rep": rep}
            for mode in h.alternate(rep, "off", "on"):
                service = bffs[mode]
                cpu0 = service.cpu_s()
                result = h.run_client(
                    h.client_spec("bff", service, flat, streams=f["streams"], latency=False)
                )
                cpu = service.cpu_s() - cpu0
                notes += [f"flat, coalescing {mode}: {x}" for x in h.stamp_check(result, f["events"])]
                wall = result.result["wall_s"]
                deltas = result.total("stamps")
                frames = result.total("frames")
                paced_result = h.run_client(
                    h.client_spec("bff", service, paced, streams=p["streams"], ramp_s=p["ramp_s"])
                )
                notes += [f"paced, coalescing {mode}: {x}" for x in h.stamp_check(paced_result, p["events"])]
                numbers[mode] = {
                    "deltas_per_s": deltas / wall,
                    "frames_per_s": frames / wall,
                    "frames_per_delta": frames / deltas if deltas else None,
                    "bff_cpu_us_per_delta": 1e6 * cpu / deltas if deltas else None,
                    "paced": h.summary(paced_result.latencies),
                    "paced_frames_per_stream": paced_result.total("frames")
                    / max(1, len(paced_result.streams)),
                }
            runs.append(numbers)

    def med(mode: str, key: str) -> float:
        return h.median([r[mode][key] for r in runs])

    def ratio(key: str) -> float:
        return h.median([h.ratio(r["on"][key], r["off"][key]) for r in runs])

    def row(metric: str, unit: str, key: str) -> dict[str, Any]:
        return {
            "metric": metric,
            "unit": unit,
            "baseline": med("off", key),
            "bff": med("on", key),
            "ratio": ratio(key),
        }

    rows = [
        row("flat out: deltas delivered per second", "deltas/s", "deltas_per_s"),
        row("flat out: events (frames) per second on the wire", "events/s", "frames_per_s"),
        row("flat out: events per delta", "events", "frames_per_delta"),
        row("flat out: BFF CPU per delta", "µs", "bff_cpu_us_per_delta"),
    ]
    for pct in ("p50", "p99"):
        rows.append(
            {
                "metric": f"paced {p['rate']:g}/s x {p['streams']} streams: emit -> receive {pct}",
                "unit": "ms",
                "baseline": h.median([r["off"]["paced"][pct] for r in runs]),
                "bff": h.median([r["on"]["paced"][pct] for r in runs]),
                "ratio": h.median([h.ratio(r["on"]["paced"][pct], r["off"]["paced"][pct]) for r in runs]),
            }
        )
    rows.append(row("paced: events per stream", "events", "paced_frames_per_stream"))
    return {
        "figure": NAME,
        "title": "Token coalescing off (baseline) and on (BFF column)",
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
