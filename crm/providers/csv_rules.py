"""The provider directory CSV: the file as a whole, its columns, and each row. Pure.

One row per location. A whole-file problem (not UTF-8, missing columns, empty, too big) is
``FileRefused`` at upload and nothing is stored. A row's problems are reasons in its report
line; ``validate_row`` judges the record the row would produce, so a bad row writes nothing.
Column names, value formats and limits are documented in docs/providers.md.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from crm.providers import rules

MAX_BYTES = 5 * 1024 * 1024
MAX_ROWS = 20_000
LIST_SEPARATOR = ";"
SAVE_AS = 'Save the sheet as "CSV UTF-8 (Comma delimited)" and upload that file.'


class FileRefused(ValueError):
    """The upload as a whole cannot be imported; the message says what to do."""


@dataclass(frozen=True)
class Column:
    name: str
    target: str  # "provider" or "location"
    field: str
    kind: str  # text | key | keys | names | yes_no | money | whole | date | number | country
    required: bool = False


COLUMNS: tuple[Column, ...] = (
    Column("provider_name", "provider", "name", "text", required=True),
    Column("regulator", "provider", "regulator", "key", required=True),
    Column("regulator_provider_id", "provider", "regulator_provider_id", "text"),
    Column("provider_status", "provider", "status", "key"),
    Column("contract_status", "provider", "contract_status", "key"),
    Column("owned_or_affiliated", "provider", "owned_or_affiliated", "yes_no"),
    Column("affiliation_note", "provider", "affiliation_note", "text"),
    Column("website", "provider", "website", "text"),
    Column("regulator_location_id", "location", "regulator_location_id", "text", required=True),
    Column("location_name", "location", "name", "text", required=True),
    Column("registration_status", "location", "registration_status", "text"),
    Column("rating", "location", "rating", "key"),
    Column("rating_date", "location", "rating_date", "date"),
    Column("address", "location", "address", "text", required=True),
    Column("town", "location", "town", "text", required=True),
    Column("postcode", "location", "postcode", "text", required=True),
    Column("country", "location", "country", "country"),
    Column("region", "location", "region", "key"),
    Column("latitude", "location", "latitude", "number"),
    Column("longitude", "location", "longitude", "number"),
    Column("levels_of_care", "location", "levels_of_care", "keys", required=True),
    Column("substances", "location", "substances", "keys", required=True),
    Column("dual_diagnosis", "location", "dual_diagnosis", "yes_no"),
    Column("mental_health_accepted", "location", "mental_health_accepted", "keys"),
    Column("exclusions", "location", "exclusions", "text"),
    Column("min_age", "location", "min_age", "whole"),
    Column("max_age", "location", "max_age", "whole"),
    Column("single_sex", "location", "single_sex", "key"),
    Column("accepts_pregnant", "location", "accepts_pregnant", "yes_no"),
    Column("wheelchair_accessible", "location", "wheelchair_accessible", "yes_no"),
    Column("funding_accepted", "location", "funding_accepted", "keys", required=True),
    Column("insurers", "location", "insurers", "names"),
    Column("price_per_week_min", "location", "price_per_week_min", "money"),
    Column("price_per_week_max", "location", "price_per_week_max", "money"),
    Column("currency", "location", "currency", "text"),
    Column("minimum_stay_days", "location", "minimum_stay_days", "whole"),
    Column("status", "location", "status", "key"),
    Column("admissions_phone", "location", "admissions_phone", "text"),
    Column("admissions_email", "location", "admissions_email", "text"),
)
BY_NAME = {c.name: c for c in COLUMNS}
REQUIRED_COLUMNS = tuple(c.name for c in COLUMNS if c.required)
_COLUMN_OF = {(c.target, c.field): c.name for c in COLUMNS}


@dataclass(frozen=True)
class Table:
    """The file's header and its non-blank rows, each with its spreadsheet row number."""

    header: tuple[str, ...]
    rows: tuple[tuple[int, tuple[str, ...]], ...]


@dataclass
class ParsedRow:
    """One row's values by target, only for the columns the file has; problems as reasons."""

    number: int
    regulator_location_id: str | None
    provider: dict[str, Any] = field(default_factory=dict)
    location: dict[str, Any] = field(default_factory=dict)
    reasons: list[str] = field(default_factory=list)
    unreadable: bool = False  # the cells do not line up with the columns: nothing to judge


@dataclass(frozen=True)
class ValidRow:
    """A row judged good: the complete provider and location records it produces."""

    provider: dict[str, Any]
    location: dict[str, Any]


def decode(data: bytes) -> str:
    """The upload as text: UTF-8, with or without the byte-order mark Excel writes."""
    if not data.strip():
        raise FileRefused("The file is empty.")
    if len(data) > MAX_BYTES:
        raise FileRefused(
            f"The file is larger than {MAX_BYTES // (1024 * 1024)} MB: split it into smaller files."
        )
    if data.startswith(b"PK\x03\x04"):
        raise FileRefused(f"This is an Excel workbook, not a CSV file. {SAVE_AS}")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise FileRefused(f"The file is not in UTF-8 encoding. {SAVE_AS}") from None
    if "\x00" in text:
        raise FileRefused(f"The file contains binary data. {SAVE_AS}")
    return text


def read_table(text: str) -> Table:
    """Header and rows; FileRefused for a file that cannot be imported at all."""
    try:
        records = list(csv.reader(io.StringIO(text, newline=""), strict=True))
    except csv.Error as exc:
        raise FileRefused(f"The file is not valid CSV ({exc}). {SAVE_AS}") from None
    if not records or not any(cell.strip() for cell in records[0]):
        raise FileRefused("The file is empty: the first row must name the columns.")
    header = tuple(cell.strip().lower() for cell in records[0])
    _check_header(header)
    rows = tuple(
        (number, tuple(cells))
        for number, cells in enumerate(records[1:], start=2)
        if any(cell.strip() for cell in cells)
    )
    if not rows:
        raise FileRefused("The file has a header but no rows to import.")
    if len(rows) > MAX_ROWS:
        raise FileRefused(f"The file has {len(rows):,} rows; at most {MAX_ROWS:,} per file.")
    return Table(header, rows)


def _check_header(header: tuple[str, ...]) -> None:
    if len(header) == 1 and ";" in header[0]:
        raise FileRefused(f"The columns are separated by semicolons, not commas. {SAVE_AS}")
    missing = [name for name in REQUIRED_COLUMNS if name not in header]
    if missing:
        raise FileRefused(f"Missing required columns: {', '.join(missing)}.")
    unknown = [name for name in header if name not in BY_NAME]
    if unknown:
        raise FileRefused(
            f"Unknown columns: {', '.join(n or '(blank)' for n in unknown)}. "
            "Use the column names in docs/providers.md."
        )
    repeated = sorted({name for name in header if header.count(name) > 1})
    if repeated:
        raise FileRefused(f"Columns named more than once: {', '.join(repeated)}.")


def check_upload(data: bytes) -> tuple[str, Table]:
    """The decoded text and its table, or FileRefused: what the upload form runs."""
    text = decode(data)
    return text, read_table(text)


def first_rows(table: Table) -> dict[str, int]:
    """Each regulator location id's first row number (later rows with it are duplicates)."""
    first: dict[str, int] = {}
    for number, cells in table.rows:
        key = _cell(table.header, cells, "regulator_location_id")
        if key:
            first.setdefault(key, number)
    return first


def provider_key(provider: Mapping[str, Any]) -> tuple[str, str]:
    """How rows name the same provider: its regulator id, else its name in any case."""
    regulator_id = str(provider.get("regulator_provider_id") or "").strip()
    if regulator_id:
        return ("id", regulator_id)
    return ("name", str(provider.get("name") or "").strip().lower())


def first_provider_rows(table: Table) -> dict[tuple[str, str], int]:
    """Each provider's first row number: only that row sets the provider's details."""
    first: dict[tuple[str, str], int] = {}
    for number, cells in table.rows:
        values = {
            "regulator_provider_id": _cell(table.header, cells, "regulator_provider_id"),
            "name": _cell(table.header, cells, "provider_name"),
        }
        first.setdefault(provider_key(values), number)
    return first


def _cell(header: tuple[str, ...], cells: tuple[str, ...], column: str) -> str:
    """A row's cell in ``column`` (stripped), or "" when the file or row has none."""
    where = header.index(column) if column in header else len(cells)
    return cells[where].strip() if where < len(cells) else ""


def parse_row(header: tuple[str, ...], number: int, cells: tuple[str, ...]) -> ParsedRow:
    """Typed values from one row's cells; each unreadable cell becomes a reason."""
    key = _cell(header, cells, "regulator_location_id")
    parsed = ParsedRow(number, key or None)
    if len(cells) != len(header):
        parsed.reasons.append(f"has {len(cells)} cells but the header has {len(header)} columns")
        parsed.unreadable = True
        return parsed
    if not key:
        parsed.reasons.append(
            "regulator_location_id: required (it is how a later import finds this location)"
        )
    for name, raw in zip(header, cells, strict=True):
        spec = BY_NAME[name]
        try:
            value = _PARSERS[spec.kind](raw.strip(), spec)
        except ValueError as exc:
            parsed.reasons.append(f"{name}: {exc}")
            continue
        getattr(parsed, spec.target)[spec.field] = value
    return parsed


def validate_row(
    parsed: ParsedRow,
    stored_provider: Mapping[str, Any] | None,
    stored_location: Mapping[str, Any] | None,
    today: date,
) -> ValidRow | list[str]:
    """The complete records the row produces over what is stored, or every reason it cannot
    (cells that could not be read, then the record's problems, so one upload shows them all)."""
    if parsed.unreadable:
        return parsed.reasons
    provider = {**(stored_provider or rules.PROVIDER_DEFAULTS), **parsed.provider}
    location = {**(stored_location or rules.LOCATION_DEFAULTS), **parsed.location}
    if "region" not in parsed.location:
        location["region"] = None  # re-derived from the (possibly new) postcode
    reasons = list(parsed.reasons)
    unread = {reason.split(":", 1)[0] for reason in parsed.reasons}
    try:
        provider = rules.clean_provider(provider)
    except rules.RecordInvalid as exc:
        reasons += _reasons("provider", exc, unread)
    try:
        location = rules.clean_location(location, today)
    except rules.RecordInvalid as exc:
        reasons += _reasons("location", exc, unread)
    return reasons or ValidRow(provider, location)


# A record problem that follows from another column's value: not reported when that other
# cell could not be read (its stand-in default would make the message misleading).
_DEPENDS_ON = {
    "mental_health_accepted": {"dual_diagnosis"},
    "price_per_week_max": {"price_per_week_min"},
    "max_age": {"min_age"},
    "longitude": {"latitude"},
    "insurers": {"funding_accepted"},
    "country": {"postcode"},
    "postcode": {"country"},
    "region": {"country"},
    "admissions_phone": {"country"},
}


def _reasons(target: str, exc: rules.RecordInvalid, unread: set[str]) -> list[str]:
    reasons = []
    for name, messages in exc.field_errors.items():
        column = _COLUMN_OF.get((target, name), name)
        if column in unread or _DEPENDS_ON.get(column, set()) & unread:
            continue
        reasons.append(f"{column}: {' '.join(messages)}")
    return reasons


def _blank_default(spec: Column) -> Any:
    defaults = rules.PROVIDER_DEFAULTS if spec.target == "provider" else rules.LOCATION_DEFAULTS
    return defaults[spec.field]


def _text(raw: str, spec: Column) -> Any:
    return raw or _blank_default(spec)


def _key(raw: str, spec: Column) -> Any:
    return _as_key(raw) if raw else _blank_default(spec)


def _as_key(raw: str) -> str:
    return re.sub(r"[\s/-]+", "_", raw.strip().lower())


def _keys(raw: str, spec: Column) -> list[str]:
    return [_as_key(part) for part in raw.split(LIST_SEPARATOR) if part.strip()]


def _names(raw: str, spec: Column) -> list[str]:
    return [part.strip() for part in raw.split(LIST_SEPARATOR) if part.strip()]


_YES = {"yes", "y", "true", "1"}
_NO = {"no", "n", "false", "0", ""}


def _yes_no(raw: str, spec: Column) -> bool:
    word = raw.lower()
    if word not in _YES | _NO:
        raise ValueError(f"{raw!r} is not yes or no")
    return word in _YES


_MONEY = re.compile(r"[£€$]?\s*(\d{1,3}(?:,\d{3})+|\d+)(\.\d+)?")


def _money(raw: str, spec: Column) -> Decimal | None:
    if not raw:
        return None
    if raw.startswith("-"):
        raise ValueError(f"cannot be negative ({raw})")
    match = _MONEY.fullmatch(raw)
    if match is None:
        raise ValueError(f"{raw!r} is not an amount (write 1250 or 1250.00)")
    try:
        return Decimal(match.group(1).replace(",", "") + (match.group(2) or ""))
    except InvalidOperation:  # pragma: no cover - the pattern only lets digits through
        raise ValueError(f"{raw!r} is not an amount") from None


def _whole(raw: str, spec: Column) -> int | None:
    if not raw:
        return _blank_default(spec)  # type: ignore[no-any-return]
    if not re.fullmatch(r"\d{1,6}", raw):
        raise ValueError(f"{raw!r} is not a whole number")
    return int(raw)


def _date(raw: str, spec: Column) -> date | None:
    if not raw:
        return None
    for pattern in ("%Y-%m-%d", "%d/%m/%Y"):
        try:
            return datetime.strptime(raw, pattern).date()
        except ValueError:
            continue
    raise ValueError(f"{raw!r} is not a date (write 2025-03-14 or 14/03/2025)")


def _number(raw: str, spec: Column) -> float | None:
    if not raw:
        return None
    if not re.fullmatch(r"-?\d{1,3}(\.\d{1,10})?", raw):
        raise ValueError(f"{raw!r} is not a number like 53.8008")
    return float(raw)


def _country(raw: str, spec: Column) -> str:
    return raw or "GB"


_PARSERS: dict[str, Callable[[str, Column], Any]] = {
    "text": _text,
    "key": _key,
    "keys": _keys,
    "names": _names,
    "yes_no": _yes_no,
    "money": _money,
    "whole": _whole,
    "date": _date,
    "number": _number,
    "country": _country,
}
