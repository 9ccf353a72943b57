"""Gapless document numbers per series and year: ``INV-2026-0001``, ``CN-2026-0001``.

The number is taken by one upsert on the series' row, in the document's own transaction: the
row stays locked until that transaction ends, so concurrent runs queue for it and never share
a number, and a rolled-back run gives its number back (no gap).
"""

from __future__ import annotations

from typing import cast

from sqlalchemy import Table
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from crm.extensions import db
from crm.fees.models import DocumentSequence
from crm.fees.vocabulary import SERIES


def format_number(series: str, year: int, number: int) -> str:
    return f"{series}-{year}-{number:04d}"


def take_number(kind: str, year: int) -> str:
    """The next number of ``kind``'s series in ``year`` (held until the transaction ends)."""
    series = SERIES[kind]
    dialect_insert = (
        pg_insert if db.session.get_bind().dialect.name == "postgresql" else sqlite_insert
    )
    table = cast(Table, DocumentSequence.__table__)
    statement = (
        dialect_insert(table)
        .values(series=series, year=year, last_number=1)
        .on_conflict_do_update(
            index_elements=["series", "year"], set_={"last_number": table.c.last_number + 1}
        )
        .returning(table.c.last_number)
    )
    number = db.session.execute(statement).scalar_one()
    return format_number(series, year, int(number))
