"""Invoicing: a run groups each provider's unbilled fees per currency into one invoice; issuing
numbers it, renders and stores its PDF, emails it and sets the fee chase. Services never commit.

A run locks each provider's row while it bills it, so two runs at once never bill one fee
twice; numbers come from ``crm.fees.numbering`` in the same transaction (gapless).
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal

from flask import current_app
from sqlalchemy import func, select

from crm import clock
from crm.auth.models import User
from crm.errors import DomainError, ErrorKind
from crm.extensions import db
from crm.fees import documents
from crm.fees.agreements import agreement_in_force
from crm.fees.arithmetic import document_totals, due_on
from crm.fees.models import BilledEntry, FeeAgreement, Invoice, InvoiceLine, InvoiceRun, LedgerEntry
from crm.fees.numbering import take_number
from crm.fees.postings import Posting, live_billing, post
from crm.fees.vocabulary import BASES, VAT_NOTES
from crm.notify.services import Attachment, queue_message
from crm.oncall import reminders
from crm.oncall.wallclock import LONDON, local_date, local_to_utc
from crm.privacy.services import Actor, record_audit_event
from crm.providers.models import Provider
from crm.referrals.models import Referral

FEE_CHASE_AT = time(10, 0)


@dataclass(frozen=True)
class RunOutcome:
    run: InvoiceRun
    invoices: list[Invoice]


def london_today() -> date:
    return local_date(clock.now())


def _unbilled_groups(up_to: date) -> list[tuple[int, str]]:
    """(provider, currency) pairs with fees posted by ``up_to`` that no live document bills."""
    rows = db.session.execute(
        select(LedgerEntry.provider_id, LedgerEntry.currency)
        .where(
            LedgerEntry.account == "unbilled",
            LedgerEntry.posted_on <= up_to,
            ~live_billing(),
        )
        .group_by(LedgerEntry.provider_id, LedgerEntry.currency)
        .order_by(LedgerEntry.provider_id, LedgerEntry.currency)
    ).all()
    return [(provider_id, currency) for provider_id, currency in rows]


def run_invoicing(
    up_to: date, actor: Actor, *, issue: bool = True, period: str | None = None
) -> RunOutcome:
    """Bill every provider's unbilled fees posted by ``up_to``; issue them unless ``issue`` is
    False (drafts a manager checks and issues one by one). ``period`` ("2026-11", the monthly
    run's) makes the run happen once: a second run for it is refused."""
    if up_to > london_today():
        raise DomainError("Invoice fees up to today at the latest.")
    if period is not None and db.session.scalar(
        select(InvoiceRun.id).where(InvoiceRun.period == period)
    ):
        raise DomainError(
            f"The invoicing run for {period} has already been made.", ErrorKind.CONFLICT
        )
    run = InvoiceRun(
        period=period, up_to=up_to, issue=issue, started_at=clock.now(), actor_id=actor.user_id
    )
    db.session.add(run)
    db.session.flush()
    invoices = []
    for provider_id, currency in _unbilled_groups(up_to):
        invoice = draft_invoice(provider_id, currency, up_to, actor, run.id)
        if invoice is None:
            continue
        if issue:
            issue_invoice(invoice.id, actor)
        invoices.append(invoice)
    run.documents = len(invoices)
    run.finished_at = clock.now()
    record_audit_event(
        actor,
        "invoice_run",
        object_type="invoice_runs",
        object_id=run.id,
        detail=f"up to {up_to.isoformat()}: {len(invoices)} invoice(s)",
    )
    db.session.flush()
    return RunOutcome(run, invoices)


def _billing_agreement(provider_id: int, entries: list[LedgerEntry], today: date) -> FeeAgreement:
    in_force = agreement_in_force(provider_id, today)
    if in_force is not None:
        return in_force
    ids = {e.agreement_id for e in entries if e.agreement_id is not None}
    latest = db.session.scalars(
        select(FeeAgreement)
        .where(FeeAgreement.id.in_(ids))
        .order_by(FeeAgreement.effective_from.desc())
    ).first()
    if latest is None:  # every accrual names its agreement
        raise DomainError("These fees name no fee agreement.", ErrorKind.CONFLICT)
    return latest


def draft_invoice(
    provider_id: int, currency: str, up_to: date, actor: Actor, run_id: int | None = None
) -> Invoice | None:
    """A draft invoice of the provider's unbilled fees in ``currency``: one line per admission
    (its fees net of clawbacks); None when nothing is left to bill."""
    db.session.get(
        Provider, provider_id, with_for_update=True
    )  # one run bills a provider at a time
    entries = list(
        db.session.scalars(
            select(LedgerEntry)
            .where(
                LedgerEntry.provider_id == provider_id,
                LedgerEntry.currency == currency,
                LedgerEntry.account == "unbilled",
                LedgerEntry.posted_on <= up_to,
                ~live_billing(),
            )
            .order_by(LedgerEntry.id)
        )
    )
    by_referral: dict[int | None, list[LedgerEntry]] = defaultdict(list)
    for entry in entries:
        by_referral[entry.referral_id].append(entry)
    billable = {r: es for r, es in by_referral.items() if sum(e.amount for e in es) > 0}
    if not billable:
        return None
    agreement = _billing_agreement(provider_id, entries, london_today())
    invoice = Invoice(
        kind="invoice",
        provider_id=provider_id,
        currency=currency,
        status="draft",
        run_id=run_id,
        billing_name=agreement.billing_name,
        billing_address=agreement.billing_address,
        accounts_email=agreement.accounts_email,
        po_reference=agreement.po_reference,
        created_at=clock.now(),
        created_by_id=actor.user_id,
    )
    db.session.add(invoice)
    db.session.flush()
    _add_lines(invoice, billable)
    return invoice


def _agreements(ids: set[int]) -> dict[int, FeeAgreement]:
    return {
        a.id: a for a in db.session.scalars(select(FeeAgreement).where(FeeAgreement.id.in_(ids)))
    }


def _add_lines(invoice: Invoice, billable: dict[int | None, list[LedgerEntry]]) -> None:
    referrals = {
        r.id: r
        for r in db.session.scalars(
            select(Referral).where(Referral.id.in_({k for k in billable if k is not None}))
        )
    }
    agreements = _agreements(
        {e.agreement_id for es in billable.values() for e in es if e.agreement_id}
    )
    rows = []
    ordered = sorted(billable.items(), key=lambda kv: (_admitted(referrals, kv[0]), kv[0] or 0))
    for referral_id, entries in ordered:
        agreement = agreements.get(next((e.agreement_id for e in entries if e.agreement_id), 0))
        treatment = agreement.vat_treatment if agreement else "standard"
        net = sum((e.amount for e in entries), Decimal(0))
        rows.append((referral_id, entries, agreement, treatment, net))
    totals = document_totals([(net, treatment) for *_, treatment, net in rows], invoice.currency)
    for position, ((referral_id, entries, agreement, treatment, _), amounts) in enumerate(
        zip(rows, totals.lines, strict=True), start=1
    ):
        referral = referrals.get(referral_id) if referral_id is not None else None
        db.session.add(
            InvoiceLine(
                invoice_id=invoice.id,
                position=position,
                referral_id=referral_id,
                lead_reference=entries[0].lead_reference,
                admitted_on=referral.admitted_on if referral else None,
                description=_describe(agreement, entries),
                vat_treatment=treatment,
                net=amounts.net,
                vat_rate=amounts.vat_rate,
                vat=amounts.vat,
            )
        )
        for entry in entries:
            db.session.add(BilledEntry(invoice_id=invoice.id, entry_id=entry.id))
    invoice.net, invoice.vat, invoice.gross = totals.net, totals.vat, totals.gross
    db.session.flush()


def _admitted(referrals: dict[int, Referral], referral_id: int | None) -> date:
    referral = referrals.get(referral_id) if referral_id is not None else None
    return (referral.admitted_on if referral else None) or date.min


def _describe(agreement: FeeAgreement | None, entries: list[LedgerEntry]) -> str:
    if agreement is None:
        return "Referral fee"
    label = BASES[agreement.basis]
    if agreement.basis == "per_week_of_stay":
        weeks = sum(1 for e in entries if e.kind == "accrual")
        return f"{label}: {weeks} week(s)"
    if any(e.kind == "clawback" for e in entries):
        return f"{label}, less clawback"
    return label


# --- issuing -----------------------------------------------------------------------------------


def get_invoice(invoice_id: int) -> Invoice:
    invoice = db.session.get(Invoice, invoice_id)
    if invoice is None:
        raise DomainError("No such invoice or credit note.", ErrorKind.NOT_FOUND)
    return invoice


def lines_of(invoice_id: int) -> list[InvoiceLine]:
    return list(
        db.session.scalars(
            select(InvoiceLine)
            .where(InvoiceLine.invoice_id == invoice_id)
            .order_by(InvoiceLine.position)
        )
    )


def issue_invoice(invoice_id: int, actor: Actor) -> Invoice:
    """Number a draft, store its PDF as generated, post it to the ledger, email it to the
    provider's accounts contact and set the fee chase for the day after it falls due."""
    invoice = db.session.get(Invoice, invoice_id, with_for_update=True)
    if invoice is None:
        raise DomainError("No such invoice.", ErrorKind.NOT_FOUND)
    if invoice.kind != "invoice" or invoice.status != "draft":
        raise DomainError(f"Only a draft invoice can be issued; this one is {invoice.status}.")
    agreement = agreement_in_force(invoice.provider_id, london_today())
    terms_days = agreement.payment_terms_days if agreement else _terms_from_lines(invoice)
    today = london_today()
    number = take_number("invoice", today.year)
    with db.session.no_autoflush:  # number and PDF reach the row together (the trigger's rule)
        invoice.number, invoice.issued_on, invoice.due_on = number, today, due_on(today, terms_days)
        invoice.status, invoice.issued_by_id = "issued", actor.user_id
        store_pdf(invoice)
    post(
        Posting(
            kind="invoice",
            key=f"invoice:{invoice.id}",
            provider_id=invoice.provider_id,
            currency=invoice.currency,
            amount=invoice.gross,
            vat_amount=invoice.vat,
            invoice_id=invoice.id,
            document_id=invoice.id,
            note=invoice.number,
        ),
        actor,
    )
    _email(invoice)
    _set_fee_chase(invoice)
    record_audit_event(
        actor, "issue", object_type="invoices", object_id=invoice.id, detail=invoice.number
    )
    db.session.flush()
    return invoice


def _terms_from_lines(invoice: Invoice) -> int:
    agreement_id = db.session.scalar(
        select(LedgerEntry.agreement_id)
        .join(BilledEntry, BilledEntry.entry_id == LedgerEntry.id)
        .where(BilledEntry.invoice_id == invoice.id, LedgerEntry.agreement_id.is_not(None))
        .limit(1)
    )
    agreement = db.session.get(FeeAgreement, agreement_id) if agreement_id else None
    return agreement.payment_terms_days if agreement else 30


def document_facts(invoice: Invoice) -> documents.DocumentFacts:
    """What the PDF shows: the biller from configuration, the provider's billing details."""
    settings = current_app.config["CRM_SETTINGS"]
    lines = lines_of(invoice.id)
    notes = [VAT_NOTES[t] for t in sorted({line.vat_treatment for line in lines}) if t in VAT_NOTES]
    credits = get_invoice(invoice.credits_invoice_id) if invoice.credits_invoice_id else None
    if credits is not None and invoice.reason:
        notes.insert(0, f"Reason: {invoice.reason}")  # the credited number is in the header
    assert invoice.number is not None and invoice.issued_on is not None  # noqa: S101
    return documents.DocumentFacts(
        kind=invoice.kind,
        number=invoice.number,
        issued_on=invoice.issued_on,
        due_on=invoice.due_on,
        currency=invoice.currency,
        seller=documents.Party(
            settings.service_legal_name,
            settings.service_address,
            vat_number=settings.service_vat_number or None,
        ),
        buyer=documents.Party(
            invoice.billing_name, invoice.billing_address, email=invoice.accounts_email
        ),
        po_reference=invoice.po_reference,
        lines=tuple(
            documents.DocumentLine(
                line.lead_reference or "",
                line.admitted_on,
                line.description,
                line.net,
                line.vat_rate,
                line.vat,
            )
            for line in lines
        ),
        net=invoice.net,
        vat=invoice.vat,
        gross=invoice.gross,
        payment_details=settings.invoice_payment_details if invoice.kind == "invoice" else "",
        notes=tuple(notes),
        credits_number=credits.number if credits else None,
    )


def store_pdf(invoice: Invoice) -> None:
    pdf = documents.render_pdf(document_facts(invoice))
    invoice.pdf, invoice.pdf_sha256 = pdf, hashlib.sha256(pdf).hexdigest()


def _email(invoice: Invoice) -> None:
    """The PDF to the accounts contact, as an outbound message (no figures in the body: the
    dev outbox is readable by all staff in development)."""
    settings = current_app.config["CRM_SETTINGS"]
    label = "Invoice" if invoice.kind == "invoice" else "Credit note"
    assert invoice.number is not None and invoice.pdf is not None  # noqa: S101
    body = (
        f"Dear {invoice.billing_name},\n\nPlease find attached {label.lower()} {invoice.number} "
        f"from {settings.service_legal_name}."
        + (f" It is due by {invoice.due_on:%d %B %Y}." if invoice.due_on else "")
        + "\n\nWith thanks,\n"
        + settings.service_legal_name
    )
    queue_message(
        f"invoice:{invoice.id}:email",
        "email",
        invoice.accounts_email,
        f"{label} {invoice.number} from {settings.service_legal_name}",
        body,
        attachments=[Attachment(f"{invoice.number}.pdf", "application/pdf", invoice.pdf)],
    )


def _set_fee_chase(invoice: Invoice) -> None:
    """A fee chase for every active manager, due the morning after the invoice falls due."""
    assert invoice.due_on is not None  # noqa: S101
    due = local_to_utc(invoice.due_on + timedelta(days=1), FEE_CHASE_AT)
    managers = db.session.scalars(
        select(User.id).where(User.role == "manager", User.active.is_(True)).order_by(User.id)
    ).all()
    provider = db.session.get(Provider, invoice.provider_id)
    to = provider.name if provider else "a provider"
    for manager_id in managers:
        reminder = reminders.create_reminder(
            "fee_chase",
            due,
            owner_id=manager_id,
            lead_id=None,
            note=f"Invoice {invoice.number} to {to} is unpaid",
        )
        reminder.invoice_id = invoice.id


def unbilled_count(up_to: date) -> int:
    """How many admissions the next run would bill (the run screen shows it): those whose
    unbilled entries net above zero, as ``draft_invoice`` counts them, so an accrual and its
    reversal count for nothing."""
    per_admission = (
        select(LedgerEntry.referral_id)
        .where(LedgerEntry.account == "unbilled", LedgerEntry.posted_on <= up_to, ~live_billing())
        .group_by(LedgerEntry.provider_id, LedgerEntry.currency, LedgerEntry.referral_id)
        .having(func.sum(LedgerEntry.amount) > 0)
        .subquery()
    )
    return int(db.session.scalar(select(func.count()).select_from(per_admission)) or 0)


# --- the monthly run ---------------------------------------------------------------------------

MONTHLY_RUN_AT = time(6, 0)  # the 1st of each month, UK time


def monthly_period_due(now: datetime) -> tuple[str, date]:
    """The latest month whose run is due at ``now``, and its last day: November's run is due
    from 06:00 UK time on 1 December. A run missed (beat down) is caught up when it is back."""
    shifted = now.astimezone(LONDON) - timedelta(hours=MONTHLY_RUN_AT.hour)
    last_day = shifted.date().replace(day=1) - timedelta(days=1)
    return f"{last_day:%Y-%m}", last_day


def run_monthly(now: datetime | None = None) -> RunOutcome | None:
    """Beat's hourly check: make the due month's run once (``InvoiceRun.period`` is unique, so
    two beats at once make one run); None when it has already been made."""
    period, up_to = monthly_period_due(now or clock.now())
    if db.session.scalar(select(InvoiceRun.id).where(InvoiceRun.period == period)):
        return None
    return run_invoicing(up_to, Actor.system("monthly invoicing"), issue=True, period=period)
