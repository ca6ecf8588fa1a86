"""The report's charts as text (escaping, text alternatives, empty data), and a storage outage while the page is
asked for: a 503 page with Retry-After, never a 500."""

from __future__ import annotations

from pathlib import Path

from bot.report.data import HealthRow
from bot.report.svg import bars, heat_map
from bot.security.report_links import report_link
from storage.sqlite import SqliteStore
from tests.kit.connector import FakeConnector
from tests.kit.faults import FailingStore
from tests.kit.harness import running_bot
from tests.report.kit import ADMIN, build, local_path


def test_bars_escape_their_words_and_describe_every_figure() -> None:
    chart = bars("People <b>& CoPs</b>", ["Autumn <2026>", "Spring"], [("People", [3, 0]), ("Members & more", [4, 1])])
    assert chart.startswith('<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img"')
    assert "<title id=" in chart
    assert "People &lt;b&gt;&amp; CoPs&lt;/b&gt;" in chart
    assert "<b>" not in chart
    assert "Autumn &lt;2026&gt;: People 3, Members &amp; more 4; Spring: People 0, Members &amp; more 1" in chart


def test_charts_without_figures_still_say_so() -> None:
    assert "No figures yet." in bars("Nothing", [], [("People", [])])
    empty = bars("All zero", ["A"], [("People", [0])])  # no division by a zero peak
    assert ">0</text>" in empty


def test_the_heat_map_gives_each_rating_a_letter_and_a_trend() -> None:
    rows = [
        HealthRow("a", "Data <Insight>", ("green", "amber", "red", "none"), (10, 12, 11)),
        HealthRow("b", "Finance", ("red", "red", "green", "green"), ()),
    ]
    chart = heat_map(["Purpose", "Governance and structure", "Leadership", "Impact"], rows)
    assert "Data &lt;Insight&gt;: Purpose green, Governance and structure amber, Leadership red, Impact none" in chart
    for letter in ("G", "A", "R", "N"):
        assert f">{letter}</text>" in chart
    assert chart.count("<polyline") == 1  # Finance has no trend points yet
    assert "no trend yet" in chart


async def test_a_storage_outage_gives_a_503_page_not_an_error(tmp_path: Path, connector: FakeConnector) -> None:
    store = FailingStore(SqliteStore(tmp_path / "outage.sqlite3"))
    async with running_bot(store, connector=connector) as bot:  # type: ignore[arg-type]
        await build(bot)
        path = local_path(report_link(bot.services, ADMIN.aad, "admin"))
        assert (await bot.get(path))[0] == 200
        store.down = True
        status, body, headers = await bot.get(path)
        assert status == 503
        assert headers["Retry-After"] == "30"
        assert b"not available right now" in body
        assert (await bot.get(f"{path}/data.csv?table=people"))[0] == 503
        store.down = False
        assert (await bot.get(path))[0] == 200
    await store.inner.close()
