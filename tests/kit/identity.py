"""A fake Bot Framework identity service on 127.0.0.1: OpenID metadata + JWKS, and a token minter.

Point the app at it with ``Settings(openid_metadata_url=fake.metadata_url)``. ``mode`` switches the service
between answering, failing (500) and never answering, to test that authentication fails fast.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any, Literal

import jwt
from aiohttp import web
from aiohttp.test_utils import TestServer
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

ISSUER = "https://api.botframework.com"
KEY_ID = "test-key-1"

Mode = Literal["ok", "error", "hang"]


def new_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


class FakeIdentity:
    def __init__(self, *, endorsements: tuple[str, ...] = ("msteams",)) -> None:
        self.key = new_key()
        self.endorsements = list(endorsements)
        self.mode: Mode = "ok"
        self.requests: list[str] = []
        self._release = asyncio.Event()
        self._server: TestServer | None = None

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/.well-known/openid-configuration", self._metadata)
        app.router.add_get("/keys", self._keys)
        self._server = TestServer(app, host="127.0.0.1")
        await self._server.start_server()

    async def close(self) -> None:
        self._release.set()
        if self._server is not None:
            await self._server.close()

    @property
    def base(self) -> str:
        assert self._server is not None
        return str(self._server.make_url("")).rstrip("/")

    @property
    def metadata_url(self) -> str:
        return f"{self.base}/.well-known/openid-configuration"

    async def _answer(self, request: web.Request, body: dict[str, Any]) -> web.Response:
        self.requests.append(request.path)
        if self.mode == "hang":
            await self._release.wait()
        if self.mode == "error":
            return web.json_response({"error": "down"}, status=500)
        return web.json_response(body)

    async def _metadata(self, request: web.Request) -> web.Response:
        return await self._answer(request, {"issuer": ISSUER, "jwks_uri": f"{self.base}/keys"})

    async def _keys(self, request: web.Request) -> web.Response:
        jwk = json.loads(RSAAlgorithm.to_jwk(self.key.public_key()))
        jwk.update({"kid": KEY_ID, "use": "sig", "endorsements": self.endorsements})
        return await self._answer(request, {"keys": [jwk]})

    def token(
        self,
        *,
        app_id: str,
        service_url: str,
        issuer: str = ISSUER,
        expires_in: float = 3600,
        key: rsa.RSAPrivateKey | None = None,
        kid: str = KEY_ID,
        extra: dict[str, Any] | None = None,
    ) -> str:
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": issuer,
            "aud": app_id,
            "serviceurl": service_url,
            "iat": now - 10,
            "nbf": now - 10,
            "exp": int(now + expires_in),
            **(extra or {}),
        }
        return jwt.encode(claims, key or self.key, algorithm="RS256", headers={"kid": kid})
