"""University terms: "this term" for the core-meeting, Lunch and Learn and FAQ indicators.

The scheduler's settings may carry the institution's published term dates (``Settings.terms``: a tuple of
(first day, last day)); when they do not, a UK-style default applies every academic year: Autumn 22 Sep-12 Dec,
Spring 12 Jan-27 Mar, Summer 20 Apr-12 Jun. Between terms, "this term" is the one that ended last.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

# (month, day) of first and last day of each term in an academic year starting in September (judgement:
# typical of UK universities; set the real dates with the scheduler's COPBOT_TERMS)
DEFAULT_TERM_DAYS: tuple[tuple[tuple[int, int], tuple[int, int]], ...] = (
    ((9, 22), (12, 12)),
    ((1, 12), (3, 27)),
    ((4, 20), (6, 12)),
)


MAX_BREAK = timedelta(days=110)  # longer than any gap between two terms (the summer break)


@dataclass(frozen=True)
class Term:
    first: date
    last: date

    @property
    def name(self) -> str:
        season = "Autumn" if self.first.month >= 8 else "Spring" if self.first.month <= 3 else "Summer"
        return f"{season} {self.first.year}"

    def start(self, tz: ZoneInfo) -> datetime:
        return datetime.combine(self.first, time(0, 0), tzinfo=tz).astimezone(UTC)

    def end(self, tz: ZoneInfo) -> datetime:
        return datetime.combine(self.last + timedelta(days=1), time(0, 0), tzinfo=tz).astimezone(UTC)

    def progress(self, now: datetime, tz: ZoneInfo) -> float:
        """Share of the term gone by at ``now``: 0 at its start, 1 at (and after) its end."""
        start, end = self.start(tz), self.end(tz)
        if now <= start:
            return 0.0
        if now >= end:
            return 1.0
        return (now - start) / (end - start)


def default_terms(around: date) -> tuple[Term, ...]:
    terms: list[Term] = []
    for year in range(around.year - 2, around.year + 2):
        for (m1, d1), (m2, d2) in DEFAULT_TERM_DAYS:
            y = year if m1 >= 8 else year + 1
            terms.append(Term(date(y, m1, d1), date(y, m2, d2)))
    return tuple(sorted(terms, key=lambda t: t.first))


def configured_terms(settings: Any, today: date) -> tuple[Term, ...]:
    """The settings' term dates when the scheduler added them (``Settings.terms``), else the default."""
    raw: Sequence[tuple[date, date]] = getattr(settings, "terms", ()) or ()
    terms = tuple(sorted((Term(first, last) for first, last in raw), key=lambda t: t.first))
    # configured dates apply while they cover today (or a break between terms); once they run out, say after
    # the last configured summer, the default pattern keeps "this term" moving rather than stuck in the past
    if terms and terms[0].first <= today <= terms[-1].last + MAX_BREAK:
        return terms
    return default_terms(today)


def current_term(now: datetime, terms: Sequence[Term], tz: ZoneInfo) -> Term:
    """The term containing ``now`` (in the institution's time zone), else the last one that began before it."""
    today = now.astimezone(tz).date()
    started = [t for t in terms if t.first <= today]
    if not started:
        return min(terms, key=lambda t: t.first)
    return max(started, key=lambda t: t.first)
