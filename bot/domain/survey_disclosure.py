"""Which survey figures may be shown: no figure of a group under the minimum, directly or by difference.

A round's results are a total and one figure set per group (a CoP): its response count and, per statement, how many
agreed. A group under the minimum is hidden (primary suppression). That alone is not enough: if the total is
shown with every other group, ``total - the shown groups`` IS the hidden group. So, whenever a hidden group
sits inside a shown total, one more group is hidden (complementary suppression): the first in an order that does
not depend on any figure (the survey passes CoPs by membership size, fewest first). The total minus the shown
groups then gives only the sum of at least two groups, one of which has no upper bound a reader could use (a
reader knows each small group holds at most ``minimum - 1``, so small groups alone, 4 + 4 = 8, would pin each
other). Picking the complement by its response count instead would give it a bound (at most the smallest shown
group), which pins a small group when counts tie. Two corners remain, and are closed: small groups that are all
empty beside a complement of exactly ``minimum`` (the difference would say so) take a second complement, or show
nothing when there is none; and when every group is small, the total is shown only if it does not pin them.

Answers can still give a hidden group away when every hidden respondent answered a statement alike: then
``total agreed - shown agreed`` is 0 or all of the hidden responses, which pins each hidden group's agreement
(0 % or 100 %). The total's figure for such a statement is withheld, and the total's overall share is taken over
the statements that are shown.

:func:`disclose` is pure: it sees only numbers. ``tests/features/test_survey_disclosure.py`` tries, for random
rounds, every subtraction of the total minus any subset of the shown groups and checks that none pins a hidden
group's count or agreement; and it finds, for every hidden figure, another round that looks exactly the same to a
reader who knows this rule, in which that figure differs. Both assume groups that share no member.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
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


def disclose(groups: Mapping[str, Figures], total: Figures, minimum: int, order: Sequence[str] = ()) -> Disclosure:
    """What of ``groups`` and ``total`` may be shown so that no group under ``minimum`` responses can be worked
    out, alone or from the total minus shown groups. ``total`` is the round's figure over everyone (for groups that
    share no member, the sum of the groups). ``order`` ranks the groups to hold back as a complement, first
    first (the rest by id); it must not depend on the figures (membership size does not)."""
    statements = len(total.agree)
    nothing = Disclosure(frozenset(), False, frozenset())
    if total.responses < minimum:
        return nothing
    hidden = {g for g, f in groups.items() if f.responses < minimum}
    rank = {g: i for i, g in enumerate(order)}
    candidates = sorted((rank.get(g, len(rank)), g) for g in groups if g not in hidden)
    if hidden and candidates:
        # one complement always, even when the small groups reach the minimum together: a reader knows each hidden
        # group is under the minimum, so small groups alone (4 + 4 = 8) can pin each other; a complement has no
        # upper bound, so the hidden sum never does
        hidden.add(candidates[0][1])
        if sum(groups[g].responses for g in hidden) == minimum:
            # every small group empty and the complement at exactly the minimum: a reader who knows the complement
            # holds at least the minimum would read both off the difference, so a second complement joins them
            # (and with none to take, nothing is shown)
            if len(candidates) < 2:
                return nothing
            hidden.add(candidates[1][1])
    elif hidden and (len(hidden) < 2 or total.responses >= (minimum - 1) * len(hidden)):
        # every group is small: one group's total is that group, and a total of (minimum - 1) per group says each
        return nothing
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
