"""Payments from providers (allocated to invoices; any rest kept as credit), write-offs and
reversals of mistaken entries. Services never commit."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select

from crm import clock
from crm.errors import DomainError, ErrorKind
from crm.extensions import db
from crm.fees.arithmetic import MAX_AMOUNT, format_money, round_money
from crm.fees.balances import money_of, refresh_status
from crm.fees.invoicing import london_today
from crm.fees.ledger import EntryFacts, LedgerRuleError, check_reversible
from crm.fees.models import Invoice, LedgerEntry, Payment
from crm.fees.postings import Posting, billed_on, is_reversed, post, post_many, reversal_of
from crm.fees.vocabulary import CURRENCIES, OPEN_INVOICE_STATUSES, PAYMENT_METHODS
from crm.privacy.services import Actor, record_audit_event
from crm.providers.models import Provider
from crm.validation import clean_text


@dataclass(frozen=True)
class PaymentDetails:
    """A payment as a manager records it. ``allocations`` (invoice id, amount) say where it
    goes; None allocates it to the provider's open invoices in that currency, oldest first."""

    provider_id: int
    currency: str
    amount: Decimal | None
    received_on: date | None
    method: str
    reference: str | None = None
    allocations: list[tuple[int, Decimal]] | None = None


def _check_money(amount: Decimal | None, currency: str, label: str = "The amount") -> Decimal:
    if currency not in CURRENCIES:
        raise DomainError(f"Unknown currency {currency!r}: choose one of {', '.join(CURRENCIES)}.")
    if amount is None or not amount.is_finite() or amount <= 0:
        raise DomainError(f"{label} must be more than zero.")
    if amount != round_money(amount, currency):
        raise DomainError(f"{label} has more decimal places than {currency} has.")
    if amount > MAX_AMOUNT:
        raise DomainError(f"{label} is too large for one payment.")
    return amount


def _check_details(details: PaymentDetails) -> tuple[Decimal, date, str | None]:
    amount = _check_money(details.amount, details.currency)
    if details.method not in PAYMENT_METHODS:
        raise DomainError(f"Unknown payment method {details.method!r}.")
    day = details.received_on
    if day is None:
        raise DomainError("Give the date the payment was received.")
    if day > london_today():
        raise DomainError("The payment date cannot be in the future.")
    if day < london_today() - timedelta(days=3650):
        raise DomainError("The payment date is more than ten years ago.")
    try:
        reference = clean_text(details.reference, label="Reference", max_length=100, required=False)
    except ValueError as exc:
        raise DomainError(str(exc)) from None
    if db.session.get(Provider, details.provider_id, with_for_update=True) is None:
        raise DomainError("No such provider.", ErrorKind.NOT_FOUND)
    return amount, day, reference or None


def _open_invoices(provider_id: int, currency: str) -> list[Invoice]:
    return list(
        db.session.scalars(
            select(Invoice)
            .where(
                Invoice.provider_id == provider_id,
                Invoice.currency == currency,
                Invoice.kind == "invoice",
                Invoice.status.in_(OPEN_INVOICE_STATUSES),
            )
            .order_by(Invoice.due_on, Invoice.id)
        )
    )


def _check_invoice(invoice: Invoice | None, details: PaymentDetails) -> Invoice:
    if invoice is None or invoice.kind != "invoice" or invoice.provider_id != details.provider_id:
        raise DomainError("That invoice is not one of this provider's.")
    name = invoice.number or "A draft invoice"
    if invoice.status == "void":
        raise DomainError(f"{name} is void: a payment cannot be allocated to it.")
    if invoice.status == "draft":
        raise DomainError(f"{name} has not been issued yet.")
    if invoice.currency != details.currency:
        raise DomainError(
            f"{name} is in {invoice.currency}; this payment is in {details.currency}. "
            "Record it in the invoice's currency."
        )
    if invoice.status not in OPEN_INVOICE_STATUSES:
        raise DomainError(f"{name} has nothing left to pay.")
    return invoice


def _allocations(details: PaymentDetails, amount: Decimal) -> list[tuple[Invoice, Decimal]]:
    if details.allocations is None:
        plan, left = [], amount
        for invoice in _open_invoices(details.provider_id, details.currency):
            owed = money_of([invoice.id])[invoice.id].outstanding
            share = min(owed, left)
            if share > 0:
                plan.append((invoice, share))
                left -= share
        return plan
    plan = []
    for invoice_id, share in details.allocations:
        invoice = _check_invoice(db.session.get(Invoice, invoice_id, with_for_update=True), details)
        share = _check_money(share, details.currency, "Each allocation")
        owed = money_of([invoice.id])[invoice.id].outstanding
        if share > owed:
            raise DomainError(
                f"Allocate at most {format_money(owed, invoice.currency)} to {invoice.number}: "
                "that is what is left to pay on it."
            )
        plan.append((invoice, share))
    if sum(share for _, share in plan) > amount:
        raise DomainError("The allocations add up to more than the payment.")
    return plan


def record_payment(details: PaymentDetails, actor: Actor) -> Payment:
    """Record money received: one ledger entry per invoice it pays, and one for any rest, which
    stays as the provider's credit (shown on its page and the aged debt, not lost)."""
    amount, day, reference = _check_details(details)
    plan = _allocations(details, amount)
    payment = Payment(
        provider_id=details.provider_id,
        currency=details.currency,
        amount=amount,
        received_on=day,
        method=details.method,
        reference=reference,
        recorded_at=clock.now(),
        recorded_by_id=actor.user_id,
    )
    db.session.add(payment)
    db.session.flush()
    common: dict[str, Any] = {
        "provider_id": details.provider_id,
        "currency": details.currency,
        "payment_id": payment.id,
    }
    postings = [
        Posting(
            kind="payment",
            key=f"payment:{payment.id}:invoice:{invoice.id}",
            amount=-share,
            invoice_id=invoice.id,
            posted_on=day,
            note=reference,
            **common,
        )
        for invoice, share in plan
    ]
    rest = amount - sum((share for _, share in plan), Decimal(0))
    if rest > 0:
        postings.append(
            Posting(
                kind="payment",
                key=f"payment:{payment.id}:credit",
                amount=-rest,
                posted_on=day,
                note="Unallocated: provider credit",
                **common,
            )
        )
    post_many(postings, actor)
    for invoice, _ in plan:
        refresh_status(invoice)
    record_audit_event(actor, "create", object_type="payments", object_id=payment.id)
    return payment


def credit_balance(provider_id: int, currency: str) -> Decimal:
    """Money received and not allocated to any invoice: the provider's credit (positive)."""
    total = db.session.scalar(
        select(func.coalesce(func.sum(LedgerEntry.amount), 0)).where(
            LedgerEntry.provider_id == provider_id,
            LedgerEntry.currency == currency,
            LedgerEntry.account == "receivable",
            LedgerEntry.invoice_id.is_(None),
        )
    )
    return -Decimal(total or 0)


def apply_credit(invoice_id: int, actor: Actor) -> Decimal:
    """Use the provider's credit to pay an open invoice (as much as both allow)."""
    invoice = db.session.get(Invoice, invoice_id, with_for_update=True)
    if invoice is None or invoice.kind != "invoice":
        raise DomainError("No such invoice.", ErrorKind.NOT_FOUND)
    db.session.get(Provider, invoice.provider_id, with_for_update=True)
    if invoice.status not in OPEN_INVOICE_STATUSES:
        raise DomainError(f"{invoice.number or 'This invoice'} has nothing left to pay.")
    share = min(
        credit_balance(invoice.provider_id, invoice.currency),
        money_of([invoice.id])[invoice.id].outstanding,
    )
    if share <= 0:
        raise DomainError("The provider has no credit in this currency.")
    count = db.session.scalar(
        select(func.count()).select_from(LedgerEntry).where(LedgerEntry.invoice_id == invoice.id)
    )
    common: dict[str, Any] = {
        "kind": "payment",
        "provider_id": invoice.provider_id,
        "currency": invoice.currency,
    }
    post_many(
        [
            Posting(
                key=f"credit:{invoice.id}:{count}:from",
                amount=share,
                note=f"Credit used on {invoice.number}",
                **common,
            ),
            Posting(
                key=f"credit:{invoice.id}:{count}:to",
                amount=-share,
                invoice_id=invoice.id,
                note="Paid from credit",
                **common,
            ),
        ],
        actor,
    )
    refresh_status(invoice)
    return share


def write_off(invoice_id: int, reason: str | None, actor: Actor) -> LedgerEntry:
    """Write off what is left to pay on an invoice (a bad debt), with the reason."""
    invoice = db.session.get(Invoice, invoice_id, with_for_update=True)
    if invoice is None or invoice.kind != "invoice":
        raise DomainError("No such invoice.", ErrorKind.NOT_FOUND)
    text = (reason or "").strip()[:300]
    if not text:
        raise DomainError("Say why the debt is written off.")
    if invoice.status not in OPEN_INVOICE_STATUSES:
        raise DomainError(f"{invoice.number or 'This invoice'} has nothing left to write off.")
    owed = money_of([invoice.id])[invoice.id].outstanding
    entry = post(
        Posting(
            kind="write_off",
            key=f"write_off:{invoice.id}:{clock.now().timestamp():.0f}",
            provider_id=invoice.provider_id,
            currency=invoice.currency,
            amount=-owed,
            invoice_id=invoice.id,
            note=text,
        ),
        actor,
    )
    assert entry is not None  # noqa: S101 (a fresh key)
    refresh_status(invoice)
    return entry


def reverse_entry(entry_id: int, reason: str | None, actor: Actor) -> LedgerEntry:
    """Correct a mistaken entry with one that cancels it and names it."""
    entry = db.session.get(LedgerEntry, entry_id)
    if entry is None:
        raise DomainError("No such ledger entry.", ErrorKind.NOT_FOUND)
    text = (reason or "").strip()[:300]
    if not text:
        raise DomainError("Say why the entry is reversed.")
    db.session.get(Provider, entry.provider_id, with_for_update=True)
    facts = EntryFacts(entry.kind, is_reversed(entry.id), billed_on(entry.id) is not None)
    try:
        check_reversible(facts)
    except LedgerRuleError as exc:
        raise DomainError(str(exc), ErrorKind.CONFLICT) from None
    reversal = post(reversal_of(entry, text), actor)
    if reversal is None:
        raise DomainError("This entry has already been reversed.", ErrorKind.CONFLICT)
    if entry.invoice_id is not None:
        invoice = db.session.get(Invoice, entry.invoice_id)
        if invoice is not None:
            refresh_status(invoice)
    return reversal
