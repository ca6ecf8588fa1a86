"""Shared steps for the import tests: a team whose roster has email addresses, a file server on 127.0.0.1, and
the file message Teams sends a bot in personal chat."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestServer

from bot.features.imports import settle
from tests.kit.activities import Team, User
from tests.kit.connector import Member
from tests.kit.harness import BotUnderTest, Posted


def email_of(person: User) -> str:
    return f"{person.name.lower().replace(' ', '.')}@example.ac.uk"


def roster_member(person: User) -> Member:
    return Member(person.id, person.aad, person.name, email_of(person))


async def install_with_roster(bot: BotUnderTest, installer: User, team: Team, *people: User) -> None:
    bot.connector.teams[team.id] = {"id": team.id, "name": team.name, "aadGroupId": team.aad_group_id}
    bot.connector.rosters[team.id] = [roster_member(p) for p in (installer, *people)]
    posted = await bot.post(bot.acts.installed_in_team(installer, team))
    assert posted.status == 200


def file_message(bot: BotUnderTest, sender: User, url: str, name: str = "members.csv") -> dict[str, Any]:
    """A personal message carrying a file, as Teams delivers it to a bot with supportsFiles."""
    activity = bot.acts.personal(sender, "")
    activity["attachments"] = [
        {
            "contentType": "application/vnd.microsoft.teams.file.download.info",
            "contentUrl": f"https://contoso.sharepoint.com/personal/lead/Documents/{name}",
            "name": name,
            "content": {"downloadUrl": url, "uniqueId": "1150D938-8870-4044-9F2C-5BBDEBA70C9D", "fileType": "csv"},
        }
    ]
    return activity


@asynccontextmanager
async def file_server(files: dict[str, bytes], *, slow_s: float = 0.0) -> AsyncIterator[str]:
    """Serves ``files`` at http://127.0.0.1:<port>/<name>; yields the base URL."""
    import asyncio

    async def handle(request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        if name not in files:
            return web.Response(status=404)
        if slow_s:
            await asyncio.sleep(slow_s)
        return web.Response(body=files[name], content_type="text/csv")

    app = web.Application()
    app.router.add_get("/{name}", handle)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        yield str(server.make_url("")).rstrip("/")
    finally:
        await server.close()


async def apply_preview(bot: BotUnderTest, lead: User, preview: Posted) -> Posted:
    """Press the preview's Apply button and wait for the import to finish and its messages to go out."""
    card = preview.card
    assert card is not None
    button = next(a for a in card.get("actions", []) if a["data"]["verb"] == "imports.apply")
    clicked = await bot.press(lead, card, button["title"])
    await settle(bot.services)
    await bot.services.outbox.flush(bot.services.clock.now())
    return clicked


def card_text(posted: Posted) -> str:
    out: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, str):
            out.append(node)
        elif isinstance(node, dict):
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(posted.card)
    if isinstance(posted.body, dict) and isinstance(posted.body.get("value"), str):
        out.append(posted.body["value"])
    out.extend(c.text for c in posted.calls)
    return "\n".join(out)
