"""Question answering: the programme FAQ, per-CoP FAQ entries, ranking with a confidence, and question detection.

Typical use::

    version, entries = load_programme_faq()
    index = FaqIndex.build([*cop_entries, *entries])
    result = index.answer(text)
    if isinstance(result, Answer): ...  # reply with result.entry.answer
    else: ...  # record an open query (result.reason says why)
"""

from bot.answers.faq import FaqEntry, FaqFormatError, entry_from_dict, entry_to_dict, load_programme_faq, parse_faq
from bot.answers.questions import reads_as_question
from bot.answers.ranker import Abstain, Answer, Calibration, FaqIndex, Match, tokenize

__all__ = [
    "Abstain",
    "Answer",
    "Calibration",
    "FaqEntry",
    "FaqFormatError",
    "FaqIndex",
    "Match",
    "entry_from_dict",
    "entry_to_dict",
    "load_programme_faq",
    "parse_faq",
    "reads_as_question",
    "tokenize",
]
