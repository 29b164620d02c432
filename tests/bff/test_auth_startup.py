"""The real `python -m bff` process: outside BFF_AUTH_MODE=local-dev it refuses to start without
authentication configured (exit status 2, one clear line on stderr, no traceback), and with it
configured it starts and asks for credentials."""

from __future__ import annotations

import asyncio
import os
import socket
import sys
from pathlib import Path

import httpx
import pytest

from bff.auth import hash_api_key

ROOT = Path(__file__).resolve().parents[2]


def clean_env(**values: str) -> dict[str, str]:
    """This environment without any BFF setting (nor their aliases), plus `values`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BFF_", "OTEL_")) and k != "REDIS_URL"}
    env.update(values)
    return env


async def run_bff(env: dict[str, str]) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bff",
        cwd=ROOT,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        async with asyncio.timeout(90):
            _, err = await process.communicate()
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.returncode is not None
    return process.returncode, err.decode()


REFUSALS = {
    "auth-mode-unset": ({}, "BFF_AUTH_MODE=jwt needs BFF_JWKS_URL"),
    "unknown-mode": ({"BFF_AUTH_MODE": "off"}, "BFF_AUTH_MODE must be one of"),
    "jwks-without-issuer": (
        {"BFF_AUTH_MODE": "jwt", "BFF_JWKS_URL": "http://127.0.0.1:9/jwks.json"},
        "needs BFF_JWT_ISSUER and BFF_JWT_AUDIENCE",
    ),
    "malformed-setting": (
        {"BFF_AUTH_MODE": "local-dev", "BFF_RATE_LIMIT_PER_MINUTE": "lots"},
        "BFF_RATE_LIMIT_PER_MINUTE",
    ),
}


async def test_the_bff_process_refuses_to_start_without_authentication_configured() -> None:
    cases = list(REFUSALS.items())
    results = await asyncio.gather(*(run_bff(clean_env(**values)) for _, (values, _) in cases))
    for (name, (_, expected)), (status, stderr) in zip(cases, results, strict=True):
        assert status == 2, (name, stderr)
        assert "bff: refusing to start:" in stderr and expected in stderr, (name, stderr)
        assert "Traceback" not in stderr, (name, stderr)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def test_the_bff_process_starts_with_api_keys_and_asks_for_them() -> None:
    port = free_port()
    key = "startup-key-" + "q" * 20
    env = clean_env(BFF_AUTH_MODE="jwt", BFF_API_KEYS=f"svc:{hash_api_key(key)}", BFF_PORT=str(port))
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bff",
        cwd=ROOT,
        env=env,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=5) as client:
            async with asyncio.timeout(90):
                while True:
                    if process.returncode is not None:
                        pytest.fail(f"the BFF exited with {process.returncode}")
                    try:
                        refused = await client.get("/v1/sessions")
                        break
                    except httpx.TransportError:
                        await asyncio.sleep(0.1)
            assert refused.status_code == 401
            assert refused.json()["error"]["code"] == "unauthorized"
            allowed = await client.get("/v1/sessions", headers={"X-API-Key": key})
            assert allowed.status_code == 200, allowed.text
    finally:
        if process.returncode is None:
            process.terminate()
            try:
                async with asyncio.timeout(20):
                    await process.wait()
            except TimeoutError:
                process.kill()
                await process.wait()
