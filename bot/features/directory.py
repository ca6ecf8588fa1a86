"""``cops [words]``: the directory of CoPs, ranked by fit; ``members`` and ``members export`` for leads."""

from __future__ import annotations

import asyncio
import csv
import io
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any

from bot.answers.bm25 import Bm25
from bot.answers.text import tokenize
from bot.core.turn import Role
from bot.domain.cop_names import cops_named
from bot.domain.cops import Cop, cop_repo
from bot.domain.members import ORG_AREAS, Membership, MembershipRepo
from bot.features.membership import load_cop, person_state, show
from bot.routing.router import Router, Turn
from bot.security.links import Download, Links
from bot.security.privacy import PrivacyRegistry
from bot.services import Services
from cards.directory import DirectoryEntry, MembersView, directory_card, export_card, members_card

EXPORT_TTL = timedelta(minutes=15)
TOP = 8
WHICH_COP = "Which CoP? Type **members** in a channel of the CoP's team."
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


# -- ranking: BM25 (bot/answers/bm25.py) over name, practice area and objectives ----------------------------
def rank(cops: Sequence[Cop], words: str, interests: Sequence[str]) -> list[tuple[Cop, float]]:
    """CoPs by fit: the asker's words count twice as much as their profile interests. Each CoP's document is its
    name (twice), practice area and objectives, analysed like FAQ text (stems, domain synonyms); ties keep
    alphabetical order. CoPs the words name (:func:`cops_named`: part of the name, or its initials, "ppm") come
    first."""
    ordered = sorted(cops, key=lambda c: c.name.lower())
    if not ordered:
        return []
    index = Bm25([tokenize(f"{c.name} {c.name} {c.practice_area} {c.objectives}") for c in ordered], k1=1.2, b=0.75)
    scores = index.scores(tokenize(words), weak=tokenize(" ".join(interests)), weak_weight=0.5)
    named = {cop.cop_id for cop in cops_named(words, ordered)}
    ahead = float(scores.max()) + 1.0
    scored = [
        (cop, float(score) + (ahead if cop.cop_id in named else 0.0))
        for cop, score in zip(ordered, scores, strict=True)
    ]
    scored.sort(key=lambda pair: -pair[1])
    return scored


# -- CSV -------------------------------------------------------------------------------------------------------
def csv_cell(value: str) -> str:
    """Stop spreadsheet formula injection: a cell that starts like a formula is made plain text."""
    return "'" + value if value.startswith(FORMULA_START) else value


def members_csv(members: Sequence[Membership]) -> bytes:
    areas = dict(ORG_AREAS)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(
        ["Name", "Tier", "Organisational area", "Joined (UTC)", "Tier changed (UTC)", "Moved wider to core"]
    )
    for m in sorted(members, key=lambda m: (m.name.lower(), m.aad_id)):
        writer.writerow(
            [
                csv_cell(m.name),
                m.tier,
                csv_cell(areas.get(m.org_area, m.org_area)),
                m.joined_at.isoformat() if m.joined_at else "",
                m.tier_changed_at.isoformat() if m.tier_changed_at else "",
                "yes" if m.was_wider else "no",
            ]
        )
    return out.getvalue().encode("utf-8-sig")  # the BOM makes Excel read UTF-8 names correctly


def members_view(cop: Cop, members: Sequence[Membership]) -> MembersView:
    counts = Counter(m.org_area for m in members)
    by_area = [(title, counts.get(key, 0)) for key, title in ORG_AREAS]
    unknown = sum(n for key, n in counts.items() if key not in dict(ORG_AREAS))
    if unknown:
        by_area.append(("Not given", unknown))
    gaps = [title for key, title in ORG_AREAS if key != "other" and counts.get(key, 0) == 0]
    core = sum(1 for m in members if m.tier == "core")
    return MembersView(cop.name, cop.cop_id, core, len(members) - core, by_area, gaps)


def register(router: Router, links: Links, privacy: PrivacyRegistry) -> None:
    @router.command("cops", help="All CoPs; add words to find the ones that fit you", usage="[words]")
    async def cops(turn: Turn) -> None:
        services = turn.services
        active = await cop_repo(services).all()
        repo = MembershipRepo(services.store)
        rosters = await asyncio.gather(*(repo.members_of(c.cop_id) for c in active))
        counts = {c.cop_id: Counter(m.tier for m in roster) for c, roster in zip(active, rosters, strict=True)}
        mine: set[str] = set()
        interests: tuple[str, ...] = ()
        if turn.request.person.aad_id:
            state = await person_state(turn)
            mine = set(state.memberships)
            interests = state.profile.interests if state.profile else ()
        words = turn.args.strip()[:200]
        ranked = rank(active, words, interests)
        note = ""
        if words and not any(score > 0 for _, score in ranked):
            note = "No CoP matched those words, so here are all of them."
        elif interests and not words:
            note = "Ordered by fit to the interests in your profile."
        shown = ranked[:TOP] if words else ranked
        entries = [
            DirectoryEntry(
                cop_id=c.cop_id,
                name=c.name,
                practice_area=c.practice_area,
                status=c.status,
                sponsor=c.sponsor.name if c.sponsor else "",
                leads=tuple(lead.name for lead in c.leads),
                core=counts[c.cop_id].get("core", 0),
                wider=counts[c.cop_id].get("wider", 0),
                is_member=c.cop_id in mine,
            )
            for c, _ in shown
        ]
        await turn.respond.reply(directory_card(entries, query=words, more=len(ranked) - len(shown), note=note))

    @router.command("members", help="Member counts by tier and organisational area", role=Role.LEAD)
    async def members(turn: Turn) -> None:
        cop = await load_cop(turn, turn.cop_id) if turn.cop_id else None
        if cop is None:
            await turn.respond.reply(WHICH_COP)
            return
        roster = await MembershipRepo(turn.services.store).members_of(cop.cop_id)
        await turn.respond.reply(members_card(members_view(cop, roster)))

    @router.command("members export", help="Download this CoP's members as CSV", role=Role.LEAD)
    async def members_export(turn: Turn) -> None:
        cop = await load_cop(turn, turn.cop_id) if turn.cop_id else None
        if cop is None:
            await turn.respond.reply(WHICH_COP)
            return
        await show(turn, _export_card(turn.services, cop))

    @router.action("directory.export", role=Role.LEAD)
    async def export_button(turn: Turn) -> None:
        assert turn.request.action is not None
        cop_id = turn.request.action.data.get("cop_id")
        if not isinstance(cop_id, str) or cop_id != turn.cop_id:
            await turn.tell("That card belongs to another CoP, so I ignored it.")
            return
        cop = await load_cop(turn, cop_id)
        if cop is None:
            await turn.tell(WHICH_COP)
            return
        await show(turn, _export_card(turn.services, cop))

    @links.producer("members.csv")
    async def produce_csv(services: Services, params: Mapping[str, Any]) -> Download | None:
        cop_id = params.get("c")
        if not isinstance(cop_id, str):
            return None
        cop = await cop_repo(services).get(cop_id)
        if cop is None:
            return None
        roster = await MembershipRepo(services.store).members_of(cop_id)
        stamp = services.clock.now().strftime("%Y%m%d")
        safe_name = re.sub(r"[^A-Za-z0-9]+", "-", cop.name).strip("-")[:40] or "cop"
        return Download("text/csv", f"members-{safe_name}-{stamp}.csv", members_csv(roster))


def _export_card(services: Services, cop: Cop) -> Any:
    url = services.links.link(services, "members.csv", {"c": cop.cop_id}, EXPORT_TTL)
    return export_card(cop.name, url, int(EXPORT_TTL.total_seconds() // 60))
