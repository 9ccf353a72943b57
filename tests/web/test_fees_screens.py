"""The Fees screens through HTTP as managers use them: who may open what, agreements, the story
from an earned fee to a paid invoice, aged debt exports, bad input, reversals and corrections.

Each test checks what the database holds afterwards, not only the status codes. The clock is
pinned at Thursday 3 December 2026, 15:00 UK for every request (tests/web/fees_support.py).
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Iterator
from datetime import date
from decimal import Decimal

import pytest
from flask.testing import FlaskClient
from openpyxl import load_workbook
from pypdf import PdfReader
from sqlalchemy import select

from crm import clock
from crm.extensions import db
from crm.fees import accruals
from crm.fees.models import FeeAgreement, FeeTrigger, Invoice, LedgerEntry, Payment
from crm.privacy.models import AuditEvent
from crm.referrals.models import Referral, ReferralEvent
from tests.services.fee_factories import agreement_for, harbour_house, move, referred, uk
from tests.services.referral_factories import location
from tests.web.fees_support import (
    FEE_DAY,
    WEB_TIME,
    Story,
    audit_count,
    count,
    earned_fee,
    fee_snapshot,
    invoiced,
    post,
    text_of,
    token_for,
)

Clients = Callable[..., FlaskClient]
DENIED = "You do not have access to this page"
CLIENT_BUDGET = "£1,000–£1,500 a week"  # the story's assessment: budget band 1000_1500
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
FEES_MENU = {
    "/admin/fees/aged-debt/": "Aged debt",
    "/admin/fees/invoices/": "Invoices",
    "/admin/fees/payments/": "Payments",
    "/admin/fees/ledger/": "Ledger",
    "/admin/fees/agreements/": "Agreements",
}


@pytest.fixture(autouse=True)
def web_time() -> Iterator[None]:
    """Every request (and the login) at Thursday 15:00 UK; builders pin their own moments."""
    with clock.pinned(WEB_TIME):
        yield


@pytest.fixture
def story(staff) -> Story:  # type: ignore[no-untyped-def]
    return invoiced(staff)


def _get(client: FlaskClient, path: str) -> str:
    response = client.get(path)
    assert response.status_code == 200, (path, response.status_code)
    return text_of(response)


# --- 1. who may see fees --------------------------------------------------------------------


def _get_urls(s: Story) -> list[str]:
    assert s.invoice is not None
    return [
        "/admin/fees/agreements/",
        "/admin/fees/agreements/new",
        f"/admin/fees/agreements/{s.agreement.id}/",
        "/admin/fees/ledger/",
        "/admin/fees/invoices/",
        f"/admin/fees/invoices/{s.invoice.id}/",
        f"/admin/fees/invoices/{s.invoice.id}/pdf",
        "/admin/fees/invoices/run",
        "/admin/fees/payments/",
        "/admin/fees/aged-debt/",
        "/admin/fees/aged-debt/export.csv",
        "/admin/fees/aged-debt/export.xlsx",
    ]


def _post_requests(s: Story) -> list[tuple[str, dict[str, str]]]:
    """Every POST, each with input that would change something if it were acted on."""
    assert s.invoice is not None
    invoice = f"/admin/fees/invoices/{s.invoice.id}"
    agreement = {
        "provider_id": str(s.provider_id),
        "basis": "flat_per_admission",
        "amount": "9999",
        "currency": "GBP",
        "vat_treatment": "standard",
        "trigger_nights": "0",
        "payment_terms_days": "30",
        "effective_from": "2030-01-01",
        "billing_name": "Someone",
        "billing_address": "1 Road",
        "accounts_email": "someone@example.com",
    }
    return [
        ("/admin/fees/agreements/new", agreement),
        (f"/admin/fees/agreements/{s.agreement.id}/", {**agreement, "effective_to": "2026-12-31"}),
        (f"/admin/fees/ledger/{s.accrual.id}/reverse", {"reason": "mistake"}),
        (f"{invoice}/issue", {}),
        (f"{invoice}/void", {"reason": "wrong clinic"}),
        (f"{invoice}/write-off", {"reason": "never paying"}),
        (f"{invoice}/apply-credit", {}),
        ("/admin/fees/invoices/run", {"up_to": FEE_DAY.isoformat(), "issue": "yes"}),
        (
            "/admin/fees/payments/",
            {
                "provider_id": str(s.provider_id),
                "invoice_id": str(s.invoice.id),
                "amount": "1000",
                "currency": "GBP",
                "received_on": FEE_DAY.isoformat(),
                "method": "bank_transfer",
            },
        ),
        (
            f"/admin/fees/referrals/{s.referral.id}/dates",
            {"admitted_on": "2026-12-01", "reason": "typo"},
        ),
        (f"/admin/fees/referrals/{s.referral.id}/treatment-value", {"treatment_value": "9500"}),
    ]


def test_admissions_staff_are_refused_every_fees_url_and_see_no_fee_figure(
    client_for: Clients, story: Story, staff
) -> None:  # type: ignore[no-untyped-def]
    advisor = client_for("admissions")
    before = fee_snapshot()
    denials = audit_count(action="access_denied")
    urls = [*_get_urls(story), "/admin/fees/referrals/"]
    for path in urls:
        response = advisor.get(path)
        assert response.status_code == 403, (path, response.status_code)
        assert DENIED in text_of(response), path
        assert "£" not in text_of(response), path
    posts = _post_requests(story)
    for path, data in posts:
        response = advisor.post(path, data={"csrf_token": token_for(advisor), **data})
        assert response.status_code == 403, (path, response.status_code)
    assert fee_snapshot() == before, "a refused request changed a fee table"
    assert audit_count(action="access_denied") == denials + len(urls) + len(posts)
    assert audit_count(action="download") == audit_count(action="export") == 0

    dashboard = _get(advisor, "/admin/")
    assert "/admin/fees/" not in dashboard and not re.search(r">\s*Fees\s*<", dashboard)
    provider_page = _get(advisor, f"/admin/directory/providers/{story.provider_id}/")
    assert "Harbour House Ltd" in provider_page
    assert 'data-testid="provider-fees"' not in provider_page and 'id="fees"' not in provider_page
    assert "£" not in provider_page and "/admin/fees/" not in provider_page
    referral_page = _get(advisor, f"/admin/referrals/{story.referral.id}/")
    assert 'data-testid="referral-fees"' not in referral_page
    assert "/admin/fees/" not in referral_page
    # The one "£" an advisor sees is the client's own budget from the assessment, not a fee.
    assert "£" not in referral_page.replace(CLIENT_BUDGET, ""), "a fee figure on the page"
    for figure in ("2,500", "3,000", "500.00"):
        assert figure not in referral_page, figure
    assert story.accrual.idempotency_key not in referral_page


@pytest.mark.parametrize("role", ["manager", "admin"])
def test_managers_and_admins_open_every_fees_page_and_see_the_menu(
    client_for: Clients, story: Story, role: str
) -> None:
    client = client_for(role)
    for path in _get_urls(story):
        response = client.get(path)
        assert response.status_code == 200, (path, response.status_code)
    dashboard = _get(client, "/admin/")
    assert re.search(r">\s*Fees\s*<", dashboard), "the Fees menu"
    for href, label in FEES_MENU.items():
        assert re.search(rf'href="{re.escape(href)}"[^>]*>\s*{label}', dashboard), label
    assert "/admin/fees/referrals/" not in dashboard, "the referral panel's view is not a menu item"
    provider_page = _get(client, f"/admin/directory/providers/{story.provider_id}/")
    assert 'data-testid="provider-fees"' in provider_page
    assert re.search(r'data-testid="provider-owed">£3,000\.00<', provider_page)
    referral_page = _get(client, f"/admin/referrals/{story.referral.id}/")
    assert 'data-testid="referral-fees"' in referral_page and "£2,500.00" in referral_page
    assert story.accrual.idempotency_key in referral_page


# --- 2. agreements ---------------------------------------------------------------------------


def _agreement_form(provider_id: int, **changes: str) -> dict[str, str]:
    form = {
        "provider_id": str(provider_id),
        "basis": "flat_per_admission",
        "amount": "2500",
        "rate": "",
        "cap": "",
        "currency": "GBP",
        "vat_treatment": "standard",
        "trigger_nights": "3",
        "clawback_tiers": "7: 100, 14: 50",
        "payment_terms_days": "30",
        "effective_from": "2026-01-01",
        "effective_to": "",
        "billing_name": "Harbour House Ltd (Accounts)",
        "billing_address": "2 Quay Street\r\nWhitby\r\nYO21 1AA",
        "accounts_email": "Accounts@Harbour-House.example",
        "po_reference": "PO-7781",
    }
    form.update(changes)
    return form


def test_a_manager_adds_harbour_houses_agreement_through_the_form(
    client_for: Clients, db_session
) -> None:  # type: ignore[no-untyped-def]
    clinic = harbour_house()
    db.session.commit()
    manager = client_for("manager")
    blank = _get(manager, f"/admin/fees/agreements/new?provider_id={clinic.provider_id}")
    assert 'data-testid="agreement-form"' in blank
    response = post(manager, "/admin/fees/agreements/new", _agreement_form(clinic.provider_id))
    page = text_of(response)
    assert response.status_code == 200 and "Agreement saved." in page
    db.session.expire_all()
    [agreement] = db.session.scalars(select(FeeAgreement)).all()
    assert response.request.path == f"/admin/fees/agreements/{agreement.id}/"
    assert (
        agreement.provider_id,
        agreement.basis,
        agreement.amount,
        agreement.rate,
        agreement.cap_amount,
        agreement.currency,
        agreement.vat_treatment,
        agreement.trigger_nights,
        agreement.clawback_tiers,
        agreement.payment_terms_days,
        agreement.effective_from,
        agreement.effective_to,
    ) == (
        clinic.provider_id,
        "flat_per_admission",
        Decimal("2500.00"),
        None,
        None,
        "GBP",
        "standard",
        3,
        [{"within_days": 7, "percent": "100"}, {"within_days": 14, "percent": "50"}],
        30,
        date(2026, 1, 1),
        None,
    )
    assert (
        agreement.billing_name,
        agreement.billing_address,
        agreement.accounts_email,
        agreement.po_reference,
    ) == (
        "Harbour House Ltd (Accounts)",
        "2 Quay Street\nWhitby\nYO21 1AA",
        "accounts@harbour-house.example",
        "PO-7781",
    )
    assert audit_count(action="create", object_type="fee_agreements") == 1
    # The edit page shows the stored terms back; the list shows the version.
    assert 'value="7: 100, 14: 50"' in page and 'value="2500.00"' in page
    listing = _get(manager, "/admin/fees/agreements/")
    assert "Harbour House Ltd" in listing and "£2,500.00" in listing
    assert "after 3 night(s)" in listing and "7 d → 100 %; 14 d → 50 %" in listing


BAD_AGREEMENTS = {
    "overlapping an existing version": (
        {"effective_from": "2026-06-01"},
        "These dates overlap the agreement in force from 01 Jan 2026",
    ),
    "ending before it starts": (
        {"effective_from": "2027-06-01", "effective_to": "2027-05-31"},
        "The agreement cannot end before it starts.",
    ),
    "an unknown currency": (
        {"currency": "XYZ", "effective_from": "2027-06-01"},
        "Unknown currency 'XYZ': choose one of GBP, EUR, USD.",
    ),
    "a tier refunding more than the fee": (
        {"clawback_tiers": "7: 150", "effective_from": "2027-06-01"},
        "A clawback tier's percentage must be more than 0 and at most 100.",
    ),
    "a negative fee": (
        {"amount": "-2500", "effective_from": "2027-06-01"},
        "The fee must be more than zero.",
    ),
    "no billing email": (
        {"accounts_email": "", "effective_from": "2027-06-01"},
        "Email is required.",
    ),
    "a fee that is not a number": (
        {"amount": "abc", "effective_from": "2027-06-01"},
        "The fee is not a number: 'abc'.",
    ),
}


@pytest.mark.parametrize("case", list(BAD_AGREEMENTS))
def test_an_agreement_with_bad_input_is_refused_with_why_and_nothing_stored(
    client_for: Clients, staff, case: str
) -> None:  # type: ignore[no-untyped-def]
    clinic = harbour_house()
    existing = agreement_for(clinic, staff["manager"])  # from 1 Jan 2026, open-ended
    db.session.commit()
    before = fee_snapshot()
    audits = count(AuditEvent)
    changes, message = BAD_AGREEMENTS[case]
    manager = client_for("manager")
    response = post(
        manager, "/admin/fees/agreements/new", _agreement_form(clinic.provider_id, **changes)
    )
    page = text_of(response)
    assert response.status_code == 200
    assert message in page, page[page.find("alert") - 200 : page.find("alert") + 600]
    assert "Agreement saved." not in page
    assert 'data-testid="agreement-form"' in page, "the form comes back with what was typed"
    for name, value in changes.items():
        if value and name != "currency":  # a select offers only the known currencies
            assert f'value="{value}"' in page or f">{value}<" in page, value
    assert fee_snapshot() == before
    assert db.session.scalars(select(FeeAgreement.id)).all() == [existing.id]
    login_audits = 2  # client_for's login: the password, then the second step
    assert count(AuditEvent) == audits + login_audits


# --- 3. the story through the screens ---------------------------------------------------------


def _payment(story: Story, amount: str, **changes: str) -> dict[str, str]:
    assert story.invoice is not None
    return {
        "provider_id": str(story.provider_id),
        "invoice_id": str(story.invoice.id),
        "amount": amount,
        "currency": "GBP",
        "received_on": FEE_DAY.isoformat(),
        "method": "bank_transfer",
        "reference": "HH-1",
        **changes,
    }


def test_the_story_from_an_earned_fee_to_a_paid_invoice_through_the_screens(
    client_for: Clients, staff
) -> None:  # type: ignore[no-untyped-def]
    story = earned_fee(staff)
    manager = client_for("manager")
    run_page = _get(manager, "/admin/fees/invoices/run")
    assert re.search(r'data-testid="run-unbilled"><strong>1</strong>', run_page)

    ran = post(manager, "/admin/fees/invoices/run", {"up_to": FEE_DAY.isoformat(), "issue": "yes"})
    listing = text_of(ran)
    assert ran.request.path == "/admin/fees/invoices/"
    assert "1 invoice(s): INV-2026-0001." in listing
    assert listing.count('data-testid="document-row"') == 1 and "INV-2026-0001" in listing
    db.session.expire_all()
    [invoice] = db.session.scalars(select(Invoice)).all()
    assert (invoice.number, invoice.kind, invoice.status, invoice.provider_id) == (
        "INV-2026-0001",
        "invoice",
        "issued",
        story.provider_id,
    )
    assert (invoice.net, invoice.vat, invoice.gross) == (
        Decimal("2500.00"),
        Decimal("500.00"),
        Decimal("3000.00"),
    )
    assert (invoice.issued_on, invoice.due_on) == (FEE_DAY, date(2027, 1, 2))
    assert f'href="/admin/fees/invoices/{invoice.id}/"' in listing
    story.invoice = invoice

    details = _get(manager, f"/admin/fees/invoices/{invoice.id}/")
    lines = details[details.index('data-testid="document-lines"') :]
    lines = lines[: lines.index("</table>")]
    reference = story.accrual.lead_reference
    assert reference and reference.startswith("L-") and reference in lines
    assert "30 Nov 2026" in lines and "£2,500.00" in lines and "£500.00" in lines
    assert re.search(r'data-testid="document-status">Issued<', details)

    audits = audit_count(action="download")
    pdf = manager.get(f"/admin/fees/invoices/{invoice.id}/pdf")
    assert pdf.status_code == 200 and pdf.mimetype == "application/pdf"
    assert pdf.data.startswith(b"%PDF") and pdf.data == invoice.pdf
    assert 'filename="INV-2026-0001.pdf"' in pdf.headers["Content-Disposition"]
    printed = "".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf.data)).pages)
    assert "INV-2026-0001" in printed and reference in printed
    assert audit_count(action="download") == audits + 1
    event = db.session.scalars(
        select(AuditEvent).where(AuditEvent.action == "download").order_by(AuditEvent.id.desc())
    ).first()
    assert event is not None
    assert (event.object_type, event.object_id, event.actor_email, event.detail) == (
        "invoices",
        str(invoice.id),
        staff["manager"].email,
        "INV-2026-0001.pdf",
    )

    paid = post(manager, "/admin/fees/payments/", _payment(story, "1,000.00"))
    assert "Payment recorded." in text_of(paid)
    db.session.expire_all()
    invoice = db.session.get(Invoice, invoice.id)
    assert invoice is not None and invoice.status == "part_paid"
    [first] = db.session.scalars(select(Payment)).all()
    assert (first.amount, first.currency, first.received_on, first.reference) == (
        Decimal("1000.00"),
        "GBP",
        FEE_DAY,
        "HH-1",
    )
    [entry] = db.session.scalars(select(LedgerEntry).where(LedgerEntry.payment_id == first.id))
    assert (entry.kind, entry.amount, entry.invoice_id) == (
        "payment",
        Decimal("-1000.00"),
        invoice.id,
    )

    aged = _get(manager, "/admin/fees/aged-debt/")
    [row] = re.findall(r'<tr data-testid="aged-row">(.*?)</tr>', aged, re.S)
    assert "Harbour House Ltd" in row and "GBP" in row
    assert re.search(r'data-testid="aged-total"><strong>£2,000\.00<', row)
    assert re.search(r'data-testid="bucket-current">£2,000\.00<', row)

    rest = post(manager, "/admin/fees/payments/", _payment(story, "2000", reference="HH-2"))
    assert "Payment recorded." in text_of(rest)
    db.session.expire_all()
    invoice = db.session.get(Invoice, invoice.id)
    assert invoice is not None and (invoice.status, invoice.settled_on) == ("paid", FEE_DAY)
    assert count(Payment) == 2
    assert "Nothing owed." in _get(manager, "/admin/fees/aged-debt/")
    listing = _get(manager, "/admin/fees/invoices/")
    assert ">Paid<" in listing


# --- 4. aged debt exports ---------------------------------------------------------------------


def _last_export() -> AuditEvent | None:
    return db.session.scalars(
        select(AuditEvent).where(AuditEvent.action == "export").order_by(AuditEvent.id.desc())
    ).first()


def test_the_aged_debt_exports_as_csv_with_its_title_and_is_audited(
    client_for: Clients, story: Story, staff
) -> None:  # type: ignore[no-untyped-def]
    manager = client_for("manager")
    response = manager.get("/admin/fees/aged-debt/export.csv?as_of=2026-12-03")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert 'filename="aged-debt-2026-12-03.csv"' in response.headers["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(response.data.decode("utf-8-sig"))))
    assert rows[:3] == [["Aged debt"], ["As of 2026-12-03"], ["Currency: all"]]
    header = rows[4]
    assert header[:3] == ["Provider", "Currency", "Current (not yet due)"]
    assert header[-2:] == ["Total owed", "Unallocated credit"]
    [data] = rows[5:]
    record = dict(zip(header, data, strict=True))
    assert (record["Provider"], record["Currency"]) == ("Harbour House Ltd", "GBP")
    assert Decimal(record["Current (not yet due)"]) == Decimal("3000.00")
    assert Decimal(record["Total owed"]) == Decimal("3000.00")
    assert "£" not in response.data.decode("utf-8-sig"), "numbers, not formatted money"
    event = _last_export()
    assert event is not None
    assert (event.object_type, event.actor_email) == ("aged_debt", staff["manager"].email)
    assert event.detail == "csv; as of 2026-12-03; currency all; 1 row(s)"


def test_the_aged_debt_exports_as_xlsx_with_its_title_and_is_audited(
    client_for: Clients, story: Story
) -> None:
    manager = client_for("manager")
    response = manager.get("/admin/fees/aged-debt/export.xlsx?currency=GBP")
    assert response.status_code == 200 and response.mimetype == XLSX
    assert 'filename="aged-debt-2026-12-03.xlsx"' in response.headers["Content-Disposition"]
    book = load_workbook(io.BytesIO(response.data))
    sheet = book.active
    assert sheet is not None and sheet.title == "Aged debt"
    values = [list(r) for r in sheet.iter_rows(values_only=True)]
    assert [values[0][0], values[1][0], values[2][0]] == [
        "Aged debt",
        "As of 2026-12-03",
        "Currency: GBP",
    ]
    header = values[4]
    [data] = [r for r in values[5:] if r and r[0] is not None]
    record = dict(zip(header, data, strict=True))
    assert (record["Provider"], record["Currency"]) == ("Harbour House Ltd", "GBP")
    assert record["Current (not yet due)"] == record["Total owed"] == 3000
    event = _last_export()
    assert event is not None and event.detail == "xlsx; as of 2026-12-03; currency GBP; 1 row(s)"


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("as_of=2026-12-04", "Aged debt is shown as of today or an earlier day."),
        ("currency=XYZ", "Unknown currency 'XYZ'."),
        ("as_of=yesterday", "As of: enter a calendar date (YYYY-MM-DD)."),
    ],
)
@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_an_export_with_bad_filters_is_refused_with_why_and_no_file(
    client_for: Clients, story: Story, fmt: str, query: str, message: str
) -> None:
    manager = client_for("manager")
    response = manager.get(f"/admin/fees/aged-debt/export.{fmt}?{query}")
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/admin/fees/aged-debt/")
    page = manager.get(response.headers["Location"])
    assert page.status_code == 200 and page.mimetype == "text/html"
    assert message in text_of(page)
    assert audit_count(action="export") == 0


def test_an_unknown_export_format_is_not_found_and_not_audited(
    client_for: Clients, story: Story
) -> None:
    manager = client_for("manager")
    for fmt in ("pdf", "json", "CSV"):
        assert manager.get(f"/admin/fees/aged-debt/export.{fmt}").status_code == 404, fmt
    assert audit_count(action="export") == 0


# --- 5. bad input on payments and the ledger filters ----------------------------------------

BAD_PAYMENTS = {
    "an amount that is not a number": ({"amount": "abc"}, "The amount is not a number: 'abc'."),
    "a zero amount": ({"amount": "0"}, "The amount must be more than zero."),
    "a negative amount": ({"amount": "-100"}, "The amount must be more than zero."),
    "an unknown currency": (
        {"currency": "XYZ"},
        "Unknown currency 'XYZ': choose one of GBP, EUR, USD.",
    ),
    "no provider": ({"provider_id": ""}, "Choose the provider that paid."),
    "another provider's invoice": (
        {"provider_id": "OTHER"},
        "That invoice is not one of this provider's.",
    ),
}


@pytest.mark.parametrize("case", list(BAD_PAYMENTS))
def test_a_payment_with_bad_input_is_refused_with_why_and_nothing_written(
    client_for: Clients, story: Story, case: str
) -> None:
    other = location("Dales Recovery", provider_name="Dales Recovery Group")
    db.session.commit()
    changes, message = BAD_PAYMENTS[case]
    if changes.get("provider_id") == "OTHER":
        changes = {"provider_id": str(other.provider_id)}
    before = fee_snapshot()
    entries, payments = count(LedgerEntry), count(Payment)
    manager = client_for("manager")
    response = post(manager, "/admin/fees/payments/", {**_payment(story, "1000"), **changes})
    assert (count(LedgerEntry), count(Payment)) == (entries, payments)
    assert fee_snapshot() == before
    assert story.invoice is not None
    assert db.session.get(Invoice, story.invoice.id).status == "issued"  # type: ignore[union-attr]
    # A mistake in the form is answered on the form, not with a "Not found" page.
    page = text_of(response)
    assert response.status_code == 200, (case, response.status_code)
    assert message in page
    assert "Payment recorded." not in page
    assert 'data-testid="payment-form"' in page, "the form comes back with what was typed"


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("kind=bogus", "Unknown entry kind 'bogus'."),
        ("from=2026-12-03&to=2026-12-01", "The date range ends before it starts."),
        ("currency=XYZ", "Unknown currency 'XYZ'."),
        ("from=03/12/2026", "From: enter a calendar date (YYYY-MM-DD)."),
    ],
)
def test_bad_ledger_filters_are_refused_with_why_and_write_nothing(
    client_for: Clients, story: Story, query: str, message: str
) -> None:
    manager = client_for("manager")
    before = fee_snapshot()
    entries = count(LedgerEntry)
    page = _get(manager, f"/admin/fees/ledger/?{query}")
    assert message in page
    # The filters are dropped, not half applied: every entry is listed.
    assert page.count('data-testid="ledger-entry"') == entries
    assert fee_snapshot() == before


def test_ledger_filters_that_can_be_read_narrow_the_list(client_for: Clients, story: Story) -> None:
    manager = client_for("manager")
    kinds = {e.kind for e in db.session.scalars(select(LedgerEntry))}
    assert kinds == {"accrual", "invoice"}
    accruals = _get(manager, "/admin/fees/ledger/?kind=accrual")
    assert accruals.count('data-testid="ledger-entry"') == 1
    assert story.accrual.idempotency_key in accruals
    empty = _get(manager, "/admin/fees/ledger/?from=2026-12-04&to=2026-12-31")
    assert 'data-testid="ledger-entry"' not in empty and "No entries match." in empty


# --- 6. reversing a mistaken entry ----------------------------------------------------------


def test_reversing_an_entry_needs_a_reason_and_posts_a_reversal_naming_it(
    client_for: Clients, staff
) -> None:  # type: ignore[no-untyped-def]
    story = earned_fee(staff)
    manager = client_for("manager")
    ledger = _get(manager, "/admin/fees/ledger/")
    assert f'action="/admin/fees/ledger/{story.accrual.id}/reverse"' in ledger
    path = f"/admin/fees/ledger/{story.accrual.id}/reverse"
    entries = count(LedgerEntry)
    for reason in ("", "   "):
        refused = post(manager, path, {"reason": reason})
        assert refused.status_code == 200 and "Say why the entry is reversed." in text_of(refused)
        assert count(LedgerEntry) == entries
    assert count(LedgerEntry, LedgerEntry.reverses_id == story.accrual.id) == 0

    why = "Admitted to the wrong clinic"
    done = post(manager, path, {"reason": why})
    assert "Entry reversed: a reversal naming it was posted." in text_of(done)
    assert count(LedgerEntry) == entries + 1
    reversal = db.session.scalars(
        select(LedgerEntry).where(LedgerEntry.reverses_id == story.accrual.id)
    ).one()
    assert (
        reversal.kind,
        reversal.account,
        reversal.amount,
        reversal.note,
        reversal.referral_id,
        reversal.idempotency_key,
        reversal.actor_email,
    ) == (
        "reversal",
        "unbilled",
        Decimal("-2500.00"),
        why,
        story.referral.id,
        f"reversal:{story.accrual.id}",
        staff["manager"].email,
    )
    assert audit_count(action="ledger_reversal", object_id=str(reversal.id)) == 1
    page = _get(manager, "/admin/fees/ledger/")
    assert f"Reversal of #{story.accrual.id}" in page and why in page
    assert f'action="{path}"' not in page, "a reversed entry offers no second reversal"

    again = post(manager, path, {"reason": "twice"})
    assert "This accrual entry has already been reversed." in text_of(again)
    assert count(LedgerEntry) == entries + 1
    ran = post(manager, "/admin/fees/invoices/run", {"up_to": FEE_DAY.isoformat(), "issue": "yes"})
    assert "Nothing to invoice" in text_of(ran)
    assert count(Invoice) == 0, "a reversed fee is not billed"


def test_a_reversed_fee_is_not_counted_as_waiting_to_be_invoiced(
    client_for: Clients, staff
) -> None:  # type: ignore[no-untyped-def]
    """The run screen's count is "how many fees the next run would bill" (unbilled_count's
    docstring); once the only fee is reversed the run bills nothing, so the count is 0."""
    story = earned_fee(staff)
    manager = client_for("manager")
    post(manager, f"/admin/fees/ledger/{story.accrual.id}/reverse", {"reason": "Wrong clinic"})
    assert count(LedgerEntry, LedgerEntry.reverses_id == story.accrual.id) == 1
    run_page = _get(manager, "/admin/fees/invoices/run")
    shown = re.search(r'data-testid="run-unbilled"><strong>(\d+)</strong>', run_page)
    assert shown is not None
    ran = post(manager, "/admin/fees/invoices/run", {"up_to": FEE_DAY.isoformat(), "issue": "yes"})
    assert "Nothing to invoice" in text_of(ran) and count(Invoice) == 0
    assert shown.group(1) == "0", "the run screen promises fees the run does not bill"


def test_an_invoiced_accrual_is_not_reversed_from_the_ledger(
    client_for: Clients, story: Story
) -> None:
    manager = client_for("manager")
    entries = count(LedgerEntry)
    refused = post(manager, f"/admin/fees/ledger/{story.accrual.id}/reverse", {"reason": "mistake"})
    assert "This accrual is on an issued invoice or credit note" in text_of(refused)
    assert count(LedgerEntry) == entries


# --- 7. correcting an admission date from the referral's fee panel --------------------------


def _admitted_after_referral_on_thursday(staff) -> Story:  # type: ignore[no-untyped-def]
    """Referred Thursday 26 November, admitted Monday 30th, the fee earned on 3 December."""
    clinic = harbour_house()
    agreement = agreement_for(clinic, staff["manager"])
    referral = referred(clinic, staff["admissions"], on=date(2026, 11, 26))
    move(referral, staff["admissions"], "admission_planned", date(2026, 11, 30), at_hour=10)
    move(referral, staff["admissions"], "admitted", date(2026, 11, 30))
    with clock.pinned(uk(FEE_DAY, 10, 1)):
        assert accruals.fire_due_fee_triggers() == 1
        db.session.flush()
    accrual = db.session.scalars(select(LedgerEntry).where(LedgerEntry.kind == "accrual")).one()
    db.session.commit()
    return Story(clinic, agreement, referral, accrual)


def _entries_of(referral_id: int) -> list[LedgerEntry]:
    db.session.expire_all()
    return list(
        db.session.scalars(
            select(LedgerEntry)
            .where(LedgerEntry.referral_id == referral_id)
            .order_by(LedgerEntry.id)
        )
    )


def test_correcting_the_admission_date_reverses_the_fee_and_posts_it_again(
    client_for: Clients, staff
) -> None:  # type: ignore[no-untyped-def]
    story = _admitted_after_referral_on_thursday(staff)
    referral_id = story.referral.id
    manager = client_for("manager")
    panel = _get(manager, f"/admin/referrals/{referral_id}/")
    assert 'data-testid="correct-dates"' in panel
    assert f'action="/admin/fees/referrals/{referral_id}/dates"' in panel

    response = post(
        manager,
        f"/admin/fees/referrals/{referral_id}/dates",
        {"admitted_on": "2026-11-27", "discharged_on": "", "reason": "Arrived on Friday"},
    )
    assert response.request.path == f"/admin/referrals/{referral_id}/"
    assert "Dates corrected: the fees were reversed and posted again." in text_of(response)
    referral = db.session.get(Referral, referral_id)
    assert referral is not None
    assert (referral.admitted_on, referral.fee_revision) == (date(2026, 11, 27), 1)
    old, reversal, new = _entries_of(referral_id)
    assert old.id == story.accrual.id
    assert (reversal.kind, reversal.reverses_id, reversal.amount, reversal.note) == (
        "reversal",
        old.id,
        Decimal("-2500.00"),
        "Admission or discharge date corrected.",
    )
    # Three nights from Friday 27th were over on Monday 30th: the new fee is due at once.
    assert (new.kind, new.amount, new.idempotency_key, new.posted_on) == (
        "accrual",
        Decimal("2500.00"),
        f"accrual:referral:{referral_id}:r1",
        FEE_DAY,
    )
    triggers = db.session.scalars(
        select(FeeTrigger).where(FeeTrigger.referral_id == referral_id).order_by(FeeTrigger.id)
    ).all()
    assert [(t.revision, t.status) for t in triggers] == [(0, "done"), (1, "done")]
    [event] = db.session.scalars(
        select(ReferralEvent).where(
            ReferralEvent.referral_id == referral_id,
            ReferralEvent.reason.like("Dates corrected%"),
        )
    ).all()
    assert (
        "admitted 30 Nov 2026 → 27 Nov 2026" in event.reason and "Arrived on Friday" in event.reason
    )
    page = text_of(response)
    assert f"accrual:referral:{referral_id}:r1" in page and f"reversal:{old.id}" in page


def test_a_later_admission_date_waits_for_its_third_night_before_posting_again(
    client_for: Clients, staff
) -> None:  # type: ignore[no-untyped-def]
    story = earned_fee(staff)
    referral_id = story.referral.id
    manager = client_for("manager")
    post(
        manager,
        f"/admin/fees/referrals/{referral_id}/dates",
        {"admitted_on": "2026-12-01", "reason": "Admitted on Tuesday, not Monday"},
    )
    old, reversal = _entries_of(referral_id)
    assert (reversal.reverses_id, reversal.amount) == (old.id, Decimal("-2500.00"))
    pending = db.session.scalars(
        select(FeeTrigger).where(FeeTrigger.referral_id == referral_id, FeeTrigger.revision == 1)
    ).one()
    assert (pending.status, pending.due_at) == ("pending", uk(date(2026, 12, 4), 10))
    with clock.pinned(uk(date(2026, 12, 4), 10, 1)):
        assert accruals.fire_due_fee_triggers() == 1
        db.session.commit()
    *_, new = _entries_of(referral_id)
    assert (new.kind, new.amount, new.idempotency_key) == (
        "accrual",
        Decimal("2500.00"),
        f"accrual:referral:{referral_id}:r1",
    )


def test_correcting_an_invoiced_admission_credits_the_invoice(
    client_for: Clients, story: Story
) -> None:
    assert story.invoice is not None
    manager = client_for("manager")
    post(
        manager,
        f"/admin/fees/referrals/{story.referral.id}/dates",
        {"admitted_on": "2026-12-01", "reason": "Admitted on Tuesday"},
    )
    db.session.expire_all()
    note = db.session.scalars(select(Invoice).where(Invoice.kind == "credit_note")).one()
    assert (note.number, note.credits_invoice_id, note.gross) == (
        "CN-2026-0001",
        story.invoice.id,
        Decimal("3000.00"),
    )
    assert count(LedgerEntry, LedgerEntry.reverses_id == story.accrual.id) == 1
    details = _get(manager, f"/admin/fees/invoices/{story.invoice.id}/")
    assert "CN-2026-0001" in details


@pytest.mark.parametrize(
    ("form", "message"),
    [
        ({"admitted_on": "2026-12-01", "reason": ""}, "Say why the dates are corrected."),
        (
            {"admitted_on": "2026-12-04", "reason": "typo"},
            "The admission date cannot be in the future.",
        ),
        (
            {"admitted_on": "2026-11-29", "reason": "typo"},
            "The admission date cannot be before the referral was sent.",
        ),
        (
            {"admitted_on": "2026-11-30", "reason": "typo"},
            "Those are the dates already recorded: nothing changed.",
        ),
        ({"admitted_on": "30/11/2026", "reason": "typo"}, "Admitted on: enter a calendar date"),
        (
            {"admitted_on": "2026-12-01", "discharged_on": "2026-12-02", "reason": "typo"},
            "The client has not been discharged: record the discharge instead.",
        ),
    ],
)
def test_a_date_correction_with_bad_input_is_refused_and_changes_nothing(
    client_for: Clients, staff, form: dict[str, str], message: str
) -> None:  # type: ignore[no-untyped-def]
    story = earned_fee(staff)
    manager = client_for("manager")
    before = fee_snapshot()
    response = post(manager, f"/admin/fees/referrals/{story.referral.id}/dates", form)
    assert response.request.path == f"/admin/referrals/{story.referral.id}/"
    assert message in text_of(response)
    assert fee_snapshot() == before
