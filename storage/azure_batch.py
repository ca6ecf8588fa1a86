"""Entity group transactions (the Table service's ``$batch``): the multipart request written and the multipart
response read here, sent through the table client's own pipeline (its credential, retries, timeouts and transport).

Why not ``TableClient.submit_transaction``: azure-data-tables builds and parses the multipart bodies with the
standard library's ``email`` package (MIME generator, header registry, feed parser), which made a two-operation
transaction cost 3.2 ms of CPU against 0.95 ms for one insert (Azurite, 500 calls each). Transactions are on the
busiest turns (a join, an RSVP, a question opened in a thread), so that was ~11 % of the bot's CPU under the bench's
mixed load. The format is fixed (OData 3.0 batch, "Performing entity group transactions" in the Table service's
REST reference): one changeset of HTTP requests in, one changeset of HTTP responses out, or a single response for a
failure. Entities are written as the SDK writes them (an ``@odata.type`` for Int64, Double, DateTime and Binary).
"""

from __future__ import annotations

import base64
import json
import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal
from urllib.parse import quote

from azure.core.rest import HttpRequest
from azure.data.tables.aio import TableClient

from .base import Value

Kind = Literal["insert", "upsert", "update", "delete"]


@dataclass(frozen=True, slots=True)
class Operation:
    """One write of a transaction; ``etag`` None on an update or delete means unconditionally."""

    kind: Kind
    row_key: str
    data: Mapping[str, Value]
    etag: str | None = None


@dataclass(frozen=True, slots=True)
class Part:
    """One HTTP response of a multipart batch response (header names in lower case)."""

    status: int
    headers: Mapping[str, str]
    body: bytes


class TransactionFailed(Exception):
    """The service refused the transaction: nothing in it was written. ``index``: the refused operation, when the
    service names it (its error message starts with the operation's number)."""

    def __init__(self, status: int, code: str, message: str, index: int | None) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.index = index


def entity_json(partition_key: str, row_key: str, data: Mapping[str, Value]) -> dict[str, Any]:
    """The entity's JSON as the service reads it: every int as Int64 (as single writes send it), floats as Double
    (so 1.0 is not read back as an int), datetimes in UTC."""
    entity: dict[str, Any] = {"PartitionKey": partition_key, "RowKey": row_key}
    for name, value in data.items():
        if isinstance(value, bool | str):
            entity[name] = value
        elif isinstance(value, int):
            entity[name] = str(value)
            entity[f"{name}@odata.type"] = "Edm.Int64"
        elif isinstance(value, float):
            entity[name] = value
            entity[f"{name}@odata.type"] = "Edm.Double"
        elif isinstance(value, datetime):
            entity[name] = value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
            entity[f"{name}@odata.type"] = "Edm.DateTime"
        else:
            entity[name] = base64.b64encode(value).decode("ascii")
            entity[f"{name}@odata.type"] = "Edm.Binary"
    return entity


def _key(text: str) -> str:
    return quote(text.replace("'", "''"), safe="")


def encode(table_url: str, partition_key: str, ops: Sequence[Operation], boundary: str) -> tuple[str, bytes]:
    """The request's content type and body: one changeset holding ``ops`` in order (``table_url`` is the table's
    URL, without a query string)."""
    changeset = f"changeset_{boundary}"
    chunks: list[bytes] = []
    for number, op in enumerate(ops):
        headers = ["DataServiceVersion: 3.0", "Accept: application/json;odata=minimalmetadata"]
        body = b""
        if op.kind == "insert":
            line = f"POST {table_url} HTTP/1.1"
            headers.append("Prefer: return-no-content")
        else:
            method = "DELETE" if op.kind == "delete" else "PUT"
            line = f"{method} {table_url}(PartitionKey='{_key(partition_key)}',RowKey='{_key(op.row_key)}') HTTP/1.1"
            if op.kind != "upsert":  # an upsert replaces whatever is there; the others name what they change
                headers.append(f"If-Match: {op.etag or '*'}")
        if op.kind != "delete":
            body = json.dumps(entity_json(partition_key, op.row_key, op.data), ensure_ascii=False).encode("utf-8")
            headers += ["Content-Type: application/json", f"Content-Length: {len(body)}"]
        chunks.append(
            (
                f"--{changeset}\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n"
                f"Content-ID: {number}\r\n\r\n{line}\r\n" + "\r\n".join(headers) + "\r\n\r\n"
            ).encode("utf-8")
            + body
            + b"\r\n"
        )
    body = (
        f"--batch_{boundary}\r\nContent-Type: multipart/mixed; boundary={changeset}\r\n\r\n".encode()
        + b"".join(chunks)
        + f"--{changeset}--\r\n--batch_{boundary}--\r\n".encode()
    )
    return f"multipart/mixed; boundary=batch_{boundary}", body


_BOUNDARY = re.compile(r'boundary="?([^";]+)"?', re.IGNORECASE)
_BLANK_LINE = re.compile(rb"\r?\n\r?\n")
_LINE = re.compile(rb"\r?\n")


def _headers(lines: Sequence[bytes]) -> dict[str, str]:
    headers: dict[str, str] = {}
    for line in lines:
        name, sep, value = line.decode("utf-8", "replace").partition(":")
        if sep:
            headers[name.strip().lower()] = value.strip()
    return headers


def _split(content_type: str, body: bytes) -> list[tuple[dict[str, str], bytes]]:
    """The parts of a multipart body: each part's headers (lower-case names) and content."""
    match = _BOUNDARY.search(content_type)
    if match is None:
        raise ValueError(f"no boundary in {content_type!r}")
    delimiter = b"--" + match.group(1).encode()
    pieces = body.split(delimiter)
    parts: list[tuple[dict[str, str], bytes]] = []
    for piece in pieces[1:]:
        if piece.startswith(b"--"):
            break  # the closing delimiter
        head, *content = _BLANK_LINE.split(piece.lstrip(b"\r\n"), maxsplit=1)
        parts.append((_headers(_LINE.split(head)), content[0] if content else b""))
    return parts


def _http(content: bytes) -> Part:
    """An ``application/http`` part: status line, headers, blank line, body."""
    head, *rest = _BLANK_LINE.split(content, maxsplit=1)
    lines = _LINE.split(head)
    headers = _headers(lines[1:])
    status_line = lines[0].decode("latin-1").split()
    if len(status_line) < 2 or not status_line[1].isdigit():
        raise ValueError(f"not an HTTP response: {lines[0][:80]!r}")
    body = rest[0] if rest else b""
    return Part(int(status_line[1]), headers, body.rstrip(b"\r\n"))


def decode(content_type: str, body: bytes) -> list[Part]:
    """The HTTP responses of a batch response, in order (a changeset's, or a lone response for a failure)."""
    responses: list[Part] = []
    for headers, content in _split(content_type, body):
        inner = headers.get("content-type", "")
        if inner.lower().startswith("multipart/mixed"):
            responses.extend(_http(part) for _, part in _split(inner, content))
        else:
            responses.append(_http(content))
    return responses


def error_of(status: int, headers: Mapping[str, str], body: bytes) -> tuple[str, str]:
    """The service's error code and message: from the OData error body, else the ``x-ms-error-code`` header."""
    code = headers.get("x-ms-error-code", "")
    message = ""
    try:
        error = json.loads(body)["odata.error"]
        code = str(error.get("code") or code)
        message = str(error.get("message", {}).get("value") or "")
    except (ValueError, KeyError, TypeError, AttributeError):
        message = body[:200].decode("utf-8", "replace")
    return code, message or f"HTTP {status}"


def _index(message: str, count: int) -> int | None:
    number, sep, _ = message.partition(":")
    if sep and number.strip().isdigit() and int(number) < count:
        return int(number)
    return None


async def transact(client: TableClient, partition_key: str, ops: Sequence[Operation]) -> list[str]:
    """Send ``ops`` as one transaction on ``client``'s table; the ETag each write left ("" for a delete).
    Raises :class:`TransactionFailed` when the service refuses it (and ``ValueError`` for a response that is not a
    batch response); network errors and throttling are the pipeline's, as for any other call."""
    # the account's URL and the client's pipeline, as the SDK's own TableClient._batch_send uses them
    host = f"{client.scheme}://{client._primary_hostname}"
    content_type, body = encode(f"{host}/{quote(client.table_name, safe='')}", partition_key, ops, str(uuid.uuid4()))
    request = HttpRequest(
        "POST",
        f"{host}/$batch",
        headers={
            "x-ms-version": client.api_version,
            "DataServiceVersion": "3.0",
            "MaxDataServiceVersion": "3.0;NetFx",
            "Content-Type": content_type,
            "Accept": "application/json",
        },
        content=body,
    )
    response = await client._client.send_request(request, stream=True)  # stream: no JSON decoding of the body
    content = await response.read()
    headers = {name.lower(): value for name, value in response.headers.items()}
    if response.status_code != 202:
        code, message = error_of(response.status_code, headers, content)
        raise TransactionFailed(response.status_code, code, message, _index(message, len(ops)))
    parts = decode(headers.get("content-type", ""), content)
    for part in parts:
        if not 200 <= part.status < 300:
            code, message = error_of(part.status, part.headers, part.body)
            raise TransactionFailed(part.status, code, message, _index(message, len(ops)))
    if len(parts) != len(ops):
        raise ValueError(f"{len(parts)} responses to a transaction of {len(ops)}")
    return [part.headers.get("etag", "") for part in parts]
