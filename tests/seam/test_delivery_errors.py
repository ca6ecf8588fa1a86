"""Both seams say whether a failed send may still have reached Teams (``DeliveryError.maybe_delivered``), which
decides whether the outbox may send an at-most-once message again (bot/domain/delivery.py)."""

from __future__ import annotations

import logging
import socket
from datetime import UTC, datetime

import pytest

from bot.teams import DeliveryError, open_gateway
from tests.features.delivery.kit import channel_reference
from tests.kit.connector import Call, FakeConnector
from tests.kit.harness import test_settings

CHANNEL = "19:promises@thread.tacv2"


def _gateway(sdk: str, timeout_s: float = 0.5):  # type: ignore[no-untyped-def]
    return open_gateway(test_settings(sdk=sdk, connector_timeout=timeout_s), lambda: datetime(2026, 12, 1, tzinfo=UTC))


async def _failure(sdk: str, service_url: str) -> DeliveryError:
    gateway = _gateway(sdk)
    try:
        with pytest.raises(DeliveryError) as caught:
            await gateway.send(channel_reference(service_url, CHANNEL), "hello")
    finally:
        await gateway.close()
    return caught.value


@pytest.mark.parametrize(
    ("status", "maybe"),
    [(500, True), (502, True), (504, True), (503, False), (429, False), (412, False), (401, False), (400, False)],
)
async def test_a_status_says_whether_teams_may_have_acted(
    sdk: str, connector: FakeConnector, status: int, maybe: bool, caplog: pytest.LogCaptureFixture
) -> None:
    connector.policy = lambda call: (status, {}) if call.method == "POST" else None
    with caplog.at_level(logging.DEBUG):
        error = await _failure(sdk, connector.url)
    assert error.status == status
    assert error.maybe_delivered is maybe
    # the caller logs the failure once, with context: the SDK's own line about it is not an ERROR
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []


async def test_an_answer_that_never_comes_after_the_request_was_accepted_may_have_been_delivered(
    sdk: str, connector: FakeConnector
) -> None:
    def stall(call: Call) -> float | None:
        return 3.0 if call.method == "POST" else None

    connector.hang = stall
    error = await _failure(sdk, connector.url)
    assert error.status == 0
    assert error.maybe_delivered
    assert len(connector.sent(CHANNEL)) == 1  # Teams (the fake) did take it


async def test_a_connection_that_was_never_made_delivered_nothing(sdk: str) -> None:
    with socket.socket() as probe:  # a port nobody listens on: connection refused
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    error = await _failure(sdk, f"http://127.0.0.1:{port}")
    assert error.status == 0
    assert not error.maybe_delivered
