"""Bad membership lists: each gets a clear reason and changes nothing. Encodings, delimiters, formulas, duplicates,
unknown people, sizes, and files that are not what they seem."""

from __future__ import annotations

from datetime import date

import pytest

from bot.domain.imports import MAX_BYTES, Unreadable, decode, parse
from bot.domain.members import MembershipRepo
from bot.features.imports import file_url_allowed
from tests.features.membership.kit import state
from tests.features.rollout.kit import card_text, email_of, file_message, file_server, install_with_roster
from tests.kit.activities import team, user
from tests.kit.harness import BotUnderTest

LEAD = user(1, "Lena Lead")
ANN = user(2, "Ann Archer")
DATA = team(1, "Data and Insight")
TODAY = date(2026, 11, 23)

LIST = "email,tier,org area,job family\nzoë.müller@example.ac.uk,core,Faculty or academic department,Técnico\n"


@pytest.mark.parametrize(
    "data",
    [
        LIST.encode("utf-8"),
        b"\xef\xbb\xbf" + LIST.encode("utf-8"),
        LIST.encode("utf-16"),  # with a BOM, as Excel's "Unicode text" writes it
        LIST.encode("utf-16-le"),  # without one
        LIST.encode("cp1252"),
    ],
    ids=["utf-8", "utf-8-bom", "utf-16", "utf-16-le-no-bom", "cp1252"],
)
def test_every_encoding_spreadsheets_write_is_decoded(data: bytes) -> None:
    parsed = parse(decode(data), today=TODAY)
    assert [(r.identifier, r.tier, r.org_area, r.job_family) for r in parsed.rows] == [
        ("zoë.müller@example.ac.uk", "core", "faculty", "Técnico")
    ]


def test_undecodable_and_binary_files_get_a_reason() -> None:
    with pytest.raises(Unreadable, match="UTF-8"):
        decode(b"\xef\xbb\xbfemail,tier\n\xff\xfe\xfd,core\n")
    with pytest.raises(Unreadable, match="binary"):
        decode(b"PK\x03\x04\x00\x00binary zip")


@pytest.mark.parametrize("delimiter", [",", ";", "\t"])
def test_the_delimiter_is_sniffed(delimiter: str) -> None:
    text = (
        delimiter.join(["Email", "Tier", "Joined"]) + "\n" + delimiter.join(["a@example.ac.uk", "wider", "01/02/2024"])
    )
    parsed = parse(text, today=TODAY)
    assert parsed.delimiter == delimiter
    assert parsed.rows[0].joined == date(2024, 2, 1)


def test_bad_rows_each_get_a_reason_and_the_good_rows_stay() -> None:
    text = (
        "email,tier,org area,joined,object id\n"
        "ok@example.ac.uk,core,,,\n"
        "=cmd|' /C calc'!A0,core,,,\n"
        "+44@example.ac.uk,gold,,,\n"
        "ok@example.ac.uk,wider,,,\n"
        "x@example.ac.uk,wider,Mars,,\n"
        "y@example.ac.uk,wider,,2030-01-01,\n"
        "z@example.ac.uk,wider,,yesterday,\n"
        ",wider,,,not-a-guid\n"
        ",wider,,,\n"
        ",core,,,00000000-0000-0000-0000-0000000000AB\n"
    )
    parsed = parse(text, today=TODAY)
    assert [r.identifier for r in parsed.rows] == ["ok@example.ac.uk", "00000000-0000-0000-0000-0000000000ab"]
    reasons = {b.line: b.reason for b in parsed.bad}
    assert reasons[3].startswith("''=cmd")  # a formula is quoted as text, with a leading apostrophe
    assert "is not an email address" in reasons[3]
    assert "tier 'gold'" in reasons[4]
    assert reasons[5] == "duplicate of row 2 (same person)"
    assert "organisational area 'Mars'" in reasons[6]
    assert "in the future" in reasons[7]
    assert "is not a date" in reasons[8]
    assert "is not an Entra object id" in reasons[9]
    assert reasons[10] == "no email or object id"


def test_lists_without_the_needed_columns_or_with_too_many_rows_are_refused() -> None:
    with pytest.raises(Unreadable, match="email or Entra object id column"):
        parse("name,tier\nAnn,core\n")
    with pytest.raises(Unreadable, match="tier column"):
        parse("email\na@example.ac.uk\n")
    with pytest.raises(Unreadable, match="no people"):
        parse("email,tier\n\n")
    rows = "".join(f"p{i}@example.ac.uk,wider\n" for i in range(11))
    with pytest.raises(Unreadable, match="more than 10 rows"):
        parse("email,tier\n" + rows, max_rows=10)


def test_only_teams_download_links_are_fetched() -> None:
    assert file_url_allowed("https://contoso-my.sharepoint.com/personal/x/_layouts/download.aspx?share=1")
    assert file_url_allowed("http://127.0.0.1:8080/file.csv")
    assert not file_url_allowed("http://contoso.sharepoint.com/file.csv")
    assert not file_url_allowed("http://169.254.169.254/latest/meta-data")
    assert not file_url_allowed("file:///etc/passwd")


async def test_a_file_over_the_size_limit_is_refused_with_the_limit(bot: BotUnderTest) -> None:
    await install_with_roster(bot, LEAD, DATA, ANN)
    big = b"email,tier\n" + b"x" * (MAX_BYTES + 10)
    async with file_server({"big.csv": big}) as base:
        posted = await bot.post(file_message(bot, LEAD, f"{base}/big.csv", "big.csv"))
    assert f"larger than {MAX_BYTES // 1024} KB" in posted.everything
    assert "Nothing changed" in posted.everything


async def test_files_that_are_not_csv_or_cannot_be_fetched_change_nothing(bot: BotUnderTest) -> None:
    await install_with_roster(bot, LEAD, DATA, ANN)
    async with file_server({"m.csv": f"email,tier\n{email_of(ANN)},core\n".encode()}) as base:
        word = file_message(bot, LEAD, f"{base}/m.csv", "members.docx")
        word["attachments"][0]["content"]["fileType"] = "docx"
        assert "only import a CSV" in (await bot.post(word)).everything
        missing = await bot.post(file_message(bot, LEAD, f"{base}/gone.csv"))
        assert "couldn't fetch that file" in missing.everything
        elsewhere = await bot.post(file_message(bot, LEAD, "http://192.0.2.1/m.csv"))
        assert "not a Teams download link" in elsewhere.everything
    async with file_server({"slow.csv": b"email,tier\n"}, slow_s=3.0) as base:
        import bot.features.imports as imports

        original = imports.FETCH_TIMEOUT_S
        imports.FETCH_TIMEOUT_S = 0.5
        try:
            slow = await bot.post(file_message(bot, LEAD, f"{base}/slow.csv"))
        finally:
            imports.FETCH_TIMEOUT_S = original
        assert "took too long" in slow.everything
    assert (await state(bot, ANN)).memberships == {}


async def test_a_list_in_a_bad_encoding_or_without_columns_gets_a_clear_reply(bot: BotUnderTest) -> None:
    await install_with_roster(bot, LEAD, DATA, ANN)
    async with file_server({"a.csv": b"\xff\xfee\x00\x00", "b.csv": b"who,what\nx,y\n"}) as base:
        odd = await bot.post(file_message(bot, LEAD, f"{base}/a.csv"))
        columns = await bot.post(file_message(bot, LEAD, f"{base}/b.csv"))
    assert "UTF-16" in odd.everything
    assert "email or Entra object id column" in columns.everything
    assert await MembershipRepo(bot.services.store).members_of(DATA.id) == []


async def test_unknown_people_and_formulas_are_shown_escaped(bot: BotUnderTest) -> None:
    await install_with_roster(bot, LEAD, DATA, ANN)
    preview = await bot.say(LEAD, "import members\nemail,tier\n*bold*@example.ac.uk,core\n=1+1,core\n")
    text = card_text(preview)
    assert "\\*bold\\*@example.ac.uk" in text  # markdown made inert
    assert "'=1+1" in text
    assert "Apply" not in text


async def test_the_paste_card_refuses_an_empty_list_and_the_command_works_only_in_personal_chat(
    bot: BotUnderTest,
) -> None:
    await install_with_roster(bot, LEAD, DATA, ANN)
    form = await bot.say(LEAD, "import members")
    empty = await bot.press(LEAD, form.card, "Preview", {"csv": "   "})
    assert "Paste the list first" in card_text(empty)
    channel = await bot.say_in(LEAD, DATA, "import members")
    assert "works in a personal chat with me" in channel.everything
