"""Who is calling: bearer JWTs, hashed API keys, or nobody at all in explicit local development.

    BFF_AUTH_MODE=local-dev   no authentication; every request is the principal "local".
                              Only `make run` and the tests use it.
    BFF_AUTH_MODE=jwt         every request needs one of
                              - `Authorization: Bearer <JWT>` verified against BFF_JWKS_URL
                                (Cognito-style RS256) or, in development, BFF_JWT_HS256_SECRET;
                                signature, `iss`, audience, `exp` and `nbf` are checked;
                              - `X-API-Key: <key>` for service clients, matched against
                                BFF_API_KEYS (`name:sha256hex` entries: only hashes are stored).

Any other mode, or `jwt` with nothing to verify against, refuses to start (`AuthConfigError`
from `build_authenticator`, called by `create_app`).

Cognito access tokens carry the app client id in `client_id` instead of `aud`; a token passes
the audience check when either its `aud` or, for `token_use=access`, its `client_id` is one of
BFF_JWT_AUDIENCE.

The JWKS is fetched with PyJWT's (blocking) `PyJWKClient` in a worker thread and kept by key id;
an unknown `kid` triggers at most one refresh per `JWKS_MIN_REFRESH_S`, so a flood of made-up key
ids cannot turn into a flood of JWKS fetches.

Ownership: the runtime session id sent to AgentCore is `runtime_session_id(principal, session)`,
a hash of both, so one principal can never address another's microVM by guessing a session id.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Final

import jwt
from fastapi import Depends
from starlette.requests import HTTPConnection

from bff.exceptions import Unauthorized
from bff.observability.logs import bind_principal
from bff.settings import Settings

LOCAL_DEV: Final = "local-dev"
JWT: Final = "jwt"
AUTH_MODES: Final = frozenset({LOCAL_DEV, JWT})
LOCAL_PRINCIPAL_ID: Final = "local"
API_KEY_HEADER: Final = "x-api-key"
API_KEY_PRINCIPAL_PREFIX: Final = "apikey:"  # API-key principals; no JWT subject may start so
JWKS_MIN_REFRESH_S: Final = 60.0
LEEWAY_S: Final = 30  # clock skew tolerated on exp / nbf / iat
MIN_HS256_SECRET_BYTES: Final = 32


class AuthConfigError(RuntimeError):
    """The settings ask for something the BFF cannot safely start with."""


@dataclass(frozen=True, slots=True)
class Principal:
    """The caller. `id` is stable and is what runs, sessions and limits are keyed by."""

    id: str
    kind: str  # "local" | "jwt" | "api_key"
    claims: Mapping[str, Any] = field(default_factory=dict)


LOCAL_PRINCIPAL: Final = Principal(id=LOCAL_PRINCIPAL_ID, kind="local")


def runtime_session_id(principal_id: str, session_id: str) -> str:
    """The AgentCore runtime session id for a principal's session (66 chars, within 33..256).

    Deterministic, so every turn of a conversation reaches the same microVM; different for every
    principal, so nobody reaches somebody else's microVM by sending their session id.
    """
    digest = hashlib.sha256(f"{principal_id}\x00{session_id}".encode()).hexdigest()
    return f"s-{digest}"


def hash_api_key(key: str) -> str:
    """What BFF_API_KEYS stores for a key: its SHA-256, hex."""
    return hashlib.sha256(key.encode()).hexdigest()


def parse_api_keys(spec: str | None) -> dict[str, str]:
    """`name:sha256hex,...` (or the path of a file with one entry per line) -> {hash: name}."""
    if not spec or not spec.strip():
        return {}
    if Path(spec).is_file():
        text = Path(spec).read_text().replace("\n", ",")
    elif ":" in spec:
        text = spec
    else:
        raise AuthConfigError("BFF_API_KEYS is neither `name:sha256hex,...` nor a readable file")
    keys: dict[str, str] = {}
    for raw in text.split(","):
        entry = raw.strip()
        if not entry or entry.startswith("#"):
            continue
        name, sep, digest = entry.partition(":")
        digest = digest.strip().lower()
        if (
            not sep
            or not name.strip()
            or len(digest) != 64
            or any(c not in "0123456789abcdef" for c in digest)
        ):
            raise AuthConfigError("every BFF_API_KEYS entry must be `name:<sha256 hex of the key>`")
        keys[digest] = name.strip()
    return keys


def _csv(value: str | None) -> list[str]:
    return [item.strip() for item in (value or "").split(",") if item.strip()]


class JwksKeys:
    """Signing keys by `kid`, fetched from a JWKS URL off the event loop, refreshed on a miss."""

    def __init__(self, url: str, *, timeout_s: float = 5.0) -> None:
        self._client = jwt.PyJWKClient(url, cache_jwk_set=False, cache_keys=False, timeout=int(timeout_s))
        self._keys: dict[str, jwt.PyJWK] = {}
        self._fetched_at = float("-inf")
        self._lock = asyncio.Lock()

    async def get(self, kid: str) -> jwt.PyJWK | None:
        if kid in self._keys:
            return self._keys[kid]
        async with self._lock:
            if kid not in self._keys and time.monotonic() - self._fetched_at >= JWKS_MIN_REFRESH_S:
                await self.refresh()
        return self._keys.get(kid)

    async def refresh(self) -> None:
        self._fetched_at = time.monotonic()
        try:
            keys = await asyncio.to_thread(self._client.get_signing_keys)
        except jwt.PyJWKClientError:
            return  # keep the keys we had; a later miss retries after JWKS_MIN_REFRESH_S
        self._keys = {key.key_id: key for key in keys if key.key_id}


class Authenticator:
    """Turns request credentials into a `Principal`, or raises `Unauthorized`."""

    def __init__(
        self,
        *,
        mode: str,
        jwks: JwksKeys | None = None,
        hs256_secret: str | None = None,
        issuer: str | None = None,
        audiences: list[str] | None = None,
        api_keys: dict[str, str] | None = None,
    ) -> None:
        self.mode = mode
        self._jwks = jwks
        self._hs256_secret = hs256_secret
        self._issuer = issuer
        self._audiences = audiences or []
        self._api_keys = api_keys or {}

    @property
    def enabled(self) -> bool:
        return self.mode != LOCAL_DEV

    async def authenticate(self, authorization: str | None, api_key: str | None) -> Principal:
        if not self.enabled:
            return LOCAL_PRINCIPAL
        if api_key:
            return self._api_key_principal(api_key)
        if not authorization:
            raise Unauthorized("Authentication required: send `Authorization: Bearer <token>`.")
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthorized("Authentication required: send `Authorization: Bearer <token>`.")
        return await self._jwt_principal(token.strip())

    def _api_key_principal(self, key: str) -> Principal:
        digest = hash_api_key(key)
        for stored, name in self._api_keys.items():
            if hmac.compare_digest(stored, digest):
                return Principal(id=f"{API_KEY_PRINCIPAL_PREFIX}{name}", kind="api_key")
        raise Unauthorized("The API key is not valid.", code="invalid_api_key")

    async def _jwt_principal(self, token: str) -> Principal:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise Unauthorized("The token is not a valid JWT.", code="invalid_token") from exc
        key: Any
        algorithm = header.get("alg")
        if self._jwks is not None and algorithm == "RS256":
            found = await self._jwks.get(str(header.get("kid", "")))
            if found is None:
                raise Unauthorized("The token was not signed by a known key.", code="invalid_token")
            key = found.key
        elif self._hs256_secret is not None and algorithm == "HS256":
            key = self._hs256_secret
        else:
            raise Unauthorized("The token's algorithm is not accepted.", code="invalid_token")
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=[algorithm],
                issuer=self._issuer,
                leeway=LEEWAY_S,
                options={"require": ["exp", "sub"], "verify_aud": False},
            )
        except jwt.ExpiredSignatureError as exc:
            raise Unauthorized("The token has expired.", code="token_expired") from exc
        except jwt.PyJWTError as exc:
            raise Unauthorized("The token is not valid.", code="invalid_token") from exc
        if not self._audience_ok(claims):
            raise Unauthorized("The token is not meant for this service.", code="invalid_token")
        if not isinstance(claims["sub"], str) or not claims["sub"].strip():
            # an empty principal would send the client's session id to AgentCore underived
            raise Unauthorized("The token has no subject.", code="invalid_token")
        if claims["sub"].startswith(API_KEY_PRINCIPAL_PREFIX):  # would be that service client
            raise Unauthorized("The token's subject is not valid.", code="invalid_token")
        return Principal(id=claims["sub"], kind="jwt", claims=claims)

    def _audience_ok(self, claims: Mapping[str, Any]) -> bool:
        if not self._audiences:
            return True
        aud = claims.get("aud")
        candidates = [aud] if isinstance(aud, str) else list(aud or [])
        if claims.get("token_use") == "access" and "client_id" in claims:
            candidates.append(claims["client_id"])
        return any(candidate in self._audiences for candidate in candidates)


def build_authenticator(settings: Settings) -> Authenticator:
    """The authenticator the settings describe; refuses anything unsafe with `AuthConfigError`."""
    mode = settings.auth_mode.strip().lower()
    if mode not in AUTH_MODES:
        raise AuthConfigError(
            f"BFF_AUTH_MODE must be one of {sorted(AUTH_MODES)}, not {settings.auth_mode!r}"
        )
    if mode == LOCAL_DEV:
        return Authenticator(mode=LOCAL_DEV)
    api_keys = parse_api_keys(settings.api_keys)
    secret = settings.jwt_hs256_secret.get_secret_value() if settings.jwt_hs256_secret else None
    has_jwt = bool(settings.jwks_url) or bool(secret)
    if not has_jwt and not api_keys:
        raise AuthConfigError(
            "BFF_AUTH_MODE=jwt needs BFF_JWKS_URL (or, in development, BFF_JWT_HS256_SECRET) "
            "and/or BFF_API_KEYS; use BFF_AUTH_MODE=local-dev only on a developer machine"
        )
    if has_jwt and not (settings.jwt_issuer and _csv(settings.jwt_audience)):
        raise AuthConfigError("JWT verification needs BFF_JWT_ISSUER and BFF_JWT_AUDIENCE")
    if secret is not None and len(secret.encode()) < MIN_HS256_SECRET_BYTES:
        raise AuthConfigError(f"BFF_JWT_HS256_SECRET must be at least {MIN_HS256_SECRET_BYTES} bytes")
    return Authenticator(
        mode=JWT,
        jwks=JwksKeys(settings.jwks_url, timeout_s=settings.connect_timeout_s) if settings.jwks_url else None,
        hs256_secret=secret,
        issuer=settings.jwt_issuer,
        audiences=_csv(settings.jwt_audience),
        api_keys=api_keys,
    )


def _authenticator(conn: HTTPConnection) -> Authenticator:
    auth = getattr(conn.app.state, "authenticator", None)
    if auth is None:  # an app built without create_app (unit tests of other modules)
        return Authenticator(mode=LOCAL_DEV)
    assert isinstance(auth, Authenticator)
    return auth


async def authenticate_connection(conn: HTTPConnection) -> Principal:
    """The principal of an HTTP request or a WebSocket handshake.

    Browsers cannot set headers on a WebSocket, so there (only there) the token may also come
    as the `access_token` query parameter.
    """
    authorization = conn.headers.get("authorization")
    if authorization is None and conn.scope["type"] == "websocket":
        token = conn.query_params.get("access_token")
        authorization = f"Bearer {token}" if token else None
    principal = await _authenticator(conn).authenticate(authorization, conn.headers.get(API_KEY_HEADER))
    conn.state.principal = principal
    bind_principal(principal.id)
    return principal


async def get_principal(conn: HTTPConnection) -> Principal:
    """FastAPI dependency (HTTP and WebSocket): the authenticated caller, or 401 first thing."""
    return await authenticate_connection(conn)


CurrentPrincipal = Annotated[Principal, Depends(get_principal)]
