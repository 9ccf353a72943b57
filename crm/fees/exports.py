"""Tables as CSV or XLSX downloads. Pure: a title, a header, rows in; bytes out.

Money goes into spreadsheets as numbers (XLSX, with a two-decimal format) or as plain decimal
text (CSV), never with currency symbols, so a manager can add them up; every file says what it
is, as of when and with which filters in its first rows.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from datetime import date
from decimal import Decimal

from openpyxl import Workbook
from openpyxl.styles import Font

Cell = str | int | Decimal | date | None

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _safe_text(value: str) -> str:
    """Spreadsheet formula injection: text that a spreadsheet would run starts with a quote."""
    return "'" + value if value.startswith(FORMULA_STARTS) else value


def _csv_cell(value: Cell) -> str:
    if value is None:
        return ""
    if isinstance(value, Decimal | int):
        return str(value)
    if isinstance(value, date):
        return value.isoformat()
    return _safe_text(value)


def to_csv(title: Sequence[str], header: Sequence[str], rows: Sequence[Sequence[Cell]]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    for line in title:
        writer.writerow([_safe_text(line)])
    writer.writerow([])
    writer.writerow(header)
    for row in rows:
        writer.writerow([_csv_cell(value) for value in row])
    return buffer.getvalue().encode("utf-8-sig")  # Excel reads the BOM as UTF-8


def to_xlsx(
    sheet: str, title: Sequence[str], header: Sequence[str], rows: Sequence[Sequence[Cell]]
) -> bytes:
    book = Workbook()
    ws = book.active
    ws.title = sheet[:31]
    for line in title:
        ws.append([_safe_text(line)])
    ws.append([])
    ws.append(list(header))
    for cell in ws[ws.max_row]:
        cell.font = Font(bold=True)
    for row in rows:
        ws.append(
            [
                float(v) if isinstance(v, Decimal) else (_safe_text(v) if isinstance(v, str) else v)
                for v in row
            ]
        )
        for value, cell in zip(row, ws[ws.max_row], strict=True):
            if isinstance(value, Decimal):
                cell.number_format = "#,##0.00"
            elif isinstance(value, date):
                cell.number_format = "yyyy-mm-dd"
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()
