"""aiohttp's log of requests it could not parse: one line, not a traceback.

A client that sends a malformed HTTP request (a control character in a header, a broken request line) gets 400
from aiohttp's parser before the app sees it, and aiohttp logs that at ERROR with the parser's traceback, which
reads like a fault of the bot. The filter turns those records into one warning naming what was refused.
"""

from __future__ import annotations

import logging

from aiohttp.http_exceptions import HttpProcessingError


class MalformedRequests(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if isinstance(error, HttpProcessingError):
            record.levelno, record.levelname = logging.WARNING, "WARNING"
            record.msg, record.args = "refused a malformed HTTP request: %s %s", (error.code, error.message[:80])
            record.exc_info, record.exc_text = None, None
        return True

    @classmethod
    def install(cls) -> None:
        """Once per process (each app made in it calls this)."""
        server_log = logging.getLogger("aiohttp.server")
        if not any(isinstance(f, cls) for f in server_log.filters):
            server_log.addFilter(cls())
