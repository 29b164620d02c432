"""The processes a benchmark measures: each on a free loopback port, stopped when the block ends.

    with Stack() as stack:
        runtime = stack.runtime()
        endpoint = stack.endpoint(runtime)
        bff = stack.bff(endpoint, BFF_COALESCE_TOKENS="true")

Every service is a real process started with its own environment's interpreter, exactly as
`make run` starts it: the synthetic runtime with `.venv-runtime/bin/python`, the local AgentCore
endpoint and the BFF with `.venv-bff/bin/python`. `Service.cpu_s()` and `Service.rss_kib()` read
`/proc/<pid>` so that a figure can say how much CPU and memory the BFF process itself used.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

ROOT = Path(__file__).resolve().parent.parent
RUNTIME_PYTHON = ROOT / ".venv-runtime" / "bin" / "python"
BFF_PYTHON = ROOT / ".venv-bff" / "bin" / "python"
LOCAL_ARN = "arn:aws:bedrock-agentcore:us-east-1:000000000000:runtime/bench_synthetic-0000000000"
_CLK_TCK = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_listening(port: int, proc: subprocess.Popen[bytes], name: str, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{name} exited with status {proc.returncode} before listening on {port}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"{name} did not listen on {port} within {timeout_s} s")


@dataclass
class Service:
    name: str
    port: int
    proc: subprocess.Popen[bytes]
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        return self.proc.pid

    def cpu_s(self) -> float:
        """User + system CPU seconds this process has used so far (threads included)."""
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / _CLK_TCK

    def rss_kib(self) -> int:
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        raise RuntimeError(f"no VmRSS for {self.name}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)


@dataclass
class Stack:
    log_dir: Path = field(default_factory=lambda: ROOT / "bench" / "results" / "logs")
    services: list[Service] = field(default_factory=list)

    def __enter__(self) -> Stack:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        for service in reversed(self.services):
            service.stop()
        self.services.clear()

    def start(
        self, name: str, argv: list[str], env: dict[str, str], port: int, *, wait: bool = True
    ) -> Service:
        log = self.log_dir / f"{name}-{port}.log"
        full_env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1", **env}
        with log.open("wb") as out:
            proc = subprocess.Popen(argv, cwd=ROOT, env=full_env, stdout=out, stderr=subprocess.STDOUT)
        service = Service(name, port, proc, log)
        self.services.append(service)
        if wait:
            wait_listening(port, proc, name)
        return service

    def wait_all(self) -> None:
        """Wait until every started service listens (start several with `wait=False`, then this)."""
        for service in self.services:
            wait_listening(service.port, service.proc, service.name)

    def runtime(self, *, wait: bool = True) -> Service:
        port = free_port()
        argv = [str(RUNTIME_PYTHON), "-m", "bench.synthetic_runtime", "--port", str(port)]
        return self.start("runtime", argv, {}, port, wait=wait)

    def endpoint(self, runtime: Service, *, wait: bool = True) -> Service:
        port = free_port()
        env = {
            "AGENTCORE_LOCAL_PORT": str(port),
            "AGENTCORE_LOCAL_RUNTIME_URL": runtime.url,
            "AGENTCORE_LOCAL_RUNTIME_ARNS": LOCAL_ARN,
            "AGENTCORE_LOCAL_CONNECT_TIMEOUT_S": "5",
            "AGENTCORE_LOCAL_HOST": "127.0.0.1",
        }
        return self.start("agentcore_local", [str(BFF_PYTHON), "-m", "agentcore_local"], env, port, wait=wait)

    def bff(self, endpoint: Service, *, wait: bool = True, **extra_env: str) -> Service:
        port = free_port()
        env = {
            "BFF_PORT": str(port),
            "BFF_HOST": "127.0.0.1",
            "BFF_AGENTCORE_ENDPOINT_URL": endpoint.url,
            "BFF_AGENT_RUNTIME_ARN": LOCAL_ARN,
            "BFF_LOG_LEVEL": "warning",
            "BFF_AUTH_MODE": "local-dev",  # a local benchmark: no authentication (docs/security.md)
            "AWS_ACCESS_KEY_ID": "bench",
            "AWS_SECRET_ACCESS_KEY": "bench",
            **extra_env,
        }
        return self.start("bff", [str(BFF_PYTHON), "-m", "bff"], env, port, wait=wait)

    def alt_relay(self, endpoint: Service, *, wait: bool = True) -> Service:
        port = free_port()
        argv = [str(BFF_PYTHON), "-m", "bench.alt_relay", "--port", str(port), "--endpoint", endpoint.url]
        return self.start(
            "alt_relay", argv, {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench"}, port
        )


def python_for_clients() -> str:
    """The interpreter load clients run with: the BFF environment (aiohttp, aioboto3)."""
    return str(BFF_PYTHON) if BFF_PYTHON.exists() else sys.executable


@dataclass
class Services:
    """The processes a figure measures; figures start their own unless handed a shared set."""

    runtime: Service
    endpoint: Service
    bff: Service
    bff_coalescing: Service | None = None
    alt_relay: Service | None = None


@contextmanager
def services(
    shared: Services | None,
    *,
    bff_env: dict[str, str] | None = None,
    coalescing_env: dict[str, str] | None = None,
    alt_relay: bool = False,
) -> Iterator[Services]:
    """`shared` as it is (smoke tests start one set for every figure), or a fresh set, stopped after."""
    if shared is not None:
        yield shared
        return
    with Stack() as stack:
        runtime = stack.runtime(wait=False)  # all start at once; each finds the others by port
        endpoint = stack.endpoint(runtime, wait=False)
        bff = stack.bff(endpoint, wait=False, **(bff_env or {}))
        coalescing = stack.bff(endpoint, wait=False, **coalescing_env) if coalescing_env is not None else None
        alt = stack.alt_relay(endpoint, wait=False) if alt_relay else None
        stack.wait_all()
        yield Services(runtime, endpoint, bff, coalescing, alt)
