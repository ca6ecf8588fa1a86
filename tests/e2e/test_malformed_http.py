"""A request aiohttp's parser refuses (a control character in a header, a broken request line) gets 400 and one
warning line in the log, not an ERROR with a traceback."""

from __future__ import annotations

import asyncio
import logging

import pytest

from tests.kit.harness import BotUnderTest


@pytest.mark.parametrize(
    "raw",
    [
        b"POST /api/messages HTTP/1.1\r\nHost: x\r\nX-Bad: a\x7fb\r\nContent-Length: 2\r\n\r\n{}",
        b"POST /api/messages HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \x01\r\nContent-Length: 2\r\n\r\n{}",
        b"POST /api/mes sages HTTP/1.1\r\nHost: x\r\n\r\n",
    ],
)
async def test_a_request_the_http_parser_refuses_is_a_400_and_one_warning(
    bot: BotUnderTest, raw: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG, logger="aiohttp"):
        reader, writer = await asyncio.open_connection("127.0.0.1", bot.server.port)
        writer.write(raw)
        await writer.drain()
        answer = await asyncio.wait_for(reader.read(200), 5)
        writer.close()
        await writer.wait_closed()
        await asyncio.sleep(0.05)
    assert answer.startswith(b"HTTP/1.")
    assert b" 400 " in answer.split(b"\r\n")[0]
    server = [r for r in caplog.records if r.name == "aiohttp.server"]
    assert server, "aiohttp logged nothing about the refused request"
    assert all(r.levelno <= logging.WARNING and r.exc_info is None for r in server), [r.getMessage() for r in server]
    assert any("refused a malformed HTTP request: 400" in r.getMessage() for r in server)
