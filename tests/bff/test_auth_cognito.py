"""Real Cognito-shaped RS256 tokens, minted by moto's cognito-idp in server mode, verified by
bff.auth through the pool's JWKS served over HTTP (REFERENCE.md section 3)."""

from __future__ import annotations

import gzip
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import resources
from typing import Any

import boto3
import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from moto.server import ThreadedMotoServer

from bff.app import create_app
from bff.auth import Authenticator, JwksKeys, build_authenticator
from bff.eventlog import MemoryEventLog
from bff.exceptions import Unauthorized
from bff.settings import Settings
from tests.bff.test_runs_fakes import FakeUpstream, serve

PASSWORD = "Passw0rd!-long-enough"


@dataclass
class Pool:
    endpoint: str
    pool_id: str
    client_id: str
    issuer: str
    jwks_url: str
    client: Any

    def tokens(self, username: str) -> dict[str, str]:
        try:
            self.client.admin_create_user(
                UserPoolId=self.pool_id, Username=username, TemporaryPassword="Tmp-pass1!"
            )
            self.client.admin_set_user_password(
                UserPoolId=self.pool_id, Username=username, Password=PASSWORD, Permanent=True
            )
        except self.client.exceptions.UsernameExistsException:
            pass
        result = self.client.admin_initiate_auth(
            UserPoolId=self.pool_id,
            ClientId=self.client_id,
            AuthFlow="ADMIN_NO_SRP_AUTH",
            AuthParameters={"USERNAME": username, "PASSWORD": PASSWORD},
        )
        return result["AuthenticationResult"]

    def settings(self, **extra: Any) -> Settings:
        values = {
            "auth_mode": "jwt",
            "jwks_url": self.jwks_url,
            "jwt_issuer": self.issuer,
            "jwt_audience": self.client_id,
        }
        values.update(extra)
        return Settings(**values)


@pytest.fixture(scope="module")
def moto_server() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


def make_pool(endpoint: str, name: str) -> Pool:
    client = boto3.client(
        "cognito-idp",
        region_name="us-east-1",
        endpoint_url=endpoint,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    pool_id = client.create_user_pool(PoolName=name)["UserPool"]["Id"]
    app_client = client.create_user_pool_client(
        UserPoolId=pool_id, ClientName=f"{name}-web", ExplicitAuthFlows=["ALLOW_ADMIN_USER_PASSWORD_AUTH"]
    )["UserPoolClient"]
    return Pool(
        endpoint=endpoint,
        pool_id=pool_id,
        client_id=app_client["ClientId"],
        issuer=f"https://cognito-idp.us-east-1.amazonaws.com/{pool_id}",
        jwks_url=f"{endpoint}/{pool_id}/.well-known/jwks.json",
        client=client,
    )


@pytest.fixture(scope="module")
def pool(moto_server: str) -> Pool:
    return make_pool(moto_server, "users")


def moto_private_key() -> jwt.PyJWK:
    """The key moto signs every pool's tokens with (to mint tokens moto would not: expired ones)."""
    raw = resources.files("moto").joinpath("cognitoidp/resources/jwks-private.json.gz").read_bytes()
    return jwt.PyJWK(json.loads(gzip.decompress(raw)))


def forge(pool: Pool, key: Any, **claims: Any) -> str:
    now = int(time.time())
    body = {
        "sub": "forged",
        "iss": pool.issuer,
        "aud": pool.client_id,
        "token_use": "id",
        "iat": now,
        "exp": now + 60,
    }
    body.update(claims)
    return jwt.encode(body, key, algorithm="RS256", headers={"kid": "dummy"})


async def test_cognito_id_token_is_accepted_through_the_jwks(pool: Pool) -> None:
    tokens = pool.tokens("alice")
    assert jwt.get_unverified_header(tokens["IdToken"])["alg"] == "RS256"
    principal = await build_authenticator(pool.settings()).authenticate(f"Bearer {tokens['IdToken']}", None)
    assert principal.id == jwt.decode(tokens["IdToken"], options={"verify_signature": False})["sub"]
    assert principal.claims["cognito:username"] == "alice"


async def test_cognito_access_token_is_accepted_on_its_client_id(pool: Pool) -> None:
    tokens = pool.tokens("alice")
    principal = await build_authenticator(pool.settings()).authenticate(
        f"Bearer {tokens['AccessToken']}", None
    )
    assert principal.claims["token_use"] == "access"
    assert principal.claims["client_id"] == pool.client_id


async def test_two_users_are_two_principals(pool: Pool) -> None:
    auth = build_authenticator(pool.settings())
    alice = await auth.authenticate(f"Bearer {pool.tokens('alice')['IdToken']}", None)
    bob = await auth.authenticate(f"Bearer {pool.tokens('bob')['IdToken']}", None)
    assert alice.id != bob.id


async def test_token_of_another_pool_is_refused(pool: Pool, moto_server: str) -> None:
    other = make_pool(moto_server, "other")
    with pytest.raises(Unauthorized) as caught:
        await build_authenticator(pool.settings()).authenticate(
            f"Bearer {other.tokens('alice')['IdToken']}", None
        )
    assert caught.value.code == "invalid_token"


async def test_token_for_another_app_client_is_refused(pool: Pool) -> None:
    with pytest.raises(Unauthorized) as caught:
        await build_authenticator(pool.settings(jwt_audience="another-client")).authenticate(
            f"Bearer {pool.tokens('alice')['IdToken']}", None
        )
    assert caught.value.code == "invalid_token"


async def test_expired_cognito_token_is_refused(pool: Pool) -> None:
    expired = forge(pool, moto_private_key().key, exp=int(time.time()) - 600, iat=int(time.time()) - 4200)
    with pytest.raises(Unauthorized) as caught:
        await build_authenticator(pool.settings()).authenticate(f"Bearer {expired}", None)
    assert caught.value.code == "token_expired"


async def test_token_signed_by_another_key_with_the_same_kid_is_refused(pool: Pool) -> None:
    impostor = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    with pytest.raises(Unauthorized) as caught:
        await build_authenticator(pool.settings()).authenticate(f"Bearer {forge(pool, impostor)}", None)
    assert caught.value.code == "invalid_token"


async def test_unknown_kid_refetches_the_jwks_at_most_once_per_interval(pool: Pool) -> None:
    keys = JwksKeys(pool.jwks_url)
    fetches = 0
    fetch = keys._client.get_signing_keys

    def counting_fetch(*args: Any, **kwargs: Any) -> Any:
        nonlocal fetches
        fetches += 1
        return fetch(*args, **kwargs)

    keys._client.get_signing_keys = counting_fetch  # type: ignore[method-assign]
    auth = Authenticator(mode="jwt", jwks=keys, issuer=pool.issuer, audiences=[pool.client_id])
    good = pool.tokens("alice")["IdToken"]
    await auth.authenticate(f"Bearer {good}", None)
    await auth.authenticate(f"Bearer {good}", None)
    assert fetches == 1  # the second verification used the cached key
    impostor = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    for kid in ("made-up-1", "made-up-2", "made-up-3"):
        forged = jwt.encode({"sub": "x"}, impostor, algorithm="RS256", headers={"kid": kid})
        with pytest.raises(Unauthorized):
            await auth.authenticate(f"Bearer {forged}", None)
    assert fetches == 1  # unknown key ids do not hammer the JWKS endpoint


async def test_unreachable_jwks_is_a_401_not_a_crash() -> None:
    settings = Settings(
        auth_mode="jwt",
        jwks_url="http://127.0.0.1:9/nowhere/.well-known/jwks.json",
        jwt_issuer="https://issuer.example",
        jwt_audience="client",
    )
    forged = jwt.encode(
        {"sub": "x"},
        rsa.generate_private_key(public_exponent=65537, key_size=2048),
        "RS256",
        headers={"kid": "k"},
    )
    with pytest.raises(Unauthorized):
        await build_authenticator(settings).authenticate(f"Bearer {forged}", None)


async def test_cognito_tokens_are_accepted_by_the_running_bff(pool: Pool) -> None:
    """The whole path: moto mints, the app fetches the JWKS over HTTP, the run belongs to the user."""
    app = create_app(
        pool.settings(rate_limit_per_minute=0), upstream=FakeUpstream(), event_log=MemoryEventLog()
    )
    tokens = pool.tokens("alice")
    async with serve(app) as url, httpx.AsyncClient(base_url=url, timeout=10) as client:
        for token in (tokens["IdToken"], tokens["AccessToken"]):
            response = await client.post(
                "/v1/chat", json={"message": "hello"}, headers={"Authorization": f"Bearer {token}"}
            )
            assert response.status_code == 200, response.text
        run_id = response.json()["run_id"]
        bob = pool.tokens("bob")["IdToken"]
        other = await client.get(f"/v1/runs/{run_id}", headers={"Authorization": f"Bearer {bob}"})
        assert other.status_code == 404
        expired = forge(pool, moto_private_key().key, exp=int(time.time()) - 600)
        refused = await client.get("/v1/sessions", headers={"Authorization": f"Bearer {expired}"})
        assert (refused.status_code, refused.json()["error"]["code"]) == (401, "token_expired")
