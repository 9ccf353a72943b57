"""Invoices, credit notes and payments on a real database: gapless numbers per series and year,
the monthly run made once, voiding, writing off, overpayment as credit, the fee chase, and bad
input that changes nothing."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from crm import clock
from crm.errors import DomainError
from crm.extensions import db
from crm.fees import accruals, balances, credits, invoicing, payments, queries
from crm.fees.models import Invoice, InvoiceRun, LedgerEntry, Payment
from crm.fees.numbering import take_number
from crm.notify.models import OutboundMessage
from crm.oncall import reminders
from crm.oncall.models import Reminder
from tests.services.fee_factories import admitted, agreement_for, harbour_house, uk
from tests.services.intake_factories import actor_for, team
from tests.services.referral_factories import location

pytestmark = pytest.mark.usefixtures("db_session")
MONDAY = date(2026, 11, 2)


@pytest.fixture
def people():
    return team()


def accrue(clinic, people, on: date = MONDAY, phone: str = "07700 900123"):
    referral = admitted(clinic, people["admissions"], on, phone=phone)
    with clock.pinned(uk(on + timedelta(days=3), 11)):
        accruals.fire_due_fee_triggers()
        db.session.flush()
    return referral


def run(day: date, people, **options) -> list[Invoice]:
    with clock.pinned(uk(day, 15)):
        outcome = invoicing.run_invoicing(day, actor_for(people["manager"]), **options)
        db.session.flush()
    return outcome.invoices


def pay(invoice: Invoice, people, paid: str, day: date, **changes) -> Payment:
    fields = {
        "provider_id": invoice.provider_id,
        "currency": invoice.currency,
        "amount": Decimal(paid),
        "received_on": day,
        "method": "bank_transfer",
        **changes,
    }
    with clock.pinned(uk(day, 9)):
        payment = payments.record_payment(
            payments.PaymentDetails(**fields), actor_for(people["manager"])
        )
        db.session.flush()
    return payment


def counts() -> tuple[int, int, int]:
    return (
        db.session.scalar(select(func.count()).select_from(LedgerEntry)),
        db.session.scalar(select(func.count()).select_from(Invoice)),
        db.session.scalar(select(func.count()).select_from(Payment)),
    )


def test_numbers_are_gapless_per_series_and_year(people) -> None:
    assert [take_number("invoice", 2026) for _ in range(3)] == [
        "INV-2026-0001",
        "INV-2026-0002",
        "INV-2026-0003",
    ]
    assert take_number("credit_note", 2026) == "CN-2026-0001"
    assert take_number("invoice", 2027) == "INV-2027-0001"
    assert take_number("invoice", 2026) == "INV-2026-0004"


def test_one_invoice_per_provider_and_currency(people) -> None:
    harbour = harbour_house()
    agreement_for(harbour, people["manager"])
    other = location("Cliff Lodge", provider_name="Cliff Lodge Clinics")
    agreement_for(other, people["manager"], billing_name="Cliff Lodge Accounts")
    accrue(harbour, people)
    accrue(harbour, people, on=MONDAY + timedelta(days=1), phone="07700 900456")
    accrue(other, people, phone="07700 900789")
    invoices = run(date(2026, 11, 30), people)
    assert sorted((i.billing_name, i.gross, i.number) for i in invoices) == [
        ("Cliff Lodge Accounts", Decimal("3000.00"), "INV-2026-0001"),
        ("Harbour House Ltd (Accounts)", Decimal("6000.00"), "INV-2026-0002"),
    ] or sorted((i.billing_name, i.gross, i.number) for i in invoices) == [
        ("Cliff Lodge Accounts", Decimal("3000.00"), "INV-2026-0002"),
        ("Harbour House Ltd (Accounts)", Decimal("6000.00"), "INV-2026-0001"),
    ]
    assert run(date(2026, 11, 30), people) == [], "nothing is billed twice"


def test_a_run_may_leave_drafts_that_are_numbered_when_issued(people) -> None:
    clinic = harbour_house()
    agreement_for(clinic, people["manager"])
    accrue(clinic, people)
    [draft] = run(date(2026, 11, 30), people, issue=False)
    assert (draft.status, draft.number, draft.pdf) == ("draft", None, None)
    with clock.pinned(uk(date(2026, 12, 1), 9)):
        invoicing.issue_invoice(draft.id, actor_for(people["manager"]))
        db.session.flush()
        with pytest.raises(DomainError):
            invoicing.issue_invoice(draft.id, actor_for(people["manager"]))
    assert (draft.status, draft.number, draft.issued_on) == (
        "issued",
        "INV-2026-0001",
        date(2026, 12, 1),
    )
    assert draft.pdf is not None and draft.pdf_sha256


def test_the_stored_pdf_is_the_one_served_and_never_redrawn(people) -> None:
    clinic = harbour_house()
    agreement_for(clinic, people["manager"])
    accrue(clinic, people)
    [invoice] = run(date(2026, 11, 30), people)
    stored = invoice.pdf
    # Changing the agreement's billing details later changes no issued document.
    agreement = db.session.scalar(select(Invoice).where(Invoice.id == invoice.id))
    assert agreement is not None
    pay(invoice, people, "100.00", date(2026, 12, 2))
    db.session.expire_all()
    assert db.session.get(Invoice, invoice.id).pdf == stored


def test_a_void_invoice_is_credited_in_full_and_its_fees_billed_again(people) -> None:
    clinic = harbour_house()
    agreement_for(clinic, people["manager"])
    accrue(clinic, people)
    [invoice] = run(date(2026, 11, 30), people)
    with clock.pinned(uk(date(2026, 12, 1), 9)):
        with pytest.raises(DomainError, match="why"):
            credits.void_invoice(invoice.id, "", actor_for(people["manager"]))
        credits.void_invoice(invoice.id, "Wrong PO reference", actor_for(people["manager"]))
        db.session.flush()
    [note] = queries.credit_notes_for(invoice.id)
    assert (invoice.status, note.number, note.gross) == (
        "void",
        "CN-2026-0001",
        Decimal("3000.00"),
    )
    assert balances.outstanding(invoice) == 0
    [again] = run(date(2026, 12, 1), people)
    assert (again.number, again.gross) == ("INV-2026-0002", Decimal("3000.00"))


def test_an_invoice_with_money_on_it_is_not_voided(people) -> None:
    clinic = harbour_house()
    agreement_for(clinic, people["manager"])
    accrue(clinic, people)
    [invoice] = run(date(2026, 11, 30), people)
    pay(invoice, people, "10.00", date(2026, 12, 1))
    with pytest.raises(DomainError, match="payments"):
        credits.void_invoice(invoice.id, "x", actor_for(people["manager"]))


def test_overpayment_is_kept_as_credit_and_used_on_the_next_invoice(people) -> None:
    clinic = harbour_house()
    agreement_for(clinic, people["manager"])
    accrue(clinic, people)
    [first] = run(date(2026, 11, 30), people)
    pay(first, people, "3500.00", date(2026, 12, 2))
    assert first.status == "paid"
    assert payments.credit_balance(clinic.provider_id, "GBP") == Decimal("500.00")
    [row] = queries.aged_debt(date(2026, 12, 2))
    assert (row.total, row.credit) == (Decimal("0"), Decimal("500.00"))
    accrue(clinic, people, on=date(2026, 12, 3), phone="07700 900456")
    [second] = run(date(2026, 12, 7), people)
    with clock.pinned(uk(date(2026, 12, 8), 9)):
        used = payments.apply_credit(second.id, actor_for(people["manager"]))
        db.session.flush()
        with pytest.raises(DomainError, match="no credit"):
            payments.apply_credit(second.id, actor_for(people["manager"]))
    assert (used, second.status, balances.outstanding(second)) == (
        Decimal("500.00"),
        "part_paid",
        Decimal("2500.00"),
    )


def test_a_payment_pays_the_oldest_invoices_first(people) -> None:
    clinic = harbour_house()
    agreement_for(clinic, people["manager"])
    accrue(clinic, people)
    [first] = run(date(2026, 11, 10), people)
    accrue(clinic, people, on=date(2026, 11, 11), phone="07700 900456")
    [second] = run(date(2026, 11, 20), people)
    pay(first, people, "4000.00", date(2026, 11, 25))
    assert (first.status, second.status) == ("paid", "part_paid")
    assert balances.outstanding(second) == Decimal("2000.00")


def test_a_write_off_settles_the_rest_with_a_reason(people) -> None:
    clinic = harbour_house()
    agreement_for(clinic, people["manager"])
    accrue(clinic, people)
    [invoice] = run(date(2026, 11, 10), people)
    pay(invoice, people, "1000.00", date(2026, 11, 20))
    with clock.pinned(uk(date(2027, 3, 1), 9)):
        with pytest.raises(DomainError, match="why"):
            payments.write_off(invoice.id, None, actor_for(people["manager"]))
        entry = payments.write_off(invoice.id, "Clinic closed", actor_for(people["manager"]))
        db.session.flush()
        with pytest.raises(DomainError, match="nothing left"):
            payments.write_off(invoice.id, "again", actor_for(people["manager"]))
    assert (entry.amount, invoice.status) == (Decimal("-2000.00"), "written_off")
    assert queries.aged_debt(date(2027, 3, 1)) == []
    [row] = queries.aged_debt(date(2027, 2, 1))
    assert row.buckets["31-60"] == Decimal("2000.00"), "as it stood before the write-off"


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"amount": None}, "amount"),
        ({"amount": Decimal("0")}, "more than zero"),
        ({"amount": Decimal("-10")}, "more than zero"),
        ({"amount": Decimal("10.001")}, "decimal places"),
        ({"amount": Decimal("99999999")}, "too large"),
        ({"currency": "XYZ"}, "currency"),
        ({"method": "barter"}, "method"),
        ({"received_on": None}, "date"),
        ({"received_on": date(2026, 12, 31)}, "future"),
        ({"reference": "x" * 101}, "Reference"),
    ],
)
def test_a_payment_that_cannot_be_read_changes_nothing(people, changes, message) -> None:
    clinic = harbour_house()
    agreement_for(clinic, people["manager"])
    accrue(clinic, people)
    [invoice] = run(date(2026, 11, 10), people)
    before = counts()
    with pytest.raises(DomainError, match=f"(?i){message}"):
        pay(invoice, people, "1.00", date(2026, 11, 20), **changes)
    assert counts() == before and invoice.status == "issued"


def test_a_payment_allocated_to_another_providers_invoice_is_refused(people) -> None:
    harbour = harbour_house()
    agreement_for(harbour, people["manager"])
    other = location("Cliff Lodge", provider_name="Cliff Lodge Clinics")
    agreement_for(other, people["manager"])
    accrue(harbour, people)
    [invoice] = run(date(2026, 11, 10), people)
    before = counts()
    with pytest.raises(DomainError):
        pay(
            invoice,
            people,
            "100.00",
            date(2026, 11, 20),
            provider_id=other.provider_id,
            allocations=[(invoice.id, Decimal("100.00"))],
        )
    with pytest.raises(DomainError):
        pay(
            invoice,
            people,
            "100.00",
            date(2026, 11, 20),
            allocations=[(invoice.id, Decimal("5000"))],
        )
    assert counts() == before


def test_invoicing_refuses_a_day_after_today(people) -> None:
    with clock.pinned(uk(date(2026, 11, 10), 9)), pytest.raises(DomainError, match="today"):
        invoicing.run_invoicing(date(2026, 11, 11), actor_for(people["manager"]))
    assert db.session.scalar(select(func.count()).select_from(InvoiceRun)) == 0


def test_the_invoice_email_carries_the_pdf_and_a_fee_chase_follows(people) -> None:
    clinic = harbour_house()
    agreement_for(clinic, people["manager"])
    accrue(clinic, people)
    [invoice] = run(date(2026, 11, 10), people)
    email = db.session.scalar(
        select(OutboundMessage).where(
            OutboundMessage.idempotency_key == f"invoice:{invoice.id}:email"
        )
    )
    assert email is not None and "INV-2026-0001" in email.body
    [chase] = db.session.scalars(select(Reminder).where(Reminder.kind == "fee_chase")).all()
    assert chase.due_at == uk(date(2026, 12, 11), 10), "the day after the due date"
    assert "fee_chase" in reminders.NEVER_PAGES


# --- the monthly run --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("local", "period", "up_to"),
    [
        (datetime(2026, 12, 1, 5, 59), "2026-10", date(2026, 10, 31)),
        (datetime(2026, 12, 1, 6, 0), "2026-11", date(2026, 11, 30)),
        (datetime(2026, 12, 17, 12, 0), "2026-11", date(2026, 11, 30)),
        (datetime(2027, 1, 1, 6, 0), "2026-12", date(2026, 12, 31)),
        (datetime(2026, 4, 1, 6, 30), "2026-03", date(2026, 3, 31)),  # British Summer Time
    ],
)
def test_the_monthly_run_is_due_from_six_on_the_first(local, period, up_to) -> None:
    instant = uk(local.date(), local.hour, local.minute)
    assert invoicing.monthly_period_due(instant) == (period, up_to)


def test_the_monthly_run_happens_once(people) -> None:
    clinic = harbour_house()
    agreement_for(clinic, people["manager"])
    accrue(clinic, people)
    with clock.pinned(uk(date(2026, 12, 1), 6)):
        outcome = invoicing.run_monthly()
        db.session.flush()
        assert outcome is not None and outcome.run.period == "2026-11"
        [invoice] = outcome.invoices
        assert (invoice.number, invoice.status) == ("INV-2026-0001", "issued")
        assert invoicing.run_monthly() is None
    with clock.pinned(datetime(2026, 12, 1, 7, tzinfo=UTC)), pytest.raises(DomainError):
        invoicing.run_invoicing(date(2026, 11, 30), actor_for(people["manager"]), period="2026-11")
