"""The invoice and credit note PDF (crm.fees.documents): what it shows, read back with pypdf."""

from __future__ import annotations

import dataclasses
from datetime import date, timedelta
from decimal import Decimal
from io import BytesIO
from typing import Any

from pypdf import PdfReader

from crm.fees.documents import DocumentFacts, DocumentLine, Party, render_pdf

SELLER = Party(
    "Admissions Referral Services Ltd",
    "1 Example Street\nLeeds\nLS1 1AA",
    vat_number="GB 123 4567 89",
)
BUYER = Party(
    "Harbour House Clinic Ltd",
    "12 Quay Road\nWhitby\nYO21 1AB",
    email="accounts@harbour.example",
)
PAYMENT = "Bank transfer to Admissions Referral Services Ltd\nSort code 00-11-22\nAccount 12345678"


def line(reference: str, admitted_on: date | None = date(2026, 11, 3)) -> DocumentLine:
    return DocumentLine(
        reference,
        admitted_on,
        "Flat fee per admission",
        Decimal("1500.00"),
        Decimal("20.00"),
        Decimal("300.00"),
    )


def invoice(**changes: Any) -> DocumentFacts:
    facts = DocumentFacts(
        kind="invoice",
        number="INV-2026-0001",
        issued_on=date(2026, 12, 5),
        due_on=date(2027, 1, 4),
        currency="GBP",
        seller=SELLER,
        buyer=BUYER,
        po_reference="PO-4471",
        lines=(line("L-7F3K9Q"), line("L-2M8P4R", date(2026, 11, 20))),
        net=Decimal("3000.00"),
        vat=Decimal("600.00"),
        gross=Decimal("3600.00"),
        payment_details=PAYMENT,
        notes=(),
        credits_number=None,
    )
    return dataclasses.replace(facts, **changes)


def credit_note() -> DocumentFacts:
    return invoice(
        kind="credit_note",
        number="CN-2026-0001",
        due_on=None,
        po_reference=None,
        lines=(line("L-7F3K9Q"),),
        net=Decimal("1500.00"),
        vat=Decimal("300.00"),
        gross=Decimal("1800.00"),
        payment_details="",
        notes=("Credits invoice INV-2026-0001: client discharged on the second day.",),
        credits_number="INV-2026-0001",
    )


def pages(pdf: bytes) -> list[str]:
    return [page.extract_text() for page in PdfReader(BytesIO(pdf)).pages]


def text_of(pdf: bytes) -> str:
    return "\n".join(pages(pdf))


def test_an_invoice_shows_who_what_and_how_much() -> None:
    pdf = render_pdf(invoice())
    text = text_of(pdf)

    assert pdf.startswith(b"%PDF")
    assert "Invoice" in text
    assert "INV-2026-0001" in text
    assert "Admissions Referral Services Ltd" in text
    assert "1 Example Street" in text
    assert "VAT registration number: GB 123 4567 89" in text
    assert "Bill to" in text
    assert "Harbour House Clinic Ltd" in text
    for address_line in ("12 Quay Road", "Whitby", "YO21 1AB"):
        assert address_line in text
    assert "accounts@harbour.example" in text
    assert "L-7F3K9Q" in text and "L-2M8P4R" in text
    assert "3 November 2026" in text and "20 November 2026" in text
    assert "5 December 2026" in text
    assert "Payment due: 4 January 2027" in text
    assert "PO reference: PO-4471" in text
    assert "£1,500.00" in text and "£300.00" in text and "20 %" in text
    assert "£3,000.00" in text and "£600.00" in text and "£3,600.00" in text
    assert "Sort code 00-11-22" in text and "Account 12345678" in text
    assert "Credit" not in text


def test_the_table_has_its_headings() -> None:
    text = " ".join(text_of(render_pdf(invoice())).split())

    for heading in ("Admitted", "Description", "Net", "VAT %", "VAT", "Total"):
        assert heading in text


def test_the_metadata_names_the_number_and_the_seller() -> None:
    metadata = PdfReader(BytesIO(render_pdf(invoice()))).metadata

    assert metadata is not None
    assert metadata.title == "INV-2026-0001"
    assert metadata.author == "Admissions Referral Services Ltd"


def test_a_credit_note_names_the_invoice_it_credits_and_asks_for_no_payment() -> None:
    text = text_of(render_pdf(credit_note()))

    assert "Credit note" in text
    assert "CN-2026-0001" in text
    assert "Credits invoice INV-2026-0001" in text
    assert "£1,800.00" in text
    assert "Payment details" not in text
    assert "Sort code" not in text
    assert "Payment due" not in text
    assert "client discharged on the second day" in text


def test_optional_details_are_left_out_when_missing() -> None:
    facts = invoice(
        seller=dataclasses.replace(SELLER, vat_number=None),
        po_reference=None,
        lines=(line("L-7F3K9Q", admitted_on=None),),
    )
    text = text_of(render_pdf(facts))

    assert "VAT registration number" not in text
    assert "PO reference" not in text
    assert "L-7F3K9Q" in text


def test_the_same_facts_give_the_same_bytes() -> None:
    assert render_pdf(invoice()) == render_pdf(invoice())
    assert render_pdf(credit_note()) == render_pdf(credit_note())


def test_different_facts_give_different_bytes() -> None:
    assert render_pdf(invoice()) != render_pdf(invoice(number="INV-2026-0002"))


def test_markup_characters_are_shown_as_text() -> None:
    facts = invoice(
        buyer=Party("Smith & Sons <Ltd>", "1 <b>High</b> Street\nA & B Town"),
        notes=("Fees <per> agreement & terms.",),
    )
    text = text_of(render_pdf(facts))

    assert "Smith & Sons <Ltd>" in text
    assert "1 <b>High</b> Street" in text
    assert "A & B Town" in text
    assert "Fees <per> agreement & terms." in text


def test_other_currencies_and_negative_lines_render() -> None:
    netted = DocumentLine(
        "L-9Q2W3E",
        date(2026, 10, 1),
        "Clawback – discharged within 7 days",
        Decimal("-500.00"),
        Decimal("17.5"),
        Decimal("-87.50"),
    )
    facts = invoice(
        currency="EUR",
        lines=(line("L-7F3K9Q"), netted),
        net=Decimal("1000.00"),
        vat=Decimal("212.50"),
        gross=Decimal("1212.50"),
        notes=("Reverse charge: the customer accounts for any VAT due.",),
    )
    text = text_of(render_pdf(facts))

    assert "−€500.00" in text and "−€87.50" in text and "17.5 %" in text
    assert "€1,212.50" in text
    assert "Clawback – discharged within 7 days" in " ".join(text.split())  # it may wrap
    assert "Reverse charge" in text


def test_many_lines_flow_onto_several_pages_with_the_header_repeated() -> None:
    references = [f"L-{n:06d}" for n in range(150)]
    lines = tuple(
        line(reference, date(2026, 1, 1) + timedelta(days=n))
        for n, reference in enumerate(references)
    )
    facts = invoice(
        lines=lines,
        net=Decimal("225000.00"),
        vat=Decimal("45000.00"),
        gross=Decimal("270000.00"),
    )
    texts = pages(render_pdf(facts))
    text = "\n".join(texts)

    assert len(texts) > 1
    for reference in references:
        assert reference in text
    for page in texts:
        assert "Admitted" in page and "Description" in page
    assert "£270,000.00" in texts[-1]


def test_a_document_without_lines_still_renders() -> None:
    facts = invoice(lines=(), net=Decimal(0), vat=Decimal(0), gross=Decimal(0))

    assert "£0.00" in text_of(render_pdf(facts))
