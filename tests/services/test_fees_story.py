"""The issue's story on a real database: Harbour House's fee from admission to paid, with a
clawback credited after invoicing, and the aged debt on the way."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from crm import clock
from crm.extensions import db
from crm.fees import accruals, balances, invoicing, payments, queries
from crm.fees.models import BilledEntry, FeeTrigger, Invoice, InvoiceLine, LedgerEntry
from crm.notify.models import MessageAttachment, OutboundMessage
from crm.oncall.models import Reminder
from crm.privacy.models import AuditEvent
from tests.services.fee_factories import admitted, agreement_for, harbour_house, move, uk
from tests.services.intake_factories import actor_for, team

pytestmark = pytest.mark.usefixtures("db_session")
MONDAY = date(2026, 11, 30)


@pytest.fixture
def people():
    return team()


def entries(kind: str | None = None) -> list[LedgerEntry]:
    query = select(LedgerEntry).order_by(LedgerEntry.id)
    if kind:
        query = query.where(LedgerEntry.kind == kind)
    return list(db.session.scalars(query))


def tick_at(day: date, hour: int, minute: int = 0) -> int:
    with clock.pinned(uk(day, hour, minute)):
        posted = accruals.fire_due_fee_triggers()
        db.session.flush()
    return posted


def test_the_story_from_admission_to_paid(people) -> None:
    advisor, manager = people["admissions"], people["manager"]
    clinic = harbour_house()
    agreement_for(clinic, manager)

    first = admitted(clinic, advisor, MONDAY)
    # Admitted on Monday: nothing is earned until the third night.
    assert entries("accrual") == []
    [trigger] = db.session.scalars(select(FeeTrigger)).all()
    assert trigger.due_at == uk(date(2026, 12, 3), 10)
    assert tick_at(date(2026, 12, 2), 23) == 0
    assert tick_at(date(2026, 12, 3), 10, 1) == 1  # Thursday: the fee is accrued
    [accrual] = entries("accrual")
    assert (accrual.amount, accrual.currency, accrual.idempotency_key) == (
        Decimal("2500.00"),
        "GBP",
        f"accrual:referral:{first.id}",
    )
    assert accrual.lead_reference and accrual.lead_reference.startswith("L-")
    assert tick_at(date(2026, 12, 3), 10, 2) == 0, "the engine posts it once"

    second = admitted(clinic, advisor, date(2026, 12, 1), phone="07700 900456")
    assert tick_at(date(2026, 12, 4), 11) == 1

    # The manager runs invoicing: one invoice, both admissions on it.
    with clock.pinned(uk(date(2026, 12, 4), 15)):
        outcome = invoicing.run_invoicing(date(2026, 12, 4), actor_for(manager))
        db.session.flush()
    [invoice] = outcome.invoices
    assert invoice.number == "INV-2026-0001"
    assert (invoice.status, invoice.net, invoice.vat, invoice.gross) == (
        "issued",
        Decimal("5000.00"),
        Decimal("1000.00"),
        Decimal("6000.00"),
    )
    assert (invoice.issued_on, invoice.due_on) == (date(2026, 12, 4), date(2027, 1, 3))
    assert invoice.pdf is not None and invoice.pdf.startswith(b"%PDF")
    lines = db.session.scalars(
        select(InvoiceLine).where(InvoiceLine.invoice_id == invoice.id)
    ).all()
    assert [(line.lead_reference, line.admitted_on, line.net, line.vat) for line in lines] == [
        (accrual.lead_reference, MONDAY, Decimal("2500.00"), Decimal("500.00")),
        (
            entries("accrual")[1].lead_reference,
            date(2026, 12, 1),
            Decimal("2500.00"),
            Decimal("500.00"),
        ),
    ]
    email = db.session.scalar(
        select(OutboundMessage).where(
            OutboundMessage.idempotency_key == f"invoice:{invoice.id}:email"
        )
    )
    assert email is not None and email.address == "accounts@harbour-house.example"
    assert "£" not in email.body, "no figures in a message every staff member's outbox shows"
    [attachment] = db.session.scalars(
        select(MessageAttachment).where(MessageAttachment.message_id == email.id)
    ).all()
    assert attachment.filename == "INV-2026-0001.pdf" and attachment.content == invoice.pdf
    chase = db.session.scalars(select(Reminder).where(Reminder.kind == "fee_chase")).all()
    assert [(r.owner_id, r.invoice_id, r.due_at) for r in chase] == [
        (manager.id, invoice.id, uk(date(2027, 1, 4), 10))
    ]

    # The clinic pays £1,000.
    with clock.pinned(uk(date(2026, 12, 7), 9)):
        payments.record_payment(
            payments.PaymentDetails(
                clinic.provider_id,
                "GBP",
                Decimal("1000.00"),
                date(2026, 12, 7),
                "bank_transfer",
                "HH-1",
            ),
            actor_for(manager),
        )
        db.session.flush()
    assert invoice.status == "part_paid"

    # The second client leaves on day 10: 50 % back, credited because it was invoiced.
    move(second, advisor, "discharged", date(2026, 12, 11), outcome="early")
    clawback = entries("clawback")
    assert [(e.amount, e.idempotency_key) for e in clawback] == [
        (Decimal("-1250.00"), f"clawback:referral:{second.id}:credited")
    ]
    note = db.session.scalar(select(Invoice).where(Invoice.kind == "credit_note"))
    assert note is not None and note.number == "CN-2026-0001"
    assert (note.net, note.vat, note.gross, note.credits_invoice_id) == (
        Decimal("1250.00"),
        Decimal("250.00"),
        Decimal("1500.00"),
        invoice.id,
    )
    assert note.pdf is not None and note.pdf.startswith(b"%PDF")
    assert balances.outstanding(invoice) == Decimal("3500.00")

    with clock.pinned(uk(date(2026, 12, 11), 16)):
        aged = queries.aged_debt(date(2026, 12, 11))
    [row] = aged
    assert (row.provider, row.currency, row.buckets["current"], row.total) == (
        "Harbour House Ltd",
        "GBP",
        Decimal("3500.00"),
        Decimal("3500.00"),
    )

    # Then the rest.
    with clock.pinned(uk(date(2026, 12, 14), 9)):
        payments.record_payment(
            payments.PaymentDetails(
                clinic.provider_id,
                "GBP",
                Decimal("3500.00"),
                date(2026, 12, 14),
                "bank_transfer",
                "HH-2",
            ),
            actor_for(manager),
        )
        db.session.flush()
    assert (invoice.status, invoice.settled_on) == ("paid", date(2026, 12, 14))
    assert {
        r.status for r in db.session.scalars(select(Reminder).where(Reminder.kind == "fee_chase"))
    } == {"done"}
    with clock.pinned(uk(date(2026, 12, 14), 16)):
        assert queries.aged_debt(date(2026, 12, 14)) == []
        assert [r.total for r in queries.aged_debt(date(2026, 12, 11))] == [Decimal("3500.00")]

    # Every ledger action was audited, and the balance is derived from the entries.
    audited = db.session.scalar(
        select(func.count())
        .select_from(AuditEvent)
        .where(AuditEvent.object_type == "ledger_entries")
    )
    assert audited == len(entries())
    assert sum(e.amount for e in entries() if e.account == "receivable") == 0
    assert db.session.scalar(select(func.count()).select_from(BilledEntry)) == 3
