"""A CoP membership list as a lead sends it (CSV bytes or pasted text), decoded, parsed and checked row by row.

Pure functions, no storage: :func:`decode` turns bytes into text (UTF-8 with or without BOM, UTF-16 with a BOM
or without one when the NULs give it away, else Windows-1252) or says why not; :func:`parse` sniffs the
delimiter (``,`` ``;`` or tab), maps the header to the known columns and returns the good rows and the bad rows
with a reason each. Nothing a file holds is ever evaluated: a cell starting ``=``, ``+``, ``-`` or ``@`` (a
spreadsheet formula) is plain text here, refused where the column wants an identifier, tier, area or date, and
kept as text (shown escaped) where it is free text.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime

from bot.domain.members import ORG_AREAS, Tier

MAX_ROWS = 5000
MAX_BYTES = 1024 * 1024  # a file over this is refused before it is read
MAX_CELL_CHARS = 320  # an email may be 254; nothing else needs more
JOB_FAMILY_MAX = 80
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")

_AREA_KEYS = {key for key, _ in ORG_AREAS}
_AREA_WORDS = {
    **{key: key for key in _AREA_KEYS},
    **{label.lower(): key for key, label in ORG_AREAS},
    "central professional services": "central",
    "professional services": "central",
    "faculty or department": "faculty",
    "academic department": "faculty",
    "department": "faculty",
    "vice-provost office": "vpo",
    "vice provost office": "vpo",
}
# header words (lower case, spaces and punctuation folded to single spaces) -> column
_HEADERS = {
    "email": "email",
    "e mail": "email",
    "mail": "email",
    "email address": "email",
    "upn": "email",
    "user principal name": "email",
    "userprincipalname": "email",
    "object id": "object_id",
    "objectid": "object_id",
    "entra object id": "object_id",
    "entra id": "object_id",
    "aad object id": "object_id",
    "aadobjectid": "object_id",
    "azure ad object id": "object_id",
    "tier": "tier",
    "membership": "tier",
    "membership tier": "tier",
    "type": "tier",
    "org area": "org_area",
    "organisational area": "org_area",
    "organizational area": "org_area",
    "area": "org_area",
    "job family": "job_family",
    "jobfamily": "job_family",
    "joined": "joined",
    "joined date": "joined",
    "joined on": "joined",
    "date joined": "joined",
    "joined at": "joined",
    "cop": "cop",
    "community": "cop",
    "community of practice": "cop",
}
_GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_EMAIL = re.compile(r"^[^@\s,;<>\"']{1,64}@[A-Za-z0-9.-]{1,253}\.[A-Za-z]{2,}$")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u2028\u2029\u202a-\u202e\u2060\u2066-\u2069\ufeff]")


class Unreadable(ValueError):
    """The list cannot be read at all; ``str(error)`` says why, in words for the lead."""


@dataclass(frozen=True)
class ImportRow:
    """One good row: who (an email/UPN or an Entra object id), which tier, and what else the list says."""

    line: int  # the row's line in the file (the header is line 1)
    identifier: str  # lower-cased email/UPN, or the object id
    by_email: bool
    tier: Tier
    org_area: str = ""
    job_family: str = ""
    joined: date | None = None
    cop: str = ""  # the cop column as written (programme-wide lists); "" = the CoP the import is for


@dataclass(frozen=True)
class BadRow:
    line: int
    reason: str


@dataclass(frozen=True)
class Parsed:
    rows: tuple[ImportRow, ...]
    bad: tuple[BadRow, ...]
    delimiter: str
    has_cop_column: bool


def decode(data: bytes) -> str:
    """The text of a CSV file, whichever of the encodings spreadsheets write it has."""
    if data.startswith(b"\xef\xbb\xbf"):
        return _strict(data[3:], "utf-8")
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return _strict(data, "utf-16")
    if len(data) >= 4 and data.count(b"\x00") * 3 >= len(data):  # UTF-16 without a BOM: every other byte NUL
        return _strict(data, "utf-16-le" if data[1:2] == b"\x00" else "utf-16-be")
    if b"\x00" in data:
        raise Unreadable("That file holds binary data, not text. Save the list as CSV (comma separated) and try again.")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("cp1252")
    except UnicodeDecodeError:
        raise Unreadable(
            "I can't read the file's text encoding. Save it as CSV UTF-8 (in Excel: Save As, CSV UTF-8) and try again."
        ) from None


def _strict(data: bytes, encoding: str) -> str:
    try:
        return data.decode(encoding)
    except UnicodeDecodeError:
        raise Unreadable(
            f"The file says it is {encoding.upper()} but part of it is not. Save it again as CSV UTF-8 and try again."
        ) from None


def _fold(header: str) -> str:
    return " ".join(re.sub(r"[^a-z0-9]+", " ", header.lower()).split())


def sniff_delimiter(header_line: str) -> str:
    """The delimiter of the header line: the most frequent of comma, semicolon and tab outside quotes."""
    counts = {",": 0, ";": 0, "\t": 0}
    quoted = False
    for ch in header_line:
        if ch == '"':
            quoted = not quoted
        elif not quoted and ch in counts:
            counts[ch] += 1
    best = max(counts, key=lambda d: (counts[d], d == ","))
    return best if counts[best] else ","


def shown(cell: str, limit: int = 60) -> str:
    """A cell as a reason may quote it: no controls, short, and a formula marked as text with a leading '."""
    cell = _CONTROL.sub("", cell)[:limit]
    return "'" + cell if cell.startswith(FORMULA_START) else cell


def parse(text: str, *, allow_cop_column: bool = True, max_rows: int = MAX_ROWS, today: date | None = None) -> Parsed:
    """The rows of a membership list. Raises Unreadable when the whole list is unusable (no header, no
    identifier column, too many rows)."""
    text = text.lstrip("\ufeff").replace("\r\n", "\n").replace("\r", "\n")
    lines = text.split("\n")
    while lines and not lines[0].strip():
        lines.pop(0)
    if not lines:
        raise Unreadable("The list is empty. Send a CSV with a header row, e.g. email,tier.")
    delimiter = sniff_delimiter(lines[0])
    reader = csv.reader(io.StringIO("\n".join(lines)), delimiter=delimiter)
    try:
        header = next(reader)
    except csv.Error:
        raise Unreadable("I can't read the header row. Send a CSV with a header row, e.g. email,tier.") from None
    columns: dict[str, int] = {}
    for index, name in enumerate(header):
        column = _HEADERS.get(_fold(name))
        if column is not None and column not in columns:
            columns[column] = index
    if "email" not in columns and "object_id" not in columns:
        raise Unreadable(
            "I can't find an email or Entra object id column in the header row. The first row must name the "
            "columns: email (or object id), tier, and optionally org area, job family, joined, cop."
        )
    if "tier" not in columns:
        raise Unreadable("I can't find a tier column in the header row (core or wider for each person).")
    if "cop" in columns and not allow_cop_column:
        raise Unreadable("This list has a cop column; only programme admins and leads can import for a named CoP.")
    rows: list[ImportRow] = []
    bad: list[BadRow] = []
    seen: dict[tuple[str, str], int] = {}
    count = 0
    today = today or datetime.now(UTC).date()
    try:
        for cells in reader:
            line = reader.line_num
            if not any(cell.strip() for cell in cells):
                continue
            count += 1
            if count > max_rows:
                raise Unreadable(
                    f"The list has more than {max_rows:,} rows; I import at most {max_rows:,} at a time. "
                    "Split it and send the parts one after another."
                )
            result = _row(line, cells, columns, today)
            if isinstance(result, BadRow):
                bad.append(result)
                continue
            key = (result.cop.lower(), result.identifier)
            if key in seen:
                bad.append(
                    BadRow(line, f"duplicate of row {seen[key]} (same person{' and CoP' if result.cop else ''})")
                )
                continue
            seen[key] = line
            rows.append(result)
    except csv.Error as error:
        raise Unreadable(f"The CSV is malformed near line {reader.line_num}: {shown(str(error), 80)}.") from None
    if count == 0:
        raise Unreadable("The list has a header row but no people.")
    return Parsed(tuple(rows), tuple(bad), delimiter, "cop" in columns)


def _cell(cells: list[str], columns: dict[str, int], name: str) -> str:
    index = columns.get(name)
    if index is None or index >= len(cells):
        return ""
    return cells[index].strip()


def _row(line: int, cells: list[str], columns: dict[str, int], today: date) -> ImportRow | BadRow:
    if any(len(cell) > MAX_CELL_CHARS for cell in cells):
        return BadRow(line, f"a cell is longer than {MAX_CELL_CHARS} characters")
    if any(_CONTROL.search(cell) for cell in cells):
        return BadRow(line, "a cell holds control characters")
    email = _cell(cells, columns, "email")
    object_id = _cell(cells, columns, "object_id")
    if object_id:
        if not _GUID.fullmatch(object_id):
            return BadRow(line, f"'{shown(object_id)}' is not an Entra object id (a GUID)")
        identifier, by_email = object_id.lower(), False
    elif email:
        if not _EMAIL.fullmatch(email):
            return BadRow(line, f"'{shown(email)}' is not an email address")
        identifier, by_email = email.lower(), True
    else:
        return BadRow(line, "no email or object id")
    raw_tier = _cell(cells, columns, "tier").lower()
    if raw_tier not in ("core", "wider"):
        return BadRow(line, f"tier '{shown(raw_tier)}' is neither core nor wider" if raw_tier else "no tier")
    tier: Tier = "core" if raw_tier == "core" else "wider"
    raw_area = _cell(cells, columns, "org_area")
    org_area = _AREA_WORDS.get(raw_area.lower(), "") if raw_area else ""
    if raw_area and not org_area:
        choices = ", ".join(key for key, _ in ORG_AREAS)
        return BadRow(line, f"organisational area '{shown(raw_area)}' is not one of {choices}")
    job_family = " ".join(_cell(cells, columns, "job_family").split())
    if len(job_family) > JOB_FAMILY_MAX:
        return BadRow(line, f"job family is longer than {JOB_FAMILY_MAX} characters")
    joined: date | None = None
    raw_joined = _cell(cells, columns, "joined")
    if raw_joined:
        joined = _date(raw_joined)
        if joined is None:
            return BadRow(line, f"joined date '{shown(raw_joined)}' is not a date (use YYYY-MM-DD or DD/MM/YYYY)")
        if joined > today:
            return BadRow(line, f"joined date {joined.isoformat()} is in the future")
        if joined.year < 2000:
            return BadRow(line, f"joined date {joined.isoformat()} is before 2000")
    return ImportRow(line, identifier, by_email, tier, org_area, job_family, joined, _cell(cells, columns, "cop"))


def _date(value: str) -> date | None:
    for pattern in ("%Y-%m-%d", "%d/%m/%Y", "%d-%m-%Y", "%d.%m.%Y", "%Y/%m/%d"):
        try:
            return datetime.strptime(value[:10] if pattern == "%Y-%m-%d" else value, pattern).replace(tzinfo=UTC).date()
        except ValueError:
            continue
    return None
