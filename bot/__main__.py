"""`python -m bot`: run the bot with settings from the environment (what `make run` does)."""

from __future__ import annotations

import logging
import sys

from aiohttp import web

from bot.app import create_app
from bot.core.config import Settings, SettingsError


def main() -> int:
    try:
        settings = Settings.from_env()
    except SettingsError as error:
        sys.stderr.write(f"configuration error: {error}\n")
        return 2
    logging.basicConfig(
        level=settings.log_level,
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
    )
    try:
        app = create_app(settings)
    except SettingsError as error:
        sys.stderr.write(f"configuration error: {error}\n")
        return 2
    logging.getLogger("bot").info(
        "CoP Bot listening on http://%s:%s/api/messages (storage=%s)", settings.host, settings.port, settings.storage
    )
    web.run_app(app, host=settings.host, port=settings.port, print=None, access_log=None)
    return 0


if __name__ == "__main__":
    sys.exit(main())
