"""Entity group transactions (the Table service's ``$batch``): the multipart request written and the multipart
response read here, sent through the table client's own pipeline (its credential, retries, timeouts and transport).

Why not ``TableClient.submit_transaction``: azure-data-tables builds and parses the multipart bodies with the
standard library's ``email`` package (MIME generator, header registry, feed parser), which made a two-operation
transaction cost 3.2 ms of CPU against 0.95 ms for one insert (Azurite, 500 calls each). Transactions are on the
busiest turns (a join, an RSVP, a question opened in a thread), so that was ~11 % of the bot's CPU under the bench's
mixed load. The format is fixed (OData 3.0 batch, "Performing entity group transactions" in the Table service's
REST reference): one changeset of HTTP requests in, one changeset of HTTP responses out, or a single response for a
failure. Entities are written as single writes write them (storage/azure_rest.py).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence

from azure.data.tables.aio import TableClient

from . import azure_rest as rest
from .base import BatchOp


def encode(table_url: str, partition_key: str, ops: Sequence[BatchOp], boundary: str) -> tuple[str, bytes]:
    """The request's content type and body: one changeset holding ``ops`` in order (``table_url`` is the table's
    URL, without a query string; a delete's data is not sent)."""
    changeset = f"changeset_{boundary}"
    where = f"(PartitionKey='{rest.key(partition_key)}',RowKey="
    chunks: list[bytes] = []
    for number, op in enumerate(ops):
        headers = ["DataServiceVersion: 3.0", f"Accept: {rest.READ}"]
        body = b""
        if op.kind == "insert":
            line = f"POST {table_url} HTTP/1.1"
            headers.append("Prefer: return-no-content")
        else:
            method = "DELETE" if op.kind == "delete" else "PUT"
            line = f"{method} {table_url}{where}'{rest.key(op.row_key)}') HTTP/1.1"
            if op.kind != "upsert":  # an upsert replaces whatever is there; the others name what they change
                headers.append(f"If-Match: {op.etag or '*'}")
        if op.kind != "delete":
            body = rest.entity_body(partition_key, op.row_key, op.data)
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
    parts: list[tuple[dict[str, str], bytes]] = []
    for piece in body.split(delimiter)[1:]:
        if piece.startswith(b"--"):
            break  # the closing delimiter
        head, *content = _BLANK_LINE.split(piece.lstrip(b"\r\n"), maxsplit=1)
        parts.append((_headers(_LINE.split(head)), content[0] if content else b""))
    return parts


def _http(content: bytes) -> rest.Reply:
    """An ``application/http`` part: status line, headers, blank line, body."""
    head, *rest_of = _BLANK_LINE.split(content, maxsplit=1)
    lines = _LINE.split(head)
    status_line = lines[0].decode("latin-1").split()
    if len(status_line) < 2 or not status_line[1].isdigit():
        raise ValueError(f"not an HTTP response: {lines[0][:80]!r}")
    body = rest_of[0] if rest_of else b""
    return rest.Reply(int(status_line[1]), _headers(lines[1:]), body.rstrip(b"\r\n"))


def decode(content_type: str, body: bytes) -> list[rest.Reply]:
    """The HTTP responses of a batch response, in order (a changeset's, or a lone response for a failure)."""
    responses: list[rest.Reply] = []
    for headers, content in _split(content_type, body):
        inner = headers.get("content-type", "")
        if inner.lower().startswith("multipart/mixed"):
            responses.extend(_http(part) for _, part in _split(inner, content))
        else:
            responses.append(_http(content))
    return responses


async def transact(client: TableClient, partition_key: str, ops: Sequence[BatchOp]) -> list[str]:
    """Send ``ops`` as one transaction on ``client``'s table; the ETag each write left ("" for a delete).
    Raises :class:`~storage.azure_rest.ServiceRefused` when the service refuses it (and ``ValueError`` for a
    response that is not a batch response); network errors and throttling are the pipeline's."""
    content_type, body = encode(rest.table_url(client), partition_key, ops, str(uuid.uuid4()))
    headers = {"MaxDataServiceVersion": "3.0;NetFx", "Content-Type": content_type, "Accept": "application/json"}
    reply = await rest.send(client, "POST", f"{rest.account_url(client)}/$batch", headers, body)
    if reply.status != 202:
        raise rest.refused(reply, len(ops))
    parts = decode(reply.headers.get("content-type", ""), reply.body)
    for part in parts:
        if not 200 <= part.status < 300:
            raise rest.refused(part, len(ops))
    if len(parts) != len(ops):
        raise ValueError(f"{len(parts)} responses to a transaction of {len(ops)}")
    return [part.headers.get("etag", "") for part in parts]
