"""Text analysis shared by FAQ entries and questions: one pipeline for both.

Lower-casing and a few character rules (``&`` → "and", ``%`` → "percent"), domain phrase rules ("community of
practice" → ``cop``, "lunch & learn" / "L&L" → ``lunchlearn``...), filler and stop-word removal, a synonym table
written from the programme FAQ's own domain, and Snowball stemming. :func:`analyse` also returns the adjacent-word
bigrams of the stream (function words kept) that the ranker uses to break ties.

The lists are plain data: extend them from the FAQ's domain (what staff call the things the FAQ talks about), never
from the calibration questions that measure the ranker.
"""

from __future__ import annotations

import functools
import itertools
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

import snowballstemmer  # type: ignore[import-untyped]

MIN_FUZZY_LENGTH = 7  # shorter unknown words are not typo-corrected


def _wordlist(text: str) -> frozenset[str]:
    return frozenset(text.split())


# Function words: not index terms, but kept in the word stream that bigrams are taken from, so "what do leads
# do" still lines up with "What do CoP leads do?".
STOP_WORDS = _wordlist(
    """
    a about above after again against also am an and any anybody anything are as at be because been before being
    below between both but by can cannot could did do does doing done down during each either else etc even ever
    every few for from further get gets getting got had has have having he her here hers him his how however i if
    in into is it its itself let me might mine more most much must my myself no nor not now of off on once only
    or other our ours out over own per same say she should so some such than that the their theirs them then
    there these they this those though through thus to too under until up upon us was we were what whats when
    whenever whether which while whom whose will with within without would yes yet you your yours
    yourself im ive id ill dont doesnt didnt cant wont isnt arent wasnt theres heres thats whos one ones s t
    become becoming
    """
)

# Chat filler: dropped everywhere (greetings, politeness, hedges), so it neither matches nor dilutes.
FILLER_WORDS = _wordlist(
    """
    hi hello hey hiya morning afternoon thanks thank cheers ta sorry apologies question quick q silly stupid
    wondering wonder know knows anyone someone somebody guys folks everyone all actually basically currently
    just really very quite rather please pls like want wanted wants need needs needed tell see find
    look looking okay ok sure maybe possible kind sort bit lot thing things stuff way ways go going make ucl
    """
)

# Everyday English words (a general list in the spirit of the SMART stop list, not taken from this FAQ). When
# the index has never seen one, it is weak evidence that the question is off-topic ("I'd love to...", "pretty
# busy"), unlike an unknown topical noun ("laptop", "payslip"); and when the index knows it, it still says little
# about which entry is meant. Either way such a word weighs ``generic_weight`` times its usual weight.
GENERIC_WORDS = _wordlist(
    """
    able absolutely across actual add added address advance advice advise afraid ago agree ahead allow allowed almost
    alone along already alright although always amazing amount another answer anyway anywhere apart appear
    appreciate appropriate around ask asked asking away awesome back bad basic basis before begin behind believe
    best better big bored brand brief bring broad busy call called came care careful case cause certain certainly
    chance check clear clearly close come comes coming common complete completely concern confirm confused
    consider correct couple course cover crazy curious current daily day days dear decide definitely depend describe
    detail details didnt different difficult direct directly discuss easy either else end enough entire
    entirely especially exact exactly example except expect experience fact fair fairly familiar far fast feel
    feeling felt fine finally first follow following forward free friend full fully general generally give
    given gives glad good great guess guide hand happen happened happening happens happy hard hardly hear heard
    help helpful hi hold home honest honestly hope hopefully huge idea ideas imagine important include including
    indeed info information instead interested interesting issue item keen keep kept kind knew large last late
    later least left less likely literally little long longer lovely love main mainly making matter may mention
    mentioned mind minute missed moment month months mostly near nearly necessarily necessary never next nice
    nobody none new normal normally note nothing notice number obvious obviously often old open option order
    others otherwise
    part particular particularly past people perhaps person personally place plan plus point pop possibly
    pretty previous previously probably problem proper properly pull put quickly quiet raise rarely reach read
    ready real reason recent recently regarding related relevant remember right round said same saw saying says
    second seem seemed seems seen sense send sent seriously set short show showing side similar simple simply
    since small somehow something sometimes somewhat somewhere soon sound sounds speak special specific start
    still straight suggest suppose supposed surely take taken taking talk team term terms thing think thinking
    thought together told took top total totally tried trouble true truly try trying turn type understand unsure
    usual usually various view wait walk way week well went whatever whole wish wonderful word work working
    worried worry write wrong year years yesterday yet bother mistake process
    """
)

# Phrases that mean one thing in this domain, matched on whole words: alternatives are separated by "|", a
# trailing "?" makes a word optional. The replacement's words take the phrase's place.
_PHRASE_RULES: tuple[tuple[str, str], ...] = (
    ("community|communities of? practice|practices|practise|practises", "cop"),
    ("cops", "cop"),
    ("lunch and|n|an learn|learns", "lunchlearn"),
    ("lunchtime learning|talk|talks|session|sessions", "lunchlearn"),
    ("l and l|ls", "lunchlearn"),
    ("task force|forces", "taskforce"),
    ("sign|signing|signed up", "join"),
    ("set|setting up", "start"),
    ("catch|catching up|ups", "meet"),
    ("get together", "meet"),
    ("how many|big", "count"),
    ("number of", "count"),
    ("day to day", "daily"),
    ("e mail", "email"),
    ("pm|pms", "project manager"),
    ("smt|slt", "senior management"),
    ("senior leadership team", "senior management"),
    ("opt|opting out", "leave"),
    ("vp|viceprovost", "viceprovost"),
    ("vice provost|provosts", "viceprovost"),
    ("more than one|1", "multiple"),
    ("lots of", "multiple"),
    ("get up to", "activities"),
    ("in it for me", "benefit"),
    ("how long have|has|ago", "history"),
    ("since when", "history"),
    ("take|taking part", "involve"),
    ("hr", "human resources"),
    ("in charge", "run"),
    ("get out of", "leave"),
    ("drop|dropping out", "leave"),
    ("become|becoming|be a|an? member|members", "join"),
    ("add|added me|myself", "join"),
    ("what is|are a|an? cop|cops", "define cop"),
    ("whats|what a|an cop|cops", "define cop"),
    ("what is|are a|an? community|communities of? practice|practices|practise|practises", "define cop"),
    ("whats|what a|an community|communities of? practice|practices|practise|practises", "define cop"),
)


def _expand(rule: str) -> list[tuple[str, ...]]:
    variants: list[tuple[str, ...]] = [()]
    for slot in rule.split():
        optional = slot.endswith("?")
        choices = slot.rstrip("?").split("|")
        variants = [(*v, c) for v in variants for c in choices] + (variants if optional else [])
    return variants


@functools.lru_cache(maxsize=1)
def _phrase_table() -> dict[str, tuple[tuple[tuple[str, ...], tuple[str, ...]], ...]]:
    """First word → (phrase words, replacement words), longest phrase first."""
    table: dict[str, list[tuple[tuple[str, ...], tuple[str, ...]]]] = {}
    for rule, replacement in _PHRASE_RULES:
        for words in _expand(rule):
            table.setdefault(words[0], []).append((words, tuple(replacement.split())))
    return {first: tuple(sorted(rules, key=lambda r: -len(r[0]))) for first, rules in table.items()}


def _apply_phrases(words: Sequence[str]) -> list[str]:
    table = _phrase_table()  # once per text, not per word: index builds analyse ~60,000 texts
    out: list[str] = []
    i, n = 0, len(words)
    while i < n:
        for phrase, replacement in table.get(words[i], ()):
            if tuple(words[i : i + len(phrase)]) == phrase:
                out.extend(replacement)
                i += len(phrase)
                break
        else:
            out.append(words[i])
            i += 1
    return out


# Single words → the canonical word used in the index (applied before stemming).
SYNONYMS: dict[str, str] = {
    # membership actions
    "enrol": "join",
    "enroll": "join",
    "enrolment": "join",
    "enrollment": "join",
    "signup": "join",
    "taskforces": "taskforce",
    "joining": "join",
    "quit": "leave",
    "withdraw": "leave",
    "exit": "leave",
    "unsubscribe": "leave",
    "subscribe": "join",
    "remove": "leave",
    "swap": "switch",
    "change": "switch",
    "transfer": "switch",
    "move": "switch",
    # definitions
    "explain": "define",
    "definition": "define",
    "meaning": "define",
    "mean": "define",
    "means": "define",
    # taking part
    "involved": "involve",
    "involvement": "involve",
    "participate": "involve",
    "participating": "involve",
    "participation": "involve",
    "contribute": "involve",
    "contributing": "involve",
    # how many
    "two": "multiple",
    "2": "multiple",
    "several": "multiple",
    "many": "multiple",
    "various": "multiple",
    "max": "limit",
    "maximum": "limit",
    # the directory
    "community": "cop",
    "communities": "cop",
    "exist": "current",
    "exists": "current",
    "existing": "current",
    "available": "current",
    # purpose
    "point": "purpose",
    "aim": "purpose",
    "aims": "purpose",
    # roles and running things
    "job": "role",
    "manage": "run",
    "manages": "run",
    "managed": "run",
    "managing": "run",
    "oversee": "run",
    "oversees": "run",
    "overseeing": "run",
    "kinds": "type",
    "types": "type",
    "sorts": "type",
    "invent": "coin",
    "invented": "coin",
    "coined": "coin",
    "pick": "choose",
    "picked": "choose",
    "chosen": "choose",
    "select": "choose",
    "selected": "choose",
    # being put into a role (not choosing for oneself)
    "appointed": "appoint",
    "appointment": "appoint",
    "elect": "appoint",
    "elected": "appoint",
    "election": "appoint",
    "nominate": "appoint",
    "nominated": "appoint",
    "leader": "lead",
    "leaders": "lead",
    "chair": "lead",
    "coordinator": "lead",
    "coordinators": "lead",
    "convenor": "lead",
    "convenors": "lead",
    "convener": "lead",
    # starting a CoP
    "create": "start",
    "establish": "start",
    "setup": "start",
    "found": "start",
    # meetings
    "meeting": "meet",
    "meetings": "meet",
    "catchup": "meet",
    # assessment, impact
    "measure": "assess",
    "measured": "assess",
    "evaluate": "assess",
    "evaluation": "assess",
    "judge": "assess",
    "judged": "assess",
    "healthy": "health",
    "percentage": "percent",
    "stats": "results",
    "statistics": "results",
    "statistic": "results",
    "figures": "results",
    "won": "award",
    "win": "award",
    "prize": "award",
    # professions and areas
    "comms": "communications",
    "technician": "technical",
    "technicians": "technical",
    "tech": "technical",
    "analyst": "data",
    "analysts": "data",
    "conference": "event",
    "conferences": "event",
    # spelling variants (US → UK, practise/practice)
    "practise": "practice",
    "program": "programme",
    "programs": "programme",
    "organization": "organisation",
    "organizations": "organisation",
    "organize": "organise",
    "organizing": "organise",
    "center": "centre",
    "centers": "centre",
}

_WORD = re.compile(r"[a-z0-9]+")
_APOSTROPHE_S = re.compile(r"['\u2019]s\b")
_APOSTROPHE = re.compile(r"['\u2019]")


def words(text: str) -> list[str]:
    """Lower-cased raw words (before phrase rules and stemming)."""
    text = unicodedata.normalize("NFKC", text).lower()
    text = _APOSTROPHE_S.sub("", text)
    text = _APOSTROPHE.sub("", text)
    text = text.replace("&", " and ").replace("%", " percent ").replace("+", " and ")
    return _WORD.findall(text)


@functools.lru_cache(maxsize=1)
def _stemmer() -> snowballstemmer.stemmer:  # type: ignore[no-any-unimported]
    return snowballstemmer.stemmer("english")


@functools.lru_cache(maxsize=50_000)
def stem(word: str) -> str:
    stemmed: str = _stemmer().stemWord(word)
    return stemmed


@dataclass(frozen=True, slots=True)
class Analysed:
    terms: list[str]  # content terms (stop words and filler removed), stemmed
    bigrams: list[str]  # adjacent pairs of the stemmed stream with function words kept, filler removed


def analyse(raw_words: Sequence[str], limit: int | None = None) -> Analysed:
    """Filler removal, phrase rules, stop words, synonyms and stemming. ``limit`` caps the content terms."""
    synonyms = _stem_synonyms()
    terms: list[str] = []
    stream: list[str] = []
    for word in _apply_phrases([w for w in raw_words if w not in FILLER_WORDS]):
        stemmed = stem(SYNONYMS.get(word, word))
        term = synonyms.get(stemmed, stemmed)
        stream.append(term)
        if word not in STOP_WORDS and (len(word) > 1 or word.isdigit()):
            terms.append(term)
            if limit is not None and len(terms) >= limit:
                break
    return Analysed(terms, [f"{a} {b}" for a, b in itertools.pairwise(stream)])


@functools.lru_cache(maxsize=1)
def _stem_synonyms() -> dict[str, str]:
    """The synonym table on stems too, so inflections follow ("changed" like "change")."""
    table: dict[str, str] = {}
    for word, canonical in SYNONYMS.items():
        stemmed = stem(word)
        if stemmed != stem(canonical):
            table.setdefault(stemmed, stem(canonical))
    return table


@functools.lru_cache(maxsize=1)
def generic_stems() -> frozenset[str]:
    return frozenset(stem(word) for word in GENERIC_WORDS | FILLER_WORDS)


def tokenize(text: str) -> list[str]:
    """The index terms of a text (no typo correction: that needs an index's vocabulary)."""
    return analyse(words(text)).terms


def deletes(word: str) -> set[str]:
    """The word and every variant with one letter deleted (for one-edit typo lookups)."""
    return {word[:i] + word[i + 1 :] for i in range(len(word))} | {word}
