"""``import members`` end to end: paste or send a CSV, see the preview, apply it, and the imported get a notice."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.domain import import_plans, import_store
from bot.domain.members import MembershipRepo
from bot.features import imports
from tests.features.membership.kit import join, state
from tests.features.rollout.kit import (
    apply_preview,
    card_text,
    email_of,
    file_message,
    file_server,
    install_with_roster,
)
from tests.kit.activities import User, team, user
from tests.kit.harness import BotUnderTest

LEAD = user(1, "Lena Lead")
ANN = user(2, "Ann Archer")
BEN = user(3, "Ben Baker")
CAT = user(4, "Cat Cooper")
OUT = user(9, "Olly Outsider")
OTHER_LEAD = user(8, "Omar Other")
DATA = team(1, "Data and Insight")
COMMS = team(2, "Internal Communications")


async def test_a_pasted_list_is_previewed_then_applied_and_the_imported_get_a_notice(bot: BotUnderTest) -> None:
    await install_with_roster(bot, LEAD, DATA, ANN, BEN, CAT)
    form = await bot.say(LEAD, "import members")
    assert "Import members" in card_text(form)
    csv = (
        "email,tier,org area,job family,joined\n"
        f"{email_of(ANN)},core,central,Analyst,2024-01-15\n"
        f"{email_of(BEN).upper()},wider,,,\n"
        "nobody@example.ac.uk,core,,,\n"
        f"{email_of(CAT)},gold,,,\n"
    )
    preview = await bot.press(LEAD, form.card, "Preview", {"csv": csv})
    shown = card_text(preview)
    assert "To add" in shown
    assert "Ann Archer" in shown
    assert "Ben Baker" in shown
    assert "nobody@example.ac.uk" in shown  # unknown person, listed
    assert "tier 'gold' is neither core nor wider" in shown
    assert await MembershipRepo(bot.services.store).members_of(DATA.id) == []  # nothing yet

    bot.connector.clear()
    clicked = await apply_preview(bot, LEAD, preview)
    assert "Applying 2 changes" in card_text(clicked)
    ann = await state(bot, ANN)
    assert ann.memberships[DATA.id][0].tier == "core"
    assert ann.memberships[DATA.id][0].joined_at == datetime(2024, 1, 15, 9, 0, tzinfo=UTC)
    assert ann.profile is not None
    assert ann.profile.job_family == "Analyst"
    assert ann.profile.org_area == "central"
    assert (await state(bot, BEN)).memberships[DATA.id][0].tier == "wider"
    assert (await state(bot, CAT)).memberships == {}
    notices = [c for c in bot.connector.sent() if "added you from their membership list" in c.everything]
    assert sorted(bot.connector.recipient(c) for c in notices) == sorted([ANN.id, BEN.id])
    result = [c for c in bot.connector.sent() if "Import done" in c.everything]
    assert len(result) == 1
    assert "Added" in result[0].everything


async def test_the_same_list_again_changes_nothing_and_a_second_click_applies_once(bot: BotUnderTest) -> None:
    await install_with_roster(bot, LEAD, DATA, ANN, BEN)
    csv = f"email;tier\n{email_of(ANN)};core\n{email_of(BEN)};wider\n"  # semicolons: sniffed
    first = await bot.say(LEAD, "import members\n" + csv)
    await apply_preview(bot, LEAD, first)
    again = await bot.press(LEAD, first.card, next(a["title"] for a in first.card["actions"]))  # type: ignore[index]
    assert "already been applied" in card_text(again)
    second = await bot.say(LEAD, "import members\n" + csv)
    text = card_text(second)
    assert "Nothing to change" in text
    assert "Unchanged" in text
    assert not [a for a in (second.card or {}).get("actions", []) if a["data"]["verb"] == "imports.apply"]


@pytest.mark.parametrize("scan_from", [200, 0], ids=["read-per-person", "read-page-by-page"])
async def test_one_core_conflicts_are_listed_and_never_resolved(
    bot: BotUnderTest, scan_from: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(import_plans, "SCAN_FROM", scan_from)  # a long list reads the people table page by page
    await install_with_roster(bot, LEAD, DATA, ANN, BEN)
    await install_with_roster(bot, LEAD, COMMS, ANN, BEN)
    await join(bot, ANN, COMMS, "core")
    preview = await bot.say(LEAD, "import members\n" + f"email,tier,cop\n{email_of(ANN)},core,{DATA.name}\n"
                            f"{email_of(BEN)},core,{DATA.name}\n{email_of(BEN)},core,{COMMS.name}\n")  # fmt: skip
    text = card_text(preview)
    assert "already a core member of Internal Communications" in text
    assert "this list also makes them core in Data and Insight" in text
    await apply_preview(bot, LEAD, preview)
    ann = await state(bot, ANN)
    assert set(ann.memberships) == {COMMS.id}
    assert ann.core_cop_id == COMMS.id
    ben = await state(bot, BEN)
    assert ben.core_cop_id == DATA.id
    assert set(ben.memberships) == {DATA.id}


async def test_a_conflict_arising_after_the_preview_is_reported_not_forced(bot: BotUnderTest) -> None:
    await install_with_roster(bot, LEAD, DATA, ANN)
    await install_with_roster(bot, OTHER_LEAD, COMMS, ANN)
    preview = await bot.say(LEAD, f"import members\nemail,tier\n{email_of(ANN)},core\n")
    await join(bot, ANN, COMMS, "core")  # between preview and confirm: Ann joins elsewhere as core
    bot.connector.clear()
    await apply_preview(bot, LEAD, preview)
    assert (await state(bot, ANN)).core_cop_id == COMMS.id
    assert DATA.id not in (await state(bot, ANN)).memberships
    result = next(c for c in bot.connector.sent() if "Import done" in c.everything)
    assert "already a core member of Internal Communications" in result.everything


async def test_a_file_sent_in_personal_chat_is_fetched_and_previewed(bot: BotUnderTest) -> None:
    await install_with_roster(bot, LEAD, DATA, ANN, BEN)
    body = f'Email\tTier\tJob family\n{email_of(ANN)}\tcore\t=HYPERLINK("x")\n'.encode("utf-16")
    async with file_server({"members.csv": body}) as base:
        posted = await bot.post(file_message(bot, LEAD, f"{base}/members.csv"))
    assert posted.status in (200, 201)
    text = card_text(posted)
    assert "Import preview" in text
    assert "Ann Archer" in text
    await apply_preview(bot, LEAD, posted)
    ann = await state(bot, ANN)
    assert ann.profile is not None
    assert ann.profile.job_family == '=HYPERLINK("x")'


async def test_only_leads_and_admins_may_import(bot: BotUnderTest) -> None:
    await install_with_roster(bot, LEAD, DATA, ANN)
    refused = await bot.say(ANN, "import members")
    assert "only" in refused.everything.lower()
    assert "lead" in refused.everything.lower()
    async with file_server({"m.csv": b"email,tier\n"}) as base:
        sent = await bot.post(file_message(bot, OUT, f"{base}/m.csv", "m.csv"))
    assert "leads" in sent.everything
    assert "Import preview" not in sent.everything
    # a genuine preview button pressed by someone else applies nothing
    preview = await bot.say(LEAD, f"import members\nemail,tier\n{email_of(ANN)},wider\n")
    card = preview.card
    assert card is not None
    button = next(a for a in card["actions"] if a["data"]["verb"] == "imports.apply")
    other = await bot.press(ANN, card, button["title"])
    assert "Only the person who previewed" in card_text(other)
    assert (await state(bot, ANN)).memberships == {}


async def test_a_forged_or_stale_confirm_changes_nothing(bot: BotUnderTest) -> None:
    await install_with_roster(bot, LEAD, DATA, ANN)
    preview = await bot.say(LEAD, f"import members\nemail,tier\n{email_of(ANN)},wider\n")
    card = preview.card
    assert card is not None
    data = next(a for a in card["actions"] if a["data"]["verb"] == "imports.apply")["data"]
    import_id, _, digest = data["id"].partition(".")
    forged = await bot.click(LEAD, "imports.apply", {**data, "id": f"{import_id}.{'0' * 32}"})
    assert "didn't come from me" in card_text(forged) or "altered" in card_text(forged)
    resealed = bot.sealed("imports.apply", {"cop_id": data["cop_id"], "id": f"{import_id}.{'0' * 32}"})
    stale = await bot.click(LEAD, "imports.apply", resealed)
    assert "out of date" in card_text(stale)
    assert (await state(bot, ANN)).memberships == {}
    assert digest


async def test_my_data_and_forget_me_cover_import_rows(bot: BotUnderTest) -> None:
    await install_with_roster(bot, LEAD, DATA, ANN, BEN)
    preview = await bot.say(LEAD, f"import members\nemail,tier\n{email_of(ANN)},core\n{email_of(BEN)},wider\n")
    await apply_preview(bot, LEAD, preview)
    source = next(s for s in bot.services.privacy.sources if s.name == "imports")
    assert [row["tier"] for row in await source.export(bot.services, ANN.aad)] == ["core"]
    assert [row["role"] for row in await source.export(bot.services, LEAD.aad)] == ["imported a list"]
    await source.erase(bot.services, ANN.aad)
    await source.erase(bot.services, LEAD.aad)
    assert await source.export(bot.services, ANN.aad) == []
    assert await source.export(bot.services, LEAD.aad) == []
    assert [row["tier"] for row in await source.export(bot.services, BEN.aad)] == ["wider"]


async def test_a_programme_admin_imports_across_cops_with_a_cop_column(bot: BotUnderTest) -> None:
    admin = User("29:admin", "aad-admin", "Ada Admin")  # a programme admin in the test settings
    await install_with_roster(bot, LEAD, DATA, ANN, BEN)
    await install_with_roster(bot, OTHER_LEAD, COMMS, ANN, CAT)
    csv = (
        "email,tier,cop\n"
        f"{email_of(ANN)},core,{DATA.name}\n"
        f"{email_of(ANN)},wider,{COMMS.name.upper()}\n"
        f"{email_of(CAT)},core,{COMMS.id}\n"
        f"{email_of(BEN)},wider,No Such CoP\n"
    )
    preview = await bot.say(admin, "import members\n" + csv)
    assert "no active CoP is called 'No Such CoP'" in card_text(preview)
    await apply_preview(bot, admin, preview)
    ann = await state(bot, ANN)
    assert {cop: m.tier for cop, (m, _) in ann.memberships.items()} == {DATA.id: "core", COMMS.id: "wider"}
    assert (await state(bot, CAT)).core_cop_id == COMMS.id
    assert (await state(bot, BEN)).memberships == {}
    # a lead may name only the CoPs they lead
    led = await bot.say(LEAD, f"import members\nemail,tier,cop\n{email_of(CAT)},wider,{COMMS.name}\n")
    assert "you don't lead Internal Communications" in card_text(led)


async def test_previews_and_applied_lists_are_dropped_after_two_days(bot: BotUnderTest) -> None:
    await install_with_roster(bot, LEAD, DATA, ANN, BEN)
    applied = await bot.say(LEAD, f"import members\nemail,tier\n{email_of(ANN)},core\n")
    await apply_preview(bot, LEAD, applied)
    await bot.say(LEAD, f"import members\nemail,tier\n{email_of(BEN)},core\n")  # previewed, never applied
    assert len(await bot.services.store.query(import_store.TABLE, None)) == 4
    now = bot.services.clock.now()
    await imports.run_due(bot.services, now.replace(minute=0) + timedelta(days=1))
    assert len(await bot.services.store.query(import_store.TABLE, None)) == 4  # a day on: kept
    await imports.run_due(bot.services, now.replace(minute=0) + timedelta(days=2, hours=1))
    assert await bot.services.store.query(import_store.TABLE, None) == []
    assert (await state(bot, ANN)).memberships[DATA.id][0].tier == "core"  # the membership stays


async def test_forgetting_the_importer_forgets_their_chat_too(bot: BotUnderTest) -> None:
    await install_with_roster(bot, LEAD, DATA, ANN)
    preview = await bot.say(LEAD, f"import members\nemail,tier\n{email_of(ANN)},core\n")
    await apply_preview(bot, LEAD, preview)
    source = next(s for s in bot.services.privacy.sources if s.name == "imports")
    await source.erase(bot.services, LEAD.aad)
    [head] = [r for r in await bot.services.store.query(import_store.TABLE, None) if r.row_key == import_store.HEAD]
    assert (head.get("importer"), head.get("person"), head.get("reference")) == ("", "", "")
    assert LEAD.id not in str(head.data)
