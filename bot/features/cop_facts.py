"""Who leads, who sponsors and when next meets a named CoP, and what a named person leads or sponsors, answered
from the bot's own CoP directory.

"Who are the leads of Internal Communications?" is not a question for the FAQ (which says what leads do, not who
they are): when the question names a CoP installed on the bot (:mod:`bot.domain.cop_questions`), the reply gives
its leads, sponsor, status and next event open to all members, the asked one first (and so for "our CoP" asked in
one CoP's team, or by someone in one CoP); when it names a CoP the bot does not have, the reply says so, with what
the programme lists of it (:mod:`bot.domain.programme_list`: practice area, sponsor, status), and who can help.
"Which CoP does Fiona Ryland sponsor?" names a person, not a CoP (:mod:`bot.domain.cop_people`): the reply lists
every CoP they lead or sponsor, installed or only listed by the programme. Only the CoP rows (this process's copy)
and, for events, the CoP's events are read, and only when the question asks one of those things.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from zoneinfo import ZoneInfo

from bot.answers.audience import speaks_of_own_cop
from bot.domain.cop_names import name_words
from bot.domain.cop_people import Role, asks_about_posts, person_question
from bot.domain.cop_questions import CopQuestion, fact_asked, installed_named, read_cop_question
from bot.domain.cops import Cop
from bot.domain.events import Event, EventRepo
from bot.domain.programme_list import ListedCop, programme_listing
from bot.routing.router import Turn
from cards.elements import safe

log = logging.getLogger(__name__)

STATUS_TEXT = {"launched": "launched", "preparing": "preparations underway", "paused": "paused"}
NOT_ON_BOT = (
    "**{name}** is not on CoP Bot yet, so I don't know its leads, sponsor or events. The programme team can tell "
    "you more: ask me *who do I contact about CoPs?* for their details, or send **cops** to see the CoPs that are "
    "on CoP Bot."
)
LISTED_NOT_ON_BOT = (
    "**{name}** is not on CoP Bot yet, so I don't know its leads or events. The programme lists it{listing}. The "
    "programme team can tell you more: ask me *who do I contact about CoPs?* for their details, or send **cops** to "
    "see the CoPs that are on CoP Bot."
)
PERSON_NOT_ON_BOT = (
    "CoPs marked *not on CoP Bot yet* are listed by the programme but not installed here: the programme team can "
    "tell you more (ask me *who do I contact about CoPs?*)."
)


def _people(names: Sequence[str]) -> str:
    shown = [f"**{safe(n, 120)}**" for n in names if n]
    if not shown:
        return ""
    return shown[0] if len(shown) == 1 else ", ".join(shown[:-1]) + " and " + shown[-1]


def _when(event: Event) -> str:
    start = event.start.astimezone(ZoneInfo(event.tz))
    return f"{start:%a %d %b %Y, %H:%M} ({event.tz})"


def _lines(cop: Cop, next_event: Event | None) -> dict[str, str]:
    leads = _people([lead.name for lead in cop.leads])
    sponsor = _people([cop.sponsor.name]) if cop.sponsor else ""
    if next_event is not None:
        event = f"**{safe(next_event.title, 200)}**, {_when(next_event)} (send **events** in its team to RSVP)"
    else:
        event = "none announced on CoP Bot yet"
    return {
        "leads": f"Leads: {leads or 'none recorded yet'}",
        "sponsor": f"Sponsor: {sponsor or 'not set on CoP Bot yet'}",
        "status": f"Status: {STATUS_TEXT.get(cop.status, cop.status)}",
        "next_event": f"Next event: {event}",
    }


def facts_text(cop: Cop, asked: str, next_event: Event | None) -> str:
    """The reply about one installed CoP: the fact asked for first, then the others."""
    lines = _lines(cop, next_event)
    order = [asked, *(key for key in ("leads", "sponsor", "status", "next_event") if key != asked)]
    body = "\n".join(f"- {lines[key]}" for key in order)
    return f"**{safe(cop.name, 120)}**, from the CoP directory on CoP Bot:\n\n{body}"


def listed_not_on_bot(name: str) -> str:
    """The reply about a CoP not installed: what the programme lists of it, when it lists it."""
    listed = next((c for c in programme_listing() if name_words(c.name) == name_words(name)), None)
    if listed is None:
        return NOT_ON_BOT.format(name=safe(name, 120))
    listing = ""
    if listed.practice_area:
        listing += f" in the **{safe(listed.practice_area, 120)}** practice area"
    if listed.sponsor:
        listing += f", sponsored by **{safe(listed.sponsor, 120)}**"
    if listed.status:
        listing += f" (status: {safe(listed.status, 80)})"
    return LISTED_NOT_ON_BOT.format(name=safe(listed.name, 120), listing=listing)


def _role_line(role: Role) -> str:
    post = "Lead" if role.post == "lead" else "Sponsor"
    if role.cop is not None:
        status = STATUS_TEXT.get(role.cop.status, role.cop.status)
        return f"- {post} of **{safe(role.cop.name, 120)}** ({status}; on CoP Bot: send **cops** to find it)"
    listed: ListedCop | None = role.listed
    area = f"{safe(listed.practice_area, 120)} practice area, " if listed and listed.practice_area else ""
    status = f"{safe(listed.status, 80)}; " if listed and listed.status else ""
    return f"- {post} of **{safe(role.cop_name, 120)}** ({area}{status}not on CoP Bot yet)"


def person_text(person: str, roles: Sequence[Role]) -> str:
    """The reply about one person: every CoP they lead or sponsor, installed ones first."""
    ordered = sorted(roles, key=lambda r: (r.cop is None, r.post != "lead", r.cop_name.lower()))
    body = "\n".join(_role_line(role) for role in ordered)
    text = f"**{safe(person, 120)}**, from the CoP directory:\n\n{body}"
    if any(role.cop is None for role in roles):
        text += "\n\n" + PERSON_NOT_ON_BOT
    return text


async def next_open_event(turn: Turn, cop: Cop) -> Event | None:
    """The CoP's next event open to all its members (not cancelled, not core or leads only)."""
    now = turn.services.clock.now()
    events = await EventRepo(turn.services.store).of_cop(cop.cop_id, ending_after=now)
    upcoming = [e for e in events if not e.cancelled and e.audience == "all" and e.start >= now]
    return min(upcoming, key=lambda e: e.start, default=None)


async def answer_from_directory(turn: Turn, question: str) -> bool:
    """Answer ``question`` from the CoP directory when it asks who leads or sponsors a named CoP, or when it next
    meets, or what a named lead or sponsor leads or sponsors; False when it is not such a question (the FAQ answers
    it)."""
    if fact_asked(question) is None and not asks_about_posts(question):  # most questions never read it
        return False
    cops = await turn.load_all_cops()
    person = person_question(question, cops)  # "which CoP does Fiona Ryland sponsor?": the person, unless a CoP
    if person is not None and not installed_named(question, cops):  # is named too (then the CoP's facts, below)
        log.info("directory question about a person roles=%d", len(person[1]))
        await turn.respond.reply(person_text(*person))
        return True
    asked: CopQuestion | None = read_cop_question(question, cops)
    if asked is None and speaks_of_own_cop(question):  # "who leads our CoP?" asked in (or for) one CoP
        own = await turn.load_cop()
        fact = fact_asked(question)
        asked = CopQuestion(fact, (own,)) if own is not None and fact is not None else None
    if asked is None:
        return False
    if not asked.cops:
        log.info("directory question about a CoP not on the bot fact=%s", asked.fact)
        await turn.respond.reply(listed_not_on_bot(asked.unknown))
        return True
    parts = []
    for cop in asked.cops:
        wants_event = asked.fact == "next_event" or len(asked.cops) == 1
        parts.append(facts_text(cop, asked.fact, await next_open_event(turn, cop) if wants_event else None))
    log.info("directory question answered fact=%s cops=%d", asked.fact, len(asked.cops))
    await turn.respond.reply("\n\n".join(parts))
    return True
