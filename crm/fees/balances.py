"""What is owed on a document, derived from its ledger entries, and its state kept in step."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from decimal import Decimal

from sqlalchemy import func, select, update
from sqlalchemy.orm import aliased

from crm import clock
from crm.extensions import db
from crm.fees.ledger import DocumentMoney, invoice_status
from crm.fees.models import Invoice, LedgerEntry
from crm.oncall.models import Reminder
from crm.oncall.wallclock import local_date

ZERO = Decimal(0)
OPEN_REMINDER = ("pending", "notified", "escalated")


def money_of(invoice_ids: Iterable[int], as_of: date | None = None) -> dict[int, DocumentMoney]:
    """Each invoice's gross, paid, credited and written off (reversals counted as the kind they
    reverse), from its receivable entries, optionally only those posted by ``as_of``."""
    ids = set(invoice_ids)
    if not ids:
        return {}
    original = aliased(LedgerEntry)
    kind = func.coalesce(original.kind, LedgerEntry.kind)
    query = (
        select(LedgerEntry.invoice_id, kind, func.sum(LedgerEntry.amount))
        .outerjoin(original, original.id == LedgerEntry.reverses_id)
        .where(LedgerEntry.invoice_id.in_(ids), LedgerEntry.account == "receivable")
        .group_by(LedgerEntry.invoice_id, kind)
    )
    if as_of is not None:
        query = query.where(LedgerEntry.posted_on <= as_of)
    sums: dict[int, dict[str, Decimal]] = {i: {} for i in ids}
    for invoice_id, entry_kind, total in db.session.execute(query):
        if invoice_id is not None:
            sums[invoice_id][entry_kind] = Decimal(total or 0)
    return {
        invoice_id: DocumentMoney(
            gross=by_kind.get("invoice", ZERO),
            paid=-by_kind.get("payment", ZERO),
            credited=-by_kind.get("credit_note", ZERO),
            written_off=-by_kind.get("write_off", ZERO),
        )
        for invoice_id, by_kind in sums.items()
    }


def outstanding(invoice: Invoice) -> Decimal:
    return money_of([invoice.id])[invoice.id].outstanding


def refresh_status(invoice: Invoice) -> str:
    """Bring an issued invoice's state and settled date in line with its entries; a settled
    invoice's fee chase is done."""
    if invoice.kind != "invoice" or invoice.status in ("draft",):
        return invoice.status
    money = money_of([invoice.id])[invoice.id]
    if invoice.status != "void":
        invoice.status = invoice_status(invoice.status, money)
    settled = money.outstanding <= 0
    if settled and invoice.settled_on is None:
        invoice.settled_on = local_date(clock.now())
    elif not settled:
        invoice.settled_on = None
    if settled:
        complete_fee_chase(invoice.id)
    db.session.flush()
    return invoice.status


def complete_fee_chase(invoice_id: int) -> None:
    db.session.execute(
        update(Reminder)
        .where(
            Reminder.invoice_id == invoice_id,
            Reminder.kind == "fee_chase",
            Reminder.status.in_(OPEN_REMINDER),
        )
        .values(status="done", done_at=clock.now())
        .execution_options(synchronize_session="fetch")
    )
