"""bff.auth: configuration refusals, HS256 and API-key verification, runtime session ids."""

from __future__ import annotations

import time
from pathlib import Path

import jwt
import pytest

from bff.auth import (
    LOCAL_PRINCIPAL,
    AuthConfigError,
    Authenticator,
    build_authenticator,
    hash_api_key,
    parse_api_keys,
    runtime_session_id,
)
from bff.exceptions import Unauthorized
from bff.settings import Settings

SECRET = "s" * 40
ISSUER = "https://issuer.example"
AUDIENCE = "bff-client"


def hs256_settings(**extra: object) -> Settings:
    values: dict[str, object] = {
        "auth_mode": "jwt",
        "jwt_hs256_secret": SECRET,
        "jwt_issuer": ISSUER,
        "jwt_audience": AUDIENCE,
    }
    values.update(extra)
    return Settings(**values)


def token(secret: str = SECRET, **claims: object) -> str:
    now = int(time.time())
    body: dict[str, object] = {"sub": "alice", "iss": ISSUER, "aud": AUDIENCE, "iat": now, "exp": now + 300}
    body.update(claims)
    return jwt.encode({k: v for k, v in body.items() if v is not None}, secret, algorithm="HS256")


# --- configuration --------------------------------------------------------------------------


def test_local_dev_mode_is_explicit_and_authenticates_everyone_as_local() -> None:
    auth = build_authenticator(Settings(auth_mode="local-dev"))
    assert not auth.enabled


async def test_local_dev_mode_ignores_credentials() -> None:
    auth = build_authenticator(Settings(auth_mode="local-dev"))
    assert await auth.authenticate(None, None) == LOCAL_PRINCIPAL


@pytest.mark.parametrize("mode", ["", "off", "none", "JWT-please"])
def test_unknown_auth_mode_refuses_to_start(mode: str) -> None:
    with pytest.raises(AuthConfigError, match="BFF_AUTH_MODE"):
        build_authenticator(Settings(auth_mode=mode))


def test_jwt_mode_without_anything_to_verify_against_refuses_to_start() -> None:
    with pytest.raises(AuthConfigError, match="BFF_JWKS_URL"):
        build_authenticator(Settings(auth_mode="jwt"))


def test_jwt_verification_without_issuer_or_audience_refuses_to_start() -> None:
    with pytest.raises(AuthConfigError, match="ISSUER"):
        build_authenticator(Settings(auth_mode="jwt", jwt_hs256_secret=SECRET, jwt_audience=AUDIENCE))
    with pytest.raises(AuthConfigError, match="AUDIENCE"):
        build_authenticator(Settings(auth_mode="jwt", jwt_hs256_secret=SECRET, jwt_issuer=ISSUER))


def test_short_hs256_secret_refuses_to_start() -> None:
    with pytest.raises(AuthConfigError, match="at least"):
        build_authenticator(hs256_settings(jwt_hs256_secret="short"))


def test_api_keys_alone_are_enough_for_jwt_mode() -> None:
    auth = build_authenticator(Settings(auth_mode="jwt", api_keys=f"svc:{hash_api_key('k-1')}"))
    assert auth.enabled


def test_api_keys_parse_inline_and_from_file(tmp_path: Path) -> None:
    digest = hash_api_key("key-one")
    assert parse_api_keys(f"one:{digest}, two:{hash_api_key('key-two')}") == {
        digest: "one",
        hash_api_key("key-two"): "two",
    }
    keys_file = tmp_path / "keys"
    keys_file.write_text(f"# service keys\none:{digest}\n\n")
    assert parse_api_keys(str(keys_file)) == {digest: "one"}


@pytest.mark.parametrize("spec", ["one:plaintextkey", "one", ":" + "a" * 64, "one:" + "g" * 64])
def test_api_keys_that_are_not_sha256_hashes_refuse_to_start(spec: str) -> None:
    with pytest.raises(AuthConfigError):
        parse_api_keys(spec)


# --- bearer JWTs (HS256, development) -------------------------------------------------------


async def test_valid_hs256_token_gives_its_subject() -> None:
    principal = await build_authenticator(hs256_settings()).authenticate(f"Bearer {token()}", None)
    assert principal.id == "alice"
    assert principal.kind == "jwt"


async def test_bearer_scheme_is_case_insensitive() -> None:
    principal = await build_authenticator(hs256_settings()).authenticate(f"bearer {token()}", None)
    assert principal.id == "alice"


@pytest.mark.parametrize(
    ("authorization", "code"),
    [
        (None, "unauthorized"),
        ("", "unauthorized"),
        ("Basic dXNlcjpwYXNz", "unauthorized"),
        ("Bearer ", "unauthorized"),
        ("Bearer not-a-jwt", "invalid_token"),
        (f"Bearer {token(secret='x' * 40)}", "invalid_token"),  # bad signature
        (f"Bearer {token(exp=int(time.time()) - 3600)}", "token_expired"),
        (f"Bearer {token(aud='someone-else')}", "invalid_token"),
        (f"Bearer {token(aud=None)}", "invalid_token"),
        (f"Bearer {token(iss='https://evil.example')}", "invalid_token"),
        (f"Bearer {token(nbf=int(time.time()) + 3600)}", "invalid_token"),
        (f"Bearer {token(exp=None)}", "invalid_token"),
        (f"Bearer {token(sub=None)}", "invalid_token"),
        (f"Bearer {token(sub='')}", "invalid_token"),  # nobody: no principal to derive ids from
        (f"Bearer {token(sub='apikey:reporting')}", "invalid_token"),  # not a service client's id
    ],
    ids=[
        "missing",
        "empty",
        "basic",
        "empty-bearer",
        "garbage",
        "bad-signature",
        "expired",
        "wrong-audience",
        "no-audience",
        "wrong-issuer",
        "not-yet-valid",
        "no-expiry",
        "no-subject",
        "empty-subject",
        "api-key-subject",
    ],
)
async def test_bad_bearer_tokens_are_refused_with_a_stable_code(authorization: str | None, code: str) -> None:
    with pytest.raises(Unauthorized) as caught:
        await build_authenticator(hs256_settings()).authenticate(authorization, None)
    assert caught.value.status == 401
    assert caught.value.code == code
    assert caught.value.headers() == {"WWW-Authenticate": "Bearer"}


async def test_alg_none_token_is_refused() -> None:
    unsigned = jwt.encode(
        {"sub": "alice", "iss": ISSUER, "aud": AUDIENCE, "exp": time.time() + 60}, None, "none"
    )
    with pytest.raises(Unauthorized):
        await build_authenticator(hs256_settings()).authenticate(f"Bearer {unsigned}", None)


async def test_cognito_access_token_audience_is_its_client_id() -> None:
    access = token(aud=None, token_use="access", client_id=AUDIENCE)
    principal = await build_authenticator(hs256_settings()).authenticate(f"Bearer {access}", None)
    assert principal.id == "alice"
    other = token(aud=None, token_use="access", client_id="another-client")
    with pytest.raises(Unauthorized):
        await build_authenticator(hs256_settings()).authenticate(f"Bearer {other}", None)


async def test_hs256_token_is_refused_when_only_a_jwks_is_configured() -> None:
    auth = Authenticator(mode="jwt", issuer=ISSUER, audiences=[AUDIENCE])
    with pytest.raises(Unauthorized, match="algorithm"):
        await auth.authenticate(f"Bearer {token()}", None)


# --- API keys -------------------------------------------------------------------------------


async def test_api_key_is_matched_by_its_hash() -> None:
    auth = build_authenticator(hs256_settings(api_keys=f"reporting:{hash_api_key('secret-key-1')}"))
    principal = await auth.authenticate(None, "secret-key-1")
    assert (principal.id, principal.kind) == ("apikey:reporting", "api_key")


async def test_unknown_api_key_is_refused() -> None:
    auth = build_authenticator(hs256_settings(api_keys=f"reporting:{hash_api_key('secret-key-1')}"))
    with pytest.raises(Unauthorized) as caught:
        await auth.authenticate(None, "secret-key-2")
    assert caught.value.code == "invalid_api_key"


# --- runtime session ids --------------------------------------------------------------------


def test_runtime_session_id_is_stable_per_principal_and_session() -> None:
    session = "a" * 40
    assert runtime_session_id("alice", session) == runtime_session_id("alice", session)
    assert runtime_session_id("alice", session) != runtime_session_id("bob", session)
    assert runtime_session_id("alice", session) != runtime_session_id("alice", "b" * 40)


def test_runtime_session_id_fits_agentcore_bounds_and_hides_its_inputs() -> None:
    rid = runtime_session_id("alice", "a" * 256)
    assert 33 <= len(rid) <= 256
    assert "alice" not in rid
    # no separator games: ("ab", "c") and ("a", "bc") differ
    assert runtime_session_id("ab", "c" * 40) != runtime_session_id("a", "b" + "c" * 40)
