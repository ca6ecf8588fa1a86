"""The report page in headless Chromium (Playwright, Debian's Chromium as the Playground journey launches it): for
each role it renders with no console errors under its Content-Security-Policy, axe-core finds no serious or
critical accessibility violation, a screenshot per role is saved under the test's temporary directory (its path is
printed), and printing hides the navigation and buttons. Skipped, with the reason, when Chromium is missing."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, ConsoleMessage, Page, async_playwright

from bot.security.report_links import report_link
from storage.sqlite import SqliteStore
from tests.kit.connector import FakeConnector
from tests.kit.harness import BotUnderTest, running_bot, test_settings
from tests.kit.identity import FakeIdentity
from tests.playground.test_journey import CHROMIUM, CHROMIUM_FLAGS
from tests.report.kit import ADMIN, ALICE, EVE, MEMBER, build
from tests.report.test_tab_auth import APP_ID, tab_token

ROOT = Path(__file__).resolve().parents[2]
AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
ROLES = {"admin": ADMIN, "sponsor": EVE, "lead": ALICE}

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(),
    reason=f"Chromium is not installed at {CHROMIUM} (make test installs it with apt-get when it is root); "
    "the report's browser checks need a browser",
)


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as driver:
        launched = await driver.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_FLAGS)
        try:
            yield launched
        finally:
            await launched.close()


def url_of(bot: BotUnderTest, who: str) -> str:
    path = report_link(bot.services, ROLES[who].aad, who).split("/report/", 1)[1]
    return str(bot.server.make_url(f"/report/{path}"))


async def open_page(browser: Browser, url: str, **context: Any) -> tuple[Page, list[str]]:
    page = await (await browser.new_context(viewport={"width": 1100, "height": 900}, **context)).new_page()
    problems: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        if message.type in ("error", "warning"):
            problems.append(f"{message.type}: {message.text}")

    page.on("console", on_console)
    page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
    response = await page.goto(url, wait_until="load")
    assert response is not None
    assert response.status == 200
    return page, problems


@pytest.mark.parametrize("who", list(ROLES))
async def test_the_page_renders_cleanly_for_each_role(
    bot: BotUnderTest, browser: Browser, who: str, tmp_path: Path
) -> None:
    await build(bot)
    page, problems = await open_page(browser, url_of(bot, who))
    assert await page.locator("h1").first.inner_text() != ""
    assert await page.locator("svg.chart").count() >= 4
    assert await page.locator("table").count() >= 7
    shot = tmp_path / f"report-{who}.png"
    await page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 10_000
    print(f"report screenshot ({who}): {shot}")
    # the print button is wired by the page's own script (allowed by the policy): pressing it calls print()
    await page.evaluate("() => { window.__printed = 0; window.print = () => { window.__printed += 1; }; }")
    await page.click("#print")
    assert await page.evaluate("window.__printed") == 1
    await page.emulate_media(media="print")
    for hidden in ("nav.sections", "#print", ".download >> nth=0"):
        assert await page.locator(hidden).is_hidden(), f"{hidden} shows in print"
    assert await page.locator("table >> nth=0").is_visible()
    assert problems == [], problems


@pytest.mark.parametrize("who", list(ROLES))
async def test_no_serious_accessibility_violations(bot: BotUnderTest, browser: Browser, who: str) -> None:
    assert AXE.is_file(), f"{AXE} is missing: run `make node` (axe-core is in package.json)"
    await build(bot)
    # the checker is injected as a script of its own, which the page's policy would refuse: this context bypasses it
    page, _ = await open_page(browser, url_of(bot, who), bypass_csp=True)
    await page.add_script_tag(path=str(AXE))
    result = await page.evaluate("axe.run(document, {resultTypes: ['violations']})")
    serious = [
        f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']][:3]}"
        for v in result["violations"]
        if v.get("impact") in ("serious", "critical")
    ]
    assert serious == []
    assert result["passes"], "axe ran no checks"


async def test_a_member_gets_the_refusal_page(bot: BotUnderTest, browser: Browser) -> None:
    await build(bot)
    path = report_link(bot.services, MEMBER.aad, "lead").split("/report/", 1)[1]
    page = await (await browser.new_context()).new_page()
    response = await page.goto(str(bot.server.make_url(f"/report/{path}")))
    assert response is not None
    assert response.status == 403
    assert await page.locator("h1").inner_text() == "No report for you here"


async def test_the_tab_page_loads_the_teams_sdk_from_the_bot(bot: BotUnderTest, browser: Browser) -> None:
    page = await (await browser.new_context()).new_page()
    await page.goto(str(bot.server.make_url("/report/tab")), wait_until="load")
    assert await page.evaluate("typeof window.microsoftTeams.authentication.getAuthToken") == "function"


# Outside Teams the SDK's initialize() never hears from a host, so the tab is driven here with a stand-in for the
# SDK file that resolves initialize() and hands getAuthToken() a token minted by the local Entra ID stand-in. The tab's
# own script (tab.js), the bot's token checks and the page it returns are the real ones.
FAKE_TEAMS_SDK = """
window.microsoftTeams = {
  app: { initialize: () => Promise.resolve(), notifySuccess: () => { window.__notified = true; } },
  authentication: { getAuthToken: () => Promise.resolve(%s) },
};
"""


@pytest.fixture
async def tab_bot(
    sqlite_store: SqliteStore, connector: FakeConnector
) -> AsyncIterator[tuple[BotUnderTest, FakeIdentity]]:
    entra = FakeIdentity()
    await entra.start()
    settings = test_settings(app_id=APP_ID, entra_metadata_url=entra.metadata_url, identity_timeout=2.0)
    try:
        async with running_bot(sqlite_store, connector=connector, settings=settings) as running:
            yield running, entra
    finally:
        await entra.close()


@pytest.mark.parametrize(("who", "shows"), [("sponsor", "across 2 CoPs"), ("member", "could not be shown")])
async def test_the_tab_signs_in_and_shows_the_report(
    tab_bot: tuple[BotUnderTest, FakeIdentity], browser: Browser, who: str, shows: str, tmp_path: Path
) -> None:
    bot, entra = tab_bot
    await build(bot)
    person = EVE if who == "sponsor" else MEMBER
    token = tab_token(entra, person.aad)
    context = await browser.new_context(viewport={"width": 1100, "height": 900})
    sdk = FAKE_TEAMS_SDK % json.dumps(token)
    await context.route(
        "**/report/static/teams.js", lambda route: route.fulfill(body=sdk, content_type="text/javascript")
    )
    page = await context.new_page()
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
    await page.goto(str(bot.server.make_url("/report/tab")), wait_until="load")
    # locators, not wait_for_function: the page's policy refuses the evaluated strings that polling uses
    await page.locator("#report h1, #signin:has-text('could not be shown')").first.wait_for()
    text = " ".join((await page.locator("body").inner_text()).split())
    assert shows in text.replace("\n", " ")
    if who == "sponsor":
        assert problems == []
        assert await page.evaluate("window.__notified") is True
        await page.screenshot(path=str(tmp_path / "report-tab-sponsor.png"), full_page=True)
        print(f"report tab screenshot: {tmp_path / 'report-tab-sponsor.png'}")
    else:
        assert any("403" in p for p in problems)  # the refused API call, as the browser reports it
