"""The transaction's multipart request and response (storage/azure_batch.py), apart from a service: what the Table
service's REST reference shows, and responses Azurite does not give (a lone error, LF line endings, a short reply).
The contract suite (tests/storage/contract.py) runs the same code against Azurite."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from storage import BatchOp, EntityTooLarge, StorageError, Value
from storage.azure import AzureTableStore
from storage.azure_batch import decode, encode
from storage.azure_rest import Reply, entity_json, refused
from tests.kit.azurite import Azurite

# A changeset response in the form of the REST reference's example ("Performing entity group transactions").
CHANGESET_RESPONSE = (
    b"--batchresponse_7ab1c5c6-bb1f-4f1b-8a60-3a59a4a5d3c1\r\n"
    b"Content-Type: multipart/mixed; boundary=changesetresponse_3b8ad8e1-0ab8-4f92-b7ee-01f3a2f6a1d4\r\n"
    b"\r\n"
    b"--changesetresponse_3b8ad8e1-0ab8-4f92-b7ee-01f3a2f6a1d4\r\n"
    b"Content-Type: application/http\r\n"
    b"Content-Transfer-Encoding: binary\r\n"
    b"\r\n"
    b"HTTP/1.1 204 No Content\r\n"
    b"Content-ID: 1\r\n"
    b"X-Content-Type-Options: nosniff\r\n"
    b"Cache-Control: no-cache\r\n"
    b"Preference-Applied: return-no-content\r\n"
    b"DataServiceVersion: 3.0;\r\n"
    b"Location: https://myaccount.table.core.windows.net/Blogs(PartitionKey='Channel_19',RowKey='2')\r\n"
    b"DataServiceId: https://myaccount.table.core.windows.net/Blogs(PartitionKey='Channel_19',RowKey='2')\r\n"
    b"ETag: W/\"datetime'2011-06-29T22%3A12%3A51.1059513Z'\"\r\n"
    b"\r\n"
    b"\r\n"
    b"--changesetresponse_3b8ad8e1-0ab8-4f92-b7ee-01f3a2f6a1d4\r\n"
    b"Content-Type: application/http\r\n"
    b"Content-Transfer-Encoding: binary\r\n"
    b"\r\n"
    b"HTTP/1.1 204 No Content\r\n"
    b"Content-ID: 2\r\n"
    b"ETag: W/\"datetime'2011-06-29T22%3A12%3A51.1059514Z'\"\r\n"
    b"\r\n"
    b"\r\n"
    b"--changesetresponse_3b8ad8e1-0ab8-4f92-b7ee-01f3a2f6a1d4--\r\n"
    b"--batchresponse_7ab1c5c6-bb1f-4f1b-8a60-3a59a4a5d3c1--\r\n"
)
RESPONSE_TYPE = "multipart/mixed; boundary=batchresponse_7ab1c5c6-bb1f-4f1b-8a60-3a59a4a5d3c1"

# A failure answered without a changeset around it, with LF line endings and a quoted boundary.
LONE_ERROR = (
    b"--batchresponse_e69b1c6c\n"
    b"Content-Type: application/http\n"
    b"Content-Transfer-Encoding: binary\n"
    b"\n"
    b"HTTP/1.1 400 Bad Request\n"
    b"Content-Type: application/json;odata=minimalmetadata;streaming=true;charset=utf-8\n"
    b"\n"
    b'{"odata.error":{"code":"InvalidInput","message":{"lang":"en-US","value":"1:One of the request inputs is not '
    b'valid."}}}\n'
    b"--batchresponse_e69b1c6c--\n"
)


def test_a_changeset_response_gives_each_write_its_etag() -> None:
    parts = decode(RESPONSE_TYPE, CHANGESET_RESPONSE)
    assert [part.status for part in parts] == [204, 204]
    assert [part.headers["etag"] for part in parts] == [
        "W/\"datetime'2011-06-29T22%3A12%3A51.1059513Z'\"",
        "W/\"datetime'2011-06-29T22%3A12%3A51.1059514Z'\"",
    ]
    assert parts[0].headers["preference-applied"] == "return-no-content"
    assert parts[0].body == b""


def test_a_lone_error_is_read_with_its_code_and_the_operation_it_names() -> None:
    [part] = decode('multipart/mixed; boundary="batchresponse_e69b1c6c"', LONE_ERROR)
    assert part.status == 400
    error = refused(part, 2)
    assert (error.status, error.code, error.index) == (400, "InvalidInput", 1)
    assert error.message.startswith("1:One of the request inputs")
    assert refused(part, 1).index is None  # a number past the transaction's end names no operation


def test_an_error_without_a_json_body_takes_the_header_code() -> None:
    busy = refused(Reply(503, {"x-ms-error-code": "ServerBusy"}, b"<html>busy</html>"))
    assert (busy.code, busy.message, busy.index) == ("ServerBusy", "<html>busy</html>", None)
    empty = refused(Reply(500, {}, b""))
    assert (empty.code, empty.message) == ("", "HTTP 500")


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("multipart/mixed", CHANGESET_RESPONSE),  # no boundary
        (RESPONSE_TYPE, CHANGESET_RESPONSE.replace(b"HTTP/1.1 204 No Content", b"garbage")),
    ],
    ids=["no-boundary", "no-status-line"],
)
def test_a_response_that_is_not_a_batch_response_is_refused(content_type: str, body: bytes) -> None:
    with pytest.raises(ValueError):
        decode(content_type, body)


def test_the_request_quotes_keys_and_says_which_writes_are_conditional() -> None:
    ops = [
        BatchOp("insert", "new", {"v": 1}),
        BatchOp("upsert", "it's", {"v": 2}),
        BatchOp("update", "a b", {"v": 3}, etag="W/\"datetime'x'\""),
        BatchOp("update", "any", {"v": 4}),
        BatchOp("delete", "gone", {"ignored": 1}),
    ]
    content_type, body = encode("http://127.0.0.1:1/acct/things", "50% ünï", ops, "b1")
    assert content_type == "multipart/mixed; boundary=batch_b1"
    text = body.decode("utf-8")
    assert text.startswith("--batch_b1\r\nContent-Type: multipart/mixed; boundary=changeset_b1\r\n\r\n")
    assert text.endswith("--changeset_b1--\r\n--batch_b1--\r\n")
    requests = text.split("--changeset_b1\r\n")[1:]
    assert len(requests) == 5
    where = "PartitionKey='50%25%20%C3%BCn%C3%AF',RowKey="
    assert "\r\nPOST http://127.0.0.1:1/acct/things HTTP/1.1\r\n" in requests[0]
    assert "Prefer: return-no-content" in requests[0]
    assert f"\r\nPUT http://127.0.0.1:1/acct/things({where}'it%27%27s') HTTP/1.1\r\n" in requests[1]
    assert "If-Match" not in requests[1]  # an upsert replaces whatever is there
    assert f"({where}'a%20b') HTTP/1.1\r\n" in requests[2]
    assert "If-Match: W/\"datetime'x'\"" in requests[2]
    assert "If-Match: *" in requests[3]
    assert f"\r\nDELETE http://127.0.0.1:1/acct/things({where}'gone') HTTP/1.1\r\n" in requests[4]
    assert "If-Match: *" in requests[4]
    assert "Content-Length" not in requests[4]
    for number, request in enumerate(requests):
        assert f"Content-ID: {number}\r\n" in request
    length = int(requests[1].split("Content-Length: ")[1].split("\r\n")[0])
    assert len(requests[1].split("\r\n\r\n", 2)[2].encode("utf-8")) == length + 2  # the body, then CRLF


def test_entity_json_types_values_as_single_writes_do() -> None:
    when = datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=timezone(timedelta(hours=1)))
    got = entity_json("p", "r", {"s": "x", "t": False, "i": 5, "f": 2.0, "d": when, "b": b"\x00\x01"})
    assert got == {
        "PartitionKey": "p",
        "RowKey": "r",
        "s": "x",
        "t": False,
        "i": "5",
        "i@odata.type": "Edm.Int64",
        "f": 2.0,
        "f@odata.type": "Edm.Double",
        "d": when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "d@odata.type": "Edm.DateTime",
        "b": "AAE=",
        "b@odata.type": "Edm.Binary",
    }
    assert got["d"] == "2026-01-02T02:04:05.000006Z"


@pytest.mark.azurite
async def test_a_transaction_over_the_services_size_limit_is_too_large_and_writes_nothing() -> None:
    """Each entity is within its own limit; together they pass the 4 MiB a transaction may carry."""
    with Azurite() as emulator:
        store = AzureTableStore.from_connection_string(emulator.connection_string)
        try:
            big: dict[str, Value] = {"b": b"\xab" * 65_536, **{f"s{i}": "x" * 32_000 for i in range(12)}}
            with pytest.raises(EntityTooLarge):
                await store.batch("things", "p", [BatchOp("insert", f"r{i}", big) for i in range(12)])
            assert await store.query("things", "p") == []
        finally:
            await store.close()


@pytest.mark.azurite
async def test_a_short_reply_is_a_storage_error(monkeypatch: pytest.MonkeyPatch) -> None:
    """A reply naming fewer writes than were sent is not taken for success."""
    import storage.azure_batch as azure_batch

    real = azure_batch.decode
    monkeypatch.setattr(azure_batch, "decode", lambda content_type, body: real(content_type, body)[:1])
    with Azurite() as emulator:
        store = AzureTableStore.from_connection_string(emulator.connection_string)
        try:
            with pytest.raises(StorageError):
                await store.batch("things", "p", [BatchOp("insert", "a", {"v": 1}), BatchOp("insert", "b", {"v": 2})])
        finally:
            await store.close()
