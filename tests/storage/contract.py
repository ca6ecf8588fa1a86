"""The storage contract: every TableStore backend must pass this one suite unchanged.

``test_contract.py`` runs it with the ``store`` fixture, which is parametrised over SQLite and Azure (Azurite).
Each test gets its own table name from the ``table`` fixture.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from storage import (
    AlreadyExists,
    BatchOp,
    BatchTooLarge,
    EntityTooLarge,
    InvalidEntity,
    InvalidKey,
    NotFound,
    PreconditionFailed,
    Row,
    TableStore,
    Value,
    Where,
    decode_key,
    encode_key,
    paging,
)

BASE = datetime(2025, 3, 1, 12, 0, 0, 123456, tzinfo=UTC)
IST = timezone(timedelta(hours=5, minutes=30))

EVERY_TYPE: dict[str, Value] = {
    "text": "héllo wörld ✓ 😀 — 中文",
    "empty": "",
    "quote": 'it\'s "quoted" & <tagged> % + / ? #',
    "zero": 0,
    "one": 1,
    "negative": -42,
    "int32max": 2**31 - 1,
    "beyond32": 2**31,
    "beyond32u": 2**32 + 5,
    "negbig": -(2**40),
    "nearmax": 2**63 - 1,
    "min64": -(2**63),
    "real": 3.25,
    "whole": 1.0,
    "fzero": 0.0,
    "tiny": -2.5e-10,
    "huge": 1.5e300,
    "yes": True,
    "no": False,
    "when": BASE,
    "whenist": datetime(2025, 3, 1, 17, 30, 0, 1, tzinfo=IST),
    "blob": b"\x00\x01\xfe\xffbinary",
    "noblob": b"",
    "control": "nul\x00 tab\t newline\n lone \ud800 surrogate",
}

BAD_KEYS = ["a/b", "a\\b", "a#b", "a?b", "a\nb", "a\x00b", "x" * 600]


def expected(data: dict[str, Value]) -> dict[str, Value]:
    return {k: v.astimezone(UTC) if isinstance(v, datetime) else v for k, v in data.items()}


def assert_same_data(actual: Any, wanted: dict[str, Value]) -> None:
    assert dict(actual) == expected(wanted)
    for name, value in actual.items():
        # == is not enough: 1 == 1.0 == True, and a datetime must come back as aware UTC.
        assert type(value) is type(wanted[name]), (name, value)
        if isinstance(value, datetime):
            assert value.utcoffset() == timedelta(0), name


async def keys(rows: Awaitable[list[Row]]) -> list[tuple[str, str]]:
    return [(r.partition_key, r.row_key) for r in await rows]


class StoreContract:
    # -- single entities --------------------------------------------------------------------------------------

    async def test_get_missing_is_not_found(self, store: TableStore, table: str) -> None:
        with pytest.raises(NotFound):
            await store.get(table, "p", "nobody")

    async def test_insert_then_get_round_trips_every_type(self, store: TableStore, table: str) -> None:
        written = await store.insert(table, "p", "r", EVERY_TYPE)
        assert (written.partition_key, written.row_key) == ("p", "r")
        assert written.etag
        assert_same_data(written.data, EVERY_TYPE)
        read = await store.get(table, "p", "r")
        assert read.etag == written.etag
        assert_same_data(read.data, EVERY_TYPE)
        assert read["whenist"] == datetime(2025, 3, 1, 12, 0, 0, 1, tzinfo=UTC)
        assert read.get("absent", "dflt") == "dflt"

    async def test_empty_entity_and_unicode_keys(self, store: TableStore, table: str) -> None:
        await store.insert(table, "pärt 😀", "it's ~ a key % + &", {})
        row = await store.get(table, "pärt 😀", "it's ~ a key % + &")
        assert dict(row.data) == {}

    async def test_insert_existing_is_already_exists(self, store: TableStore, table: str) -> None:
        await store.insert(table, "p", "r", {"v": 1})
        with pytest.raises(AlreadyExists):
            await store.insert(table, "p", "r", {"v": 2})
        assert (await store.get(table, "p", "r"))["v"] == 1

    async def test_upsert_creates_then_replaces(self, store: TableStore, table: str) -> None:
        first = await store.upsert(table, "p", "r", {"a": 1, "b": "x"})
        second = await store.upsert(table, "p", "r", {"a": 2})
        assert second.etag != first.etag
        row = await store.get(table, "p", "r")
        assert dict(row.data) == {"a": 2}  # b is gone: upsert replaces, never merges
        assert row.etag == second.etag

    async def test_update_missing_is_not_found(self, store: TableStore, table: str) -> None:
        with pytest.raises(NotFound):
            await store.update(table, "p", "r", {"a": 1})
        with pytest.raises(NotFound):
            await store.update(table, "p", "r", {"a": 1}, etag='W/"whatever"')
        with pytest.raises(NotFound):
            await store.get(table, "p", "r")

    async def test_update_with_stale_etag_fails_and_changes_nothing(self, store: TableStore, table: str) -> None:
        old = await store.insert(table, "p", "r", {"a": 1})
        new = await store.update(table, "p", "r", {"a": 2}, etag=old.etag)
        assert new.etag != old.etag
        with pytest.raises(PreconditionFailed):
            await store.update(table, "p", "r", {"a": 3}, etag=old.etag)
        with pytest.raises(PreconditionFailed):
            await store.update(table, "p", "r", {"a": 4}, etag="not-an-etag")
        row = await store.get(table, "p", "r")
        assert dict(row.data) == {"a": 2}
        assert row.etag == new.etag

    async def test_update_replaces_all_properties(self, store: TableStore, table: str) -> None:
        await store.insert(table, "p", "r", {"a": 1, "b": 2})
        await store.update(table, "p", "r", {"c": 3})  # no etag: unconditional
        assert dict((await store.get(table, "p", "r")).data) == {"c": 3}

    async def test_delete_with_stale_etag_fails_and_keeps_the_row(self, store: TableStore, table: str) -> None:
        old = await store.insert(table, "p", "r", {"a": 1})
        await store.update(table, "p", "r", {"a": 2})
        with pytest.raises(PreconditionFailed):
            await store.delete(table, "p", "r", etag=old.etag)
        with pytest.raises(PreconditionFailed):
            await store.delete(table, "p", "r", etag="not-an-etag")
        assert (await store.get(table, "p", "r"))["a"] == 2

    async def test_delete_with_right_etag_and_unconditionally(self, store: TableStore, table: str) -> None:
        row = await store.insert(table, "p", "r1", {"a": 1})
        await store.insert(table, "p", "r2", {"a": 1})
        await store.delete(table, "p", "r1", etag=row.etag)
        await store.delete(table, "p", "r2")
        for rk in ("r1", "r2"):
            with pytest.raises(NotFound):
                await store.get(table, "p", rk)

    async def test_delete_missing_is_not_found(self, store: TableStore, table: str) -> None:
        with pytest.raises(NotFound):
            await store.delete(table, "p", "r")
        with pytest.raises(NotFound):
            await store.delete(table, "p", "r", etag='W/"whatever"')

    async def test_tables_are_separate(self, store: TableStore, table: str) -> None:
        await store.insert(table, "p", "r", {"a": 1})
        other = table + "b"
        with pytest.raises(NotFound):
            await store.get(other, "p", "r")
        assert await store.query(other, None) == []

    async def test_ping(self, store: TableStore) -> None:
        await store.ping()

    # -- queries ----------------------------------------------------------------------------------------------

    @pytest.fixture
    async def rows(self, store: TableStore, table: str) -> dict[str, dict[str, Value]]:
        """Ten rows in partition "p" (written out of order) and two in "q"."""
        data: dict[str, dict[str, Value]] = {}
        for i in (7, 2, 9, 0, 5, 1, 8, 3, 6, 4):
            data[f"r{i:02d}"] = {
                "n": i,
                "big": 2**40 + i,
                "name": f"name{i}",
                "even": i % 2 == 0,
                "when": BASE + timedelta(hours=i, microseconds=i),
                "score": i * 1.5,
                "blob": bytes([i]),
            }
        del data["r04"]["name"]  # one row without the property
        await asyncio.gather(*(store.insert(table, "p", rk, d) for rk, d in data.items()))
        await store.insert(table, "q", "r00", {"n": 0, "name": "other"})
        await store.insert(table, "q", "r01", {"n": 100})
        return data

    @pytest.mark.parametrize(
        ("op", "check"),
        [
            ("eq", lambda n: n == 4),
            ("ne", lambda n: n != 4),
            ("gt", lambda n: n > 4),
            ("ge", lambda n: n >= 4),
            ("lt", lambda n: n < 4),
            ("le", lambda n: n <= 4),
        ],
    )
    async def test_query_each_operator(
        self, store: TableStore, table: str, rows: dict[str, Any], op: Any, check: Callable[[int], bool]
    ) -> None:
        want = [("p", f"r{i:02d}") for i in range(10) if check(i)]
        assert await keys(store.query(table, "p", [Where("n", op, 4)])) == want
        assert await keys(store.query(table, "p", [Where("big", op, 2**40 + 4)])) == want
        assert await keys(store.query(table, "p", [Where("score", op, 6.0)])) == want
        assert (
            await keys(store.query(table, "p", [Where("when", op, BASE + timedelta(hours=4, microseconds=4))])) == want
        )

    async def test_query_full_partition_is_ordered(self, store: TableStore, table: str, rows: dict[str, Any]) -> None:
        got = await store.query(table, "p")
        assert [r.row_key for r in got] == [f"r{i:02d}" for i in range(10)]
        for row in got:
            assert_same_data(row.data, rows[row.row_key])
            assert row.etag == (await store.get(table, "p", row.row_key)).etag

    async def test_query_combinations(self, store: TableStore, table: str, rows: dict[str, Any]) -> None:
        where = [Where("n", "ge", 2), Where("n", "lt", 8), Where("even", "eq", True)]
        assert await keys(store.query(table, "p", where)) == [("p", "r02"), ("p", "r04"), ("p", "r06")]
        where = [Where("even", "eq", False), Where("name", "ne", "name5")]
        assert await keys(store.query(table, "p", where)) == [("p", f"r{i:02d}") for i in (1, 3, 7, 9)]

    async def test_query_rowkey_ranges(self, store: TableStore, table: str, rows: dict[str, Any]) -> None:
        where = [Where("RowKey", "ge", "r03"), Where("RowKey", "lt", "r07")]
        assert await keys(store.query(table, "p", where)) == [("p", f"r{i:02d}") for i in (3, 4, 5, 6)]
        assert await keys(store.query(table, "p", [Where("RowKey", "gt", "r08")])) == [("p", "r09")]
        assert await keys(store.query(table, "p", [Where("RowKey", "eq", "r05")])) == [("p", "r05")]
        # the usual "starts with" idiom
        where = [Where("RowKey", "ge", "r0"), Where("RowKey", "lt", "r0\uffff")]
        assert len(await store.query(table, "p", where)) == 10

    async def test_query_datetimes_in_other_zones(self, store: TableStore, table: str, rows: dict[str, Any]) -> None:
        cutoff = (BASE + timedelta(hours=7)).astimezone(IST)
        # r07 is 7 µs after the cutoff: microseconds count
        assert await keys(store.query(table, "p", [Where("when", "ge", cutoff)])) == [
            ("p", f"r{i:02d}") for i in (7, 8, 9)
        ]
        assert await keys(store.query(table, "p", [Where("when", "lt", cutoff)])) == [
            ("p", f"r{i:02d}") for i in range(7)
        ]
        exact = BASE + timedelta(hours=3, microseconds=3)
        assert await keys(store.query(table, "p", [Where("when", "eq", exact)])) == [("p", "r03")]

    async def test_query_bools_strings_and_bytes(self, store: TableStore, table: str, rows: dict[str, Any]) -> None:
        assert len(await store.query(table, "p", [Where("even", "eq", True)])) == 5
        assert len(await store.query(table, "p", [Where("even", "ne", True)])) == 5
        assert await keys(store.query(table, "p", [Where("name", "eq", "name3")])) == [("p", "r03")]
        assert await keys(store.query(table, "p", [Where("name", "gt", "name7")])) == [("p", "r08"), ("p", "r09")]
        assert await keys(store.query(table, "p", [Where("blob", "eq", b"\x02")])) == [("p", "r02")]
        # a missing property matches nothing, not even "ne"
        assert ("p", "r04") not in await keys(store.query(table, "p", [Where("name", "ne", "zzz")]))
        assert await store.query(table, "p", [Where("missing", "ne", 1)]) == []

    async def test_query_limit(self, store: TableStore, table: str, rows: dict[str, Any]) -> None:
        assert await keys(store.query(table, "p", limit=3)) == [("p", "r00"), ("p", "r01"), ("p", "r02")]
        assert await keys(store.query(table, "p", [Where("n", "gt", 5)], limit=2)) == [("p", "r06"), ("p", "r07")]
        assert len(await store.query(table, "p", limit=1000)) == 10
        with pytest.raises(InvalidEntity):
            await store.query(table, "p", limit=0)

    async def test_query_whole_table(self, store: TableStore, table: str, rows: dict[str, Any]) -> None:
        want = [("p", f"r{i:02d}") for i in range(10)] + [("q", "r00"), ("q", "r01")]
        assert await keys(store.query(table, None)) == want
        assert await keys(store.query(table, None, [Where("n", "eq", 0)])) == [("p", "r00"), ("q", "r00")]
        assert await keys(store.query(table, None, limit=11)) == want[:11]

    async def test_query_empty_results(self, store: TableStore, table: str, rows: dict[str, Any]) -> None:
        assert await store.query(table, "nobody") == []
        assert await store.query(table, "p", [Where("n", "gt", 100)]) == []
        assert await store.query(table, "p", [Where("n", "gt", 5), Where("n", "lt", 3)]) == []
        assert await store.query(table + "x", "p") == []  # a table nobody wrote to

    @pytest.mark.parametrize(
        "evil",
        [
            "x' or 1 eq 1 or 'a",
            "' or ''='",
            "name1' or name ne '",
            "x') OR 1=1 --",
            'x" OR 1=1 --',
            "@p0",
            "name1 @p1",
            "",
        ],
    )
    async def test_injection_in_filter_values_matches_nothing(
        self, store: TableStore, table: str, rows: dict[str, Any], evil: str
    ) -> None:
        assert await store.query(table, "p", [Where("name", "eq", evil)]) == []
        assert await store.query(table, "p", [Where("RowKey", "eq", evil)]) == []
        assert await store.query(table, None, [Where("name", "eq", evil), Where("n", "ge", 0)]) == []
        if "#" not in evil and "?" not in evil:
            assert await store.query(table, evil) == []

    async def test_partition_key_filter_and_pages_resume_after_a_cursor(self, store: TableStore, table: str) -> None:
        for pk in ("a", "b", "c"):
            await store.batch(table, pk, [BatchOp("insert", f"r{i}", {"n": i}) for i in range(5)])
        after_a = await store.query(table, None, [Where("PartitionKey", "gt", "a"), Where("n", "lt", 2)])
        assert [(r.partition_key, r.row_key) for r in after_a] == [("b", "r0"), ("b", "r1"), ("c", "r0"), ("c", "r1")]
        seen: list[tuple[str, str]] = []
        cursor = paging.Cursor()
        async for rows, cursor in paging.pages(store, table, None, page_size=4):  # noqa: B007
            seen.extend((r.partition_key, r.row_key) for r in rows)
            if len(seen) == 8:
                break
        async for rows, _ in paging.pages(store, table, None, start=paging.Cursor.load(cursor.dump()), page_size=4):
            seen.extend((r.partition_key, r.row_key) for r in rows)
        assert seen == [(pk, f"r{i}") for pk in "abc" for i in range(5)]
        one = [
            r.row_key
            async for rows, _ in paging.pages(store, table, "b", [Where("n", "ge", 1)], page_size=2)
            for r in rows
        ]
        assert one == ["r1", "r2", "r3", "r4"]

    @pytest.mark.parametrize(
        "name",
        ["bad name", "1abc", "a-b", "a.b", "Timestamp", "etag", "x' or 1 eq 1", "", "name\n", 'a"b'],
    )
    async def test_invalid_filter_property_is_refused(self, store: TableStore, table: str, name: str) -> None:
        with pytest.raises(InvalidEntity):
            await store.query(table, "p", [Where(name, "eq", "x")])

    @pytest.mark.parametrize(
        "cond",
        [
            Where("n", "like", 1),  # type: ignore[arg-type]
            Where("n", "eq", datetime(2025, 1, 1)),  # naive
            Where("n", "eq", None),  # type: ignore[arg-type]
            Where("n", "eq", 2**64),
            Where("n", "eq", float("nan")),
            Where("RowKey", "eq", 5),
            Where("PartitionKey", "eq", 5),
            Where("blob", "gt", b"\x00"),
        ],
    )
    async def test_invalid_filter_value_is_refused(self, store: TableStore, table: str, cond: Where) -> None:
        with pytest.raises(InvalidEntity):
            await store.query(table, "p", [cond])

    # -- keys -------------------------------------------------------------------------------------------------

    @pytest.mark.parametrize("bad", BAD_KEYS)
    async def test_bad_keys_are_refused_everywhere(self, store: TableStore, table: str, bad: str) -> None:
        for pk, rk in ((bad, "ok"), ("ok", bad)):
            with pytest.raises(InvalidKey):
                await store.get(table, pk, rk)
            with pytest.raises(InvalidKey):
                await store.insert(table, pk, rk, {"a": 1})
            with pytest.raises(InvalidKey):
                await store.upsert(table, pk, rk, {"a": 1})
            with pytest.raises(InvalidKey):
                await store.update(table, pk, rk, {"a": 1})
            with pytest.raises(InvalidKey):
                await store.delete(table, pk, rk)
            with pytest.raises(InvalidKey):
                await store.batch(table, pk, [BatchOp("upsert", rk, {"a": 1})])
        with pytest.raises(InvalidKey):
            await store.query(table, bad)
        assert await store.query(table, None) == []

    async def test_encoded_keys_are_valid_distinct_and_round_trip(self, store: TableStore, table: str) -> None:
        texts = [*BAD_KEYS, "x" * 601, "%2F", "%", "a/b ", "😀" * 300, "\ud800"]
        encoded = [encode_key(t) for t in texts]
        assert len(set(encoded)) == len(texts)
        for text, key in zip(texts, encoded, strict=True):
            await store.insert(table, key, key, {"text": text})
            if len(text) < 256:
                assert decode_key(key) == text
        got = await store.query(table, None)
        assert sorted(r.partition_key for r in got) == sorted(encoded)
        for key in encoded:
            assert (await store.get(table, key, key)).row_key == key

    async def test_longest_keys_are_accepted(self, store: TableStore, table: str) -> None:
        await store.insert(table, "p" * 512, "r" * 512, {})
        await store.get(table, "p" * 512, "r" * 512)
        with pytest.raises(InvalidKey):
            await store.get(table, "p", "😀" * 257)  # 514 UTF-16 code units

    async def test_bad_table_names_are_refused(self, store: TableStore) -> None:
        for name in ("ab", "1abc", "a-b", "a" * 64, "abc\n", ""):
            with pytest.raises(InvalidEntity):
                await store.get(name, "p", "r")
            with pytest.raises(InvalidEntity):
                await store.query(name, None)

    # -- entity limits ----------------------------------------------------------------------------------------

    @pytest.mark.parametrize(
        ("data", "error"),
        [
            ({f"p{i}": i for i in range(253)}, InvalidEntity),
            ({"s": "x" * 33_000}, EntityTooLarge),
            ({"s": "😀" * 16_385}, EntityTooLarge),  # 32,770 UTF-16 units
            ({f"s{i}": "x" * 32_000 for i in range(18)}, EntityTooLarge),  # ~1.15 MB
            ({"b": b"x" * 65_537}, EntityTooLarge),
            ({"d": datetime(2025, 1, 1)}, InvalidEntity),  # naive
            ({"d": datetime(1600, 12, 31, tzinfo=UTC)}, InvalidEntity),
            ({"i": 2**63}, InvalidEntity),
            ({"i": -(2**63) - 1}, InvalidEntity),
            ({"f": float("nan")}, InvalidEntity),
            ({"f": float("inf")}, InvalidEntity),
            ({"x": None}, InvalidEntity),
            ({"x": [1, 2]}, InvalidEntity),
            ({"PartitionKey": "x"}, InvalidEntity),
            ({"Timestamp": "x"}, InvalidEntity),
            ({"etag": "x"}, InvalidEntity),
            ({"bad name": 1}, InvalidEntity),
            ({"a" * 256: 1}, InvalidEntity),
        ],
        ids=lambda v: v.__name__ if isinstance(v, type) else None,
    )
    async def test_entity_limits(
        self, store: TableStore, table: str, data: dict[str, Any], error: type[Exception]
    ) -> None:
        for write in (store.insert, store.upsert, store.update):
            with pytest.raises(error):
                await write(table, "p", "r", data)
        with pytest.raises(error):
            await store.batch(table, "p", [BatchOp("upsert", "r", data)])
        assert await store.query(table, None) == []

    async def test_largest_allowed_values(self, store: TableStore, table: str) -> None:
        data: dict[str, Value] = {f"p{i}": i for i in range(249)}
        data.update({"s": "x" * 32_768, "e": "😀" * 16_384, "b": b"\xff" * 65_536})
        await store.insert(table, "p", "r", data)
        assert_same_data((await store.get(table, "p", "r")).data, data)

    # -- batches ----------------------------------------------------------------------------------------------

    async def test_batch_mixed_ops_commit_together(self, store: TableStore, table: str) -> None:
        upd = await store.insert(table, "p", "upd", {"v": 1})
        await store.insert(table, "p", "del", {"v": 1})
        await store.insert(table, "p", "ups", {"v": 1, "extra": "x"})
        await store.insert(table, "p", "free", {"v": 1})
        result = await store.batch(
            table,
            "p",
            [
                BatchOp("insert", "new", {"v": 2, "when": BASE.astimezone(IST)}),
                BatchOp("upsert", "ups", {"v": 2}),
                BatchOp("upsert", "ups2", {"v": 2}),
                BatchOp("update", "upd", {"v": 2}, etag=upd.etag),
                BatchOp("update", "free", {"v": 2}),
                BatchOp("delete", "del"),
            ],
        )
        assert [None if r is None else r.row_key for r in result] == ["new", "ups", "ups2", "upd", "free", None]
        new = result[0]
        assert new is not None
        assert new["when"] == BASE
        assert new.etag == (await store.get(table, "p", "new")).etag
        got = {r.row_key: dict(r.data) for r in await store.query(table, "p")}
        assert got == {
            "free": {"v": 2},
            "new": {"v": 2, "when": BASE},
            "upd": {"v": 2},
            "ups": {"v": 2},
            "ups2": {"v": 2},
        }
        await store.batch(table, "p", [BatchOp("delete", "upd", etag=result[3].etag if result[3] else None)])

    async def test_filters_match_values_that_mean_something_in_a_url(self, store: TableStore, table: str) -> None:
        """A filter's text travels in the query string: ``+ & = % # ? ;``, quotes, spaces and emoji are values."""
        values = ["a+b", "x&y=z", "50% #1", "it's", "naïve", "a b", "%2B", "q?r", "semi;colon", "😀", "$filter"]
        pk = "p+q&r=s %"
        for i, value in enumerate(values):
            await store.insert(table, pk, f"r{i:02d}", {"v": value})
        for value in values:
            assert [row["v"] for row in await store.query(table, pk, [Where("v", "eq", value)])] == [value]
        assert len(await store.query(table, pk, [Where("v", "ne", "a+b")])) == len(values) - 1

    async def test_batch_writes_every_type_under_awkward_keys(self, store: TableStore, table: str) -> None:
        """A transaction carries what single writes carry: each value type, and keys with quotes, spaces, accents,
        percent signs and emoji (quoted in the transaction's request lines)."""
        pk = "it's 50% — ça va 😀"
        data: dict[str, Value] = {
            "s": "naïve “quoted” text\nwith a line",
            "i": 2**53 + 1,
            "n": -7,
            "f": 1.0,
            "g": 0.1,
            "t": True,
            "when": BASE.astimezone(IST),
            "b": b"\x00\xff\r\n--batch_",
        }
        keys = ["o'brien", "a b%20c", "ünï 😀", "--changeset_x"]
        first = await store.insert(table, pk, keys[3], {"v": 1})
        result = await store.batch(
            table,
            pk,
            [
                BatchOp("insert", keys[0], data),
                BatchOp("upsert", keys[1], data),
                BatchOp("insert", keys[2], {"v": 2}),
                BatchOp("update", keys[3], data, etag=first.etag),
            ],
        )
        got = {row.row_key: row for row in await store.query(table, pk)}
        assert sorted(got) == sorted(keys)
        for key in (keys[0], keys[1], keys[3]):
            assert_same_data(got[key].data, data)
        assert [r.etag if r else None for r in result] == [got[k].etag for k in keys]
        await store.batch(table, pk, [BatchOp("delete", keys[0], etag=got[keys[0]].etag), BatchOp("delete", keys[2])])
        assert sorted(r.row_key for r in await store.query(table, pk)) == sorted([keys[1], keys[3]])

    @pytest.mark.parametrize(
        ("failing", "error"),
        [
            (BatchOp("insert", "existing", {"v": 9}), AlreadyExists),
            (BatchOp("update", "existing", {"v": 9}, etag="stale"), PreconditionFailed),
            (BatchOp("delete", "existing", etag="stale"), PreconditionFailed),
            (BatchOp("update", "missing", {"v": 9}), NotFound),
            (BatchOp("delete", "missing"), NotFound),
        ],
        ids=["insert-existing", "update-stale", "delete-stale", "update-missing", "delete-missing"],
    )
    async def test_failed_batch_writes_nothing(
        self, store: TableStore, table: str, failing: BatchOp, error: type[Exception]
    ) -> None:
        old = await store.insert(table, "p", "existing", {"v": 1})
        await store.update(table, "p", "existing", {"v": 2})
        if failing.etag == "stale":
            failing = BatchOp(failing.kind, failing.row_key, failing.data, etag=old.etag)
        other = await store.insert(table, "p", "other", {"v": 1})
        ops = [
            BatchOp("insert", "a", {"v": 1}),
            BatchOp("update", "other", {"v": 2}, etag=other.etag),
            failing,
            BatchOp("upsert", "b", {"v": 1}),
        ]
        with pytest.raises(error):
            await store.batch(table, "p", ops)
        got = {r.row_key: dict(r.data) for r in await store.query(table, "p")}
        assert got == {"existing": {"v": 2}, "other": {"v": 1}}

    async def test_batch_limits(self, store: TableStore, table: str) -> None:
        with pytest.raises(BatchTooLarge):
            await store.batch(table, "p", [BatchOp("insert", f"r{i:03d}", {"v": i}) for i in range(101)])
        with pytest.raises(BatchTooLarge):
            await store.batch(table, "p", [BatchOp("insert", "r", {"v": 1}), BatchOp("upsert", "r", {"v": 2})])
        with pytest.raises(BatchTooLarge):
            await store.batch(table, "p", [])
        with pytest.raises(InvalidEntity):
            await store.batch(table, "p", [BatchOp("insert", "r", {"v": 1}), BatchOp("insert", "s", {"v": None})])  # type: ignore[dict-item]
        assert await store.query(table, None) == []
        result = await store.batch(table, "p", [BatchOp("insert", f"r{i:03d}", {"v": i}) for i in range(100)])
        assert len(result) == 100
        assert len(await store.query(table, "p")) == 100

    # -- concurrency ------------------------------------------------------------------------------------------

    async def test_concurrent_conditional_updates_have_one_winner(self, store: TableStore, table: str) -> None:
        await store.insert(table, "p", "r", {"owner": "nobody"})
        seen = await asyncio.gather(*(store.get(table, "p", "r") for _ in range(20)))

        async def claim(i: int, row: Row) -> bool:
            try:
                await store.update(table, "p", "r", {"owner": f"task{i}"}, etag=row.etag)
            except PreconditionFailed:
                return False
            return True

        won = await asyncio.gather(*(claim(i, row) for i, row in enumerate(seen)))
        assert won.count(True) == 1
        assert (await store.get(table, "p", "r"))["owner"] == f"task{won.index(True)}"

    async def test_counter_with_retry_loops_counts_exactly(self, store: TableStore, table: str) -> None:
        await store.insert(table, "p", "counter", {"n": 0})

        async def increment() -> None:
            while True:
                row = await store.get(table, "p", "counter")
                n = row["n"]
                assert isinstance(n, int)
                try:
                    await store.update(table, "p", "counter", {"n": n + 1}, etag=row.etag)
                    return
                except PreconditionFailed:
                    await asyncio.sleep(0)

        await asyncio.gather(*(increment() for _ in range(20)))
        assert (await store.get(table, "p", "counter"))["n"] == 20
