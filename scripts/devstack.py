"""Start the whole stack locally: runtime, local AgentCore endpoint, BFF and (optionally) the UI.

`python -m scripts.devstack` (what `make run` calls) starts all four on the default ports, prints
where each listens, prefixes every process's output with its name, and stops everything on
Ctrl-C or SIGTERM. Tests use the same code with free ports and read each process's output:

    with start_stack(ports=Ports.free(), env={"AGENT_DATASET_STEP_S": "0.2"}) as stack:
        stack.url("bff")            # http://127.0.0.1:<port>
        stack.output("runtime")     # everything the runtime printed so far
        stack.kill("runtime")       # SIGKILL one process (failure tests)

Standard library only, so any of the project's environments can import it. Each process runs in
its own session (process group): stopping sends SIGTERM to the group, then SIGKILL after a grace
period, so nothing outlives the stack.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

ROOT = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"
GRACE_S = 5.0
HEALTH_TIMEOUT_S = 90.0


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((HOST, port))
        except OSError:
            return False
    return True


@dataclass(frozen=True)
class Ports:
    runtime: int = 8080
    agentcore: int = 8090
    bff: int = 8000
    ui: int = 8501

    @classmethod
    def free(cls) -> Ports:
        return cls(runtime=free_port(), agentcore=free_port(), bff=free_port(), ui=free_port())

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> Ports:
        """The default ports, each overridable: AGENT_PORT, AGENTCORE_LOCAL_PORT, BFF_PORT, UI_PORT."""
        d = cls()
        return cls(
            runtime=int(environ.get("AGENT_PORT", d.runtime)),
            agentcore=int(environ.get("AGENTCORE_LOCAL_PORT", d.agentcore)),
            bff=int(environ.get("BFF_PORT", d.bff)),
            ui=int(environ.get("UI_PORT", d.ui)),
        )


@dataclass
class Process:
    name: str
    argv: list[str]
    env: dict[str, str]
    port: int
    health_path: str
    log_path: Path
    echo: bool
    popen: subprocess.Popen[bytes] | None = None
    _reader: threading.Thread | None = None
    _log_lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def start(self) -> None:
        self.popen = subprocess.Popen(
            self.argv,
            cwd=ROOT,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self._reader = threading.Thread(target=self._pump, name=f"devstack-{self.name}", daemon=True)
        self._reader.start()

    def _pump(self) -> None:
        assert self.popen is not None and self.popen.stdout is not None
        stream: IO[bytes] = self.popen.stdout
        with self.log_path.open("ab") as log:
            for line in iter(stream.readline, b""):
                log.write(line)
                log.flush()
                if self.echo:
                    text = line.decode(errors="replace").rstrip("\n")
                    sys.stdout.write(f"[{self.name:>9}] {text}\n")
                    sys.stdout.flush()

    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def wait_healthy(self, timeout: float = HEALTH_TIMEOUT_S) -> None:
        deadline = time.monotonic() + timeout
        url = self.url + self.health_path
        while time.monotonic() < deadline:
            if not self.alive():
                raise RuntimeError(
                    f"{self.name} exited ({self.returncode()}) before it was healthy:\n{self.tail()}"
                )
            try:
                with urllib.request.urlopen(url, timeout=2) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
                pass
            time.sleep(0.1)
        raise RuntimeError(f"{self.name} not healthy at {url} after {timeout:.0f} s:\n{self.tail()}")

    def returncode(self) -> int | None:
        return None if self.popen is None else self.popen.poll()

    def output(self) -> str:
        with contextlib.suppress(FileNotFoundError):
            return self.log_path.read_text(errors="replace")
        return ""

    def tail(self, lines: int = 40) -> str:
        return "\n".join(self.output().splitlines()[-lines:])

    def signal(self, sig: int) -> None:
        if self.alive():
            assert self.popen is not None
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.popen.pid, sig)

    def stop(self, grace: float = GRACE_S) -> None:
        if self.popen is None:
            return
        self.signal(signal.SIGTERM)
        try:
            self.popen.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            self.signal(signal.SIGKILL)
            self.popen.wait(timeout=grace)
        with contextlib.suppress(ProcessLookupError):  # children left in the group
            os.killpg(self.popen.pid, signal.SIGKILL)
        if self._reader is not None:
            self._reader.join(timeout=grace)
        if self.popen.stdout is not None:
            self.popen.stdout.close()


@dataclass
class Stack:
    ports: Ports
    log_dir: Path
    processes: dict[str, Process] = field(default_factory=dict)

    def url(self, name: str) -> str:
        return self.processes[name].url

    def output(self, name: str) -> str:
        return self.processes[name].output()

    def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        process = self.processes[name]
        process.signal(sig)
        if process.popen is not None:
            process.popen.wait(timeout=GRACE_S)

    def stop(self) -> None:
        errors = []
        for process in reversed(list(self.processes.values())):
            try:
                process.stop()
            except Exception as exc:  # keep stopping the others
                errors.append(f"{process.name}: {exc}")
        if errors:
            raise RuntimeError("could not stop cleanly: " + "; ".join(errors))


def _python(venv: str) -> str:
    path = ROOT / venv / "bin" / "python"
    return str(path) if path.exists() else sys.executable


def _processes(
    ports: Ports, env: Mapping[str, str], with_ui: bool, log_dir: Path, echo: bool
) -> list[Process]:
    base = dict(os.environ) | {"PYTHONUNBUFFERED": "1", "PYTHONPATH": str(ROOT)} | dict(env)
    runtime_url = f"http://{HOST}:{ports.runtime}"
    agentcore_url = f"http://{HOST}:{ports.agentcore}"
    bff_url = f"http://{HOST}:{ports.bff}"

    def process(name: str, argv: list[str], extra: dict[str, str], port: int, health: str) -> Process:
        # the caller's env wins over the stack's defaults, so tests can override anything
        merged = base | extra | dict(env)
        return Process(name, argv, merged, port, health, log_dir / f"{name}.log", echo)

    processes = [
        process(
            "runtime",
            [_python(".venv-runtime"), "-m", "agent_runtime"],
            {"AGENT_HOST": HOST, "AGENT_PORT": str(ports.runtime)},
            ports.runtime,
            "/ping",
        ),
        process(
            "agentcore",
            [_python(".venv-bff"), "-m", "agentcore_local"],
            {
                "AGENTCORE_LOCAL_HOST": HOST,
                "AGENTCORE_LOCAL_PORT": str(ports.agentcore),
                "AGENTCORE_LOCAL_RUNTIME_URL": runtime_url,
            },
            ports.agentcore,
            "/ping",
        ),
        process(
            "bff",
            [_python(".venv-bff"), "-m", "bff"],
            {
                "BFF_HOST": HOST,
                "BFF_PORT": str(ports.bff),
                "BFF_AGENTCORE_ENDPOINT_URL": agentcore_url,
                "BFF_AUTH_MODE": "local-dev",
            },
            ports.bff,
            "/healthz",
        ),
    ]
    if with_ui:
        processes.append(
            process(
                "ui",
                [
                    _python(".venv-ui"),
                    "-m",
                    "streamlit",
                    "run",
                    "ui/app.py",
                    "--server.port",
                    str(ports.ui),
                    "--server.address",
                    HOST,
                    "--server.headless",
                    "true",
                    "--browser.gatherUsageStats",
                    "false",
                ],
                {"BFF_URL": bff_url},
                ports.ui,
                "/_stcore/health",
            )
        )
    return processes


@contextlib.contextmanager
def start_stack(
    ports: Ports | None = None,
    env: Mapping[str, str] | None = None,
    with_ui: bool = False,
    *,
    log_dir: Path | None = None,
    echo: bool = False,
) -> Iterator[Stack]:
    """Start the processes in dependency order, wait for each to be healthy, stop all on exit."""
    ports = ports or Ports.free()
    with contextlib.ExitStack() as cleanup:
        if log_dir is None:
            log_dir = Path(cleanup.enter_context(tempfile.TemporaryDirectory(prefix="devstack-")))
        log_dir.mkdir(parents=True, exist_ok=True)
        stack = Stack(ports, log_dir)
        cleanup.callback(stack.stop)
        processes = _processes(ports, env or {}, with_ui, log_dir, echo)
        busy = [f"{p.name} :{p.port}" for p in processes if not _port_free(p.port)]
        if busy:
            raise RuntimeError(f"ports already in use: {', '.join(busy)} (is another stack running?)")
        for process in processes:
            stack.processes[process.name] = process
            process.start()
        for process in stack.processes.values():
            process.wait_healthy()
        yield stack


class _Terminate(Exception):
    pass


_STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)


def _on_sigterm(signum: int, frame: object) -> None:
    # A stop is usually signalled more than once (`timeout` or Ctrl-C signal the whole process
    # group, and make forwards its own SIGTERM): ignore the repeats, or one landing during the
    # cleanup would abort it half-way and leave services running.
    for sig in _STOP_SIGNALS:
        signal.signal(sig, signal.SIG_IGN)
    raise _Terminate


def _die_with_parent() -> None:
    """Get SIGTERM when our parent dies (Linux), so `kill <make pid>` stops the whole stack.

    make does not forward SIGTERM to the recipe it runs; without this, terminating `make run`
    would leave the four services running as orphans.
    """
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    parent = os.getppid()
    pr_set_pdeathsig = 1
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)
    if os.getppid() != parent:  # the parent died before prctl took effect
        os.kill(os.getpid(), signal.SIGTERM)


def main() -> int:
    for sig in _STOP_SIGNALS:
        signal.signal(sig, _on_sigterm)
    _die_with_parent()
    with_ui = (ROOT / "ui" / "app.py").exists()
    try:
        with start_stack(Ports.from_env(), with_ui=with_ui, echo=True) as stack:
            print()
            for name, process in stack.processes.items():
                print(f"  {name:>9}  {process.url}")
            print("\n  Open the UI, or: curl -N -X POST " + stack.url("bff") + "/v1/chat/stream "
                  "-H 'content-type: application/json' -d '{\"message\": \"what is 5+5?\"}'")  # fmt: skip
            print("  Ctrl-C stops everything.\n", flush=True)
            while all(p.alive() for p in stack.processes.values()):
                time.sleep(0.5)
            dead = [name for name, p in stack.processes.items() if not p.alive()]
            print(f"devstack: {', '.join(dead)} exited; stopping the rest", file=sys.stderr)
            return 1
    except _Terminate:
        print("\ndevstack: stopped", file=sys.stderr)
        return 0
    except RuntimeError as exc:
        print(f"devstack: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
