"""Complementary suppression, property-tested: for random rounds, a reader who has every shown figure tries every
subtraction (the total minus any subset of the shown groups, for the response count and each statement's
agreement) and must never pin a hidden group's count or agreement; and, stronger, for every hidden figure there is
another round that looks the same to a reader who knows the rule (so its bounds too) in which that figure differs."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from itertools import combinations, product

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


def test_a_small_group_takes_the_first_other_group_of_the_order_with_it() -> None:
    groups = {"a": Figures(12, (10,)), "b": Figures(7, (5,)), "c": Figures(3, (1,)), "d": Figures(30, (20,))}
    shown = disclose(groups, total_of(groups, 1), MINIMUM, order=["c", "b", "a", "d"])
    assert shown.shown == {"a", "d"}
    assert shown.total_shown
    assert shown.total_statements == {0}


def test_small_groups_take_a_complement_even_when_they_reach_the_minimum_together() -> None:
    """b and c hold at most 4 each: were they alone hidden, a total 8 above the shown ones would say 4 and 4."""
    groups = {"a": Figures(12, (10,)), "b": Figures(4, (2,)), "c": Figures(4, (1,)), "d": Figures(20, (9,))}
    shown = disclose(groups, total_of(groups, 1), MINIMUM)
    assert shown.shown == {"d"}
    assert shown.total_shown


def test_empty_small_groups_beside_a_complement_of_exactly_the_minimum_take_a_second_one() -> None:
    """Hidden {a: 0, c: 5}: the difference 5 would say c holds 5 (a complement holds at least 5) and a none."""
    groups = {"a": Figures(0, (0,)), "c": Figures(5, (3,)), "d": Figures(9, (4,)), "e": Figures(20, (9,))}
    shown = disclose(groups, total_of(groups, 1), MINIMUM, order=["c", "d", "e"])
    assert shown.shown == {"e"}
    alone = {"a": Figures(0, (0,)), "c": Figures(5, (3,))}
    assert not disclose(alone, total_of(alone, 1), MINIMUM).total_shown


def test_when_every_group_is_small_a_total_that_would_pin_them_is_not_shown() -> None:
    pinned = {"a": Figures(4, (2,)), "b": Figures(4, (1,))}
    assert not disclose(pinned, total_of(pinned, 1), MINIMUM).total_shown
    loose = {"a": Figures(4, (2,)), "b": Figures(3, (1,))}
    shown = disclose(loose, total_of(loose, 1), MINIMUM)
    assert shown.total_shown
    assert shown.shown == frozenset()


def test_when_every_hidden_respondent_agreed_the_totals_figure_for_that_statement_is_withheld() -> None:
    groups = {"a": Figures(12, (10, 6)), "b": Figures(6, (6, 3)), "c": Figures(2, (2, 1))}
    shown = disclose(groups, total_of(groups, 2), MINIMUM, order=["b"])
    assert shown.shown == {"a"}
    assert shown.total_shown
    assert shown.total_statements == {1}  # statement 0: all 8 hidden respondents agreed


def test_one_small_group_alone_shows_nothing() -> None:
    groups = {"a": Figures(4, (4,))}
    shown = disclose(groups, total_of(groups, 1), MINIMUM)
    assert not shown.total_shown
    assert not shown.shown


# -- a stronger reader: any reasoning at all, the rule's own bounds included -----------------------------------------


def display(groups: Mapping[str, Figures], statements: int) -> tuple[object, ...]:
    """Everything a reader sees of a round, and the decision itself (a reader knows the rule)."""
    total = total_of(groups, statements)
    d = disclose(groups, total, MINIMUM)
    shown = tuple((g, groups[g]) for g in sorted(d.shown))
    seen = (total.responses, tuple(total.agree[i] for i in sorted(d.total_statements))) if d.total_shown else None
    return d, shown, seen


def neighbours(groups: dict[str, Figures], hidden: list[str]) -> Iterator[dict[str, Figures]]:
    """Rounds that differ only inside the hidden groups: one respondent (with any answers) moved between two of
    them, one agreement moved between two of them, or one statement's agreement flipped for all of them."""
    statements = len(next(iter(groups.values())).agree)
    for a in hidden:
        for b in hidden:
            if a == b:
                continue
            fa, fb = groups[a], groups[b]
            for i in range(statements):
                if fa.agree[i] > 0 and fb.agree[i] < fb.responses:
                    yield {
                        **groups,
                        a: Figures(fa.responses, tuple(x - (j == i) for j, x in enumerate(fa.agree))),
                        b: Figures(fb.responses, tuple(x + (j == i) for j, x in enumerate(fb.agree))),
                    }
            if fa.responses == 0:
                continue
            for mask in range(2**statements):
                moved = tuple((mask >> i) & 1 for i in range(statements))
                left = tuple(x - y for x, y in zip(fa.agree, moved, strict=True))
                if any(not 0 <= x <= fa.responses - 1 for x in left):
                    continue
                arrived = tuple(x + y for x, y in zip(fb.agree, moved, strict=True))
                yield {**groups, a: Figures(fa.responses - 1, left), b: Figures(fb.responses + 1, arrived)}
    for i in range(statements):
        everyone = all(groups[h].agree[i] == groups[h].responses for h in hidden)
        nobody = all(groups[h].agree[i] == 0 for h in hidden)
        if everyone or nobody:
            flipped = {h: 0 if everyone else groups[h].responses for h in hidden}
            yield {
                **groups,
                **{
                    h: Figures(
                        groups[h].responses, tuple(flipped[h] if j == i else x for j, x in enumerate(groups[h].agree))
                    )
                    for h in hidden
                },
            }


@settings(max_examples=400, deadline=None)
@given(groups_of())
def test_no_hidden_figure_is_pinned_even_by_a_reader_who_knows_the_rule(drawn: tuple[dict[str, Figures], int]) -> None:
    """For every hidden group and figure there is another round, identical to the reader (same shown figures, same
    decisions), in which that figure differs: so nothing a reader does with what is shown can pin it."""
    groups, statements = drawn
    d = disclose(groups, total_of(groups, statements), MINIMUM)
    hidden = d.hidden(groups)
    if not d.total_shown or not hidden:
        return  # nothing hidden, or no total: hidden groups share no figure with anything shown
    seen = display(groups, statements)
    alike = [w for w in neighbours(groups, hidden) if display(w, statements) == seen]
    for h in hidden:
        assert any(w[h].responses != groups[h].responses for w in alike), f"count of {h} pinned"
        for i in range(statements):
            if groups[h].responses:
                assert any(w[h].agree[i] != groups[h].agree[i] for w in alike), f"agreement {i} of {h} pinned"


# -- CoPs that share members ------------------------------------------------------------------------------------------


@st.composite
def shared_rounds(draw: st.DrawFn) -> tuple[dict[str, Figures], Figures, list[frozenset[str]]]:
    """Random rounds where people may belong to several groups: each cell (a set of groups) has respondents, who
    count once in the total and once in each of their groups."""
    names = [f"g{i}" for i in range(draw(st.integers(2, 5)))]
    cells = draw(
        st.lists(st.frozensets(st.sampled_from(names), min_size=1, max_size=3), min_size=1, max_size=6, unique=True)
    )
    people = {c: draw(st.integers(0, 8)) for c in cells}
    agreed = {c: draw(st.integers(0, n)) for c, n in people.items()}
    groups = {
        g: Figures(sum(n for c, n in people.items() if g in c), (sum(a for c, a in agreed.items() if g in c),))
        for g in names
    }
    total = Figures(sum(people.values()), (sum(agreed.values()),))
    return groups, total, cells


@settings(max_examples=400, deadline=None)
@given(shared_rounds())
def test_with_shared_members_no_combination_of_shown_figures_gives_a_hidden_group(
    drawn: tuple[dict[str, Figures], Figures, list[frozenset[str]]],
) -> None:
    """A reader who knows who belongs to which groups adds and subtracts shown figures with any coefficients from
    -2 to 2; a combination that equals a hidden group for every possible set of answers must never exist."""
    groups, total, cells = drawn
    shown = disclose(groups, total, MINIMUM, members=cells)
    for name in shown.shown:
        assert groups[name].responses >= MINIMUM
    hidden = shown.hidden(groups)
    visible = [tuple(int(g in c) for c in cells) for g in sorted(shown.shown)]
    if shown.total_shown:
        visible.append(tuple(1 for _ in cells))
    targets = {h: tuple(int(h in c) for c in cells) for h in hidden}
    for coefficients in product(range(-2, 3), repeat=len(visible)):
        combined = tuple(sum(k * v[i] for k, v in zip(coefficients, visible, strict=True)) for i in range(len(cells)))
        for h, target in targets.items():
            assert combined != target or not any(target), f"{h} = {coefficients} x shown"


def test_a_cop_inside_a_shown_one_cannot_hand_over_a_small_one() -> None:
    """Everyone in c also belongs to b; a is on its own. With a (small) and c hidden, total - b would be a."""
    cells = [frozenset({"a"}), frozenset({"b"}), frozenset({"b", "c"})]
    groups = {"a": Figures(3, (1,)), "b": Figures(20, (15,)), "c": Figures(6, (4,))}
    total = Figures(23, (16,))
    assert disclose(groups, total, MINIMUM, order=["c", "b"]).shown == {"b"}  # without the members, as before
    shown = disclose(groups, total, MINIMUM, order=["c", "b"], members=cells)
    assert "b" not in shown.shown or not shown.total_shown
