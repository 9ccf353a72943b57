"""Ledger rules: which account an entry moves, what may be reversed, an invoice's state. Pure.

Entries are never changed: a balance is a sum of entries, and a mistake is put right by a
reversal naming the entry it reverses. Signs are the provider's debt to the service: accruals
and invoices add, clawbacks, payments, credit notes and write-offs take away.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from crm.fees.vocabulary import LEDGER_KINDS, UNBILLED_KINDS

ZERO = Decimal(0)
# Invoices and credit notes are put right by a credit note or by voiding, not a reversal; a
# reversal made by mistake is put right by posting the original again (a payment re-recorded).
REVERSIBLE_KINDS = frozenset({"accrual", "clawback", "payment", "write_off"})


class LedgerRuleError(ValueError):
    """A ledger action the rules refuse; the message is for a manager."""


def account_of(kind: str, reversed_kind: str | None = None) -> str:
    """``unbilled`` (fees earned, not yet invoiced) or ``receivable`` (owed on documents)."""
    if kind not in LEDGER_KINDS:
        raise LedgerRuleError(f"Unknown ledger entry kind {kind!r}.")
    if kind == "reversal":
        if reversed_kind is None:
            raise LedgerRuleError("A reversal must name the entry it reverses.")
        return account_of(reversed_kind)
    return "unbilled" if kind in UNBILLED_KINDS else "receivable"


@dataclass(frozen=True)
class EntryFacts:
    """What the reversal rule needs to know of an entry."""

    kind: str
    already_reversed: bool
    billed: bool  # on an invoice or credit note that is not void


def check_reversible(entry: EntryFacts) -> None:
    """LedgerRuleError unless a manager may reverse ``entry``."""
    label = LEDGER_KINDS.get(entry.kind, entry.kind).lower()
    if entry.kind == "reversal":
        raise LedgerRuleError(
            "A reversal is not itself reversed: post the original again (record the payment "
            "again, for instance)."
        )
    if entry.kind not in REVERSIBLE_KINDS:
        raise LedgerRuleError(
            f"The {label} entry itself is not reversed: void the invoice or issue a credit note."
        )
    if entry.already_reversed:
        raise LedgerRuleError(f"This {label} entry has already been reversed.")
    if entry.billed and entry.kind in UNBILLED_KINDS:
        raise LedgerRuleError(
            f"This {label} is on an issued invoice or credit note: correct the referral's dates "
            "(which credits it) or void the invoice instead."
        )


@dataclass(frozen=True)
class DocumentMoney:
    """What has happened to an issued invoice, each as a positive amount."""

    gross: Decimal
    paid: Decimal = ZERO
    credited: Decimal = ZERO
    written_off: Decimal = ZERO

    @property
    def outstanding(self) -> Decimal:
        return self.gross - self.paid - self.credited - self.written_off


def invoice_status(current: str, money: DocumentMoney) -> str:
    """An issued invoice's state from its money; drafts and void invoices stay as they are.

    Credited in full with nothing paid is ``void`` (voiding issues that credit note); nothing
    left to pay is ``paid`` (or ``written_off`` where a write-off settled it); some paid is
    ``part_paid``; otherwise ``issued``.
    """
    if current in ("draft", "void"):
        return current
    if money.credited >= money.gross and money.paid <= 0 and money.written_off <= 0:
        return "void"
    if money.outstanding <= 0:
        return "written_off" if money.written_off > 0 else "paid"
    if money.paid > 0:
        return "part_paid"
    return "issued"
