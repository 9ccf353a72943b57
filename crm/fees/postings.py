"""Writing ledger entries: the one place they are made, each exactly once by its key.

An entry goes in with ``INSERT ... ON CONFLICT (idempotency_key) DO NOTHING``: a replay (a job
run twice, a double-clicked form) writes nothing and returns None. Each entry written is
audited. The database refuses UPDATE and DELETE on entries (migration 0010's triggers).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any, cast

from sqlalchemy import Table, exists, func, insert, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from crm import clock
from crm.extensions import db
from crm.fees.ledger import account_of
from crm.fees.models import BilledEntry, Invoice, LedgerEntry
from crm.oncall.wallclock import local_date
from crm.privacy.models import AuditEvent
from crm.privacy.services import Actor

ZERO = Decimal(0)


@dataclass(frozen=True)
class Posting:
    """One entry to write. ``amount`` is signed: + the provider owes the service more."""

    kind: str
    key: str
    provider_id: int
    currency: str
    amount: Decimal
    vat_amount: Decimal = ZERO
    referral_id: int | None = None
    lead_reference: str | None = None
    agreement_id: int | None = None
    invoice_id: int | None = None
    document_id: int | None = None
    payment_id: int | None = None
    reverses_id: int | None = None
    reversed_kind: str | None = None
    note: str | None = None
    posted_on: date | None = None


def _table() -> Table:
    return cast(Table, LedgerEntry.__table__)


def _values(posting: Posting, actor: Actor, today: date) -> dict[str, Any]:
    return {
        "idempotency_key": posting.key,
        "kind": posting.kind,
        "account": account_of(posting.kind, posting.reversed_kind),
        "provider_id": posting.provider_id,
        "currency": posting.currency,
        "amount": posting.amount,
        "vat_amount": posting.vat_amount,
        "referral_id": posting.referral_id,
        "lead_reference": posting.lead_reference,
        "agreement_id": posting.agreement_id,
        "invoice_id": posting.invoice_id,
        "document_id": posting.document_id,
        "payment_id": posting.payment_id,
        "reverses_id": posting.reverses_id,
        "posted_on": posting.posted_on or today,
        "created_at": clock.now(),
        "actor_id": actor.user_id,
        "actor_email": actor.email,
        "note": posting.note[:300] if posting.note else None,
    }


def post_many(postings: Sequence[Posting], actor: Actor) -> dict[str, int]:
    """Write ``postings`` with one INSERT (replays skipped) and audit each one written; the ids
    of the entries written, by key."""
    if not postings:
        return {}
    today = local_date(clock.now())
    rows = [_values(p, actor, today) for p in postings]
    table = _table()
    dialect_insert = (
        pg_insert if db.session.get_bind().dialect.name == "postgresql" else sqlite_insert
    )
    statement = (
        dialect_insert(table)
        .values(rows)
        .on_conflict_do_nothing(index_elements=["idempotency_key"])
        .returning(table.c.id, table.c.idempotency_key)
    )
    written = {key: entry_id for entry_id, key in db.session.execute(statement)}
    if written:
        by_key = {p.key: p for p in postings}
        _audit([(entry_id, by_key[key]) for key, entry_id in written.items()], actor)
    return written


def post(posting: Posting, actor: Actor) -> LedgerEntry | None:
    """Write one entry; None when its key was already used (a replay: nothing written)."""
    entry_id = post_many([posting], actor).get(posting.key)
    return db.session.get(LedgerEntry, entry_id) if entry_id is not None else None


def _audit(written: list[tuple[int, Posting]], actor: Actor) -> None:
    """One audit row per entry, with one INSERT (the engine posts thousands at a time)."""
    now = clock.now()
    db.session.execute(
        insert(AuditEvent),
        [
            {
                "occurred_at": now,
                "actor_id": actor.user_id,
                "actor_email": actor.email,
                "actor_role": actor.role,
                "action": f"ledger_{posting.kind}",
                "outcome": "success",
                "object_type": "ledger_entries",
                "object_id": str(entry_id),
                "request_id": actor.request_id,
                "ip": actor.ip,
                "detail": f"provider {posting.provider_id} {posting.currency} {posting.amount}",
            }
            for entry_id, posting in written
        ],
    )


def reversal_of(entry: LedgerEntry, note: str | None = None, **changes: Any) -> Posting:
    """The entry that cancels ``entry`` exactly, naming it."""
    fields: dict[str, Any] = {
        "kind": "reversal",
        "key": f"reversal:{entry.id}",
        "provider_id": entry.provider_id,
        "currency": entry.currency,
        "amount": -entry.amount,
        "vat_amount": -entry.vat_amount,
        "referral_id": entry.referral_id,
        "lead_reference": entry.lead_reference,
        "agreement_id": entry.agreement_id,
        "invoice_id": entry.invoice_id,
        "payment_id": entry.payment_id,
        "reverses_id": entry.id,
        "reversed_kind": entry.kind if entry.kind != "reversal" else _root_kind(entry),
        "note": note,
    }
    fields.update(changes)
    return Posting(**fields)


def _root_kind(entry: LedgerEntry) -> str:
    """A reversal's account is its original's: follow the chain back to a non-reversal."""
    current = entry
    while current.kind == "reversal" and current.reverses_id is not None:
        found = db.session.get(LedgerEntry, current.reverses_id)
        if found is None:
            break
        current = found
    return current.kind


def is_reversed(entry_id: int) -> bool:
    return (
        db.session.scalar(select(LedgerEntry.id).where(LedgerEntry.reverses_id == entry_id))
        is not None
    )


def live_billing() -> Any:
    """A correlated EXISTS: the entry is on a document that keeps it billed (any but an
    invoice voided as a whole, whose fees go on the next run)."""
    return (
        exists()
        .where(BilledEntry.entry_id == LedgerEntry.id)
        .where(BilledEntry.invoice_id == Invoice.id, Invoice.releases_fees.is_(False))
    )


def billed_on(entry_id: int) -> Invoice | None:
    """The live document an unbilled-account entry was put on, if any."""
    return db.session.scalars(
        select(Invoice)
        .join(BilledEntry, BilledEntry.invoice_id == Invoice.id)
        .where(BilledEntry.entry_id == entry_id, Invoice.releases_fees.is_(False))
        .limit(1)
    ).first()


def unbilled_total(referral_id: int) -> Decimal:
    """What a referral has earned that is not yet on a live document."""
    return (
        db.session.scalar(
            select(func.coalesce(func.sum(LedgerEntry.amount), 0)).where(
                LedgerEntry.referral_id == referral_id,
                LedgerEntry.account == "unbilled",
                ~live_billing(),
            )
        )
        or ZERO
    )


def accrued_total(referral_id: int) -> Decimal:
    """The referral's net fee: every unbilled-account entry, billed or not."""
    return (
        db.session.scalar(
            select(func.coalesce(func.sum(LedgerEntry.amount), 0)).where(
                LedgerEntry.referral_id == referral_id, LedgerEntry.account == "unbilled"
            )
        )
        or ZERO
    )
