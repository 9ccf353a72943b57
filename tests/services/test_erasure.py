"""Erasure: a person with every kind of record is erased, then every text column of every
table (read from the metadata, so a new table cannot be forgotten) is scanned for their name,
phone and email; the clinic's invoice still adds up under the lead reference."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from sqlalchemy import JSON, LargeBinary, String, Text, select

from crm import clock
from crm.database import Base
from crm.errors import DomainError
from crm.extensions import db
from crm.fees.models import Invoice, InvoiceLine, LedgerEntry
from crm.intake.models import Contact, Lead
from crm.privacy import erasure, requests
from crm.privacy.models import AuditEvent, Erasure, RightsRequest
from tests.services.intake_factories import actor_for
from tests.services.privacy_factories import TRACES, person_with_everything

pytestmark = pytest.mark.usefixtures("db_session")
LATER = datetime(2026, 12, 13, 10, 0, tzinfo=UTC)


def _text_columns() -> list[tuple[str, str]]:
    """Every column that can hold text: strings, long text, JSON and binary (PDFs, ZIPs)."""
    kinds = (String, Text, JSON, LargeBinary)
    found = [
        (table.name, column.name)
        for table in Base.metadata.sorted_tables
        for column in table.columns
        if isinstance(column.type, kinds)
    ]
    assert len(found) > 100, "the scan reads the metadata, not a hand-kept list"
    return found


def _traces_left() -> list[str]:
    left = []
    for table_name, column_name in _text_columns():
        table = Base.metadata.tables[table_name]
        for value in db.session.scalars(
            select(table.c[column_name]).where(table.c[column_name].is_not(None))
        ):
            text = value.decode("latin-1") if isinstance(value, bytes) else str(value)
            text = text.lower()
            for trace in TRACES:
                if trace.lower() in text:
                    left.append(f"{table_name}.{column_name}: {trace!r}")
    return left


def _erase(story) -> erasure.ErasureOutcome:  # type: ignore[no-untyped-def]
    admin = actor_for(story.people["admin"])
    with clock.pinned(LATER):
        requests.verify_identity(
            story.request.id, "Photo ID by email; rang back on our number", admin
        )
        outcome = erasure.erase_request(story.request.id, admin)
        db.session.flush()
    return outcome


def test_erasure_leaves_no_trace_in_any_text_column() -> None:
    story = person_with_everything()
    before = _traces_left()
    # The scan really sees her: in the callback request, notes, the summary sent, the request.
    for where in ("contacts.name", "lead_notes.body", "referrals.summary", "outbound_messages.body",
                  "rights_requests.requester_name", "call_logs.notes", "reminders.note",
                  "callback_requests.message", "consent_records.withdrawal_note"):  # fmt: skip
        assert any(hit.startswith(where + ":") for hit in before), (where, before)
    invoice_before = (story.invoice.net, story.invoice.vat, story.invoice.gross)
    reference = story.leads[0].reference

    outcome = _erase(story)

    assert outcome.erasure is not None
    assert _traces_left() == []
    # What law requires is kept, under the pseudonymous lead reference.
    invoice = db.session.get(Invoice, story.invoice.id)
    assert invoice is not None and (invoice.net, invoice.vat, invoice.gross) == invoice_before
    lines = db.session.scalars(
        select(InvoiceLine).where(InvoiceLine.invoice_id == invoice.id)
    ).all()
    assert sum((line.net for line in lines), Decimal(0)) == invoice.net
    assert [line.lead_reference for line in lines] == [reference]
    assert db.session.scalar(select(LedgerEntry.id).where(LedgerEntry.lead_reference == reference))
    # Counts for reports stay: the leads, their stages and dates.
    leads = db.session.scalars(
        select(Lead).where(Lead.id.in_([lead.id for lead in story.leads]))
    ).all()
    assert sorted(lead.stage for lead in leads) == ["admitted", "closed"]
    assert all(lead.anonymised_at == LATER for lead in leads)
    contact = db.session.get(Contact, story.leads[0].client_id)
    assert contact is not None and contact.name == f"Erased {outcome.erasure.pseudonym}"
    assert (contact.phone, contact.email, contact.anonymised_at) == (None, None, LATER)
    # The record of the erasure: what, when, by whom; and the request is completed.
    row = db.session.scalar(select(Erasure).where(Erasure.rights_request_id == story.request.id))
    assert row is not None and row.erased_by_id == story.people["admin"].id
    assert row.changed["contacts"] == 1 and row.changed["lead_notes"] == 1
    assert sorted(row.lead_ids) == sorted(lead.id for lead in story.leads)
    request = db.session.get(RightsRequest, story.request.id)
    assert request is not None and request.status == "completed"
    assert request.pseudonym == row.pseudonym and "Erased on" in (request.outcome or "")
    assert db.session.scalar(select(AuditEvent.id).where(AuditEvent.action == "erase"))


def test_a_second_erasure_is_a_no_op_with_a_message() -> None:
    story = person_with_everything()
    first = _erase(story)
    assert first.erasure is not None
    with clock.pinned(LATER):
        again = erasure.erase_request(story.request.id, actor_for(story.people["admin"]))
    assert again.erasure is None
    assert "already erased" in again.message and "nothing was changed" in again.message
    assert db.session.scalar(select(Erasure.id).where(Erasure.id != first.erasure.id)) is None


def test_no_erasure_without_a_verified_identity() -> None:
    story = person_with_everything()
    with pytest.raises(DomainError, match="no verified identity"):
        erasure.erase_request(story.request.id, actor_for(story.people["admin"]))
    assert _traces_left() != []
    assert db.session.scalar(select(Erasure.id)) is None


def test_an_open_safeguarding_flag_holds_the_erasure() -> None:
    story = person_with_everything()
    lead = db.session.get(Lead, story.leads[0].id)
    assert lead is not None
    lead.stage, lead.safeguarding_flagged_at = "referred", LATER
    db.session.flush()
    admin = actor_for(story.people["admin"])
    requests.verify_identity(story.request.id, "Photo ID", admin)
    with pytest.raises(DomainError, match="open safeguarding flag"):
        erasure.erase_request(story.request.id, admin)
    contact = db.session.get(Contact, lead.client_id)
    assert contact is not None and contact.anonymised_at is None and contact.phone


def test_an_erasure_request_for_nobody_is_refused() -> None:
    story = person_with_everything()
    count = db.session.scalar(select(RightsRequest.id).order_by(RightsRequest.id.desc()))
    with (
        clock.pinned(LATER),
        pytest.raises(DomainError, match="Nobody was found for '07700 900999'"),
    ):
        requests.log_request(
            requests.NewRequest(
                "erasure", "Nobody Known", None, None, "email", LATER, "", "07700 900999"
            ),
            actor_for(story.people["admin"]),
        )
    assert db.session.scalar(select(RightsRequest.id).order_by(RightsRequest.id.desc())) == count
