"""Figure 2: time to first byte of `POST /v1/chat/stream`, and of the first upstream event.

Requests one after another on a kept-alive connection (as a browser tab would), each a short
run (one TOKEN, SDK bridge). Per request the client records when the first complete frame
arrived (the BFF's `start`; directly, the runtime's first frame `AGENT_START`) and when the first
upstream event arrived (BFF: `agent_start`; directly: `AGENT_START`), from the moment the request
was sent.

    .venv-bff/bin/python -m bench.ttfb [--smoke]
"""

from __future__ import annotations

from typing import Any

from bench import harness as h
from bench.stack import Services, services

NAME = "ttfb"
FULL: dict[str, Any] = {"reps": 5, "requests": 40}
SMOKE: dict[str, Any] = {"reps": 1, "requests": 3}
TARGET_START_P50_MS = 5.0
TARGET_FIRST_EVENT_DELTA_MS = 5.0


def run(smoke: bool = False, shared: Services | None = None) -> dict[str, Any]:
    cfg = SMOKE if smoke else FULL
    params = {"events": 1, "size": 64, "rate": 0, "bridge": "sdk"}
    runs: list[dict[str, Any]] = []
    notes: list[str] = []
    with services(shared, bff_env=h.BFF_BENCH_ENV) as procs:
        targets = {"direct": procs.endpoint, "bff": procs.bff}
        for target, service in targets.items():
            h.run_client(h.client_spec(target, service, params, streams=3, sequential=True))
        for rep in range(cfg["reps"]):
            numbers: dict[str, Any] = {"rep": rep}
            for target in h.alternate(rep, "direct", "bff"):
                spec = h.client_spec(
                    target, targets[target], params, streams=cfg["requests"], sequential=True, warmup=True
                )
                result = h.run_client(spec)
                notes += [f"{target}: {p}" for p in h.stamp_check(result, 1)]
                ok = [s for s in result.streams if s["ok"]]
                numbers[target] = {
                    "first_frame": h.summary([s["ttfb_ms"] for s in ok]),
                    "first_upstream": h.summary([s["first_upstream_ms"] for s in ok]),
                }
            numbers["delta_first_upstream_p50"] = (
                numbers["bff"]["first_upstream"]["p50"] - numbers["direct"]["first_upstream"]["p50"]
            )
            runs.append(numbers)

    def med(target: str, what: str, pct: str) -> float:
        return h.median([r[target][what][pct] for r in runs])

    start_p50 = med("bff", "first_frame", "p50")
    delta = h.median([r["delta_first_upstream_p50"] for r in runs])
    rows = [
        {
            "metric": "first frame p50 (BFF: `start`; direct: `AGENT_START`)",
            "unit": "ms",
            "baseline": med("direct", "first_frame", "p50"),
            "bff": start_p50,
            "ratio": h.median(
                [h.ratio(r["bff"]["first_frame"]["p50"], r["direct"]["first_frame"]["p50"]) for r in runs]
            ),
            "target": f"`start` p50 <= {TARGET_START_P50_MS:g} ms",
            **h.verdict(start_p50, TARGET_START_P50_MS),
        },
        {
            "metric": "first frame p99",
            "unit": "ms",
            "baseline": med("direct", "first_frame", "p99"),
            "bff": med("bff", "first_frame", "p99"),
            "ratio": h.median(
                [h.ratio(r["bff"]["first_frame"]["p99"], r["direct"]["first_frame"]["p99"]) for r in runs]
            ),
        },
        {
            "metric": "first upstream event p50 (`agent_start` / `AGENT_START`)",
            "unit": "ms",
            "baseline": med("direct", "first_upstream", "p50"),
            "bff": med("bff", "first_upstream", "p50"),
            "ratio": h.median(
                [
                    h.ratio(r["bff"]["first_upstream"]["p50"], r["direct"]["first_upstream"]["p50"])
                    for r in runs
                ]
            ),
            "added": delta,
            "target": f"within {TARGET_FIRST_EVENT_DELTA_MS:g} ms of direct",
            **h.verdict(delta, TARGET_FIRST_EVENT_DELTA_MS),
        },
        {
            "metric": "first upstream event p99",
            "unit": "ms",
            "baseline": med("direct", "first_upstream", "p99"),
            "bff": med("bff", "first_upstream", "p99"),
            "ratio": h.median(
                [
                    h.ratio(r["bff"]["first_upstream"]["p99"], r["direct"]["first_upstream"]["p99"])
                    for r in runs
                ]
            ),
        },
    ]
    return {
        "figure": NAME,
        "title": "Time to first byte",
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
