"""Who should follow up a question the FAQ could not answer with confidence: the programme team or a CoP's leads.

A CoP's leads know their own CoP's business (its meetings, events, projects, online space, its leads and sponsor);
they are not the people to ask how the programme works, how many CoPs there are or what the health framework asks.
The FAQ's ranking already says what a question is about even when it is unsure: the entries it ranked best. So an
unsure question's best entry, ranked with some confidence, gives its audience:

- ``programme``: a topic only the programme team can speak for (its history, figures, survey, health framework,
  the list of CoPs, starting a new one, how the bot works);
- ``cop``: a CoP's own business, or one of a CoP's own entries, or a question that speaks of "our CoP";
- ``general``: how CoPs and membership work, which a CoP's leads can take up when the question was asked in or
  for their CoP, and the programme team otherwise (no CoP in view: no "which CoP should I ask?");
- ``unknown``: nothing ranked with confidence (the caller decides from where the question was asked).

No extra ranking: this reads the matches the FAQ produced anyway.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Literal

from bot.answers.ranker import Match

Audience = Literal["programme", "cop", "general", "unknown"]

# Below this confidence the best entry says too little about what the question is about. The same floor as the
# "might help" entries (bot/features/faq.py), which are shown to the asker as related.
TOPIC_FLOOR = 0.3
# Asked in (or for) a CoP, a question goes to its leads unless it is plainly about the programme: a weak match to a
# programme topic ("the key code for the storeroom" ~ "contact") is not enough to pass it over the CoP's head.
IN_COP_FLOOR = 0.5

# Programme entries about a CoP's own running, which its leads know best.
COP_BUSINESS = frozenset(
    {
        "core-meetings",
        "time-commitment",
        "lunch-and-learn",
        "projects",
        "what-cops-do",
        "where-cops-live",
        "leads-role",
        "lead-sponsor-meetings",
        "become-a-lead",
        "sponsor-role",
    }
)

# Programme entries only the programme team can speak for; the CoPs' directory entries (``cop-…``) too.
PROGRAMME_WIDE = frozenset(
    {
        "purpose-at-ucl",
        "history",
        "who-runs-programme",
        "scale",
        "award",
        "impact-survey-2021",
        "survey-participation",
        "list-of-cops",
        "practice-areas",
        "start-a-new-cop",
        "contact",
        "health-framework",
        "health-purpose",
        "health-governance",
        "health-leadership",
        "health-vitality-learning",
        "health-impact-sustainability",
        "ask-a-question",
        "data-privacy",
    }
)

_OWN_COP = re.compile(
    r"\b(?:our|my|this|your)\s+(?:own\s+)?(?:cop|community|communities|group|team|channel|leads?|sponsor|core meeting|"
    r"lunch and learn|project|events?)\b",
    re.IGNORECASE,
)


def speaks_of_own_cop(question: str) -> bool:
    """Whether the question is about the asker's own CoP ("our core meeting", "this community")."""
    return bool(_OWN_COP.search(question))


def audience_of(question: str, matches: Sequence[Match], *, floor: float = TOPIC_FLOOR) -> Audience:
    """Who should follow up ``question``, given the entries the FAQ ranked best for it (best first); a best entry
    below ``floor`` says nothing."""
    if speaks_of_own_cop(question):
        return "cop"
    top = next(iter(matches), None)
    if top is None or top.confidence < floor:
        return "unknown"
    entry = top.entry
    if not entry.is_programme or entry.entry_id in COP_BUSINESS:
        return "cop"
    if entry.entry_id in PROGRAMME_WIDE or entry.entry_id.startswith("cop-"):
        return "programme"
    return "general"
