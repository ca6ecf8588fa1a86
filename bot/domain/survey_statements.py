"""The 2021 impact survey's statements and its answer scale.

The statements are the 2021 findings as the programme's impact report words them, in its order, with the share of
2021 respondents who agreed as the report gives it. The report states each finding in reported speech ("the CoP
helped them form connections ..."); a respondent reads it in the first person, the report's words with only
they/their/them turned into I/my/me, so the wording stays the report's. The report does not say how the 2021
answers were scaled; the bot asks on a labelled 5-point agreement scale and counts Agree and Strongly agree as
agreeing, beside the report's "agreed" shares.
"""

from __future__ import annotations

from dataclasses import dataclass

SCALE: tuple[tuple[int, str], ...] = (
    (5, "Strongly agree"),
    (4, "Agree"),
    (3, "Neither agree nor disagree"),
    (2, "Disagree"),
    (1, "Strongly disagree"),
)
AGREE_VALUES = (4, 5)

# The 2021 findings as the programme's impact report words them (reported speech), in its order. A respondent
# reads each in the first person: the report's words, with only they/their/them turned into I/my/me.
_FIRST_PERSON = {"they": "I", "their": "my", "them": "me", "they've": "I've"}


def first_person(reported: str) -> str:
    words = [_FIRST_PERSON.get(word, word) for word in reported.split(" ")]
    sentence = " ".join(words)
    return sentence[0].upper() + sentence[1:] + "."


@dataclass(frozen=True)
class Statement:
    key: str
    reported: str  # the impact report's words for the 2021 finding
    baseline: float  # share of 2021 respondents who agreed, as the report gives it

    @property
    def text(self) -> str:
        return first_person(self.reported)


STATEMENTS: tuple[Statement, ...] = (
    Statement(
        "connections",
        "the CoP helped them form connections with colleagues whom they wouldn't have otherwise met",
        0.92,
    ),
    Statement("communication", "CoPs help improve communication between different areas of UCL", 0.90),
    Statement(
        "skills",
        "they have developed their skills and/or gained knowledge about their practice because of their CoP",
        0.84,
    ),
    Statement("applied", "they've been able to apply new skills and knowledge to their job", 0.79),
    Statement("belonging", "being in a CoP increases their sense of belonging at UCL", 0.89),
    Statement("culture", "CoPs help improve UCL's workplace culture", 0.88),
    Statement("team", "their team or department benefits from them being in a CoP", 0.83),
    Statement("service", "their CoP and its outputs help improve service delivery in the practice area", 0.80),
    Statement("university", "their CoP's activities directly benefit UCL", 0.84),
)
STATEMENT_KEYS = tuple(s.key for s in STATEMENTS)
