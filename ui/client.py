"""The BFF's HTTP API as the UI uses it (httpx); the one place httpx errors are translated.

Small calls (health, sessions, cancel, approval) are synchronous: they run between two renders.
Streams are async generators of native event dicts (docs/events.md), read chunk by chunk with
`ui.sse.SSEParser`, so each event is handed over the moment its frame is complete:

    async for event in client.chat("Hello", session_id=None): ...
    async for event in client.follow(run_id, after=41): ...   # replay after id 41, then live

A failure before the stream opens raises `BffUnavailable` or `BffHttpError` (the BFF's JSON error
body, message safe to show). A stream that breaks after it opened simply ends: the caller sees no
`done` and follows the run again from its last id.

Credentials (docs/security.md) go on every request, one kind only, the first there is of: a token
the user pasted (`token=`), `BFF_BEARER_TOKEN` (both as `Authorization: Bearer <token>`), then
`BFF_API_KEY` (`X-API-Key`; the BFF would check a key before a token, so a pasted token must not
travel with the shared key). A 401 becomes a `BffHttpError` saying "The BFF needs you to sign in"
and sets `auth_refused`, which the page reads to offer the sign-in field.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx

from ui.exceptions import BffError, BffHttpError, BffUnavailable
from ui.settings import Settings
from ui.sse import SSEParser

API_KEY_HEADER = "X-API-Key"  # what bff/auth.py reads (API_KEY_HEADER, case-insensitive)
SIGN_IN = "The BFF needs you to sign in."

# Tests swap the network for an in-process fake BFF here (httpx.MockTransport).
TransportFactory = Callable[[], httpx.BaseTransport | httpx.AsyncBaseTransport | None]
transport_factory: TransportFactory = lambda: None  # noqa: E731


class BffClient:
    def __init__(self, settings: Settings, token: str | None = None) -> None:
        self.settings = settings
        self.base_url = settings.bff_url
        self._token = (token or "").strip() or settings.bff_bearer_token
        self.auth_refused = False  # some call got a 401: the page offers the sign-in field

    @property
    def has_credentials(self) -> bool:
        return bool(self._token or self.settings.bff_api_key)

    def _auth_headers(self) -> dict[str, str]:
        if self._token:
            return {"Authorization": f"Bearer {self._token}"}
        if self.settings.bff_api_key:
            return {API_KEY_HEADER: self.settings.bff_api_key}
        return {}

    # --- plumbing ----------------------------------------------------------------------------
    def _timeout(self, read: float | None = None) -> httpx.Timeout:
        return httpx.Timeout(
            connect=self.settings.connect_timeout_s,
            read=read or self.settings.read_timeout_s,
            write=self.settings.connect_timeout_s,
            pool=self.settings.connect_timeout_s,
        )

    def _sync(self, read: float | None = None) -> httpx.Client:
        transport = transport_factory()
        return httpx.Client(
            base_url=self.base_url,
            headers=self._auth_headers(),
            timeout=self._timeout(read),
            transport=transport if isinstance(transport, httpx.BaseTransport) else None,
        )

    def _async(self) -> httpx.AsyncClient:
        transport = transport_factory()
        return httpx.AsyncClient(
            base_url=self.base_url,
            headers=self._auth_headers(),
            timeout=self._timeout(),
            transport=transport if isinstance(transport, httpx.AsyncBaseTransport) else None,
        )

    def _request(self, method: str, path: str, *, read: float | None = None, **kwargs: Any) -> httpx.Response:
        try:
            with self._sync(read) as http:
                response = http.request(method, path, **kwargs)
        except httpx.TimeoutException as exc:
            raise BffUnavailable("The BFF did not answer in time.") from exc
        except httpx.HTTPError as exc:
            raise BffUnavailable(f"Cannot reach the BFF at {self.base_url}.") from exc
        self._note(response)
        return response

    def _note(self, response: httpx.Response) -> None:
        if response.status_code == 401:
            self.auth_refused = True

    # --- small calls ---------------------------------------------------------------------------
    def health(self) -> bool:
        try:
            response = self._request("GET", "/healthz", read=self.settings.health_timeout_s)
        except BffError:
            return False
        return response.status_code == 200

    def sessions(self) -> list[dict[str, Any]] | None:
        """Past sessions, newest first; None when the BFF does not offer the list (404)."""
        response = self._request("GET", "/v1/sessions", read=self.settings.health_timeout_s * 3)
        if response.status_code == 404:
            return None
        _raise_for_error(response)
        body = response.json()
        items = body.get("sessions", body) if isinstance(body, dict) else body
        return (
            [s for s in items if isinstance(s, dict) and s.get("session_id")]
            if isinstance(items, list)
            else []
        )

    def history(self, session_id: str) -> list[dict[str, Any]] | None:
        """A session's messages ({role, content, ...}); None when the BFF does not offer it."""
        response = self._request("GET", f"/v1/sessions/{session_id}/messages")
        if response.status_code in (404, 405):
            return None
        _raise_for_error(response)
        body = response.json()
        messages = body.get("messages") if isinstance(body, dict) else body
        return [m for m in messages if isinstance(m, dict)] if isinstance(messages, list) else []

    def run_status(self, run_id: str) -> dict[str, Any] | None:
        response = self._request("GET", f"/v1/runs/{run_id}")
        if response.status_code == 404:
            return None
        _raise_for_error(response)
        body = response.json()
        return body if isinstance(body, dict) else None

    def cancel(self, run_id: str) -> None:
        """Ask the BFF to stop the run; a run already over (404/409) is fine."""
        response = self._request("POST", f"/v1/runs/{run_id}/cancel")
        if response.status_code not in (404, 409):
            _raise_for_error(response)

    def answer_approval(
        self, run_id: str, approval_id: str, decision: str, edited_args: dict[str, Any] | None = None
    ) -> None:
        body: dict[str, Any] = {"approval_id": approval_id, "decision": decision}
        if edited_args is not None:
            body["edited_args"] = edited_args
        _raise_for_error(self._request("POST", f"/v1/runs/{run_id}/approval", json=body))

    # --- streams -------------------------------------------------------------------------------
    def chat(self, message: str, session_id: str | None) -> AsyncIterator[dict[str, Any]]:
        body: dict[str, Any] = {"message": message}
        if session_id:
            body["session_id"] = session_id
        return self._stream("POST", "/v1/chat/stream", json=body)

    def follow(self, run_id: str, after: int = 0) -> AsyncIterator[dict[str, Any]]:
        headers = {"Last-Event-ID": str(after)} if after > 0 else {}
        return self._stream("GET", f"/v1/runs/{run_id}/stream", headers=headers)

    async def _stream(self, method: str, path: str, **kwargs: Any) -> AsyncIterator[dict[str, Any]]:
        headers = {"Accept": "text/event-stream", **kwargs.pop("headers", {})}
        async with self._async() as http:
            try:
                async with http.stream(method, path, headers=headers, **kwargs) as response:
                    if response.status_code >= 400:
                        self._note(response)
                        await response.aread()
                        _raise_for_error(response)
                    parser = SSEParser()
                    async for chunk in response.aiter_bytes():
                        for sse in parser.feed(chunk):
                            event = _event(sse.data, sse.event, sse.id)
                            if event is not None:
                                yield event
            except httpx.TimeoutException as exc:
                raise BffUnavailable("The BFF did not answer in time.") from exc
            except httpx.HTTPError as exc:
                raise BffUnavailable(f"Cannot reach the BFF at {self.base_url}.") from exc


def _event(data: str, name: str, sse_id: str | None) -> dict[str, Any] | None:
    try:
        event = json.loads(data)
    except ValueError:
        return None
    if not isinstance(event, dict):
        return None
    event.setdefault("type", name)
    if "seq" not in event and sse_id is not None and sse_id.isdigit():
        event["seq"] = int(sse_id)
    return event


def _raise_for_error(response: httpx.Response) -> None:
    if response.status_code < 400:
        return
    code, message = f"http_{response.status_code}", f"The BFF answered {response.status_code}."
    try:
        error = response.json().get("error", {})
        code = str(error.get("code") or code)
        message = str(error.get("message") or message)
    except (ValueError, AttributeError):
        pass
    if response.status_code == 401:  # no credentials, or refused ones (expired, wrong key, ...)
        reason = "" if code == "unauthorized" else f" {message}"
        message = f"{SIGN_IN}{reason} Paste a bearer token in the sidebar."
    raise BffHttpError(response.status_code, code, message)
