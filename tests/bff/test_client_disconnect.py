"""A client that leaves while sending its request body is not an internal error."""

from __future__ import annotations

import asyncio
import logging

import pytest

from bff.app import create_app
from bff.eventlog import MemoryEventLog
from bff.settings import Settings
from tests.bff.test_runs_fakes import FakeUpstream, serve


async def test_a_client_gone_mid_body_is_logged_as_a_disconnect_not_a_500(
    caplog: pytest.LogCaptureFixture,
) -> None:
    upstream = FakeUpstream()
    app = create_app(Settings(auth_mode="local-dev"), upstream=upstream, event_log=MemoryEventLog())
    caplog.set_level(logging.INFO, logger="bff.app")
    async with serve(app) as url:
        host, port = url.removeprefix("http://").split(":")
        _reader, writer = await asyncio.open_connection(host, int(port))
        writer.write(
            b"POST /v1/chat/stream HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: 1000\r\n\r\n" + b'{"message": "hel'
        )
        await writer.drain()
        await asyncio.sleep(0.2)  # the route is now waiting for the rest of the body
        writer.close()
        await writer.wait_closed()
        for _ in range(100):  # until the server has noticed
            if any("client disconnected" in r.getMessage() for r in caplog.records):
                break
            await asyncio.sleep(0.02)
    assert any("client disconnected during POST /v1/chat/stream" in r.getMessage() for r in caplog.records)
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], [
        r.getMessage() for r in caplog.records
    ]
