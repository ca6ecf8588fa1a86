from __future__ import annotations

import json
from typing import Any

import pytest

from bot.answers.faq import (
    MAX_ALTERNATIVES,
    MAX_ANSWER_CHARS,
    MIN_ALTERNATIVES,
    PROGRAMME_SCOPE,
    FaqEntry,
    FaqFormatError,
    entry_from_dict,
    entry_to_dict,
    load_programme_faq,
    parse_faq,
    parse_faq_json,
)


def _entry(**overrides: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "id": "what-is-a-cop",
        "question": "What is a CoP?",
        "alternatives": ["Define CoP", "What does CoP mean?"],
        "answer": "A community of practice.",
        "tags": ["basics"],
    }
    entry.update(overrides)
    return entry


def test_programme_faq_loads_with_version_and_entries() -> None:
    version, entries = load_programme_faq()
    assert isinstance(version, int)
    assert version >= 1
    assert 35 <= len(entries) <= 60
    assert len({e.entry_id for e in entries}) == len(entries)
    for entry in entries:
        assert isinstance(entry, FaqEntry)
        assert entry.scope == PROGRAMME_SCOPE
        assert entry.is_programme
        assert entry.source
        assert MIN_ALTERNATIVES <= len(entry.alternatives) <= MAX_ALTERNATIVES
        assert len(entry.answer) <= MAX_ANSWER_CHARS
        assert entry.phrasings[0] == entry.question


def test_programme_faq_covers_the_seed_facts() -> None:
    _, entries = load_programme_faq()
    text = "\n".join(e.answer for e in entries)
    for fact in (
        "d.bultoc@ucl.ac.uk",
        "+44 (0)203 108 8838",
        "58838",
        "2017",
        "22 CoPs",
        "2,000",
        "92%",
        "79%",
        "89%",
        "2019",
        "every 6 weeks",
        "once a term",
        "2 to 4",
        "around 200",
        "`join`",
        "`leave`",
        "`me`",
        "Collette Lux",
        "Fiona Ryland",
        "Tom Rowson",
        "Wendy Appleby",
        "Sustainability",
    ):
        assert fact in text, fact
    ids = {e.entry_id for e in entries}
    for cop in ("student-recruitment", "events-management", "data-insight", "technical-support"):
        assert f"cop-{cop}" in ids


def test_entry_round_trip() -> None:
    entry = entry_from_dict(_entry(), scope="cop-1", source="lead")
    assert entry.scope == "cop-1"
    assert entry_from_dict(entry_to_dict(entry), scope="cop-1", source="lead") == entry


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ([], "top level must be an object"),
        ({"version": 0, "entries": [_entry()]}, "version: must be an integer >= 1"),
        ({"version": True, "entries": [_entry()]}, "version: must be an integer"),
        ({"version": 1, "entries": []}, "entries: must be a non-empty list"),
        ({"version": 1, "entries": [_entry()], "extra": 1}, "unknown field(s) extra"),
        ({"version": 1, "entries": [_entry(), _entry()]}, "entries[1].id: duplicate id"),
        ({"version": 1, "entries": [_entry(id="Bad Id")]}, "entries[0].id: must be a slug"),
        ({"version": 1, "entries": [_entry(question=" ")]}, "entries[0].question: must be a non-empty string"),
        ({"version": 1, "entries": [_entry(answer="x" * 801)]}, "entries[0].answer: longer than 800"),
        ({"version": 1, "entries": [_entry(alternatives=["one"])]}, "entries[0].alternatives: must have 2 to 45"),
        ({"version": 1, "entries": [_entry(alternatives="a, b")]}, "entries[0].alternatives: must be a list"),
        ({"version": 1, "entries": [_entry(tags=["Not A Slug"])]}, "entries[0].tags[0]: must be a slug"),
        ({"version": 1, "entries": [_entry(colour="red")]}, "entries[0]: unknown field(s) colour"),
        ({"version": 1, "entries": ["text"]}, "entries[0]: must be an object"),
    ],
)
def test_validation_errors_name_the_path(data: object, message: str) -> None:
    with pytest.raises(FaqFormatError) as info:
        parse_faq(data, scope=PROGRAMME_SCOPE, source="test", name="faq")
    assert message in str(info.value)


def test_invalid_json_is_reported() -> None:
    with pytest.raises(FaqFormatError, match="not valid JSON"):
        parse_faq_json("{", scope=PROGRAMME_SCOPE, source="test")


def test_valid_json_parses() -> None:
    version, entries = parse_faq_json(json.dumps({"version": 3, "entries": [_entry()]}), scope="cop-x", source="import")
    assert version == 3
    assert entries[0].alternatives == ("Define CoP", "What does CoP mean?")
    assert entries[0].source == "import"
