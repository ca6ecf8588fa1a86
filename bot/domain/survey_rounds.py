"""A round's figures as every view sees them: its tallies and what bot/domain/survey_disclosure.py lets through.

The results card, the health scorecard and the programme view all read a round through :func:`round_figures`,
so a CoP held back in one view (a complement hiding a smaller CoP) is held back in all of them: a figure shown
in one view and hidden in another would undo the suppression by subtraction across the two.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from bot.domain.survey import Survey, SurveyRepo, Tally, round_of
from bot.domain.survey_disclosure import Disclosure, disclose
from storage.base import TableStore

THREAD_CELLS = 200  # about 30 ms of disclose() on one core; more goes to a worker thread


@dataclass(frozen=True)
class RoundFigures:
    """One round: its surveys (one per CoP), tallies and what may be shown of them."""

    surveys: list[Survey]
    people: Tally  # everyone who answered, each once
    tallies: dict[str, Tally]  # survey id -> its CoP's tally
    disclosure: Disclosure
    minimum: int

    @property
    def first(self) -> Survey:
        return self.surveys[0]

    @property
    def programme_wide(self) -> bool:
        return self.first.scope == "programme" or len(self.surveys) > 1

    def shown_tally(self, survey_id: str) -> Tally | None:
        return self.tallies.get(survey_id) if survey_id in self.disclosure.shown else None


async def round_figures(store: TableStore, surveys: Sequence[Survey], minimum: int) -> RoundFigures:
    people, tallies, cells = await SurveyRepo(store).round_state(surveys)
    groups = {s.survey_id: tallies[s.survey_id].figures() for s in surveys}
    order = [s.survey_id for s in sorted(surveys, key=lambda s: (s.invited, s.survey_id))]  # not by any answer
    if len(cells) > THREAD_CELLS:  # many CoPs sharing members: the exact arithmetic runs off the event loop
        shown = await asyncio.to_thread(disclose, groups, people.figures(), minimum, order, cells)
    else:
        shown = disclose(groups, people.figures(), minimum, order, cells)
    return RoundFigures(list(surveys), people, tallies, shown, minimum)


async def latest_shown(
    store: TableStore, cop_id: str, surveys: Sequence[Survey], minimum: int, now: datetime
) -> tuple[Survey, Tally | None] | None:
    """``cop_id``'s latest started survey and its tally where it may be shown (None: held back); None when the
    CoP has had no survey."""
    mine = [s for s in surveys if s.cop_id == cop_id and s.started_at <= now]
    if not mine:
        return None
    latest = max(mine, key=lambda s: s.started_at)
    figures = await round_figures(store, round_of(surveys, latest), minimum)
    return latest, figures.shown_tally(latest.survey_id)
