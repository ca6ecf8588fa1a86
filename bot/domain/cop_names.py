"""Finding a CoP from the words someone typed after a command: ``join data & insight``, ``join the PPM CoP``.

Staff rarely type a CoP's name exactly as a lead set it up. Both sides are compared as words, split as the FAQ
splits them (:func:`bot.answers.text.words`: lower case, "&" read as "and", punctuation dropped), leaving out the
words every CoP name could carry ("CoP", "community of practice", "the"). A query matches a CoP when its words are
the name's words, when they appear in the name in that order ("insight", "programme management"), or when the query
is the name's initials ("D&I", "PPM", "WP", "IC"). More than one match, or none, is for the caller to resolve (the
join card then offers the list).
"""

from __future__ import annotations

from collections.abc import Sequence

from bot.answers.text import words
from bot.domain.cops import Cop

# words any CoP's name may carry, or a query may add around the name
_FILLER = frozenset({"the", "a", "cop", "cops", "community", "communities", "of", "practice", "practise"})
_NOT_INITIALLED = frozenset({"and", "for", "in", "on", "to"})  # "Data and Insight" is D&I, not DAI


def name_words(text: str) -> tuple[str, ...]:
    """The words of a CoP name or of a query, as they are compared."""
    return tuple(w for w in words(text) if w not in _FILLER)


def initials(name: str) -> str:
    """'Project and Programme Management' -> 'ppm'."""
    return "".join(w[0] for w in name_words(name) if w not in _NOT_INITIALLED)


def contains_run(seq: Sequence[str], part: Sequence[str]) -> bool:
    """Whether the words ``part`` appear in ``seq`` in a row (compared only where its first word is)."""
    if not part:
        return False
    first, size, wanted = part[0], len(part), tuple(part)
    return any(word == first and tuple(seq[i : i + size]) == wanted for i, word in enumerate(seq))


def _compact(query: str) -> str:
    """The query's letters when it could be initials ("D&I", "d & i", "ppm"), else ''."""
    # words() reads "&" as "and"; a single letter counts even when it is filler ("A&I")
    letters = [w for w in words(query) if w not in _NOT_INITIALLED and (w not in _FILLER or len(w) == 1)]
    joined = "".join(letters)
    return joined if 2 <= len(joined) <= 5 and (len(letters) == 1 or all(len(w) == 1 for w in letters)) else ""


def cops_named(query: str, cops: Sequence[Cop]) -> list[Cop]:
    """The CoPs the query names: the exact ones when any are exact, else those whose name holds the query's words in
    that order, else those whose initials the query is."""
    wanted = name_words(query)
    if not wanted:
        return []
    exact = [cop for cop in cops if name_words(cop.name) == wanted]
    if exact:
        return exact
    within = [cop for cop in cops if contains_run(name_words(cop.name), wanted)]
    if within:
        return within
    compact = _compact(query)
    return [cop for cop in cops if compact and initials(cop.name) == compact]
