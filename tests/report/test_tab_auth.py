"""The report tab's sign-in: Teams single sign-on tokens checked against Entra ID keys served from 127.0.0.1 (the
kit's fake identity service serves OpenID metadata and a JWKS; tokens are minted with its key or a stranger's), and
the tab's API end to end for each role."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

import jwt
import pytest

from bot.report.auth import TabTokens, TokenRefused
from bot.teams.identity import IdentityUnavailable
from storage.sqlite import SqliteStore
from tests.kit.connector import FakeConnector
from tests.kit.harness import BotUnderTest, running_bot, test_settings
from tests.kit.identity import KEY_ID, FakeIdentity, new_key
from tests.report.kit import ADMIN, ALICE, EVE, FIN, MEMBER, build, local_path

APP_ID = "6d0c9f3e-2a41-4c7b-9d55-0b7f1c2e8a10"
TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"
OTHER_TENANT = "0c1d2e3f-4a5b-4c6d-8e9f-a0b1c2d3e4f5"
RESOURCE = f"api://127.0.0.1/{APP_ID}"  # the test settings' public URL is http://127.0.0.1:3978


@pytest.fixture
async def entra() -> AsyncIterator[FakeIdentity]:
    fake = FakeIdentity()
    await fake.start()
    yield fake
    await fake.close()


def tab_token(entra: FakeIdentity, oid: str = "aad-admin", **changes: Any) -> str:
    """A token as Teams hands the tab: v2 issuer of its tenant, audience the Application ID URI, the person's oid."""
    tenant = changes.pop("tid", TENANT)
    claims: dict[str, Any] = {"tid": tenant, "oid": oid, "scp": "access_as_user", "ver": "2.0"}
    claims.update(changes.pop("extra", {}))
    return entra.token(
        app_id=changes.pop("aud", RESOURCE),
        service_url="",
        issuer=changes.pop("iss", f"https://login.microsoftonline.com/{tenant}/v2.0"),
        extra=claims,
        **changes,
    )


def tokens(entra: FakeIdentity, **overrides: Any) -> TabTokens:
    settings = test_settings(app_id=APP_ID, entra_metadata_url=entra.metadata_url, identity_timeout=1.0)
    return TabTokens(replace(settings, **overrides))


async def test_a_teams_token_names_the_person(entra: FakeIdentity) -> None:
    found = await tokens(entra).identify("Bearer " + tab_token(entra, "aad-0001"))
    assert (found.aad_id, found.tenant_id) == ("aad-0001", TENANT)


async def test_v1_issuer_and_the_bare_app_id_as_audience_are_accepted(entra: FakeIdentity) -> None:
    token = tab_token(entra, aud=APP_ID, iss=f"https://sts.windows.net/{TENANT}/")
    assert (await tokens(entra).identify(f"Bearer {token}")).aad_id == "aad-admin"


async def test_allowed_tenants_are_honoured(entra: FakeIdentity) -> None:
    checker = tokens(entra, allowed_tenants=frozenset({TENANT}))
    assert (await checker.identify("Bearer " + tab_token(entra))).tenant_id == TENANT
    with pytest.raises(TokenRefused, match="tenant is not allowed"):
        await checker.identify("Bearer " + tab_token(entra, tid=OTHER_TENANT))
    assert entra.requests.count("/keys") == 1  # refused before any key was needed


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"aud": "api://127.0.0.1/another-app"}, "another application"),
        ({"aud": f"api://evil.example/{APP_ID}"}, "another application"),
        ({"iss": f"https://login.microsoftonline.com/{OTHER_TENANT}/v2.0"}, "issuer"),
        ({"iss": "https://api.botframework.com"}, "issuer"),
        ({"expires_in": -3600}, "expired"),
        ({"key": new_key()}, "invalid token"),  # right key id, wrong key: the signature does not verify
        ({"kid": "unknown-key"}, "unknown key"),
        ({"extra": {"oid": ""}}, "names no person"),
        ({"tid": "not a tenant!"}, "no tenant"),
    ],
)
async def test_tokens_that_fail_a_check_are_refused(entra: FakeIdentity, changes: dict[str, Any], reason: str) -> None:
    with pytest.raises(TokenRefused, match=reason):
        await tokens(entra).identify("Bearer " + tab_token(entra, **changes))


async def test_unsigned_and_symmetric_tokens_and_bad_headers_are_refused(entra: FakeIdentity) -> None:
    now = int(time.time())
    claims = {"iss": f"https://login.microsoftonline.com/{TENANT}/v2.0", "aud": RESOURCE, "exp": now + 600}
    claims |= {"tid": TENANT, "oid": "aad-admin"}
    forged = [
        jwt.encode(claims, "a-shared-secret-that-is-long-enough-32", algorithm="HS256", headers={"kid": KEY_ID}),
        jwt.encode(claims, "", algorithm="none", headers={"kid": KEY_ID}),
    ]
    checker = tokens(entra)
    for header in ["", "Basic abc", "Bearer not-a-jwt", "Bearer " + "a" * 9000, *(f"Bearer {t}." for t in forged)]:
        with pytest.raises(TokenRefused):
            await checker.identify(header)
    with pytest.raises(TokenRefused, match="unsupported token algorithm"):
        await checker.identify(f"Bearer {forged[0]}")
    with pytest.raises(TokenRefused, match="not a Bearer JWT"):  # no signature at all
        await checker.identify(f"Bearer {forged[1]}")
    assert "/keys" not in entra.requests  # none of them needed a key


async def test_without_an_app_id_tab_sign_in_is_off(entra: FakeIdentity) -> None:
    with pytest.raises(TokenRefused, match="no app id"):
        await tokens(entra, app_id="").identify("Bearer " + tab_token(entra))


async def test_an_unreachable_key_service_is_unavailable_not_refused(entra: FakeIdentity) -> None:
    entra.mode = "error"
    with pytest.raises(IdentityUnavailable):
        await tokens(entra).identify("Bearer " + tab_token(entra))


# -- the tab's API end to end ------------------------------------------------------------------------------------


@pytest.fixture
async def tab_bot(
    sqlite_store: SqliteStore, connector: FakeConnector, entra: FakeIdentity
) -> AsyncIterator[BotUnderTest]:
    settings = test_settings(app_id=APP_ID, entra_metadata_url=entra.metadata_url, identity_timeout=1.0)
    async with running_bot(sqlite_store, connector=connector, settings=settings) as running:
        yield running


async def api(bot: BotUnderTest, header: str | None, query: str = "") -> tuple[int, str]:
    headers = {"Authorization": header} if header is not None else {}
    async with bot.http.get(str(bot.server.make_url("/report/api/page" + query)), headers=headers) as response:
        return response.status, await response.text()


async def test_the_tab_shows_each_role_its_report(tab_bot: BotUnderTest, entra: FakeIdentity) -> None:
    await build(tab_bot)
    status, html = await api(tab_bot, "Bearer " + tab_token(entra, ADMIN.aad))
    assert status == 200
    assert "<strong>17</strong> people in <strong>18</strong> memberships" in html
    status, html = await api(tab_bot, "Bearer " + tab_token(entra, EVE.aad))
    assert status == 200
    assert "across <strong>2</strong> CoPs" in html
    status, html = await api(tab_bot, "Bearer " + tab_token(entra, ALICE.aad))
    assert status == 200
    assert "report: Data and Insight" in html
    # the page's CSV links are short-lived signed links for the same person
    start = html.index('href="/report/') + len('href="')
    link = html[start : html.index('"', start)].replace("&amp;", "&")
    status_csv, body, _ = await tab_bot.get(local_path(link))
    assert status_csv == 200
    assert body.decode("utf-8-sig").startswith("Term,People,Memberships")


async def test_the_tab_refuses_members_forged_tokens_and_other_cops(tab_bot: BotUnderTest, entra: FakeIdentity) -> None:
    await build(tab_bot)
    assert (await api(tab_bot, "Bearer " + tab_token(entra, MEMBER.aad)))[0] == 403
    assert (await api(tab_bot, None))[0] == 401
    assert (await api(tab_bot, "Bearer " + tab_token(entra, ADMIN.aad, key=new_key())))[0] == 401
    assert (await api(tab_bot, "Bearer " + tab_token(entra, ADMIN.aad, expires_in=-3600)))[0] == 401
    status, _ = await api(tab_bot, "Bearer " + tab_token(entra, ALICE.aad), f"?cop={FIN.id}")
    assert status == 403
    entra.mode = "error"
    fresh = TabTokens(tab_bot.services.settings)  # no keys cached yet
    with pytest.raises(IdentityUnavailable):
        await fresh.identify("Bearer " + tab_token(entra, ADMIN.aad))


async def test_the_tab_page_loads_the_teams_sdk_from_the_bot(tab_bot: BotUnderTest) -> None:
    status, body, headers = await tab_bot.get("/report/tab")
    html = body.decode()
    assert status == 200
    assert '<script src="/report/static/teams.js"' in html
    assert "https://" not in html  # nothing from a CDN
    assert "frame-ancestors" in headers["Content-Security-Policy"]
    assert "https://teams.microsoft.com" in headers["Content-Security-Policy"]
