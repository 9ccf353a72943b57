"""The PDF of an invoice or a credit note, from facts gathered by ``crm.fees.invoicing``. Pure.

ReportLab's platypus lays it out on A4. The document is rendered in invariant mode, so the
same facts always give the same bytes (the stored SHA-256 of an issued document means
something). Text is set in Bitstream Vera, which ReportLab ships, embedded and subset, so the
pound and euro signs, the minus sign of ``format_money`` and the dashes of managers' text all
render, and the text can be extracted.

A client is named on a document only by their lead reference: never a name, a date of birth
or anything clinical.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from io import BytesIO
from typing import Any
from xml.sax.saxutils import escape

import reportlab
from reportlab.lib import colors
from reportlab.lib.enums import TA_RIGHT
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.platypus import (
    Flowable,
    KeepTogether,
    Paragraph,
    SimpleDocTemplate,
    Spacer,
    Table,
    TableStyle,
)

from crm.fees.arithmetic import format_money
from crm.fees.vocabulary import DOCUMENT_KINDS


@dataclass(frozen=True)
class Party:
    """Who sells or buys: a legal name and a postal address (lines separated by newlines)."""

    name: str
    address: str
    vat_number: str | None = None
    email: str | None = None


@dataclass(frozen=True)
class DocumentLine:
    """One fee on the document; the client is named only by ``lead_reference``."""

    lead_reference: str
    admitted_on: date | None
    description: str
    net: Decimal
    vat_rate: Decimal  # percent
    vat: Decimal


@dataclass(frozen=True)
class DocumentFacts:
    """Everything the PDF shows, already decided: the renderer adds no figures of its own."""

    kind: str  # "invoice" | "credit_note"
    number: str
    issued_on: date
    due_on: date | None
    currency: str
    seller: Party
    buyer: Party
    po_reference: str | None
    lines: tuple[DocumentLine, ...]
    net: Decimal
    vat: Decimal
    gross: Decimal
    payment_details: str  # lines separated by newlines; empty for credit notes
    notes: tuple[str, ...]
    credits_number: str | None  # a credit note: the number of the invoice it credits


MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)

PAGE_WIDTH, PAGE_HEIGHT = A4
MARGIN = 18 * mm
FRAME_PADDING = 6  # points: SimpleDocTemplate's frame pads its flowables on every side
CONTENT_WIDTH = PAGE_WIDTH - 2 * (MARGIN + FRAME_PADDING)
# Lead reference | Admitted | Description | Net | VAT % | VAT: the description takes the rest.
_FIXED = (22 * mm, 31 * mm, None, 25 * mm, 14 * mm, 24 * mm)
COLUMN_WIDTHS = tuple(
    w if w is not None else CONTENT_WIDTH - sum(v for v in _FIXED if v is not None) for w in _FIXED
)
HEADERS = ("Lead reference", "Admitted", "Description", "Net", "VAT %", "VAT")
RULE = colors.HexColor("#9aa3ad")
SHADE = colors.HexColor("#eef1f4")

FONT = "CrmDocSans"
BOLD = "CrmDocSans-Bold"


def long_date(day: date) -> str:
    """``5 December 2026``, whatever the process's locale."""
    return f"{day.day} {MONTHS[day.month - 1]} {day.year}"


def format_rate(rate: Decimal) -> str:
    """``20 %``, ``17.5 %``: the percentage without trailing zeros."""
    text = f"{rate:f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return f"{text} %"


def markup(text: str) -> str:
    """Plain text as Paragraph markup: escaped, each line of it on its own line."""
    return "<br/>".join(escape(line) for line in text.splitlines())


@functools.cache
def _fonts() -> None:
    """Register Vera (shipped with ReportLab) once, as a family so ``<b>`` works."""
    folder = os.path.join(os.path.dirname(reportlab.__file__), "fonts")
    faces = {
        FONT: "Vera.ttf",
        BOLD: "VeraBd.ttf",
        f"{FONT}-Italic": "VeraIt.ttf",
        f"{FONT}-BoldItalic": "VeraBI.ttf",
    }
    for name, filename in faces.items():
        pdfmetrics.registerFont(TTFont(name, os.path.join(folder, filename)))
    pdfmetrics.registerFontFamily(
        FONT, normal=FONT, bold=BOLD, italic=f"{FONT}-Italic", boldItalic=f"{FONT}-BoldItalic"
    )


@functools.cache
def _styles() -> dict[str, ParagraphStyle]:
    _fonts()
    body = ParagraphStyle("body", fontName=FONT, fontSize=9.5, leading=13)
    cell = ParagraphStyle("cell", parent=body, fontSize=8, leading=10)
    return {
        "title": ParagraphStyle("title", parent=body, fontName=BOLD, fontSize=20, leading=24),
        "body": body,
        "heading": ParagraphStyle(
            "heading", parent=body, fontName=BOLD, fontSize=10, leading=14, spaceBefore=10
        ),
        "cell": cell,
        "cell_right": ParagraphStyle("cell_right", parent=cell, alignment=TA_RIGHT),
        "head": ParagraphStyle("head", parent=cell, fontName=BOLD),
        "head_right": ParagraphStyle("head_right", parent=cell, fontName=BOLD, alignment=TA_RIGHT),
        "total": ParagraphStyle("total", parent=body, alignment=TA_RIGHT),
        "grand": ParagraphStyle("grand", parent=body, fontName=BOLD, alignment=TA_RIGHT),
    }


def _party(party: Party, *, heading: str | None) -> Paragraph:
    parts = [f"<b>{escape(heading)}</b>"] if heading else []
    parts.append(f"<b>{escape(party.name)}</b>")
    if party.address.strip():
        parts.append(markup(party.address))
    if party.vat_number:
        parts.append(f"VAT registration number: {escape(party.vat_number)}")
    if party.email:
        parts.append(escape(party.email))
    return Paragraph("<br/>".join(parts), _styles()["body"])


def _details(facts: DocumentFacts) -> Paragraph:
    label = DOCUMENT_KINDS.get(facts.kind, "Document")
    rows = [
        f"<b>{escape(label)} number:</b> {escape(facts.number)}",
        f"<b>Date of issue:</b> {long_date(facts.issued_on)}",
    ]
    if facts.due_on is not None:
        rows.append(f"<b>Payment due:</b> {long_date(facts.due_on)}")
    if facts.po_reference:
        rows.append(f"<b>PO reference:</b> {escape(facts.po_reference)}")
    if facts.credits_number:
        rows.append(f"<b>Credits invoice {escape(facts.credits_number)}</b>")
    rows.append(f"<b>Currency:</b> {escape(facts.currency)}")
    return Paragraph("<br/>".join(rows), _styles()["body"])


def _header(facts: DocumentFacts) -> list[Flowable]:
    styles = _styles()
    title = DOCUMENT_KINDS.get(facts.kind, "Document")
    top = Table(
        [
            [_party(facts.seller, heading=None), Paragraph(escape(title), styles["title"])],
            [_party(facts.buyer, heading="Bill to"), _details(facts)],
        ],
        colWidths=(CONTENT_WIDTH * 0.55, CONTENT_WIDTH * 0.45),
    )
    top.setStyle(
        TableStyle(
            [
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("LEFTPADDING", (0, 0), (-1, -1), 0),
                ("RIGHTPADDING", (0, 0), (-1, -1), 6),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 12),
            ]
        )
    )
    return [top, Spacer(1, 4 * mm)]


def _line_row(line: DocumentLine, currency: str) -> list[Any]:
    styles = _styles()
    cell, right = styles["cell"], styles["cell_right"]
    return [
        Paragraph(escape(line.lead_reference), cell),
        Paragraph(long_date(line.admitted_on) if line.admitted_on else "—", cell),
        Paragraph(markup(line.description), cell),
        Paragraph(escape(format_money(line.net, currency)), right),
        Paragraph(escape(format_rate(line.vat_rate)), right),
        Paragraph(escape(format_money(line.vat, currency)), right),
    ]


def _total_rows(facts: DocumentFacts) -> list[list[Any]]:
    """Net, VAT and Total: the label across the first three columns, the amount the rest."""
    styles = _styles()
    grand = "Total" if facts.kind == "invoice" else "Total credited"
    rows = []
    for label, amount, style in (
        ("Net", facts.net, styles["total"]),
        ("VAT", facts.vat, styles["total"]),
        (grand, facts.gross, styles["grand"]),
    ):
        money = escape(format_money(amount, facts.currency))
        rows.append([Paragraph(label, style), "", "", Paragraph(money, style), "", ""])
    return rows


def _lines_table(facts: DocumentFacts) -> Table:
    """One row per line, then the totals; the header repeats on every page, and the last
    line never parts from the totals."""
    styles = _styles()
    header = [
        Paragraph(text, styles["head_right"] if index >= 3 else styles["head"])
        for index, text in enumerate(HEADERS)
    ]
    rows: list[list[Any]] = [header]
    rows.extend(_line_row(line, facts.currency) for line in facts.lines)
    first_total = len(rows)
    rows.extend(_total_rows(facts))
    commands: list[tuple[Any, ...]] = [
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("LEFTPADDING", (0, 0), (-1, -1), 3),
        ("RIGHTPADDING", (0, 0), (-1, -1), 3),
        ("TOPPADDING", (0, 0), (-1, -1), 3),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 3),
        ("BACKGROUND", (0, 0), (-1, 0), SHADE),
        ("LINEBELOW", (0, 0), (-1, 0), 0.75, RULE),
        ("TOPPADDING", (0, first_total), (-1, -1), 2),
        ("BOTTOMPADDING", (0, first_total), (-1, -1), 2),
        ("TOPPADDING", (0, first_total), (-1, first_total), 6),
        ("LINEABOVE", (3, -1), (-1, -1), 0.75, RULE),
        ("NOSPLIT", (0, max(first_total - 1, 1)), (-1, -1)),
    ]
    if first_total > 1:
        commands.append(("LINEBELOW", (0, 1), (-1, first_total - 1), 0.25, RULE))
    for row in range(first_total, len(rows)):
        commands += [("SPAN", (0, row), (2, row)), ("SPAN", (3, row), (5, row))]
    table = Table(rows, colWidths=COLUMN_WIDTHS, repeatRows=1)
    table.setStyle(TableStyle(commands))
    return table


def _closing(facts: DocumentFacts) -> list[Flowable]:
    styles = _styles()
    story: list[Flowable] = []
    if facts.payment_details.strip():
        story.append(
            KeepTogether(
                [
                    Paragraph("Payment details", styles["heading"]),
                    Paragraph(markup(facts.payment_details), styles["body"]),
                ]
            )
        )
    notes = [note for note in facts.notes if note.strip()]
    if notes:
        story.append(Paragraph("Notes", styles["heading"]))
        story.extend(Paragraph(markup(note), styles["body"]) for note in notes)
    return story


def _footer(facts: DocumentFacts) -> Any:
    title = DOCUMENT_KINDS.get(facts.kind, "Document")
    text = f"{facts.seller.name} · {title} {facts.number}"

    def draw(canvas: Any, doc: Any) -> None:
        canvas.saveState()
        canvas.setFont(FONT, 7.5)
        canvas.setFillColor(colors.HexColor("#5a636d"))
        left, right = MARGIN + FRAME_PADDING, PAGE_WIDTH - MARGIN - FRAME_PADDING
        canvas.drawString(left, MARGIN / 2, text)
        canvas.drawRightString(right, MARGIN / 2, f"Page {doc.page}")
        canvas.restoreState()

    return draw


def render_pdf(facts: DocumentFacts) -> bytes:
    """The document as PDF bytes: the same facts always give the same bytes."""
    _fonts()
    title = DOCUMENT_KINDS.get(facts.kind, "Document")
    buffer = BytesIO()
    doc = SimpleDocTemplate(
        buffer,
        pagesize=A4,
        leftMargin=MARGIN,
        rightMargin=MARGIN,
        topMargin=MARGIN,
        bottomMargin=MARGIN,
        title=facts.number,
        author=facts.seller.name,
        subject=f"{title} {facts.number}",
        creator=facts.seller.name,
        invariant=True,
    )
    story: list[Flowable] = [
        *_header(facts),
        _lines_table(facts),
        *_closing(facts),
    ]
    footer = _footer(facts)
    doc.build(story, onFirstPage=footer, onLaterPages=footer)
    return buffer.getvalue()
