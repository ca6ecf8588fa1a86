"""Questions for the programme team: an unsure question about the programme as a whole goes to the programme admins
(``COPBOT_PROGRAMME_ADMINS``) as an open query, not to a CoP's leads, and the bot does not ask which CoP.

The programme team is kept like a CoP's leads (:func:`programme_desk`): its open queries live in the ``queries``
table under the partition ``programme`` (no CoP has that id: CoP ids are Teams team ids); each admin gets the new
question in a personal chat (:func:`bot.features.proposals.admin_person`: their Teams id when they have a
profile, else their Entra object id, which Teams also accepts to open a 1:1 chat); they answer, mark answered or
list them (``unanswered programme``) with the leads' cards and actions (:mod:`bot.features.queries`), and the
answer goes back to where the question was asked.

Who follows a question up is decided by :func:`follow_up_target` from what the question is about
(:mod:`bot.answers.audience`): a CoP it names, its own CoP's business, or a programme-wide topic.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import replace

from bot.answers.audience import IN_COP_FLOOR, TOPIC_FLOOR, audience_of
from bot.answers.faq import PROGRAMME_SCOPE
from bot.answers.ranker import Match
from bot.domain.cop_questions import installed_named
from bot.domain.cops import Cop, PersonRef
from bot.features.proposals import admin_person
from bot.routing.router import Turn
from bot.services import Services

log = logging.getLogger(__name__)

PROGRAMME_DESK = PROGRAMME_SCOPE  # the queries partition of the programme team's questions
DESK_NAME = "the CoP programme team"
ADMIN_NAME = "Programme team"
PASSED_TO_PROGRAMME = (
    "I don't have a confident answer to that, so I've passed it to **the CoP programme team**, who run the "
    "Communities of Practice programme across UCL. They'll follow up {where}."
)
PASSED_TO_PROGRAMME_AFTER_NO = (
    "Sorry it didn't help. I've passed your question to **the CoP programme team**, who run the Communities of "
    "Practice programme across UCL; they'll follow up {where}."
)


def programme_desk(services: Services) -> Cop | None:
    """The programme team as the holder of open queries (its admins in the leads' place), or None when no admin
    is configured."""
    admins = sorted(services.settings.programme_admins)
    if not admins:
        return None
    return Cop(
        cop_id=PROGRAMME_DESK,
        name=DESK_NAME,
        tenant_id="",
        service_url="",
        status="launched",
        leads=tuple(PersonRef(aad_id, aad_id, ADMIN_NAME) for aad_id in admins),
    )


async def reachable_desk(services: Services) -> Cop | None:
    """:func:`programme_desk` with each admin as someone the outbox can message privately."""
    desk = programme_desk(services)
    if desk is None:
        return None
    people = [await admin_person(services, lead.aad_id) for lead in desk.leads]
    return replace(desk, leads=tuple(PersonRef(p.aad_id, p.user_id, p.name or ADMIN_NAME) for p in people))


def is_desk(cop: Cop) -> bool:
    return cop.cop_id == PROGRAMME_DESK


async def follow_up_target(turn: Turn, question: str, matches: Sequence[Match], cops: Sequence[Cop]) -> Cop | None:
    """Who should follow up an unsure ``question`` when it is not whoever the turn would pick anyway: the CoP it
    names, or the programme team for a programme-wide topic, or for a general one with no CoP in view. None: the
    usual choice (the turn's CoP, the asker's one CoP, or the asker picks)."""
    services = turn.services
    everyone = await turn.load_all_cops()
    named = installed_named(question, everyone)
    if len(named) == 1 and not (len(cops) == 1 and cops[0].cop_id == named[0].cop_id):
        return named[0]
    if named:
        return None
    if programme_desk(services) is None:
        return None
    in_view = bool(turn.cop_id) or len(cops) == 1  # a CoP the question was asked in or for
    audience = audience_of(question, matches, floor=IN_COP_FLOOR if in_view else TOPIC_FLOOR)
    if audience == "programme" or (audience == "general" and not in_view):
        log.info("unsure question for the programme team audience=%s cop_id=%s", audience, turn.cop_id)
        return await reachable_desk(services)  # the admins' profiles are read only now
    return None
