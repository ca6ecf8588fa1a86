"""Ranks FAQ entries for a free-text question and decides whether the best one is a confident answer.

Scoring is BM25F over two fields of each entry: the *phrasings* (question, alternatives and tags) and the
*answer* text, with the phrasings weighted higher. Text goes through one pipeline for entries and questions:
lower-casing, a few character rules (``&`` → "and", ``%`` → "percent"), domain phrase rules ("community of
practice" → ``cop``, "lunch & learn" / "L&L" → ``lunchlearn``...), stop-word removal, a small synonym table and
Snowball stemming. Question words that the index has never seen are corrected to a known word one edit away
(typos such as "comunity" or "sponser").

Confidence (0..1) combines how much of the question the entry explains with how clearly it beats the
runner-up; see :class:`Calibration` for the constants and how they were set.
"""

from __future__ import annotations

import functools
import heapq
import itertools
import math
import random
import re
import statistics
import time
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

import snowballstemmer  # type: ignore[import-untyped]

from bot.answers.faq import PROGRAMME_SCOPE, FaqEntry

# -- tuning constants: all in one place ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Calibration:
    """Ranking weights and the confidence threshold.

    Calibrated on the ``tune`` half of ``tests/answers/calibration.json`` (staff-style questions labelled with
    the expected entry or with null for "no answer here"); the ``holdout`` half was only scored at the end.
    The weights were chosen first for top-1 accuracy; ``min_confidence`` was then set from the confidence
    distributions of right answers vs wrong answers and no-answer questions on the tune half, at the point that
    keeps wrong-and-confident answers well under 3 % of all questions while answering >= 90 % of answerable
    ones correctly. ``tests/answers/test_calibration.py`` prints the figures for both halves.
    """

    k1: float = 3.0
    phrasing_weight: float = 2.0  # question + alternatives + tags count this many times more than answer text
    answer_weight: float = 1.0
    phrasing_b: float = 0.75  # length normalisation per field (BM25F b)
    answer_b: float = 0.5
    # An unknown question word (never seen in any entry) counts as this fraction of the rarest known word's IDF
    # in the "how much of the question is explained" denominator: "book annual leave" must not match the
    # "leave a CoP" entry on "leave" alone.
    unknown_weight: float = 1.0
    generic_weight: float = 0.25
    # An entry that mentions a term only in its answer counts this much towards the term's document frequency.
    answer_df_weight: float = 0.25
    # Bigrams (adjacent words of the phrasings, function words kept) add this times their IDF to the ranking score.
    bigram_weight: float = 0.3
    # Entries of a CoP's own FAQ beat programme entries that match about as well.
    cop_scope_boost: float = 1.2
    # confidence = min(1, covered IDF / evidence_scale) * (explained_weight * explained
    #                                                     + (1 - explained_weight) * phrased); see ``Features``.
    explained_weight: float = 0.5
    # Questions whose matched words are all very common (only "CoP") stay unsure unless their wording matches a
    # phrasing closely (matching bigrams: "What is a CoP?").
    evidence_scale: float = 1.0
    min_confidence: float = 0.40


DEFAULT_CALIBRATION = Calibration()

MAX_QUERY_CHARS = 4000  # longer questions are cut before any processing
MAX_QUERY_TOKENS = 60  # content tokens of a question that are used
MIN_FUZZY_LENGTH = 6  # shorter unknown words are not typo-corrected

# -- text processing -------------------------------------------------------------------------------------


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
    whenever where whether which while who whom whose why will with within without would yes yet you your yours
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
    look looking okay ok sure maybe possible kind sort bit lot lots thing things stuff way ways go going make ucl
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
    worried worry write wrong year years yesterday yet
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
    ("smt", "senior management"),
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
)


def _expand(rule: str) -> list[tuple[str, ...]]:
    variants: list[tuple[str, ...]] = [()]
    for slot in rule.split():
        optional = slot.endswith("?")
        choices = slot.rstrip("?").split("|")
        variants = [(*v, c) for v in variants for c in choices] + (variants if optional else [])
    return variants


def _phrase_table() -> dict[str, tuple[tuple[tuple[str, ...], tuple[str, ...]], ...]]:
    """First word → (phrase words, replacement words), longest phrase first."""
    table: dict[str, list[tuple[tuple[str, ...], tuple[str, ...]]]] = {}
    for rule, replacement in _PHRASE_RULES:
        for words in _expand(rule):
            table.setdefault(words[0], []).append((words, tuple(replacement.split())))
    return {first: tuple(sorted(rules, key=lambda r: -len(r[0]))) for first, rules in table.items()}


_PHRASES = _phrase_table()


def _apply_phrases(words: Sequence[str]) -> list[str]:
    out: list[str] = []
    i, n = 0, len(words)
    while i < n:
        for phrase, replacement in _PHRASES.get(words[i], ()):
            if tuple(words[i : i + len(phrase)]) == phrase:
                out.extend(replacement)
                i += len(phrase)
                break
        else:
            out.append(words[i])
            i += 1
    return out


# Single words → the canonical word used in the index (applied before stemming).
_SYNONYMS: dict[str, str] = {
    # membership actions
    "enrol": "join",
    "enroll": "join",
    "enrolment": "join",
    "enrollment": "join",
    "signup": "join",
    "taskforces": "taskforce",
    "register": "join",
    "registered": "join",
    "registration": "join",
    "joining": "join",
    "quit": "leave",
    "exit": "leave",
    "unsubscribe": "leave",
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
    # roles
    "pick": "choose",
    "picked": "choose",
    "chosen": "choose",
    "select": "choose",
    "selected": "choose",
    "appoint": "choose",
    "appointed": "choose",
    "elect": "choose",
    "elected": "choose",
    "leader": "lead",
    "leaders": "lead",
    "chair": "lead",
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


def _words(text: str) -> list[str]:
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
def _stem(word: str) -> str:
    stemmed: str = _stemmer().stemWord(word)
    return stemmed


@dataclass(frozen=True, slots=True)
class _Analysed:
    terms: list[str]  # content terms (stop words and filler removed), stemmed
    bigrams: list[str]  # adjacent pairs of the stemmed stream with function words kept, filler removed


def _analyse(words: Sequence[str], limit: int | None = None) -> _Analysed:
    """Phrase rules, stop words, synonyms and stemming. ``limit`` caps the number of content terms."""

    terms: list[str] = []
    stream: list[str] = []
    for word in _apply_phrases(words):
        if word in FILLER_WORDS:
            continue
        term = _stem(_SYNONYMS.get(word, word))
        stream.append(term)
        if word not in STOP_WORDS and (len(word) > 1 or word.isdigit()):
            terms.append(term)
            if limit is not None and len(terms) >= limit:
                break
    return _Analysed(terms, [f"{a} {b}" for a, b in itertools.pairwise(stream)])


@functools.lru_cache(maxsize=1)
def _generic_stems() -> frozenset[str]:
    return frozenset(_stem(word) for word in GENERIC_WORDS)


def tokenize(text: str) -> list[str]:
    """The index terms of a text (no typo correction: that needs an index's vocabulary)."""
    return _analyse(_words(text)).terms


def _deletes(word: str) -> set[str]:
    return {word[:i] + word[i + 1 :] for i in range(len(word))} | {word}


# -- results ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Match:
    """One ranked entry: ``score`` is the raw (scope-boosted) BM25F score, ``confidence`` is in 0..1."""

    entry: FaqEntry
    score: float
    confidence: float


@dataclass(frozen=True, slots=True)
class Answer:
    """A confident answer; ``others`` are the next best matches (for "did you mean" links)."""

    match: Match
    others: tuple[Match, ...] = ()

    @property
    def entry(self) -> FaqEntry:
        return self.match.entry

    @property
    def confidence(self) -> float:
        return self.match.confidence


AbstainReason = Literal["empty", "no_terms", "no_match", "low_confidence"]

_ABSTAIN_MESSAGES: dict[AbstainReason, str] = {
    "empty": "the question is empty",
    "no_terms": "the question has no words to search for",
    "no_match": "no FAQ entry shares a word with the question",
    "low_confidence": "no FAQ entry matches the question confidently",
}


@dataclass(frozen=True, slots=True)
class Abstain:
    """No confident answer; ``matches`` are the best candidates found, if any."""

    reason: AbstainReason
    matches: tuple[Match, ...] = ()

    @property
    def message(self) -> str:
        return _ABSTAIN_MESSAGES[self.reason]

    @property
    def best(self) -> Match | None:
        return self.matches[0] if self.matches else None


@dataclass(frozen=True, slots=True)
class Features:
    """What the confidence of one candidate is computed from (each in 0..1)."""

    explained: float  # IDF-weighted share of the question's terms the entry covers (unknown words included)
    phrased: float  # IDF-weighted share of the question's terms found in the entry's question or alternatives
    evidence: float  # covered IDF mass plus matching bigrams' weight, over evidence_scale, capped at 1

    def confidence(self, calibration: Calibration) -> float:
        w = calibration.explained_weight
        return round(self.evidence * (w * self.explained + (1.0 - w) * self.phrased), 4)


# -- the index -------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Query:
    terms: tuple[str, ...]  # distinct content terms in order
    weights: tuple[float, ...]  # IDF of each term (unknown terms: the unknown weight)
    bigrams: tuple[str, ...]  # distinct bigrams found in the index's phrasings


_Postings = dict[str, tuple[tuple[int, float], ...]]
_TermPostings = dict[str, tuple[tuple[int, float, float, bool], ...]]  # entry, saturated tf, credit, in phrasings


class FaqIndex:
    """An immutable BM25F index over FAQ entries. Build with :meth:`build`; cheap to rebuild on FAQ edits."""

    def __init__(
        self,
        entries: tuple[FaqEntry, ...],
        postings: _TermPostings,
        idf: dict[str, float],
        bigram_postings: _Postings,
        word_df: dict[str, int],
        calibration: Calibration,
    ) -> None:
        self._entries = entries
        self._postings = postings
        self._idf = idf
        self._bigram_postings = bigram_postings
        self._word_df = word_df
        self._calibration = calibration
        self._boost = tuple(1.0 if e.scope == PROGRAMME_SCOPE else calibration.cop_scope_boost for e in entries)
        self._unknown_idf = calibration.unknown_weight * max(idf.values(), default=1.0)
        fuzzy: dict[str, set[str]] = {}
        for word in word_df:
            if len(word) >= MIN_FUZZY_LENGTH - 1 and word.isalpha():
                for variant in _deletes(word):
                    fuzzy.setdefault(variant, set()).add(word)
        self._fuzzy = {variant: tuple(sorted(words)) for variant, words in fuzzy.items()}

    @classmethod
    def build(cls, entries: Iterable[FaqEntry], calibration: Calibration = DEFAULT_CALIBRATION) -> FaqIndex:
        """Index ``entries`` (any mix of programme and CoP entries). Entry ids need not be unique across scopes."""
        items = tuple(entries)
        c = calibration
        n = len(items)
        phrasing_fields: list[list[str]] = []
        answer_fields: list[list[str]] = []
        bigram_fields: list[list[str]] = []
        word_df: dict[str, int] = {}
        for entry in items:
            phrasing_terms: list[str] = []
            bigrams: list[str] = []
            entry_words: set[str] = set()
            for phrasing in entry.phrasings:
                words = _words(phrasing)
                entry_words.update(words)
                analysed = _analyse(words)
                phrasing_terms.extend(analysed.terms)
                bigrams.extend(analysed.bigrams)
            tag_words = _words(" ".join(entry.tags).replace("-", " "))
            phrasing_terms.extend(_analyse(tag_words).terms)
            answer_words = _words(entry.answer)
            entry_words.update(tag_words, answer_words)
            for word in entry_words:
                word_df[word] = word_df.get(word, 0) + 1
            phrasing_fields.append(phrasing_terms)
            answer_fields.append(_analyse(answer_words).terms)
            bigram_fields.append(bigrams)

        # Document frequency for IDF: an entry whose phrasings contain the term counts 1, one that only
        # mentions it in its answer counts ``answer_df_weight``: a word said in passing in a few answers (e.g.
        # "Lunch and Learns" in a list of activities) should stay a strong signal for the entry about it.
        df: dict[str, float] = {}
        for phrasing_terms, answer_terms in zip(phrasing_fields, answer_fields, strict=True):
            in_phrasings = set(phrasing_terms)
            for term in in_phrasings:
                df[term] = df.get(term, 0.0) + 1.0
            for term in set(answer_terms) - in_phrasings:
                df[term] = df.get(term, 0.0) + c.answer_df_weight
        idf = {term: math.log(1.0 + (n - d + 0.5) / (d + 0.5)) for term, d in df.items()}

        avg_p = max(1.0, sum(map(len, phrasing_fields)) / n) if n else 1.0
        avg_a = max(1.0, sum(map(len, answer_fields)) / n) if n else 1.0
        # Coverage credit of a term in an entry: its saturated tf relative to one mention in the phrasings,
        # capped at 1, so a term repeated many times cannot make up for question words the entry lacks.
        reference = c.phrasing_weight / (c.k1 + c.phrasing_weight)
        raw: dict[str, list[tuple[int, float, float, bool]]] = {}
        for doc in range(n):
            norm_p = 1.0 - c.phrasing_b + c.phrasing_b * len(phrasing_fields[doc]) / avg_p
            norm_a = 1.0 - c.answer_b + c.answer_b * len(answer_fields[doc]) / avg_a
            tf: dict[str, float] = {}
            for term in phrasing_fields[doc]:
                tf[term] = tf.get(term, 0.0) + c.phrasing_weight / norm_p
            for term in answer_fields[doc]:
                tf[term] = tf.get(term, 0.0) + c.answer_weight / norm_a
            in_phrasings = set(phrasing_fields[doc])
            for term, weight in tf.items():
                saturation = weight / (c.k1 + weight)
                credit = min(1.0, saturation / reference)
                raw.setdefault(term, []).append((doc, saturation, credit, term in in_phrasings))
        postings = {term: tuple(docs) for term, docs in raw.items()}

        # Bigrams of the phrasings (function words kept): a weight per (bigram, entry) that already includes
        # the bigram's IDF, since bigrams only break ties between entries and never count towards confidence.
        bigram_docs: dict[str, dict[int, int]] = {}
        for doc, bigrams in enumerate(bigram_fields):
            for bigram in bigrams:
                counts = bigram_docs.setdefault(bigram, {})
                counts[doc] = counts.get(doc, 0) + 1
        bigram_postings: _Postings = {}
        for bigram, counts in bigram_docs.items():
            bigram_idf = math.log(1.0 + (n - len(counts) + 0.5) / (len(counts) + 0.5))
            bigram_postings[bigram] = tuple(
                (doc, c.bigram_weight * bigram_idf * count / (c.k1 + count)) for doc, count in counts.items()
            )
        return cls(items, postings, idf, bigram_postings, word_df, calibration)

    @property
    def entries(self) -> tuple[FaqEntry, ...]:
        return self._entries

    def __len__(self) -> int:
        return len(self._entries)

    # -- query processing ---------------------------------------------------------------------------------
    def _correct(self, word: str) -> str:
        """A known word one edit away from an unknown one (same first letter), else the word itself."""
        if (
            word in self._word_df
            or len(word) < MIN_FUZZY_LENGTH
            or not word.isalpha()
            or word in STOP_WORDS
            or word in FILLER_WORDS
            or word in _SYNONYMS
            or _stem(word) in self._idf
        ):
            return word
        candidates: set[str] = set()
        for variant in _deletes(word):
            candidates.update(self._fuzzy.get(variant, ()))
        candidates = {c for c in candidates if c[0] == word[0]}
        if not candidates:
            return word
        return min(candidates, key=lambda c: (abs(len(c) - len(word)), -self._word_df[c], c))

    def _query(self, text: str) -> _Query:
        words = [self._correct(w) for w in _words(text[:MAX_QUERY_CHARS])]
        analysed = _analyse(words, limit=MAX_QUERY_TOKENS)
        weights: dict[str, float] = {}
        generic = _generic_stems()
        c = self._calibration
        for term in analysed.terms:
            if term not in weights:
                weight = self._idf.get(term, self._unknown_idf)
                weights[term] = weight * c.generic_weight if term in generic else weight
        bigrams = tuple(dict.fromkeys(b for b in analysed.bigrams if b in self._bigram_postings))
        return _Query(tuple(weights), tuple(weights.values()), bigrams)

    # -- ranking -----------------------------------------------------------------------------------------
    def search(self, text: str, k: int = 3) -> list[Match]:
        """The ``k`` best entries for ``text``, best first, with their confidence. Empty when nothing matches."""
        return self._rank(self._query(text), k)

    def _rank(self, query: _Query, k: int) -> list[Match]:
        return [match for match, _ in self._rank_with_features(query, k)]

    def _rank_with_features(self, query: _Query, k: int) -> list[tuple[Match, Features]]:
        if not query.terms or k <= 0:
            return []
        c = self._calibration
        scores: dict[int, float] = {}
        covered: dict[int, float] = {}
        in_phrasings: dict[int, float] = {}
        for term, weight in zip(query.terms, query.weights, strict=True):
            for doc, saturation, credit, phrased in self._postings.get(term, ()):
                scores[doc] = scores.get(doc, 0.0) + weight * saturation
                covered[doc] = covered.get(doc, 0.0) + weight * credit
                if phrased:
                    in_phrasings[doc] = in_phrasings.get(doc, 0.0) + weight
        if not scores:
            return []
        ranking = dict(scores)
        bigram_scores: dict[int, float] = {}
        for bigram in query.bigrams:
            for doc, weight in self._bigram_postings[bigram]:
                if doc in ranking:  # bigrams only reorder entries that share a content term with the question
                    ranking[doc] += weight
                    bigram_scores[doc] = bigram_scores.get(doc, 0.0) + weight
        for doc in ranking:
            ranking[doc] *= self._boost[doc]
        total_weight = sum(query.weights)
        top = heapq.nlargest(k, ranking.items(), key=lambda item: (item[1], -item[0]))
        out: list[tuple[Match, Features]] = []
        for doc, score in top:
            features = Features(
                explained=min(1.0, covered[doc] / total_weight),
                phrased=min(1.0, in_phrasings.get(doc, 0.0) / total_weight),
                evidence=min(1.0, (covered[doc] + bigram_scores.get(doc, 0.0)) / c.evidence_scale),
            )
            out.append((Match(self._entries[doc], score, features.confidence(c)), features))
        return out

    def answer(self, text: str, *, min_confidence: float | None = None) -> Answer | Abstain:
        """The best entry when it is confident enough, otherwise :class:`Abstain` with the reason."""
        if not text or not text.strip():
            return Abstain("empty")
        query = self._query(text)
        if not query.terms:
            return Abstain("no_terms")
        matches = self._rank(query, 3)
        if not matches:
            return Abstain("no_match")
        threshold = self._calibration.min_confidence if min_confidence is None else min_confidence
        if matches[0].confidence < threshold:
            return Abstain("low_confidence", tuple(matches))
        return Answer(matches[0], tuple(matches[1:]))


# -- benchmark -------------------------------------------------------------------------------------------


def _synthetic_entries(n_entries: int, rng: random.Random) -> list[FaqEntry]:
    """``n_entries`` FAQ entries shaped like real ones: programme entries rephrased with extra vocabulary."""
    from bot.answers.faq import load_programme_faq  # local: the benchmark is the only user here

    _, base = load_programme_faq()
    syllables = ["ka", "lo", "mi", "ner", "sto", "va", "pri", "den", "qua", "rul", "te", "bo", "sin", "gar"]
    extra = ["".join(rng.choice(syllables) for _ in range(rng.randint(2, 4))) for _ in range(3000)]
    out: list[FaqEntry] = []
    for i in range(n_entries):
        src = base[i % len(base)]
        words = rng.sample(extra, 6)
        out.append(
            FaqEntry(
                entry_id=f"{src.entry_id}-{i}",
                question=f"{src.question} {' '.join(words[:2])}",
                answer=f"{src.answer} {' '.join(words[2:])}",
                alternatives=tuple(f"{a} {words[j % 6]}" for j, a in enumerate(src.alternatives)),
                tags=src.tags,
                scope=PROGRAMME_SCOPE if i % 3 else f"cop-{i % 22}",
                source="bench",
            )
        )
    return out


def bench_ranking(n_entries: int = 2000, n_queries: int = 500, seed: int = 7) -> dict[str, float]:
    """Build an index of ``n_entries`` synthetic entries and time ``n_queries`` calls of :meth:`FaqIndex.answer`.

    Returns ``build_ms``, ``p50_ms``, ``p99_ms`` and ``max_ms`` (wall clock, one thread).
    """
    rng = random.Random(seed)
    entries = _synthetic_entries(n_entries, rng)
    started = time.perf_counter()
    index = FaqIndex.build(entries)
    build_ms = (time.perf_counter() - started) * 1000
    queries: list[str] = []
    for _ in range(n_queries):
        entry = rng.choice(entries)
        words = rng.choice(entry.phrasings).split()
        kept = [w for w in words if rng.random() > 0.3] or words
        queries.append(" ".join([*kept, rng.choice(["please", "thanks", "wifi", "deadline", "comunity"])]))
    timings: list[float] = []
    for query in queries:
        started = time.perf_counter()
        index.answer(query)
        timings.append((time.perf_counter() - started) * 1000)
    timings.sort()
    cuts = statistics.quantiles(timings, n=100, method="inclusive")
    return {
        "entries": float(n_entries),
        "queries": float(n_queries),
        "build_ms": round(build_ms, 3),
        "p50_ms": round(cuts[49], 4),
        "p99_ms": round(cuts[98], 4),
        "max_ms": round(timings[-1], 4),
    }
