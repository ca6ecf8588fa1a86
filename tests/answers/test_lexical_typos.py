"""The lexical index's one-edit typo table (bot/answers/lexical.py TypoTable): which known words a misspelling's
deleted-letter variants come from."""

from __future__ import annotations

from bot.answers.lexical import TypoTable
from bot.answers.text import deletes


def test_a_misspelling_finds_the_words_one_edit_away() -> None:
    table = TypoTable(["community", "sponsor", "commitment"])
    assert table.words_near(deletes("comunity")) == {"community"}  # a letter missing
    assert table.words_near(deletes("sponsorr")) == {"sponsor"}  # a letter too many
    assert table.words_near(deletes("spomsor")) == {"sponsor"}  # a letter changed
    assert table.words_near(deletes("lunch")) == set()


def test_a_variant_shared_by_several_words_finds_them_all() -> None:
    table = TypoTable(["lead", "leads", "load"])
    assert table.words_near({"lad"}) == {"lead", "load"}
    assert table.words_near(deletes("leadz")) == {"lead", "leads"}


def test_an_empty_table_finds_nothing() -> None:
    assert TypoTable([]).words_near(deletes("anything")) == set()
    assert TypoTable(["word"]).words_near([]) == set()
