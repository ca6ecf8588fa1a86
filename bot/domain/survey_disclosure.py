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

Where groups share members (a person in several CoPs counts in each, and once in the total), sums combine in
more ways than a subtraction: a group whose members all belong to a shown one drops out of ``total - shown``.
Given which combinations of groups people belong to (membership, never answers), more groups and then the total
are held back until no hidden group is a linear combination of what is shown.

Answers can still give a hidden group away when every hidden respondent answered a statement alike: then
``total agreed - shown agreed`` is 0 or all of the hidden responses, which pins each hidden group's agreement
(0 % or 100 %). The total's figure for such a statement is withheld, and the total's overall share is taken over
the statements that are shown.

:func:`disclose` is pure: it sees only numbers. ``tests/features/health/test_survey_disclosure.py`` tries, for random
rounds, every subtraction of the total minus any subset of the shown groups and checks that none pins a hidden
group's count or agreement; and it finds, for every hidden figure, another round that looks exactly the same to a
reader who knows this rule, in which that figure differs. Both assume groups that share no member.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction


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


def _rank(rows: list[list[Fraction]]) -> int:
    rows = [list(r) for r in rows]
    rank = 0
    width = len(rows[0]) if rows else 0
    for col in range(width):
        pivot = next((i for i in range(rank, len(rows)) if rows[i][col] != 0), None)
        if pivot is None:
            continue
        rows[rank], rows[pivot] = rows[pivot], rows[rank]
        for i in range(len(rows)):
            if i != rank and rows[i][col] != 0:
                factor = rows[i][col] / rows[rank][col]
                rows[i] = [a - factor * b for a, b in zip(rows[i], rows[rank], strict=True)]
        rank += 1
    return rank


TOTAL = "\x00total"  # the total's place among the groups in the dot products (no group id starts with NUL)


def dot_products(cells: Sequence[frozenset[str]]) -> dict[tuple[str, str], int]:
    """The figures as vectors over cells (a group's marks the cells holding it, the total's every cell), reduced to
    their dot products: linear dependence is the same, and the matrix is groups by groups, not groups by cells."""
    gram: dict[tuple[str, str], int] = defaultdict(int)
    for cell in cells:
        inside = [*sorted(cell), TOTAL]
        for a in inside:
            for b in inside:
                gram[(a, b)] += 1
    return gram


def _matrix(keys: Sequence[str], gram: Mapping[tuple[str, str], int]) -> list[list[Fraction]]:
    return [[Fraction(gram.get((a, b), 0)) for b in keys] for a in keys]


def derivable(
    visible: Sequence[str], target: str, gram: Mapping[tuple[str, str], int], visible_rank: int | None = None
) -> bool:
    """Whether ``target``'s figure is a linear combination of the ``visible`` figures (groups, or TOTAL),
    whatever the members of each cell answered."""
    if not gram.get((target, target), 0) or not visible:
        return False  # nobody belongs to it (nothing to work out), or nothing is shown
    base = _rank(_matrix(visible, gram)) if visible_rank is None else visible_rank
    return _rank(_matrix([*visible, target], gram)) == base


def _shared_members(
    groups: Mapping[str, Figures], hidden: set[str], queue: list[str], cells: Sequence[frozenset[str]]
) -> tuple[set[str], bool]:
    """Where CoPs share members, the total and the shown groups can combine into a hidden one in more ways than a
    subtraction (a CoP whose members all belong to a shown one drops out of the total). Hold back more groups,
    then the total, until no hidden group is a linear combination of what is shown. Only membership decides."""
    gram = dot_products(cells)
    total_shown = True
    while True:
        visible = [g for g in sorted(groups) if g not in hidden] + ([TOTAL] if total_shown else [])
        base = _rank(_matrix(visible, gram))
        if not any(derivable(visible, h, gram, base) for h in sorted(hidden)):
            return hidden, total_shown
        if total_shown and queue:
            hidden.add(queue.pop(0))
        elif total_shown:
            total_shown = False
        elif queue:
            hidden.add(queue.pop(0))
        else:
            return set(groups), False


def disclose(
    groups: Mapping[str, Figures],
    total: Figures,
    minimum: int,
    order: Sequence[str] = (),
    members: Sequence[frozenset[str]] = (),
) -> Disclosure:
    """What of ``groups`` and ``total`` may be shown so that no group under ``minimum`` responses can be worked
    out, alone or from the total minus shown groups. ``total`` is the round's figure over everyone (for groups that
    share no member, the sum of the groups). ``order`` ranks the groups to hold back as a complement, first
    first (the rest by id); it must not depend on the figures (membership size does not). ``members`` lists, for
    each combination of groups some person belongs to, that set of groups (needed only where groups share
    members)."""
    statements = len(total.agree)
    nothing = Disclosure(frozenset(), False, frozenset())
    if total.responses < minimum:
        return nothing
    cells = sorted({frozenset(c) & frozenset(groups) for c in members} - {frozenset()}, key=sorted)
    # a group nobody belongs to, with no response, is known to be empty: nothing in it to protect or to show
    empty = {g for g, f in groups.items() if cells and f.responses == 0 and not any(g in c for c in cells)}
    hidden = {g for g, f in groups.items() if f.responses < minimum} - empty
    rank = {g: i for i, g in enumerate(order)}
    candidates = sorted((rank.get(g, len(rank)), g) for g in groups if g not in hidden | empty)
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
    if hidden and cells:
        queue = [g for _, g in candidates if g not in hidden]
        hidden, total_shown = _shared_members(groups, hidden, queue, cells)
        if not total_shown:
            return Disclosure(frozenset(g for g in groups if g not in hidden | empty), False, frozenset())
    shown = frozenset(g for g in groups if g not in hidden | empty)
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
