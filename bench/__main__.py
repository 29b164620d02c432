"""`make bench`: every figure in turn, then docs/benchmarks.md (`python -m bench [--smoke]`)."""

from __future__ import annotations

import json
import os
import time
import traceback
from typing import Any

from bench import coalescing, concurrency, harness, overhead, report, seed_claims, throughput, ttfb

MODULES = (overhead, ttfb, throughput, concurrency, seed_claims, coalescing)


def main() -> None:
    smoke = harness.parse_smoke()
    meta: dict[str, Any] = {
        "load_start": os.getloadavg(),
        "started": time.time(),
        "seconds": {},
        "smoke": smoke,
    }
    for module in MODULES:
        started = time.monotonic()
        print(f"bench: {module.NAME} ...", flush=True)
        try:
            result = module.run(smoke)
        except Exception as exc:  # one broken figure must not hide the others
            traceback.print_exc()
            result = {
                "figure": module.NAME,
                "title": module.__doc__.splitlines()[0] if module.__doc__ else module.NAME,
                "command": harness.command_for(module.NAME, smoke),
                "config": {},
                "rows": [],
                "runs": [],
                "notes": [f"the figure failed: {type(exc).__name__}: {exc}"],
                "profiles": {},
            }
        meta["seconds"][module.NAME] = round(time.monotonic() - started, 1)
        harness.write_result(module.NAME, result)
        print(f"bench: {module.NAME} done in {meta['seconds'][module.NAME]} s", flush=True)
    meta["load_end"] = os.getloadavg()
    (harness.RESULTS / "meta.json").write_text(json.dumps(meta, indent=2))
    print(report.write())


if __name__ == "__main__":
    main()
