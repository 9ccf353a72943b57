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

Cell = str | int | float | Decimal | date | None

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _safe_text(value: str) -> str:
    """Spreadsheet formula injection: text that a spreadsheet would run starts with a quote."""
    return "'" + value if value.startswith(FORMULA_STARTS) else value


def _csv_cell(value: Cell) -> str:
    if value is None:
        return ""
    if isinstance(value, Decimal | int | float):
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
    return to_xlsx_sheets(title, [(sheet, header, rows)])


def to_xlsx_sheets(
    title: Sequence[str], sheets: Sequence[tuple[str, Sequence[str], Sequence[Sequence[Cell]]]]
) -> bytes:
    """One workbook, a sheet per table, each opening with the same title lines."""
    book = Workbook()
    book.remove(book.active)
    used: set[str] = set()
    for sheet, header, rows in sheets:
        _fill(book, _sheet_name(sheet, used), title, header, rows)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def _sheet_name(name: str, used: set[str]) -> str:
    """Excel's rules: at most 31 characters, none of []:*?/\\, unique in the workbook."""
    base = "".join("-" if c in "[]:*?/\\" else c for c in name)[:31] or "Sheet"
    candidate, n = base, 2
    while candidate.lower() in used:
        suffix = f" ({n})"
        candidate, n = base[: 31 - len(suffix)] + suffix, n + 1
    used.add(candidate.lower())
    return candidate


def _fill(
    book: Workbook,
    sheet: str,
    title: Sequence[str],
    header: Sequence[str],
    rows: Sequence[Sequence[Cell]],
) -> None:
    ws = book.create_sheet(sheet)
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
