"""Credit notes: fees taken back after they were invoiced (a clawback, a corrected date) and
voiding an invoice. A fee not yet invoiced is simply netted on the next invoice instead."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import replace
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import exists, select
from sqlalchemy.orm import aliased

from crm import clock
from crm.errors import DomainError, ErrorKind
from crm.extensions import db
from crm.fees.arithmetic import document_totals
from crm.fees.balances import money_of, refresh_status
from crm.fees.invoicing import _email, get_invoice, lines_of, london_today, store_pdf
from crm.fees.models import BilledEntry, Invoice, InvoiceLine, LedgerEntry
from crm.fees.numbering import take_number
from crm.fees.postings import Posting, billed_on, post, post_many, reversal_of, unbilled_total
from crm.privacy.services import Actor, record_audit_event


def _already_posted(keys: list[str]) -> set[str]:
    return set(
        db.session.scalars(
            select(LedgerEntry.idempotency_key).where(LedgerEntry.idempotency_key.in_(keys))
        )
    )


def reverse_fees(referral_id: int, actor: Actor, note: str) -> None:
    """Reverse every accrual and clawback of the referral not yet reversed: an invoiced fee is
    credited on a credit note against its invoice, the rest nets on the next invoice."""
    reversal = aliased(LedgerEntry)
    entries = db.session.scalars(
        select(LedgerEntry)
        .where(
            LedgerEntry.referral_id == referral_id,
            LedgerEntry.kind.in_(("accrual", "clawback")),
            ~exists().where(reversal.reverses_id == LedgerEntry.id),
        )
        .order_by(LedgerEntry.id)
    ).all()
    to_net: list[Posting] = []
    to_credit: dict[int, list[Posting]] = defaultdict(list)
    for entry in entries:
        document = billed_on(entry.id)
        if document is not None and document.kind == "invoice" and entry.amount > 0:
            to_credit[document.id].append(reversal_of(entry, note))
        else:
            to_net.append(reversal_of(entry, note))
    post_many(to_net, actor)
    for invoice_id, postings in to_credit.items():
        credit_note(get_invoice(invoice_id), postings, note, actor)


def post_refund(
    provider_id: int,
    currency: str,
    referral_id: int,
    lead_reference: str,
    agreement_id: int,
    refund: Decimal,
    key: str,
    actor: Actor,
    note: str,
) -> None:
    """A clawback of ``refund``: against the fee not yet invoiced first, the rest on a credit
    note against the invoice that billed the fee."""
    if _already_posted([key, f"{key}:credited"]):
        return  # a replay
    here = min(refund, max(unbilled_total(referral_id), Decimal(0)))
    credited = refund - here
    common: dict[str, Any] = {
        "kind": "clawback",
        "provider_id": provider_id,
        "currency": currency,
        "referral_id": referral_id,
        "lead_reference": lead_reference,
        "agreement_id": agreement_id,
        "note": note,
    }
    if here > 0:
        post(Posting(key=key, amount=-here, **common), actor)
    if credited > 0:
        invoice = _invoice_billing(referral_id)
        posting = Posting(key=f"{key}:credited", amount=-credited, **common)
        if invoice is None:
            post(posting, actor)
        else:
            credit_note(invoice, [posting], note, actor)


def _invoice_billing(referral_id: int) -> Invoice | None:
    """The latest live invoice with a line for the referral."""
    return db.session.scalars(
        select(Invoice)
        .join(InvoiceLine, InvoiceLine.invoice_id == Invoice.id)
        .where(
            InvoiceLine.referral_id == referral_id,
            Invoice.kind == "invoice",
            Invoice.status.not_in(("void", "draft")),
        )
        .order_by(Invoice.id.desc())
        .limit(1)
    ).first()


def _new_credit_note(invoice: Invoice, reason: str, actor: Actor) -> Invoice:
    """An issued credit note against ``invoice``, to its billing details (not yet added)."""
    return Invoice(
        kind="credit_note",
        provider_id=invoice.provider_id,
        currency=invoice.currency,
        status="issued",
        credits_invoice_id=invoice.id,
        billing_name=invoice.billing_name,
        billing_address=invoice.billing_address,
        accounts_email=invoice.accounts_email,
        po_reference=invoice.po_reference,
        reason=reason[:300],
        created_at=clock.now(),
        created_by_id=actor.user_id,
        issued_by_id=actor.user_id,
    )


def credit_note(
    invoice: Invoice, postings: list[Posting], reason: str, actor: Actor
) -> Invoice | None:
    """Post ``postings`` (negative fee entries) on a new, issued credit note against
    ``invoice``: numbered, its PDF stored, emailed, the invoice's balance reduced."""
    fresh = [p for p in postings if p.key not in _already_posted([p.key for p in postings])]
    if not fresh:
        return None
    treatments = {line.referral_id: line.vat_treatment for line in lines_of(invoice.id)}
    note = _new_credit_note(invoice, reason, actor)
    db.session.add(note)
    db.session.flush()
    written = post_many([_on_document(p, note.id) for p in fresh], actor)
    rows = [(-p.amount, treatments.get(p.referral_id, "standard")) for p in fresh]
    totals = document_totals(rows, invoice.currency)
    for position, (posting, amounts) in enumerate(zip(fresh, totals.lines, strict=True), start=1):
        db.session.add(
            InvoiceLine(
                invoice_id=note.id,
                position=position,
                referral_id=posting.referral_id,
                lead_reference=posting.lead_reference,
                admitted_on=_admitted_on(invoice.id, posting.referral_id),
                description=posting.note or "Credit",
                vat_treatment=treatments.get(posting.referral_id, "standard"),
                net=amounts.net,
                vat_rate=amounts.vat_rate,
                vat=amounts.vat,
            )
        )
        db.session.add(BilledEntry(invoice_id=note.id, entry_id=written[posting.key]))
    _issue_credit(note, invoice, totals.net, totals.vat, actor)
    return note


def _on_document(posting: Posting, document_id: int) -> Posting:
    return replace(posting, document_id=document_id)


def _admitted_on(invoice_id: int, referral_id: int | None) -> date | None:
    return db.session.scalar(
        select(InvoiceLine.admitted_on).where(
            InvoiceLine.invoice_id == invoice_id, InvoiceLine.referral_id == referral_id
        )
    )


def _issue_credit(
    note: Invoice, invoice: Invoice, net: Decimal, vat: Decimal, actor: Actor
) -> None:
    db.session.flush()  # the lines, before the PDF is drawn from them
    today = london_today()
    number = take_number("credit_note", today.year)
    with db.session.no_autoflush:  # number and PDF reach the row together (the trigger's rule)
        note.net, note.vat, note.gross = net, vat, net + vat
        note.number, note.issued_on = number, today
        store_pdf(note)
    post(
        Posting(
            kind="credit_note",
            key=f"credit_note:{note.id}",
            provider_id=note.provider_id,
            currency=note.currency,
            amount=-note.gross,
            vat_amount=-note.vat,
            invoice_id=invoice.id,
            document_id=note.id,
            note=f"{number} credits {invoice.number}",
        ),
        actor,
    )
    _email(note)
    refresh_status(invoice)
    record_audit_event(
        actor,
        "issue",
        object_type="invoices",
        object_id=note.id,
        detail=f"{number} for {invoice.number}",
    )


def void_invoice(invoice_id: int, reason: str | None, actor: Actor) -> Invoice:
    """Void a draft, or an issued invoice nothing has been paid, credited or written off on (a
    credit note for the whole of it): its fees are billed again by the next run."""
    invoice = db.session.get(Invoice, invoice_id, with_for_update=True)
    if invoice is None or invoice.kind != "invoice":
        raise DomainError("No such invoice.", ErrorKind.NOT_FOUND)
    text = (reason or "").strip()[:300]
    if not text:
        raise DomainError("Say why the invoice is void.")
    if invoice.status == "void":
        raise DomainError(f"{invoice.number or 'This draft'} is already void.", ErrorKind.CONFLICT)
    if invoice.status == "draft":
        invoice.status, invoice.reason, invoice.releases_fees = "void", text, True
        record_audit_event(actor, "void", object_type="invoices", object_id=invoice.id)
        return invoice
    money = money_of([invoice.id])[invoice.id]
    if money.paid or money.credited or money.written_off:
        raise DomainError(
            f"{invoice.number} has payments, credit notes or write-offs: reverse the payments "
            "first, or credit what is wrong instead of voiding it."
        )
    _void_with_credit(invoice, text, actor)
    return invoice


def _void_with_credit(invoice: Invoice, reason: str, actor: Actor) -> None:
    note = _new_credit_note(invoice, f"Void: {reason}", actor)
    db.session.add(note)
    db.session.flush()
    for line in lines_of(invoice.id):
        db.session.add(
            InvoiceLine(
                invoice_id=note.id,
                position=line.position,
                referral_id=line.referral_id,
                lead_reference=line.lead_reference,
                admitted_on=line.admitted_on,
                description=line.description,
                vat_treatment=line.vat_treatment,
                net=line.net,
                vat_rate=line.vat_rate,
                vat=line.vat,
            )
        )
    invoice.status, invoice.reason, invoice.releases_fees = "void", reason, True
    _issue_credit(note, invoice, invoice.net, invoice.vat, actor)
