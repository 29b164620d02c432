"""Entry point: `python infra/app.py` synthesizes to $CDK_OUTDIR (or infra/cdk.out) with no AWS account.

`cdk deploy` (run in infra/, which holds cdk.json) calls this same file. Configuration comes from
CDK context (`-c key=value`, infra/config.py); the region and account default to the CLI's
CDK_DEFAULT_REGION / CDK_DEFAULT_ACCOUNT when they are set.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make the repository root importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
# jsii runs the CDK on the machine's Node.js and, on Node 20 (past its end of life), prints a large
# banner on every start. Synthesis works on it; docs/deploy.md recommends Node 22+ for deploying.
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")

from aws_cdk import App, Environment

from infra.config import DeployConfig
from infra.stack import AgentCoreBffStack

DEFAULT_OUTDIR = Path(__file__).resolve().parent / "cdk.out"


def build_app(
    context: Mapping[str, Any] | None = None,
    *,
    outdir: str | None = None,
    environ: Mapping[str, str] | None = None,
) -> tuple[App, AgentCoreBffStack]:
    """The app and its one stack; `context` overrides what `-c` and cdk.json would give."""
    env = os.environ if environ is None else environ
    app = App(context=dict(context or {}), outdir=outdir or env.get("CDK_OUTDIR") or str(DEFAULT_OUTDIR))

    def get(key: str) -> Any:
        value = app.node.try_get_context(key)
        if value is None and key == "region":
            return env.get("CDK_DEFAULT_REGION")
        if value is None and key == "account":
            return env.get("CDK_DEFAULT_ACCOUNT")
        return value

    config = DeployConfig.from_context(get)
    stack = AgentCoreBffStack(
        app, config.stack_name, config=config, env=Environment(account=config.account, region=config.region)
    )
    return app, stack


def main() -> None:
    app, _ = build_app()
    assembly = app.synth()
    for artifact in assembly.stacks:
        print(f"synthesized {artifact.stack_name} -> {Path(assembly.directory) / artifact.template_file}")


if __name__ == "__main__":
    main()
