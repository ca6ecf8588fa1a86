"""Questions about a person the CoP directory names: "which CoP does Fiona Ryland sponsor?", "what does Tom Rowson
lead?", "is Collette Lux a CoP sponsor?".

The people are the leads and sponsors of the CoPs installed on the bot (:mod:`bot.domain.cops`) and the sponsors
the programme lists for CoPs not installed yet (:mod:`bot.domain.programme_list`). A question is about one of them
when it names them in full ("Fiona Ryland", any case, "Fiona Ryland's"), or by a title and surname ("Dr Rowson").
A name alone is not guessed at: "who is Tom?" names nobody the bot can be sure of.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from bot.answers.text import words
from bot.domain.cop_names import contains_run, name_words
from bot.domain.cops import Cop
from bot.domain.programme_list import ListedCop, programme_listing

Post = Literal["lead", "sponsor"]

# what a question about someone's posts says: a post ("sponsor", "leads", "runs", "role"), "which/what CoP(s)", or
# "who is"; "can I email Collette Lux about joining?" is about joining, not about her
_ASKS_POSTS = re.compile(
    r"\b(?:sponsor\w*|lead\w*|runs?|running|in charge|chair\w*|roles?|responsib\w*|involved)\b|"
    r"\b(?:which|what)\b.{0,20}\b(?:cops?|communit\w*|ones?)\b|\bwho(?:'s|\s+is)\b",
    re.IGNORECASE,
)
# a name and "CoP" and nothing else ("wendy appleby cop?"): asked as a search box is typed into
_BARE_NAME = re.compile(
    r"^\W*[a-z][\w'-]*\s+[a-z][\w'-]*(?:\s+[a-z][\w'-]*)?\s+(?:cops?|communit(?:y|ies))\W*$", re.IGNORECASE
)
_TITLED = re.compile(r"\b(?:dr|prof|professor|mr|mrs|ms|miss|mx)\.?\s+([a-z][\w'-]+)", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Role:
    """One post a person holds: ``post`` of ``cop`` (installed) or of ``listed`` (the programme's list only; both
    when the post is the programme's but the CoP is installed)."""

    person: str
    post: Post
    cop: Cop | None = None
    listed: ListedCop | None = None

    @property
    def cop_name(self) -> str:
        return self.cop.name if self.cop is not None else self.listed.name if self.listed is not None else ""


def roles_held(cops: Sequence[Cop]) -> list[Role]:
    """Every post the directory knows: the installed CoPs' leads and sponsors (the sponsor the programme lists when
    none is set on the bot), then the sponsors the programme lists for CoPs not installed (matched by name, as
    :func:`bot.domain.cop_names.name_words` compares names)."""
    listing = {name_words(listed.name): listed for listed in programme_listing()}
    roles: list[Role] = []
    for cop in cops:
        roles.extend(Role(lead.name, "lead", cop=cop) for lead in cop.leads if lead.name.strip())
        listed = listing.pop(name_words(cop.name), None)
        if cop.sponsor is not None and cop.sponsor.name.strip():
            roles.append(Role(cop.sponsor.name, "sponsor", cop=cop))
        elif listed is not None and listed.sponsor:
            roles.append(Role(listed.sponsor, "sponsor", cop=cop, listed=listed))
    roles.extend(Role(listed.sponsor, "sponsor", listed=listed) for listed in listing.values() if listed.sponsor)
    return roles


@functools.lru_cache(maxsize=1024)  # the directory's few hundred names, compared with every question about posts
def _name_words(person: str) -> tuple[str, ...]:
    return tuple(words(person))


def _named(question: str, asked: list[str], person: str) -> bool:
    wanted = _name_words(person)
    # "tom rowsons role" (a possessive without its apostrophe) as well as "Tom Rowson's role"
    if len(wanted) >= 2 and (contains_run(asked, wanted) or contains_run(asked, (*wanted[:-1], wanted[-1] + "s"))):
        return True
    surname = wanted[-1] if wanted else ""
    return bool(surname) and len(wanted) >= 2 and any(m.lower() == surname for m in _TITLED.findall(question))


def asks_about_posts(question: str) -> bool:
    """Whether the question could be asking what someone leads or sponsors (before any name is looked for)."""
    return _ASKS_POSTS.search(question) is not None or _BARE_NAME.match(question) is not None


def person_question(question: str, cops: Sequence[Cop]) -> tuple[str, list[Role]] | None:
    """The person ``question`` names and every post they hold, or None when it does not ask about someone's posts
    or names nobody the directory knows. When it names more than one, the first named in the question."""
    if not asks_about_posts(question):
        return None
    asked = words(question)
    roles = roles_held(cops)
    named = {role.person for role in roles if _named(question, asked, role.person)}
    if not named:
        return None
    text = question.casefold()
    person = min(named, key=lambda p: (text.find(p.casefold().split()[-1]), p))
    return person, [role for role in roles if role.person.casefold() == person.casefold()]
