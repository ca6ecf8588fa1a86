"""Which survey figures may be shown: no figure of a group under the minimum, directly or by difference.

A round's results are a total and one figure set per group (a CoP): its response count and, per statement, how many
agreed. A group under the minimum is hidden (primary suppression). That alone is not enough: if the total is
shown with every other group, ``total - the shown groups`` IS the hidden group. So, whenever a hidden group
sits inside a shown total, more groups are hidden (complementary suppression) until the hidden ones together
are at least two groups and at least ``minimum`` responses; the total is hidden only when that cannot be reached
(fewer than ``minimum`` responses in all). Complements are the smallest shown groups (ties by group id), so the
least information is hidden.

Answers can still give a hidden group away when every hidden respondent answered a statement alike: then
``total agreed - shown agreed`` is 0 or all of the hidden responses, which pins each hidden group's agreement
(0 % or 100 %). The total's figure for such a statement is withheld, and the total's overall share is taken over
the statements that are shown.

:func:`disclose` is pure: it sees only numbers. ``tests/features/test_survey_disclosure.py`` tries, for random
rounds, every subtraction of the total minus any subset of the shown groups and checks that none of them pins a
hidden group's count or agreement.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class Figures:
    """One group's (or the total's) figures: responses, and per statement how many agreed."""

    responses: int
    agree: tuple[int, ...]

    def plus(self, other: Figures) -> Figures:
        return Figures(
            self.responses + other.responses, tuple(a + b for a, b in zip(self.agree, other.agree, strict=True))
        )


@dataclass(frozen=True)
class Disclosure:
    shown: frozenset[str]  # groups whose figures may be shown
    total_shown: bool  # the total's response count and the statements in total_statements
    total_statements: frozenset[int]  # indexes of the statements whose total agreement may be shown

    def hidden(self, groups: Mapping[str, Figures]) -> list[str]:
        return sorted(g for g in groups if g not in self.shown)


def zero(statements: int) -> Figures:
    return Figures(0, (0,) * statements)


def disclose(groups: Mapping[str, Figures], total: Figures, minimum: int) -> Disclosure:
    """What of ``groups`` and ``total`` may be shown so that no group under ``minimum`` responses can be worked
    out, alone or from the total minus shown groups. ``total`` is the round's figure over everyone (for groups that
    share no member, the sum of the groups)."""
    statements = len(total.agree)
    nothing = Disclosure(frozenset(), False, frozenset())
    if total.responses < minimum:
        return nothing
    hidden = {g for g, f in groups.items() if f.responses < minimum}
    candidates = sorted((f.responses, g) for g, f in groups.items() if g not in hidden)

    def enough(names: set[str]) -> bool:
        return len(names) >= 2 and sum(groups[g].responses for g in names) >= minimum

    if hidden:
        for _, name in candidates:
            if enough(hidden):
                break
            hidden.add(name)
        if not enough(hidden):
            # one group only, under the minimum: the total would be that group
            return Disclosure(frozenset(g for g in groups if g not in hidden), False, frozenset())
    shown = frozenset(g for g in groups if g not in hidden)
    if not hidden:
        return Disclosure(shown, True, frozenset(range(statements)))
    residual = zero(statements)  # what the hidden groups hold together
    for name in hidden:
        residual = residual.plus(groups[name])
    difference = total  # what a reader gets from the total minus every shown group (the same when none overlap)
    for name in shown:
        difference = Figures(
            difference.responses - groups[name].responses,
            tuple(a - b for a, b in zip(difference.agree, groups[name].agree, strict=True)),
        )

    def mixed(i: int) -> bool:
        return 0 < residual.agree[i] < residual.responses and (
            difference.responses <= 0 or 0 < difference.agree[i] < difference.responses
        )

    return Disclosure(shown, True, frozenset(i for i in range(statements) if mixed(i)))
