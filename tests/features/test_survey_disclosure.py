"""Complementary suppression, property-tested: for random rounds, a reader who has every shown figure tries every
subtraction (the total minus any subset of the shown groups, for the response count and each statement's
agreement) and must never pin a hidden group's count or agreement."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from itertools import combinations

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.domain.survey_disclosure import Disclosure, Figures, disclose, zero

MINIMUM = 5


@st.composite
def groups_of(draw: st.DrawFn) -> tuple[dict[str, Figures], int]:
    statements = draw(st.integers(1, 3))
    count = draw(st.integers(1, 6))
    groups: dict[str, Figures] = {}
    for i in range(count):
        n = draw(st.integers(0, 14))
        agree = tuple(draw(st.integers(0, n)) for _ in range(statements))
        groups[f"g{i}"] = Figures(n, agree)
    return groups, statements


def total_of(groups: Mapping[str, Figures], statements: int) -> Figures:
    total = zero(statements)
    for figures in groups.values():
        total = total.plus(figures)
    return total


def subsets(names: list[str]) -> Iterator[tuple[str, ...]]:
    for size in range(len(names) + 1):
        yield from combinations(names, size)


def leaks(groups: Mapping[str, Figures], total: Figures, shown: Disclosure) -> list[str]:
    """Every way a reader pins a hidden group's figure from what ``shown`` lets them see. For groups that share
    no member, ``total - sum(S)`` covers exactly the hidden groups plus the shown ones not in S; it pins a hidden
    group when it covers that group alone, when it is 0 (every covered group is 0), or, for agreement, when it
    equals the covered responses (every covered respondent agreed) or 0 (none did)."""
    found: list[str] = []
    hidden = set(shown.hidden(groups))
    visible = sorted(shown.shown)
    for name in visible:
        if groups[name].responses < MINIMUM:
            found.append(f"{name} shown directly with {groups[name].responses} responses")
    if not shown.total_shown or not hidden:
        return found
    for subset in subsets(visible):
        covered = hidden | (set(visible) - set(subset))
        n = total.responses - sum(groups[g].responses for g in subset)
        for h in hidden:
            if covered == {h}:
                found.append(f"count of {h} = total - {subset}")
            elif n == 0:
                found.append(f"count of {h} is 0: total - {subset} = 0")
        for i in sorted(shown.total_statements):
            a = total.agree[i] - sum(groups[g].agree[i] for g in subset)
            for h in hidden:
                if covered == {h}:
                    found.append(f"agreement {i} of {h} = total - {subset}")
                elif a == 0 and n > 0:
                    found.append(f"agreement {i} of {h} is 0%: nobody in total - {subset} agreed")
                elif a == n and n > 0:
                    found.append(f"agreement {i} of {h} is 100%: everyone in total - {subset} agreed")
    return found


@settings(max_examples=600, deadline=None)
@given(groups_of())
def test_no_subtraction_of_shown_figures_pins_a_hidden_group(drawn: tuple[dict[str, Figures], int]) -> None:
    groups, statements = drawn
    total = total_of(groups, statements)
    shown = disclose(groups, total, MINIMUM)
    assert leaks(groups, total, shown) == []
    # and it hides no more than it must: with no small group, everything is shown
    if all(f.responses >= MINIMUM for f in groups.values()):
        assert shown.shown == frozenset(groups)
        assert shown.total_shown
        assert shown.total_statements == frozenset(range(statements))
    if total.responses < MINIMUM:
        assert not shown.total_shown
        assert not shown.shown


def test_the_attack_finds_the_leak_of_hiding_small_groups_alone() -> None:
    """The reader above is not toothless: showing the larger groups and the total, as before, is caught."""
    groups = {"big": Figures(12, (10,)), "other": Figures(9, (6,)), "small": Figures(3, (1,))}
    total = total_of(groups, 1)
    naive = Disclosure(frozenset({"big", "other"}), True, frozenset({0}))
    found = leaks(groups, total, naive)
    assert "count of small = total - ('big', 'other')" in found
    assert "agreement 0 of small = total - ('big', 'other')" in found


def test_a_small_group_takes_the_smallest_other_group_with_it() -> None:
    groups = {"a": Figures(12, (10,)), "b": Figures(7, (5,)), "c": Figures(3, (1,)), "d": Figures(30, (20,))}
    shown = disclose(groups, total_of(groups, 1), MINIMUM)
    assert shown.shown == {"a", "d"}
    assert shown.total_shown
    assert shown.total_statements == {0}


def test_two_small_groups_that_together_reach_the_minimum_hide_nothing_else() -> None:
    groups = {"a": Figures(12, (10,)), "b": Figures(3, (2,)), "c": Figures(4, (1,))}
    shown = disclose(groups, total_of(groups, 1), MINIMUM)
    assert shown.shown == {"a"}


def test_when_every_hidden_respondent_agreed_the_totals_figure_for_that_statement_is_withheld() -> None:
    groups = {"a": Figures(12, (10, 6)), "b": Figures(6, (6, 3)), "c": Figures(2, (2, 1))}
    shown = disclose(groups, total_of(groups, 2), MINIMUM)
    assert shown.shown == {"a"}
    assert shown.total_shown
    assert shown.total_statements == {1}  # statement 0: all 8 hidden respondents agreed


def test_one_small_group_alone_shows_nothing() -> None:
    groups = {"a": Figures(4, (4,))}
    shown = disclose(groups, total_of(groups, 1), MINIMUM)
    assert not shown.total_shown
    assert not shown.shown
