"""The Playground journey: a real Teams-like client (Microsoft 365 Agents Playground, driven headlessly by
Playwright with Debian's Chromium) talking to the real bot process, both started as `make playground` starts them.

Install in the team → @CoP Bot join in General → "Join as core" → `me` in personal chat shows core → a seed
question is answered from the programme FAQ → "Yes, thanks" is acknowledged. And: the installer (the CoP's first
lead) creates an event with `event new` and its form → the announcement arrives in the channel through the outbox →
"Going" changes its counts. Skipped only when Chromium is not installed (`make test` installs it with apt-get when it
can)."""

from __future__ import annotations

import os
import re
import shutil
import time
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from playwright.async_api import Page, async_playwright, expect

from deployment.playground import Options, Running, free_port, load_tenant, start

CHROMIUM = Path(os.environ.get("COPBOT_CHROMIUM", "/usr/bin/chromium"))
# Debian's Chromium in a container: no sandbox, no GPU, and nothing that reaches the network on its own
# (without these it hangs on blocked network calls).
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]
QUESTION = "can I be a core member of two communities?"
EVENT_TITLE = "Lunch and learn: dashboards"
STEP_TIMEOUT_MS = 15_000

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(),
    reason=f"Chromium is not installed at {CHROMIUM} (make test installs it with apt-get when it is root); "
    "the Playground journey needs a browser",
)


@pytest.fixture
def playground(tmp_path: Path) -> Iterator[Running]:
    running = start(Options(port=free_port(), bot_port=free_port(), data_dir=tmp_path / "data", fresh=True))
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture
async def page(playground: Running, tmp_path: Path) -> AsyncIterator[Page]:
    async with async_playwright() as driver:
        context = await driver.chromium.launch_persistent_context(
            str(tmp_path / "chromium-profile"),  # a fresh profile every run
            executable_path=str(CHROMIUM),
            headless=True,
            args=CHROMIUM_FLAGS,
            viewport={"width": 1400, "height": 900},
        )
        context.set_default_timeout(STEP_TIMEOUT_MS)
        try:
            page = context.pages[0] if context.pages else await context.new_page()
            await page.goto(playground.options.url + "/", wait_until="domcontentloaded")
            yield page
        finally:
            await context.close()


async def type_in_composer(page: Page, text: str) -> None:
    """Type into the conversation's message box (in a channel: the "Start a new post" box, the first one)."""
    composer = page.locator('[data-lexical-editor="true"]').first
    await composer.click()
    await page.keyboard.type(text)


async def test_install_join_core_me_and_ask_in_the_playground(page: Page, playground: Running, tmp_path: Path) -> None:
    started = time.monotonic()
    p = page
    team = load_tenant()["team"]["name"]

    # Opening the app installs it in the personal chat: the bot greets the user there.
    await expect(p.get_by_text("Hello! I'm CoP Bot.").first).to_be_visible()

    # 1. Opening the team's General channel installs the app in the team: the bot registers it as a CoP and
    #    posts its setup card there.
    await p.get_by_text("General", exact=True).click()
    setup = p.locator(".ac-adaptiveCard", has_text=f"Set up {team}")
    await expect(setup).to_contain_text("I've registered this team as a Community of Practice")

    # 2. `join` in the channel. The Playground passes channel messages to the bot only with an @mention,
    #    picked from its mention menu.
    await type_in_composer(p, "@CoP")
    await p.get_by_role("menuitem", name="CoP Bot").click()
    await p.keyboard.type(" join")
    await p.get_by_role("button", name="Post", exact=True).click()
    # .first: the chat's card (the Playground also shows a card that can refresh in its preview panel)
    # case-sensitive: the lead's invitation card says "... a personal card to join {team} ..." and may come first
    join = p.locator(".ac-adaptiveCard", has_text=re.compile(f"Join {re.escape(team)}")).first
    await expect(join).to_contain_text("Core or wider?")
    await p.screenshot(path=str(tmp_path / "join-card.png"))

    # 3. Click "Join as core" (Action.Execute): the card is replaced in place by the confirmation.
    await join.get_by_role("button", name="Join as core").click()
    joined = p.locator(".ac-adaptiveCard", has_text=f"Welcome to {team}").first
    await expect(joined).to_contain_text(f"You are now a core member of {team}.")

    # 4. `me` in the personal chat shows the core membership.
    await p.get_by_text("Personal Chat", exact=True).click()
    await type_in_composer(p, "me")
    await p.keyboard.press("Enter")
    me = p.locator(".ac-adaptiveCard", has_text="Your CoPs")
    await expect(me).to_contain_text(team)
    await expect(me).to_contain_text("core member since")

    # 5. A seed question, typed as plain text, is answered from the programme FAQ.
    await type_in_composer(p, QUESTION)
    await p.keyboard.press("Enter")
    answer = p.locator(".ac-adaptiveCard", has_text=f"You asked: {QUESTION}")
    await expect(answer).to_contain_text("Can I be a core member of more than one CoP?")
    await expect(answer).to_contain_text("core member of one CoP at a time")
    await answer.get_by_role("button", name="Yes, thanks").click()
    await expect(answer).to_contain_text("Glad that helped.")
    await p.screenshot(path=str(tmp_path / "answer.png"))

    # No turn failed on the bot's side along the way.
    assert playground.bot_log is not None
    log = playground.bot_log.read_text(encoding="utf-8")
    assert " ERROR " not in log, log[-3000:]
    assert "Traceback" not in log, log[-3000:]

    # For the README: COPBOT_PLAYGROUND_SCREENSHOT=deployment/playground/screenshot.png pytest tests/playground
    wanted = os.environ.get("COPBOT_PLAYGROUND_SCREENSHOT")
    if wanted:
        shutil.copyfile(tmp_path / "answer.png", wanted)
    assert time.monotonic() - started < 90


async def test_lead_creates_an_event_and_answers_going_in_the_playground(
    page: Page, playground: Running, tmp_path: Path
) -> None:
    p = page
    team = load_tenant()["team"]["name"]
    await expect(p.get_by_text("Hello! I'm CoP Bot.").first).to_be_visible()
    await p.get_by_text("General", exact=True).click()
    await expect(p.locator(".ac-adaptiveCard", has_text=f"Set up {team}")).to_be_visible()

    # The installer leads the new CoP: `event new` in the channel opens the form.
    await type_in_composer(p, "@CoP")
    await p.get_by_role("menuitem", name="CoP Bot").click()
    await p.keyboard.type(" event new")
    await p.get_by_role("button", name="Post", exact=True).click()
    form = p.locator(".ac-adaptiveCard", has_text="New event")
    await expect(form).to_be_visible()
    await form.get_by_label("Title").fill(EVENT_TITLE)
    await form.get_by_label("Date").fill((datetime.now(UTC).date() + timedelta(days=14)).isoformat())
    await form.get_by_label("Starts").fill("12:30")
    await form.get_by_label("Ends").fill("13:30")
    await form.get_by_label("Place (room, building)").fill("Room 101")
    await form.get_by_role("button", name="Create and announce").click()
    await expect(p.locator(".ac-adaptiveCard", has_text="Event created")).to_be_visible()
    await p.screenshot(path=str(tmp_path / "event-created.png"))

    # The announcement reaches the channel through the outbox; "Going" answers and the card's counts change.
    announcement = p.locator(".ac-adaptiveCard", has_text=EVENT_TITLE).filter(has=p.get_by_role("button", name="Going"))
    await expect(announcement.first).to_be_visible(timeout=30_000)
    await announcement.first.get_by_role("button", name="Going").click()
    # the shared card is updated in place with the count (in Teams each viewer's own answer, "You're going.", is
    # then refreshed into it by Universal Actions; the Playground showed the shared card only)
    await expect(announcement.first).to_contain_text("1 going · 0 maybe · 0 can't go")
    await p.screenshot(path=str(tmp_path / "rsvp.png"))

    assert playground.bot_log is not None
    log = playground.bot_log.read_text(encoding="utf-8")
    assert " ERROR " not in log, log[-3000:]
    assert "Traceback" not in log, log[-3000:]
