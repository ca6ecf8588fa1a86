"""The README stays a newcomer's page that is true: at most 200 lines, and every setting the bot reads is in its
configuration table."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
SETTING = re.compile(r"\"((?:COPBOT|AZURE|MICROSOFT_APP)_[A-Z0-9_]+)\"")
CONNECTION_SETTING = re.compile(r"CONNECTION \+ \"([A-Z]+)\"")  # the Agents SDK's names, built in bot/core/config.py


def test_the_readme_is_at_most_200_lines() -> None:
    assert len(README.splitlines()) <= 200


def test_every_setting_the_bot_reads_is_in_the_readme() -> None:
    source = (ROOT / "bot" / "core" / "config.py").read_text(encoding="utf-8")
    names = {m.group(1) for m in SETTING.finditer(source)}
    names |= {"CONNECTIONS__SERVICE_CONNECTION__SETTINGS__" + m.group(1) for m in CONNECTION_SETTING.finditer(source)}
    assert len(names) > 25  # the patterns still find them
    missing = sorted(name for name in names if not re.search(f"`{name}[`=]", README))
    assert missing == [], f"settings missing from README's configuration table: {missing}"
