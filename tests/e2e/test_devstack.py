"""The dev stack's process handling: output captured, SIGTERM then SIGKILL, busy ports refused."""

from __future__ import annotations

import contextlib
import socket
import sys
import time
from pathlib import Path

import pytest

from scripts.devstack import HOST, Ports, Process, free_port, start_stack

STUBBORN = """
import signal, sys, time
signal.signal(signal.SIGTERM, signal.SIG_IGN)
print("ready", flush=True)
time.sleep(600)
"""


def process(tmp_path: Path, code: str) -> Process:
    return Process("probe", [sys.executable, "-c", code], {"PYTHONUNBUFFERED": "1"}, free_port(), "/", tmp_path / "probe.log", echo=False)  # fmt: skip


def wait_for_output(p: Process, text: str, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while text not in p.output():
        assert time.monotonic() < deadline, p.output()
        time.sleep(0.02)


def test_output_is_captured_to_a_file_the_test_can_read(tmp_path: Path) -> None:
    p = process(tmp_path, "print('hello from the child', flush=True)")
    p.start()
    assert p.popen is not None and p.popen.wait(timeout=10) == 0
    p.stop(grace=2)  # joins the reader: everything the child printed is in the file now
    assert "hello from the child" in p.output()


def test_a_process_that_ignores_sigterm_is_killed_after_the_grace_period(tmp_path: Path) -> None:
    p = process(tmp_path, STUBBORN)
    p.start()
    wait_for_output(p, "ready")
    started = time.monotonic()
    p.stop(grace=0.5)
    assert not p.alive()
    assert p.returncode() == -9  # SIGKILL, after SIGTERM was ignored
    assert time.monotonic() - started < 5


def test_a_process_that_dies_before_it_is_healthy_is_reported_with_its_output(tmp_path: Path) -> None:
    p = process(tmp_path, "import sys; print('bad configuration', flush=True); sys.exit(3)")
    p.start()
    with pytest.raises(RuntimeError, match="bad configuration"):
        p.wait_healthy(timeout=10)
    p.stop(grace=1)


def test_a_busy_port_is_refused_before_anything_starts() -> None:
    with socket.socket() as busy:
        busy.bind((HOST, 0))
        busy.listen()
        port = busy.getsockname()[1]
        ports = Ports(runtime=port, agentcore=free_port(), bff=free_port(), ui=free_port())
        with pytest.raises(RuntimeError, match=f"runtime :{port}"), start_stack(ports):
            pass  # pragma: no cover


def _listening(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(0.2)
        return s.connect_ex((HOST, port)) == 0


@pytest.mark.slow
@pytest.mark.parametrize("target", ["make", "group"])
def test_sigterm_to_make_run_stops_every_service(tmp_path: Path, target: str) -> None:
    """`make run`, then SIGTERM to make alone, or again and again to its whole process group (as
    `timeout` and impatient Ctrl-C do; make forwards its own too): no service outlives it."""
    import os
    import signal
    import subprocess

    ports = Ports.free()
    env = dict(os.environ)
    env.update(
        AGENT_PORT=str(ports.runtime),
        AGENTCORE_LOCAL_PORT=str(ports.agentcore),
        BFF_PORT=str(ports.bff),
        UI_PORT=str(ports.ui),
        MAKEFLAGS="",
    )
    root = Path(__file__).resolve().parents[2]
    log = (tmp_path / "make-run.log").open("wb")
    make = subprocess.Popen(["make", "--no-print-directory", "run"], cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while not all(_listening(p) for p in (ports.runtime, ports.agentcore, ports.bff, ports.ui)):
            assert make.poll() is None, (tmp_path / "make-run.log").read_text()
            assert time.monotonic() < deadline, (tmp_path / "make-run.log").read_text()
            time.sleep(0.2)
        if target == "make":
            make.send_signal(signal.SIGTERM)
        else:  # repeated signals while devstack cleans up must not abort its cleanup
            for _ in range(30):
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(make.pid, signal.SIGTERM)
                time.sleep(0.05)
        make.wait(timeout=10)
        deadline = time.monotonic() + 20
        while any(_listening(p) for p in (ports.runtime, ports.agentcore, ports.bff, ports.ui)):
            assert time.monotonic() < deadline, "a service outlived `make run`"
            time.sleep(0.2)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(make.pid, signal.SIGKILL)
        log.close()
