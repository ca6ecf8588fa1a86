"""Decides whether a channel message reads as a question worth tracking as an open query.

Used on channel messages the bot sees without an @mention (RSC ``ChannelMessage.Read.Group``): a message that
reads as a question opens a query. Precision matters more than recall here: a wrongly opened query nags the
leads, while a missed one can still be asked with ``@CoP Bot ask``.
"""

from __future__ import annotations

import re

MIN_WORDS = 3  # "any update?" is chat, not a query
MIN_LETTERS = 10

_URL = re.compile(r"(?:https?://|www\.)\S+", re.IGNORECASE)
_MENTION = re.compile(r"<at>.*?</at>", re.IGNORECASE | re.DOTALL)
_TAG = re.compile(r"<[^>]+>")
_WORD = re.compile(r"[a-z0-9']+")

# Openings that make a sentence a question or a request for help.
_QUESTION_STARTS: tuple[tuple[str, ...], ...] = tuple(
    tuple(phrase.split())
    for phrase in (
        "how",
        "what",
        "whats",
        "what's",
        "who",
        "whos",
        "who's",
        "whom",
        "whose",
        "where",
        "wheres",
        "where's",
        "when",
        "why",
        "which",
        "can",
        "could i",
        "could we",
        "could you",
        "could anybody",
        "would anyone",
        "would anybody",
        "would you",
        "would it",
        "would i",
        "does",
        "do i",
        "do we",
        "do you",
        "do they",
        "do people",
        "do any",
        "do all",
        "did",
        "is",
        "are",
        "should",
        "shall we",
        "shall i",
        "has anyone",
        "has anybody",
        "have you",
        "have we",
        "have any",
        "have anyone",
        "anyone know",
        "does anyone know",
        "anybody know",
        "any idea",
        "any ideas",
        "any advice",
        "any tips",
        "any thoughts",
        "any recommendations",
        "is there",
        "are there",
        "help with",
        "need help",
        "i need help",
        "looking for",
        "i'm looking for",
        "im looking for",
        "i am looking for",
        "i was wondering",
        "wondering if",
        "just wondering",
        "does anybody",
        "can anyone",
        "could anyone",
        "can someone",
        "could someone",
        "please could",
        "please can",
        "please advise",
        "not sure how",
        "not sure where",
        "not sure what",
        "not sure who",
        "not sure whether",
        "not sure if",
        "i'm not sure",
        "im not sure",
        "do you know",
        "does somebody know",
    )
)

# Closings that make a message a request ("The booking system is down again, any advice").
_REQUEST_ENDINGS: tuple[tuple[str, ...], ...] = tuple(
    ("any", word)
    for word in ("advice", "idea", "ideas", "thoughts", "tips", "help", "suggestions", "recommendations", "pointers")
)

# Leading words to skip before looking for a question opening ("Hi all, does anyone know...").
_LEAD_IN = frozenset(
    {
        *("hi", "hello", "hey", "hiya", "morning", "afternoon", "evening", "dear", "all", "everyone", "team"),
        *("folks", "guys", "colleagues", "quick", "question", "q", "so", "and", "but", "also", "ok", "okay"),
        *("sorry", "please"),
    }
)

# Whole messages that are social, not questions.
_SOCIAL = re.compile(
    r"^(?:(?:hi|hello|hey|hiya|morning|good (?:morning|afternoon|evening)|thanks?(?: you)?|thank you(?: so much)?|"
    r"many thanks|cheers|ta|congrats|congratulations|well done|great|nice|lovely|brilliant|welcome|"
    r"how are you|how's everyone|how is everyone|hows everyone|how was your weekend|happy (?:friday|monday|new year)|"
    r"see you|bye)\b[\s\w!.,:)(-]*)$",
    re.IGNORECASE,
)
_SOCIAL_MAX_WORDS = 6


def _clean(text: str) -> str:
    text = _MENTION.sub(" ", text)
    text = _TAG.sub(" ", text)
    text = _URL.sub(" ", text)
    return " ".join(text.split())


def reads_as_question(text: str) -> bool:
    """True when a channel message looks like a question or a request for help.

    It must have some words once mentions, markup and links are removed; it must not be a greeting or a
    thank-you; and it must end with "?" or start (after a greeting) with a question or request opening such as
    "how", "can", "does anyone know", "any idea", "help with".
    """
    cleaned = _clean(text)
    words = _WORD.findall(cleaned.lower().replace("\u2019", "'"))
    if len(words) < MIN_WORDS or sum(len(w) for w in words) < MIN_LETTERS:
        return False
    if len(words) <= _SOCIAL_MAX_WORDS and _SOCIAL.match(cleaned):
        return False
    ending = cleaned.rstrip().rstrip(")").rstrip()
    if ending.endswith("?"):
        return True
    if ending.endswith("!"):  # "How lovely to see everyone!", "What a session!"
        return False
    start = 0
    while start < len(words) - 1 and words[start] in _LEAD_IN:
        start += 1
    head = tuple(words[start : start + 5])
    if any(head[: len(opening)] == opening for opening in _QUESTION_STARTS):
        return True
    return tuple(words[-2:]) in _REQUEST_ENDINGS
