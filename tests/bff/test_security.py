"""bff.security on a small app: body size limit (declared and chunked), security headers, CORS."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI, Request

from bff.security import SecurityConfigError, cors_origins, install_security
from bff.settings import Settings

LIMIT = 1024


def small_app(**settings: object) -> FastAPI:
    app = FastAPI()

    @app.post("/echo")
    async def echo(request: Request) -> dict[str, int]:
        return {"bytes": len(await request.body())}

    @app.post("/json")
    async def json_body(body: dict[str, str]) -> dict[str, int]:
        return {"keys": len(body)}

    @app.get("/cached")
    async def cached() -> dict[str, bool]:
        return {"ok": True}

    install_security(app, Settings(max_body_bytes=LIMIT, **settings))  # type: ignore[arg-type]
    return app


def client(app: FastAPI) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bff")


async def chunks(total: int, size: int = 100) -> AsyncIterator[bytes]:
    sent = 0
    while sent < total:
        part = min(size, total - sent)
        sent += part
        yield b"x" * part


async def test_body_at_the_limit_passes() -> None:
    async with client(small_app()) as http:
        response = await http.post("/echo", content=b"x" * LIMIT)
    assert response.status_code == 200
    assert response.json() == {"bytes": LIMIT}


async def test_declared_body_over_the_limit_is_413_before_it_is_read() -> None:
    async with client(small_app()) as http:
        response = await http.post("/echo", content=b"x" * (LIMIT + 1))
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"


@pytest.mark.parametrize("path", ["/echo", "/json"])
async def test_chunked_body_over_the_limit_is_413(path: str) -> None:
    async with client(small_app()) as http:
        response = await http.post(
            path, content=chunks(LIMIT * 3), headers={"content-type": "application/json"}
        )
    assert "content-length" not in response.request.headers  # really chunked
    assert response.status_code == 413
    assert response.json() == {
        "error": {"code": "payload_too_large", "message": f"The request body is larger than {LIMIT} bytes."}
    }


async def test_chunked_body_under_the_limit_passes() -> None:
    async with client(small_app()) as http:
        response = await http.post("/echo", content=chunks(LIMIT - 10))
    assert response.json() == {"bytes": LIMIT - 10}


async def test_security_headers_on_every_response() -> None:
    async with client(small_app()) as http:
        for response in (await http.get("/cached"), await http.get("/missing"), await http.post("/echo")):
            assert response.headers["x-content-type-options"] == "nosniff"
            assert response.headers["x-frame-options"] == "DENY"
            assert response.headers["referrer-policy"] == "no-referrer"
            assert response.headers["content-security-policy"] == "default-src 'none'; frame-ancestors 'none'"
            assert response.headers["cache-control"] == "no-store"
            assert "strict-transport-security" not in response.headers


async def test_hsts_only_behind_tls() -> None:
    async with client(small_app()) as http:
        response = await http.get("/cached", headers={"x-forwarded-proto": "https"})
    assert response.headers["strict-transport-security"].startswith("max-age=")


async def test_docs_page_keeps_its_scripts() -> None:
    async with client(small_app()) as http:
        response = await http.get("/docs")
    assert response.status_code == 200
    assert "content-security-policy" not in response.headers


async def test_cors_allows_only_listed_origins() -> None:
    app = small_app(cors_origins="https://chat.example.com, https://admin.example.com/")
    async with client(app) as http:
        allowed = await http.options(
            "/echo",
            headers={
                "origin": "https://chat.example.com",
                "access-control-request-method": "POST",
                "access-control-request-headers": "authorization, content-type, last-event-id",
            },
        )
        assert allowed.status_code == 200
        assert allowed.headers["access-control-allow-origin"] == "https://chat.example.com"
        denied = await http.options(
            "/echo", headers={"origin": "https://evil.example", "access-control-request-method": "POST"}
        )
        assert denied.status_code == 400
        assert "access-control-allow-origin" not in denied.headers
        simple = await http.get("/cached", headers={"origin": "https://admin.example.com"})
        assert simple.headers["access-control-allow-origin"] == "https://admin.example.com"
        assert "X-Run-Id" in simple.headers["access-control-expose-headers"]
        foreign = await http.get("/cached", headers={"origin": "https://evil.example"})
        assert "access-control-allow-origin" not in foreign.headers


async def test_no_cors_without_an_allowlist() -> None:
    async with client(small_app()) as http:
        response = await http.get("/cached", headers={"origin": "https://chat.example.com"})
    assert "access-control-allow-origin" not in response.headers


def test_wildcard_origin_is_refused_outside_local_development() -> None:
    assert cors_origins(Settings(cors_origins="*", auth_mode="local-dev")) == ["*"]
    with pytest.raises(SecurityConfigError):
        cors_origins(Settings(cors_origins="*", auth_mode="jwt"))
