"""``delivery report`` (also ``digest report``): what the bot sent for a CoP and what people did with it; and the
digest's "Useful" / "Not useful" buttons.

Leads see their CoP's broadcasts (digests, event announcements, reminder rounds, invitations, ...): how many were
sent to how many channels and people, which were not delivered and why, which Teams never confirmed, and how many
people pressed which button. Programme admins asking in personal chat see every CoP's. Each press of a button on a
card the outbox sent is counted once per person, action and broadcast, in the background after the checks pass
(:mod:`bot.domain.engagement`): a redelivered press or a second press counts once.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from bot.core.turn import Role
from bot.domain.cops import cop_repo
from bot.domain.delivery_report import run_reports, to_rows
from bot.domain.engagement import SENT_MARK, EngagementRepo, RunEngagement
from bot.features.directory import csv_cell
from bot.features.queries import lead_cop
from bot.routing.router import Router, Turn
from bot.security.links import Download, Links
from bot.security.privacy import PrivacyRegistry
from cards.delivery_report import delivery_report_card
from cards.digest import FEEDBACK_VERB
from storage.base import StorageError

if TYPE_CHECKING:
    from bot.services import Services

log = logging.getLogger(__name__)

CSV_KIND = "delivery-report"
CSV_TTL = timedelta(minutes=30)
ALL = "*"
THANKS = {True: "Thanks: noted that this digest was useful.", False: "Thanks: noted that this digest was not useful."}
NOT_FROM_A_DIGEST = "Thanks. I could not tell which digest that was, so I did not count it."


def _csv(rows: list[list[str]]) -> bytes:
    lines = [",".join('"' + csv_cell(cell).replace('"', '""') + '"' for cell in row) for row in rows]
    return ("\r\n".join(lines) + "\r\n").encode("utf-8-sig")


async def _count_press(services: Services, conversation_id: str, activity_id: str, verb: str, aad_id: str) -> None:
    """Count a press of a button on a card the outbox sent, for that message's broadcast (off the turn)."""
    repo = EngagementRepo(services.store)
    try:
        sent = await repo.sent_message(conversation_id, activity_id)
        if sent is not None and sent.run and verb != FEEDBACK_VERB:
            await repo.record(sent.cop_id, sent.run, verb, aad_id, services.clock.now())
    except StorageError:
        log.warning("could not count a button press verb=%s", verb[:40])


async def _engagement(services: Services, cop_ids: list[str]) -> dict[str, RunEngagement]:
    repo = EngagementRepo(services.store)
    merged: dict[str, RunEngagement] = {}
    for cop_id in cop_ids:
        merged.update(await repo.by_run(cop_id))
    return merged


def register(router: Router, links: Links, privacy: PrivacyRegistry) -> None:
    @router.on("action_accepted")
    async def count_press(turn: Turn) -> None:
        request = turn.request
        card_id = request.reply_to_card_id
        if request.action is None or not card_id or not request.person.aad_id:
            return
        if request.action.data.get(SENT_MARK) != 1:  # a card the outbox did not send: nothing to attribute
            return
        work = _count_press(
            turn.services, request.place.conversation_id, card_id, request.action.verb, request.person.aad_id
        )
        turn.services.background.start("press", work)

    @router.action(FEEDBACK_VERB, role=Role.ANYONE, idempotent=True)
    async def feedback(turn: Turn) -> None:
        request = turn.request
        assert request.action is not None
        useful = request.action.data.get("useful") is True
        repo = EngagementRepo(turn.services.store)
        sent = (
            await repo.sent_message(request.place.conversation_id, request.reply_to_card_id)
            if request.reply_to_card_id
            else None
        )
        if sent is None or not sent.run.startswith("digest|") or not request.person.aad_id:
            turn.respond.answer_action(message=NOT_FROM_A_DIGEST)
            return
        await repo.set_feedback(sent.cop_id, sent.run, request.person.aad_id, useful, turn.services.clock.now())
        turn.respond.answer_action(message=THANKS[useful])

    async def show(turn: Turn) -> None:
        services = turn.services
        everything = turn.role >= Role.ADMIN and turn.request.place.is_personal and not turn.cop_id
        if everything:
            cops = await cop_repo(services).all()
            names = {c.cop_id: c.name for c in cops}
            reports = await run_reports(services.store, None, await _engagement(services, list(names)))
            title, scope = "every CoP", ALL
        else:
            cop = await lead_cop(turn)
            if cop is None:
                return
            names = {cop.cop_id: cop.name}
            reports = await run_reports(
                services.store, cop.cop_id, await EngagementRepo(services.store).by_run(cop.cop_id)
            )
            title, scope = cop.name, cop.cop_id
        url = links.link(services, CSV_KIND, {"cop": scope}, CSV_TTL) if reports else None
        await turn.respond.reply(
            delivery_report_card(title, reports, services.settings.tz, csv_url=url, cop_names=names)
        )

    router.command(
        "delivery report",
        help="What the bot sent for the CoP, what arrived and what people did with it",
        role=Role.LEAD,
        places=("channel", "personal"),
    )(show)
    router.command("digest report", help="Same as delivery report", role=Role.LEAD, places=("channel", "personal"))(
        show
    )

    @links.producer(CSV_KIND)
    async def report_csv(services: Services, params: Mapping[str, Any]) -> Download | None:
        scope = str(params.get("cop", ""))
        if not scope:
            return None
        cops = await cop_repo(services).all()
        names = {c.cop_id: c.name for c in cops}
        if scope == ALL:
            reports = await run_reports(services.store, None, await _engagement(services, list(names)))
        else:
            reports = await run_reports(services.store, scope, await EngagementRepo(services.store).by_run(scope))
        stamp = services.clock.now().strftime("%Y%m%d")
        return Download("text/csv", f"cop-delivery-{stamp}.csv", _csv(to_rows(reports, names)))

    async def export(services: Services, aad_id: str) -> Any:
        return await EngagementRepo(services.store).export_person(aad_id)

    async def erase(services: Services, aad_id: str) -> None:
        await EngagementRepo(services.store).erase_person(aad_id)

    privacy.register("engagement", export, erase)
