"""What the fee screens read: aged debt, the ledger with filters, a provider's and a referral's
fees. Reads only."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import case, func, literal, select

from crm.extensions import db
from crm.fees.arithmetic import age_bucket
from crm.fees.balances import money_of
from crm.fees.ledger import DocumentMoney
from crm.fees.models import BilledEntry, FeeTrigger, Invoice, LedgerEntry
from crm.fees.vocabulary import AGE_BUCKETS, OPEN_INVOICE_STATUSES
from crm.providers.models import Provider

ZERO = Decimal(0)
LEDGER_PAGE = 100


@dataclass
class AgedRow:
    """What one provider owes in one currency, by how late, as of a day."""

    provider_id: int
    provider: str
    currency: str
    buckets: dict[str, Decimal] = field(default_factory=lambda: dict.fromkeys(AGE_BUCKETS, ZERO))
    credit: Decimal = ZERO  # money received and not allocated (shown, never lost)

    @property
    def total(self) -> Decimal:
        return sum(self.buckets.values(), ZERO)


def _bucket_expression(as_of: date) -> Any:
    late = literal(as_of) - Invoice.due_on
    if db.session.get_bind().dialect.name == "sqlite":
        late = func.julianday(literal(as_of.isoformat())) - func.julianday(Invoice.due_on)
    return case(
        (late <= 0, AGE_BUCKETS[0]),
        (late <= 30, AGE_BUCKETS[1]),
        (late <= 60, AGE_BUCKETS[2]),
        (late <= 90, AGE_BUCKETS[3]),
        else_=AGE_BUCKETS[4],
    )


def aged_debt(as_of: date, currency: str | None = None) -> list[AgedRow]:
    """Per provider and currency, what was owed on ``as_of`` on invoices issued by then and not
    settled by then, bucketed by days past due; plus unallocated credit. One grouped query over
    the open invoices' entries, one over credits."""
    bucket = _bucket_expression(as_of).label("bucket")
    owed = (
        select(Invoice.provider_id, Invoice.currency, bucket, func.sum(LedgerEntry.amount))
        .join(LedgerEntry, LedgerEntry.invoice_id == Invoice.id)
        .where(
            Invoice.kind == "invoice",
            Invoice.issued_on <= as_of,
            (Invoice.settled_on.is_(None)) | (Invoice.settled_on > as_of),
            LedgerEntry.account == "receivable",
            LedgerEntry.posted_on <= as_of,
        )
        .group_by(Invoice.provider_id, Invoice.currency, bucket)
    )
    credit = (
        select(LedgerEntry.provider_id, LedgerEntry.currency, func.sum(LedgerEntry.amount))
        .where(
            LedgerEntry.invoice_id.is_(None),
            LedgerEntry.account == "receivable",
            LedgerEntry.posted_on <= as_of,
        )
        .group_by(LedgerEntry.provider_id, LedgerEntry.currency)
    )
    if currency:
        owed = owed.where(Invoice.currency == currency)
        credit = credit.where(LedgerEntry.currency == currency)
    rows: dict[tuple[int, str], AgedRow] = {}
    for provider_id, cur, name, amount in db.session.execute(owed):
        row = rows.setdefault((provider_id, cur), AgedRow(provider_id, "", cur))
        row.buckets[name] += Decimal(amount or 0)
    for provider_id, cur, amount in db.session.execute(credit):
        if amount:
            row = rows.setdefault((provider_id, cur), AgedRow(provider_id, "", cur))
            row.credit = -Decimal(amount)
    names = provider_names({p for p, _ in rows})
    for row in rows.values():
        row.provider = names.get(row.provider_id, "?")
    return sorted(rows.values(), key=lambda r: (r.provider.lower(), r.currency))


def aged_totals(rows: list[AgedRow]) -> dict[str, dict[str, Decimal]]:
    """Column totals per currency (money in different currencies is never added together)."""
    totals: dict[str, dict[str, Decimal]] = defaultdict(
        lambda: dict.fromkeys((*AGE_BUCKETS, "total", "credit"), ZERO)
    )
    for row in rows:
        for name, amount in row.buckets.items():
            totals[row.currency][name] += amount
        totals[row.currency]["total"] += row.total
        totals[row.currency]["credit"] += row.credit
    return dict(totals)


def provider_names(ids: set[int]) -> dict[int, str]:
    if not ids:
        return {}
    return dict(
        db.session.execute(select(Provider.id, Provider.name).where(Provider.id.in_(ids))).all()
    )


@dataclass(frozen=True)
class LedgerFilters:
    provider_id: int | None = None
    kind: str | None = None
    currency: str | None = None
    date_from: date | None = None
    date_to: date | None = None
    before_id: int | None = None  # the page after the one ending just above this id


def ledger_page(filters: LedgerFilters, limit: int = LEDGER_PAGE) -> list[LedgerEntry]:
    """Newest entries first, keyset-paged by id (no counting a million rows)."""
    query = select(LedgerEntry).order_by(LedgerEntry.id.desc()).limit(limit)
    if filters.provider_id is not None:
        query = query.where(LedgerEntry.provider_id == filters.provider_id)
    if filters.kind:
        query = query.where(LedgerEntry.kind == filters.kind)
    if filters.currency:
        query = query.where(LedgerEntry.currency == filters.currency)
    if filters.date_from:
        query = query.where(LedgerEntry.posted_on >= filters.date_from)
    if filters.date_to:
        query = query.where(LedgerEntry.posted_on <= filters.date_to)
    if filters.before_id:
        query = query.where(LedgerEntry.id < filters.before_id)
    return list(db.session.scalars(query))


def document_numbers(ids: set[int]) -> dict[int, str]:
    if not ids:
        return {}
    rows = db.session.execute(select(Invoice.id, Invoice.number).where(Invoice.id.in_(ids)))
    return {i: n or "draft" for i, n in rows}


def reversed_ids(entry_ids: set[int]) -> set[int]:
    if not entry_ids:
        return set()
    return set(
        db.session.scalars(
            select(LedgerEntry.reverses_id).where(LedgerEntry.reverses_id.in_(entry_ids))
        )
    )


@dataclass(frozen=True)
class Balance:
    """A provider's money in one currency: earned and not yet invoiced, owed on invoices, credit."""

    currency: str
    unbilled: Decimal
    owed: Decimal
    credit: Decimal


def provider_balances(provider_id: int) -> list[Balance]:
    """Derived from the entries every time: no stored running balance to drift."""
    rows = db.session.execute(
        select(
            LedgerEntry.currency,
            LedgerEntry.account,
            LedgerEntry.invoice_id.is_(None).label("unallocated"),
            func.sum(LedgerEntry.amount),
        )
        .where(LedgerEntry.provider_id == provider_id)
        .group_by(LedgerEntry.currency, LedgerEntry.account, LedgerEntry.invoice_id.is_(None))
    ).all()
    sums: dict[str, dict[str, Decimal]] = defaultdict(
        lambda: {"unbilled": ZERO, "owed": ZERO, "credit": ZERO}
    )
    for currency, account, unallocated, amount in rows:
        value = Decimal(amount or 0)
        if account == "unbilled":
            sums[currency]["unbilled"] += value
        elif unallocated:
            sums[currency]["credit"] -= value
        else:
            sums[currency]["owed"] += value
    billed = _billed_unbilled_account(provider_id)
    return [
        Balance(c, s["unbilled"] - billed.get(c, ZERO), s["owed"], s["credit"])
        for c, s in sorted(sums.items())
    ]


def _billed_unbilled_account(provider_id: int) -> dict[str, Decimal]:
    rows = db.session.execute(
        select(LedgerEntry.currency, func.sum(LedgerEntry.amount))
        .join(BilledEntry, BilledEntry.entry_id == LedgerEntry.id)
        .join(Invoice, Invoice.id == BilledEntry.invoice_id)
        .where(LedgerEntry.provider_id == provider_id, Invoice.releases_fees.is_(False))
        .group_by(LedgerEntry.currency)
    )
    return {currency: Decimal(amount or 0) for currency, amount in rows}


def open_invoices(provider_id: int | None = None) -> list[tuple[Invoice, DocumentMoney]]:
    query = (
        select(Invoice)
        .where(Invoice.kind == "invoice", Invoice.status.in_(OPEN_INVOICE_STATUSES))
        .order_by(Invoice.due_on, Invoice.id)
    )
    if provider_id is not None:
        query = query.where(Invoice.provider_id == provider_id)
    invoices = list(db.session.scalars(query.limit(500)))
    money = money_of({i.id for i in invoices})
    return [(i, money[i.id]) for i in invoices]


def documents(
    status: str | None = None,
    provider_id: int | None = None,
    kind: str | None = None,
    limit: int = 200,
) -> list[Invoice]:
    query = select(Invoice).order_by(Invoice.id.desc()).limit(limit)
    if status:
        query = query.where(Invoice.status == status)
    if provider_id:
        query = query.where(Invoice.provider_id == provider_id)
    if kind:
        query = query.where(Invoice.kind == kind)
    return list(db.session.scalars(query))


def referral_entries(referral_id: int) -> list[LedgerEntry]:
    return list(
        db.session.scalars(
            select(LedgerEntry)
            .where(LedgerEntry.referral_id == referral_id)
            .order_by(LedgerEntry.id)
        )
    )


def referral_triggers(referral_id: int) -> list[FeeTrigger]:
    return list(
        db.session.scalars(
            select(FeeTrigger).where(FeeTrigger.referral_id == referral_id).order_by(FeeTrigger.id)
        )
    )


def document_entries(invoice_id: int) -> list[LedgerEntry]:
    """The receivable entries on an invoice's balance: the invoice, payments, credits."""
    return list(
        db.session.scalars(
            select(LedgerEntry)
            .where(LedgerEntry.invoice_id == invoice_id, LedgerEntry.account == "receivable")
            .order_by(LedgerEntry.id)
        )
    )


def credit_notes_for(invoice_id: int) -> list[Invoice]:
    return list(
        db.session.scalars(
            select(Invoice).where(Invoice.credits_invoice_id == invoice_id).order_by(Invoice.id)
        )
    )


def age_of(invoice: Invoice, as_of: date) -> str:
    return age_bucket(invoice.due_on, as_of) if invoice.due_on else AGE_BUCKETS[0]
