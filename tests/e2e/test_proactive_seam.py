"""The seam's proactive sends against the fake connector: ids come back, failures surface as DeliveryError
with the status and Retry-After, and the SDK itself never retries (the outbox owns retries)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest

from bot.teams import DeliveryError, TeamsGateway
from bot.turn import Card, Person
from tests.kit.connector import Call, FakeConnector
from tests.kit.harness import test_settings


@pytest.fixture
async def gateway() -> AsyncIterator[TeamsGateway]:
    gw = TeamsGateway(test_settings(), lambda: datetime(2026, 11, 23, tzinfo=UTC))
    yield gw
    await gw.close()


def _reference(connector: FakeConnector, conversation: str = "19:team-1@thread.tacv2") -> dict[str, object]:
    return {
        "bot": {"id": "28:bot", "name": "CoP Bot"},
        "user": {"id": "29:u1", "name": "Alice"},
        "conversation": {"id": conversation, "conversationType": "channel", "tenantId": "tenant-1"},
        "channelId": "msteams",
        "serviceUrl": connector.url,
    }


async def test_send_update_and_personal_chat(gateway: TeamsGateway, connector: FakeConnector) -> None:
    activity_id = await gateway.send(_reference(connector), Card({"type": "AdaptiveCard", "body": []}, "hi"))
    assert activity_id.startswith("act-")
    await gateway.update(_reference(connector), activity_id, "edited")
    [put] = connector.updates()
    assert put.activity_id == activity_id
    assert put.text == "edited"
    personal = await gateway.open_personal_chat(_reference(connector), Person("29:u2", "aad-2", "Bob"))
    [created] = connector.created()
    assert created.body is not None
    assert created.body["members"][0]["id"] == "29:u2"
    assert created.body["channelData"]["tenant"]["id"] == "tenant-1"
    assert personal["conversation"]["id"].startswith("a:personal-")
    assert personal["serviceUrl"] == connector.url
    mention = await gateway.send(personal, "hello", mention=Person("29:u2", "aad-2", "Bob"))
    assert mention
    last = connector.sent()[-1]
    assert last.text.startswith("<at>Bob</at>")


@pytest.mark.parametrize(("status", "retry_after"), [(429, 3.0), (403, None), (404, None), (502, None)])
async def test_failures_surface_with_status_and_are_not_retried_by_the_sdk(
    gateway: TeamsGateway, connector: FakeConnector, status: int, retry_after: float | None
) -> None:
    headers = {"Retry-After": "3"} if retry_after else {}

    def fail(call: Call) -> tuple[int, dict[str, str]] | None:
        return (status, headers) if call.method in ("POST", "PUT") else None

    connector.policy = fail
    with pytest.raises(DeliveryError) as raised:
        await gateway.send(_reference(connector), "hello")
    assert raised.value.status == status
    assert raised.value.retry_after == retry_after
    with pytest.raises(DeliveryError):
        await gateway.update(_reference(connector), "act-1", "edited")
    assert len(connector.calls) == 2  # one POST and one PUT: no hidden SDK retries


async def test_unreachable_connector_is_status_zero(gateway: TeamsGateway) -> None:
    reference = {
        "bot": {"id": "28:bot"},
        "conversation": {"id": "a:1"},
        "channelId": "msteams",
        "serviceUrl": "http://127.0.0.1:9/",
    }
    with pytest.raises(DeliveryError) as raised:
        await gateway.send(reference, "hello")
    assert raised.value.status == 0


def test_msrest_retry_policies_share_one_set_of_codes() -> None:
    """Each connector client the SDK makes per turn has a retry policy; they share one frozen set of the codes
    msrest retries instead of a 500-number list each, and retry the same codes as before."""
    from msrest.universal_http.requests import ClientRetryPolicy

    TeamsGateway(test_settings(), lambda: datetime(2026, 1, 5, tzinfo=UTC))
    first, second = ClientRetryPolicy(), ClientRetryPolicy()
    assert first.policy.status_forcelist is second.policy.status_forcelist
    codes = first.policy.status_forcelist
    assert isinstance(codes, frozenset)
    assert codes == {i for i in range(999) if i not in range(500) or i == 408} - {501, 505}
    assert first.policy.is_retry("GET", 503)
    assert first.policy.is_retry("GET", 408)
    assert not first.policy.is_retry("GET", 429)  # msrest never retried 429 (the outbox does)
    assert not first.policy.is_retry("GET", 404)
    assert not first.policy.is_retry("GET", 501)
