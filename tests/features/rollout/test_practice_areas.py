"""``practice areas`` end to end: admins add, rename, remove unused areas and put a CoP in one; leads choose
their CoP's area on the setup card; the programme view and its exports roll up by area; the repository on
SQLite and Azurite."""

from __future__ import annotations

import csv
import io
import re
from dataclasses import replace
from typing import Any

import pytest

from bot.domain.cops import CopRepo
from bot.domain.practice_areas import PracticeAreaRepo
from bot.domain.validation import BadInput
from storage.base import TableStore
from tests.features.health.kit import ADMIN, NOW, join, make_cop
from tests.kit.activities import team, user
from tests.kit.harness import BotUnderTest

ALICE = user(1, "Alice Adams")
CY = user(3, "Cy Chen")
DATA = team(1, "Data and Insight")
FIN = team(2, "Finance")


async def build(bot: BotUnderTest) -> None:
    store = bot.services.store
    await make_cop(store, bot.connector.url, DATA, NOW, leads=[ALICE])
    await make_cop(store, bot.connector.url, FIN, NOW, leads=[CY])
    await join(store, DATA, {user(100 + i): ("core", "central") for i in range(3)}, NOW)
    await join(store, FIN, {user(200 + i): ("wider", "vpo") for i in range(2)}, NOW)


async def area_id(bot: BotUnderTest, name: str) -> str:
    [found] = [a.area_id for a in await PracticeAreaRepo(bot.services.store).all() if a.name == name]
    return found


async def test_admins_manage_practice_areas_from_the_card(bot: BotUnderTest) -> None:
    await build(bot)
    shown = await bot.say(ADMIN, "practice areas")
    assert "no practice areas yet" in shown.everything
    added = await bot.press(ADMIN, shown.card, "Add", {"add_name": "Planning"})
    assert "Added Planning" in added.everything
    added = await bot.press(ADMIN, added.card, "Add", {"add_name": "  Human   Resources "})
    assert "Added Human Resources" in added.everything
    again = await bot.press(ADMIN, added.card, "Add", {"add_name": "planning"})
    assert "already a practice area called planning" in again.everything
    assert "Nothing was changed" in again.everything
    empty = await bot.press(ADMIN, added.card, "Add", {"add_name": ""})
    assert "is required" in empty.everything
    planning = await area_id(bot, "Planning")
    assigned = await bot.press(ADMIN, added.card, "Put it there", {"cop": DATA.id, "cop_area": planning})
    assert "Data and Insight is now in Planning" in assigned.everything
    cop = await CopRepo(bot.services.store).get(DATA.id)
    assert cop is not None
    assert cop.practice_area_id == planning
    renamed = await bot.press(ADMIN, assigned.card, "Rename", {"area": planning, "new_name": "Planning and Insight"})
    assert "Renamed to Planning and Insight" in renamed.everything
    in_use = await bot.press(ADMIN, renamed.card, "Remove", {"area": planning})
    assert "still used by a CoP" in in_use.everything
    hr = await area_id(bot, "Human Resources")
    removed = await bot.press(ADMIN, renamed.card, "Remove", {"area": hr})
    assert "Removed Human Resources" in removed.everything
    assert [a.name for a in await PracticeAreaRepo(bot.services.store).all()] == ["Planning and Insight"]
    gone = await bot.press(ADMIN, renamed.card, "Rename", {"area": hr, "new_name": "HR"})
    assert "no longer exists" in gone.everything
    unknown_cop = await bot.press(ADMIN, renamed.card, "Put it there", {"cop": "19:nope", "cop_area": planning})
    assert "can't find that CoP" in unknown_cop.everything


async def test_only_admins_manage_areas_and_buttons_must_be_genuine(bot: BotUnderTest) -> None:
    await build(bot)
    assert "only programme admins" in (await bot.say(ALICE, "practice areas")).everything
    card = (await bot.say(ADMIN, "practice areas")).card
    refused = await bot.press(ALICE, card, "Add", {"add_name": "Sneaky"})
    assert "only programme admins" in refused.everything
    forged = await bot.click(ADMIN, "areas.add", {"add_name": "Forged"})
    assert "didn't come from me" in forged.everything
    assert await PracticeAreaRepo(bot.services.store).all() == []


async def test_leads_choose_their_cops_area_on_the_setup_card(bot: BotUnderTest) -> None:
    await build(bot)
    repo = PracticeAreaRepo(bot.services.store)
    planning = await repo.add("Planning")
    await repo.add("Finance and Procurement")
    setup = await bot.say_in(ALICE, DATA, "setup")
    assert "Finance and Procurement" in setup.everything  # a choice of the programme's areas
    bad = await bot.press(ALICE, setup.card, "Save", {"name": DATA.name, "practice_area_id": "nope"}, where=DATA)
    assert "choose the practice area from the list" in bad.everything
    saved = await bot.press(ALICE, setup.card, "Save", {"name": DATA.name, "practice_area_id": planning.area_id},
                           where=DATA)  # fmt: skip
    assert "Planning" in saved.everything
    cop = await CopRepo(bot.services.store).get(DATA.id)
    assert cop is not None
    assert cop.practice_area_id == planning.area_id


async def test_programme_view_and_exports_roll_up_by_area(bot: BotUnderTest) -> None:
    await build(bot)
    planning = await PracticeAreaRepo(bot.services.store).add("Planning")
    card = (await bot.say(ADMIN, "practice areas")).card
    await bot.press(ADMIN, card, "Put it there", {"cop": DATA.id, "cop_area": planning.area_id})
    posted = await bot.say(ADMIN, "programme")
    text = posted.calls[0].card_text
    assert "By practice area" in text
    assert "1 CoPs (1 launched), 3 members" in text  # Planning: Data and Insight
    assert "Not set" in text  # Finance has no area yet
    actions = {a["title"]: a["url"] for a in (posted.calls[0].card or {}).get("actions", [])}

    async def download(title: str) -> list[dict[str, Any]]:
        status, body, _ = await bot.get(re.sub(r"^https?://[^/]+", "", actions[title]))
        assert status == 200
        return list(csv.DictReader(io.StringIO(body.decode("utf-8-sig"))))

    by_cop = {r["CoP"]: r for r in await download("Download CSV")}
    assert by_cop["Data and Insight"]["Practice area"] == "Planning"
    assert by_cop["Finance"]["Practice area"] == ""
    by_area = {r["Practice area"]: r for r in await download("Download by practice area")}
    assert (by_area["Planning"]["CoPs"], by_area["Planning"]["Core members"]) == ("1", "3")
    assert (by_area["Not set"]["CoPs"], by_area["Not set"]["Wider members"]) == ("1", "2")


async def test_practice_area_repository(store: TableStore) -> None:
    repo = PracticeAreaRepo(store)
    assert await repo.all() == []
    first = await repo.add("Planning")
    second = await repo.add("Estates")
    assert [a.name for a in await repo.all()] == ["Estates", "Planning"]
    with pytest.raises(BadInput):
        await repo.add("ESTATES")
    with pytest.raises(BadInput):
        await repo.add("x" * 81)
    await repo.rename(first.area_id, "Planning and Insight")
    with pytest.raises(BadInput):
        await repo.remove(second.area_id, lambda a: a == second.area_id)
    await repo.remove(second.area_id, lambda a: False)
    assert [a.name for a in await repo.all()] == ["Planning and Insight"]


async def test_an_area_typed_before_the_list_existed_is_kept_until_one_is_chosen(bot: BotUnderTest) -> None:
    await build(bot)
    store = bot.services.store
    cop = await CopRepo(store).get(DATA.id)
    assert cop is not None
    await CopRepo(store).save(replace(cop, practice_area="Planning (typed)"), NOW)
    await PracticeAreaRepo(store).add("Estates")
    setup = await bot.say_in(ALICE, DATA, "setup")
    saved = await bot.press(ALICE, setup.card, "Save", {"name": DATA.name, "objectives": "New aims."}, where=DATA)
    assert "Planning (typed)" in saved.everything
    kept = await CopRepo(store).get(DATA.id)
    assert kept is not None
    assert (kept.practice_area, kept.practice_area_id, kept.objectives) == ("Planning (typed)", "", "New aims.")
    posted = await bot.say(ADMIN, "programme")
    assert "Planning (typed)" in posted.calls[0].card_text
