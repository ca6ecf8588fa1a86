"""The CoPs the programme lists, as its FAQ's directory entries state them: name, practice area, sponsor, status.

The bot's own directory (:mod:`bot.domain.cops`) knows the CoPs installed on it; the programme lists every CoP,
installed or not, in the programme FAQ (one entry per CoP, id ``cop-…``, tag ``directory``, answered as "Yes: the
**Name** CoP, in the **Area** practice area." with "- Sponsor: **Name**" and "- Status: …" lines). What the
programme says of a CoP the bot does not have yet is read from there, never made up.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

from bot.answers.faq import load_programme_faq
from bot.answers.naming import DIRECTORY_PREFIX, DIRECTORY_TAG

_BOLD = re.compile(r"\*\*(.+?)\*\*")
_SPONSOR = re.compile(r"^- Sponsor: \*\*(.+?)\*\*", re.MULTILINE)
_STATUS = re.compile(r"^- Status: (.+)$", re.MULTILINE)


@dataclass(frozen=True, slots=True)
class ListedCop:
    """One CoP as the programme lists it (``practice_area``, ``sponsor`` and ``status`` empty when not stated)."""

    name: str
    practice_area: str = ""
    sponsor: str = ""
    status: str = ""


def read_listing(answer: str) -> ListedCop | None:
    """The CoP a directory entry's answer describes (its first bold text is the name, the second the area)."""
    bold = _BOLD.findall(answer.split("\n- ", 1)[0])
    if not bold:
        return None
    sponsor = _SPONSOR.search(answer)
    status = _STATUS.search(answer)
    return ListedCop(
        name=bold[0].strip(),
        practice_area=bold[1].strip() if len(bold) > 1 else "",
        sponsor=sponsor.group(1).strip() if sponsor else "",
        status=status.group(1).strip() if status else "",
    )


@functools.cache
def programme_listing() -> tuple[ListedCop, ...]:
    """Every CoP the programme FAQ's directory entries list, in the FAQ's order."""
    out: list[ListedCop] = []
    for entry in load_programme_faq()[1]:
        if DIRECTORY_TAG in entry.tags and entry.entry_id.startswith(DIRECTORY_PREFIX):
            listed = read_listing(entry.answer)
            if listed is not None:
                out.append(listed)
    return tuple(out)
