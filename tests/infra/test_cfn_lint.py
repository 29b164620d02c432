"""cfn-lint passes on the synthesized templates (both configurations, in their own regions).

Two warnings are ignored, both produced by aws-cdk-lib itself and both deliberate there:
- W3005, a DependsOn that a Ref or GetAtt already implies (the Runtime on its role, the services
  on their listeners): redundant, not wrong;
- W3010, availability zones written out: a stack pinned to an account and region gets the zone
  names CDK looked up (cdk.context.json) rather than Fn::GetAZs.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from cdk_synth import Synthesized

CFN_LINT = Path(sys.executable).parent / "cfn-lint"
IGNORED = ["W3005", "W3010"]


def cfn_lint(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(CFN_LINT), *args], capture_output=True, text=True, check=False)


def test_cfn_lint_passes(default: Synthesized, variant: Synthesized) -> None:
    templates = [default, variant]  # one cfn-lint process: it takes seconds to start
    regions = sorted({t.stack.config.region for t in templates})
    result = cfn_lint(
        "--regions", *regions, "--ignore-checks", *IGNORED, "--", *(str(t.template_path) for t in templates)
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_cfn_lint_would_fail_on_a_broken_template(tmp_path: Path) -> None:
    broken = tmp_path / "broken.template.json"
    broken.write_text(
        '{"Resources": {"Q": {"Type": "AWS::SQS::Queue", "Properties": {"VisibilityTimeout": "soon"}}}}'
    )
    result = cfn_lint("--", str(broken))
    assert result.returncode != 0 and "E3012" in result.stdout
