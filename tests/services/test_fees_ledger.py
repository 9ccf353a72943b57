"""The ledger is append-only in the database itself (raw SQL is refused), mistakes are put right
by reversals that name the entry, every entry is audited, and clients appear only by their lead
reference."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import String, Text, func, inspect, select, text
from sqlalchemy.exc import DatabaseError

from crm import clock
from crm.errors import DomainError
from crm.extensions import db
from crm.fees import accruals, invoicing, payments
from crm.fees.models import Invoice, LedgerEntry
from crm.privacy.models import AuditEvent
from tests.services.fee_factories import admitted, agreement_for, harbour_house, uk
from tests.services.intake_factories import actor_for, team

pytestmark = pytest.mark.usefixtures("db_session")
MONDAY = date(2026, 11, 2)


@pytest.fixture
def invoiced():
    """Harbour House's fee accrued and invoiced: an entry, a document, lines, billed rows."""
    people = team()
    clinic = harbour_house()
    agreement_for(clinic, people["manager"])
    referral = admitted(clinic, people["admissions"], MONDAY)
    with clock.pinned(uk(date(2026, 11, 5), 11)):
        accruals.fire_due_fee_triggers()
    with clock.pinned(uk(date(2026, 11, 6), 15)):
        [invoice] = invoicing.run_invoicing(
            date(2026, 11, 6), actor_for(people["manager"])
        ).invoices
        db.session.flush()
    return people, referral, invoice


def refused(statement: str, **params: object) -> str:
    """Run raw SQL in a savepoint; the database must refuse it. Returns its message."""
    savepoint = db.session.begin_nested()
    try:
        db.session.execute(text(statement), params)
        db.session.flush()
    except DatabaseError as exc:
        savepoint.rollback()
        return str(exc.orig)
    savepoint.rollback()
    pytest.fail(f"the database allowed: {statement}")


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE ledger_entries SET amount = 1 WHERE id = :entry",
        "UPDATE ledger_entries SET note = 'quietly changed' WHERE id = :entry",
        "DELETE FROM ledger_entries WHERE id = :entry",
        "DELETE FROM ledger_entries",
        "UPDATE invoice_lines SET net = 1 WHERE invoice_id = :invoice",
        "DELETE FROM invoice_lines WHERE invoice_id = :invoice",
        "UPDATE billed_entries SET invoice_id = invoice_id WHERE invoice_id = :invoice",
        "DELETE FROM billed_entries WHERE invoice_id = :invoice",
        "DELETE FROM invoices WHERE id = :invoice",
        "UPDATE invoices SET number = 'INV-2026-9999' WHERE id = :invoice",
        "UPDATE invoices SET pdf = NULL WHERE id = :invoice",
        "UPDATE invoices SET pdf_sha256 = 'x' WHERE id = :invoice",
    ],
)
def test_the_database_refuses_changes_to_the_ledger_and_issued_documents(
    invoiced, statement
) -> None:
    _, _, invoice = invoiced
    entry_id = db.session.scalar(select(func.min(LedgerEntry.id)))
    before = [(e.id, e.amount, e.note) for e in db.session.scalars(select(LedgerEntry))]
    message = refused(statement, entry=entry_id, invoice=invoice.id)
    assert "append-only" in message or "never deleted" in message or "keeps its number" in message
    db.session.expire_all()
    assert [(e.id, e.amount, e.note) for e in db.session.scalars(select(LedgerEntry))] == before
    assert db.session.get(Invoice, invoice.id).number == "INV-2026-0001"


def test_an_issued_document_may_still_change_state(invoiced) -> None:
    """The triggers freeze what was issued, not the status a payment moves."""
    _, _, invoice = invoiced
    db.session.execute(
        text("UPDATE invoices SET status = 'part_paid' WHERE id = :id"), {"id": invoice.id}
    )
    db.session.expire_all()
    assert db.session.get(Invoice, invoice.id).status == "part_paid"


def test_a_mistaken_payment_is_reversed_by_an_entry_that_names_it(invoiced) -> None:
    people, _, invoice = invoiced
    manager = actor_for(people["manager"])
    with clock.pinned(uk(date(2026, 11, 9), 9)):
        payment = payments.record_payment(
            payments.PaymentDetails(
                invoice.provider_id, "GBP", Decimal("3000.00"), date(2026, 11, 9), "bank_transfer"
            ),
            manager,
        )
        db.session.flush()
        assert invoice.status == "paid"
        [entry] = db.session.scalars(
            select(LedgerEntry).where(LedgerEntry.payment_id == payment.id)
        ).all()
        with pytest.raises(DomainError, match="why"):
            payments.reverse_entry(entry.id, "  ", manager)
        reversal = payments.reverse_entry(entry.id, "Payment bounced", manager)
        db.session.flush()
        assert (reversal.kind, reversal.amount, reversal.reverses_id, reversal.note) == (
            "reversal",
            Decimal("3000.00"),
            entry.id,
            "Payment bounced",
        )
        assert invoice.status == "issued" and invoice.settled_on is None
        with pytest.raises(DomainError, match="already been reversed"):
            payments.reverse_entry(entry.id, "again", manager)
        with pytest.raises(DomainError, match="not itself reversed"):
            payments.reverse_entry(reversal.id, "a reversal of a reversal", manager)
        invoice_entry = db.session.scalar(select(LedgerEntry).where(LedgerEntry.kind == "invoice"))
        with pytest.raises(DomainError, match="not reversed"):
            payments.reverse_entry(invoice_entry.id, "the invoice itself", manager)


def test_an_invoiced_accrual_is_not_reversed_by_hand(invoiced) -> None:
    people, _, _ = invoiced
    accrual = db.session.scalar(select(LedgerEntry).where(LedgerEntry.kind == "accrual"))
    with pytest.raises(DomainError, match="correct the referral's dates"):
        payments.reverse_entry(accrual.id, "wrong", actor_for(people["manager"]))


def test_every_entry_is_audited_and_names_who_posted_it(invoiced) -> None:
    people, _, _ = invoiced
    entries = list(db.session.scalars(select(LedgerEntry)))
    audited = dict(
        db.session.execute(
            select(AuditEvent.object_id, AuditEvent.action).where(
                AuditEvent.object_type == "ledger_entries"
            )
        ).all()
    )
    assert audited == {str(e.id): f"ledger_{e.kind}" for e in entries}
    invoice_entry = next(e for e in entries if e.kind == "invoice")
    assert invoice_entry.actor_email == people["manager"].email


def test_the_ledger_names_the_client_only_by_the_lead_reference(invoiced) -> None:
    """Every text column of the fee tables, from the metadata: no name, phone or email of the
    client (so erasing the person later leaves the ledger whole)."""
    _, referral, _ = invoiced
    from crm.intake.models import Contact, Lead

    lead = db.session.get(Lead, referral.lead_id)
    client = db.session.get(Contact, lead.client_id)
    secrets = [s for s in (client.name, client.phone, client.email) if s]
    assert secrets
    fee_tables = [
        t
        for t in db.metadata.sorted_tables
        if t.name in {"ledger_entries", "invoices", "invoice_lines", "fee_triggers", "payments"}
    ]
    for table in fee_tables:
        columns = [c for c in table.columns if isinstance(c.type, String | Text)]
        for row in db.session.execute(select(*columns)):
            for value in row:
                for secret in secrets:
                    assert secret not in (value or ""), f"{table.name} holds {secret!r}"
    assert {e.lead_reference for e in db.session.scalars(select(LedgerEntry)) if e.referral_id} == {
        lead.reference
    }
    assert "invoices" in inspect(db.engine).get_table_names()
