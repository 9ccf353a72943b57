"""Fee agreements, the append-only ledger, invoices and credit notes, payments, due accruals."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    Numeric,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.sql.expression import false

from crm import clock
from crm.database import Base, UTCDateTime
from crm.fees.vocabulary import (
    BASES,
    CURRENCIES,
    DOCUMENT_KINDS,
    INVOICE_STATUSES,
    LEDGER_KINDS,
    PAYMENT_METHODS,
    VAT_TREATMENTS,
)

FEE_BASES = tuple(BASES)
TRIGGER_STATUSES = ("pending", "done", "cancelled", "waiting")
Money = Numeric(12, 2)


def _in(column: str, values: Any) -> str:
    return f"{column} IN ({', '.join(repr(str(v)) for v in values)})"


class FeeAgreement(Base):
    """What a provider pays per referred admission, between its effective dates.

    The agreement in force on an admission date governs that admission for good: once an
    accrual names it, its terms are frozen (a change is a new version from a later date).
    """

    __tablename__ = "fee_agreements"
    __table_args__ = (
        CheckConstraint(_in("basis", FEE_BASES), name="basis_known"),
        CheckConstraint("amount IS NULL OR amount >= 0", name="amount_not_negative"),
        CheckConstraint(
            "effective_to IS NULL OR effective_to >= effective_from", name="dates_ordered"
        ),
        CheckConstraint(_in("currency", CURRENCIES), name="currency_known"),
        CheckConstraint(_in("vat_treatment", VAT_TREATMENTS), name="vat_treatment_known"),
        CheckConstraint("rate IS NULL OR (rate > 0 AND rate <= 100)", name="rate_range"),
        CheckConstraint("trigger_nights >= 0", name="trigger_not_negative"),
        CheckConstraint("payment_terms_days >= 0", name="terms_not_negative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    provider_id: Mapped[int] = mapped_column(ForeignKey("providers.id"), index=True)
    basis: Mapped[str] = mapped_column(String(30))
    amount: Mapped[Decimal | None] = mapped_column(Money)
    rate: Mapped[Decimal | None] = mapped_column(Numeric(5, 2))
    cap_amount: Mapped[Decimal | None] = mapped_column(Money)
    currency: Mapped[str] = mapped_column(String(3), default="GBP")
    vat_treatment: Mapped[str] = mapped_column(String(20), default="standard")
    trigger_nights: Mapped[int] = mapped_column(Integer, default=0)
    # [{"within_days": 7, "percent": "100"}, ...], shortest first
    clawback_tiers: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    payment_terms_days: Mapped[int] = mapped_column(Integer, default=30)
    billing_name: Mapped[str] = mapped_column(String(200), default="")
    billing_address: Mapped[str] = mapped_column(Text, default="")
    accounts_email: Mapped[str] = mapped_column(String(254), default="")
    po_reference: Mapped[str | None] = mapped_column(String(100))
    effective_from: Mapped[date] = mapped_column(Date)
    effective_to: Mapped[date | None] = mapped_column(Date)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=clock.now)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))


class FeeTrigger(Base):
    """A fee that falls due at a time (after N nights, each week of stay): a due row the
    engine claims (ARCHITECTURE.md rule 4). ``waiting``: it needs a treatment value first."""

    __tablename__ = "fee_triggers"
    __table_args__ = (
        CheckConstraint(_in("status", TRIGGER_STATUSES), name="status_known"),
        UniqueConstraint("referral_id", "revision", "week", name="uq_fee_triggers_week"),
        Index("ix_fee_triggers_due", "status", "due_at", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    referral_id: Mapped[int] = mapped_column(ForeignKey("referrals.id"), index=True)
    agreement_id: Mapped[int] = mapped_column(ForeignKey("fee_agreements.id"))
    revision: Mapped[int] = mapped_column(Integer, default=0)  # bumped by a date correction
    week: Mapped[int] = mapped_column(Integer, default=1)  # 1 for every basis but per week
    due_at: Mapped[datetime] = mapped_column(UTCDateTime())
    status: Mapped[str] = mapped_column(String(10), default="pending")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=clock.now)
    done_at: Mapped[datetime | None]
    note: Mapped[str | None] = mapped_column(String(300))


class LedgerEntry(Base):
    """One money movement. Never updated or deleted (the database refuses both); names the
    client only by the lead reference, so erasing a person later keeps the ledger whole."""

    __tablename__ = "ledger_entries"
    __table_args__ = (
        CheckConstraint(_in("kind", LEDGER_KINDS), name="kind_known"),
        CheckConstraint("account IN ('unbilled', 'receivable')", name="account_known"),
        CheckConstraint(_in("currency", CURRENCIES), name="currency_known"),
        Index("ix_ledger_entries_provider_created", "provider_id", "created_at"),
        Index("ix_ledger_entries_kind_posted", "kind", "posted_on"),
        Index("ix_ledger_entries_posted_on", "posted_on"),  # the fees report's period
        Index("ix_ledger_entries_invoice_account", "invoice_id", "account", "posted_on"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    idempotency_key: Mapped[str] = mapped_column(String(120), unique=True)
    kind: Mapped[str] = mapped_column(String(20))
    account: Mapped[str] = mapped_column(String(12))
    provider_id: Mapped[int] = mapped_column(ForeignKey("providers.id"))
    currency: Mapped[str] = mapped_column(String(3))
    amount: Mapped[Decimal] = mapped_column(Money)  # signed: + the provider owes more
    vat_amount: Mapped[Decimal] = mapped_column(Money, default=Decimal(0))
    referral_id: Mapped[int | None] = mapped_column(ForeignKey("referrals.id"), index=True)
    lead_reference: Mapped[str | None] = mapped_column(String(12), index=True)
    agreement_id: Mapped[int | None] = mapped_column(ForeignKey("fee_agreements.id"))
    invoice_id: Mapped[int | None] = mapped_column(ForeignKey("invoices.id"))  # whose balance
    document_id: Mapped[int | None] = mapped_column(ForeignKey("invoices.id"))  # what posted it
    payment_id: Mapped[int | None] = mapped_column(ForeignKey("payments.id"), index=True)
    reverses_id: Mapped[int | None] = mapped_column(ForeignKey("ledger_entries.id"), unique=True)
    posted_on: Mapped[date] = mapped_column(Date)  # the accounting day, UK time
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=clock.now)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    actor_email: Mapped[str | None] = mapped_column(String(254))
    note: Mapped[str | None] = mapped_column(String(300))


class DocumentSequence(Base):
    """The last number used in a series and year: taken in the invoice's own transaction."""

    __tablename__ = "document_sequences"

    series: Mapped[str] = mapped_column(String(10), primary_key=True)
    year: Mapped[int] = mapped_column(Integer, primary_key=True)
    last_number: Mapped[int] = mapped_column(Integer, default=0)


class Invoice(Base):
    """An invoice or credit note to one provider in one currency. Never deleted; once issued
    its number and PDF never change (the database refuses it)."""

    __tablename__ = "invoices"
    __table_args__ = (
        CheckConstraint(_in("kind", DOCUMENT_KINDS), name="kind_known"),
        CheckConstraint(_in("status", INVOICE_STATUSES), name="status_known"),
        CheckConstraint(_in("currency", CURRENCIES), name="currency_known"),
        Index("ix_invoices_provider_status", "provider_id", "status"),
        Index("ix_invoices_open", "kind", "issued_on", "settled_on"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(12), default="invoice")
    number: Mapped[str | None] = mapped_column(String(20), unique=True)
    provider_id: Mapped[int] = mapped_column(ForeignKey("providers.id"))
    currency: Mapped[str] = mapped_column(String(3))
    status: Mapped[str] = mapped_column(String(12), default="draft")
    credits_invoice_id: Mapped[int | None] = mapped_column(ForeignKey("invoices.id"), index=True)
    run_id: Mapped[int | None] = mapped_column(ForeignKey("invoice_runs.id"))
    net: Mapped[Decimal] = mapped_column(Money, default=Decimal(0))
    vat: Mapped[Decimal] = mapped_column(Money, default=Decimal(0))
    gross: Mapped[Decimal] = mapped_column(Money, default=Decimal(0))
    issued_on: Mapped[date | None] = mapped_column(Date)
    due_on: Mapped[date | None] = mapped_column(Date)
    settled_on: Mapped[date | None] = mapped_column(Date)  # when nothing was left to pay
    billing_name: Mapped[str] = mapped_column(String(200), default="")
    billing_address: Mapped[str] = mapped_column(Text, default="")
    accounts_email: Mapped[str] = mapped_column(String(254), default="")
    po_reference: Mapped[str | None] = mapped_column(String(100))
    reason: Mapped[str | None] = mapped_column(String(300))  # a credit note's or void's reason
    pdf: Mapped[bytes | None] = mapped_column(LargeBinary)
    # Voided as a whole (void_invoice): its fees are billed again by the next run. A document
    # credited in full because its fees were reversed keeps them billed (the reversals are).
    releases_fees: Mapped[bool] = mapped_column(default=False, server_default=false())
    pdf_sha256: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=clock.now)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    issued_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))


class InvoiceLine(Base):
    """One admission on a document: its lead reference, admission date, basis and amounts."""

    __tablename__ = "invoice_lines"

    id: Mapped[int] = mapped_column(primary_key=True)
    invoice_id: Mapped[int] = mapped_column(ForeignKey("invoices.id"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    referral_id: Mapped[int | None] = mapped_column(ForeignKey("referrals.id"), index=True)
    lead_reference: Mapped[str | None] = mapped_column(String(12), index=True)
    admitted_on: Mapped[date | None] = mapped_column(Date)
    description: Mapped[str] = mapped_column(String(300))
    vat_treatment: Mapped[str] = mapped_column(String(20))
    net: Mapped[Decimal] = mapped_column(Money)
    vat_rate: Mapped[Decimal] = mapped_column(Numeric(5, 2))
    vat: Mapped[Decimal] = mapped_column(Money)


class BilledEntry(Base):
    """An unbilled-account entry (accrual, clawback or their reversal) put on a document."""

    __tablename__ = "billed_entries"

    invoice_id: Mapped[int] = mapped_column(ForeignKey("invoices.id"), primary_key=True)
    entry_id: Mapped[int] = mapped_column(ForeignKey("ledger_entries.id"), primary_key=True)
    __table_args__ = (Index("ix_billed_entries_entry", "entry_id"),)


class InvoiceRun(Base):
    """One invoicing run: on demand, or the monthly one (``period`` unique: it runs once)."""

    __tablename__ = "invoice_runs"

    id: Mapped[int] = mapped_column(primary_key=True)
    period: Mapped[str | None] = mapped_column(String(7), unique=True)  # "2026-11" for monthly
    up_to: Mapped[date] = mapped_column(Date)
    issue: Mapped[bool] = mapped_column(default=True)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=clock.now)
    finished_at: Mapped[datetime | None]
    documents: Mapped[int] = mapped_column(Integer, default=0)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))


class Payment(Base):
    """Money received from a provider, allocated to one or more invoices; any rest is credit."""

    __tablename__ = "payments"
    __table_args__ = (
        CheckConstraint("amount > 0", name="amount_positive"),
        CheckConstraint(_in("method", PAYMENT_METHODS), name="method_known"),
        CheckConstraint(_in("currency", CURRENCIES), name="currency_known"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    provider_id: Mapped[int] = mapped_column(ForeignKey("providers.id"), index=True)
    currency: Mapped[str] = mapped_column(String(3))
    amount: Mapped[Decimal] = mapped_column(Money)
    received_on: Mapped[date] = mapped_column(Date)
    method: Mapped[str] = mapped_column(String(20))
    reference: Mapped[str | None] = mapped_column(String(100))
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=clock.now)
    recorded_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
