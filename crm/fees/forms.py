"""Reading the fee screens' forms: typed text in, the services' dataclasses out, or a
DomainError naming each field that cannot be read. Nothing here writes."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import date
from decimal import Decimal
from typing import Any

from crm.errors import DomainError
from crm.fees.agreements import AgreementDetails
from crm.fees.arithmetic import FeeTerms, FeeTermsError, parse_money, parse_tiers
from crm.fees.payments import PaymentDetails
from crm.fees.queries import LedgerFilters
from crm.fees.vocabulary import CURRENCIES, LEDGER_KINDS

MAX_ID = 2**31 - 1


def read_date(value: str | None, label: str) -> date | None:
    if not value or not value.strip():
        return None
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        raise DomainError(f"{label}: enter a calendar date (YYYY-MM-DD).") from None


def read_int(value: str | None, label: str, default: int | None = None) -> int | None:
    text = (value or "").strip()
    if not text:
        return default
    if not text.isdigit() or int(text) > MAX_ID:
        raise DomainError(f"{label}: enter a whole number.")
    return int(text)


def read_money(value: str | None, label: str) -> Decimal | None:
    try:
        return parse_money(value, label)
    except FeeTermsError as exc:
        raise DomainError(" ".join(exc.problems)) from None


def agreement_details(form: Mapping[str, str]) -> AgreementDetails:
    """An agreement form; every unreadable field is named at once."""
    problems: list[str] = []

    def attempt(read: Callable[..., Any], *args: Any) -> Any:
        try:
            return read(*args)
        except DomainError as exc:
            problems.append(exc.message)
        except FeeTermsError as exc:
            problems.extend(exc.problems)
        return None

    basis = form.get("basis", "")
    amount = attempt(read_money, form.get("amount"), "The fee")
    rate = attempt(read_money, form.get("rate"), "The rate")
    cap = attempt(read_money, form.get("cap"), "The cap")
    nights = attempt(read_int, form.get("trigger_nights"), "Nights before the fee is earned", 0)
    terms_days = attempt(read_int, form.get("payment_terms_days"), "Payment terms", 30)
    tiers = attempt(parse_tiers, form.get("clawback_tiers"))
    start = attempt(read_date, form.get("effective_from"), "Effective from")
    end = attempt(read_date, form.get("effective_to"), "Effective to")
    if problems:
        raise DomainError(" ".join(problems))
    terms = FeeTerms(
        basis=basis,
        currency=form.get("currency", ""),
        vat_treatment=form.get("vat_treatment", ""),
        amount=amount if basis != "percent_of_treatment_value" else None,
        rate=rate if basis == "percent_of_treatment_value" else None,
        cap=cap if basis == "per_week_of_stay" else None,
        trigger_nights=nights or 0,
        clawback_tiers=tiers or (),
        payment_terms_days=30 if terms_days is None else terms_days,
    )
    return AgreementDetails(
        terms,
        start,
        end,
        billing_name=form.get("billing_name", ""),
        billing_address=form.get("billing_address", ""),
        accounts_email=form.get("accounts_email", ""),
        po_reference=form.get("po_reference") or None,
    )


def payment_details(form: Mapping[str, str]) -> PaymentDetails:
    provider_id = read_int(form.get("provider_id"), "Provider")
    if provider_id is None:
        raise DomainError("Choose the provider that paid.")
    amount = read_money(form.get("amount"), "The amount")
    invoice_id = read_int(form.get("invoice_id"), "Invoice")
    allocations = None
    if invoice_id is not None:
        if amount is None:
            raise DomainError("Enter the amount received.")
        allocations = [(invoice_id, amount)]
    return PaymentDetails(
        provider_id=provider_id,
        currency=form.get("currency", ""),
        amount=amount,
        received_on=read_date(form.get("received_on"), "Received on"),
        method=form.get("method", ""),
        reference=form.get("reference") or None,
        allocations=allocations,
    )


def ledger_filters(args: Mapping[str, str]) -> LedgerFilters:
    kind = args.get("kind") or None
    if kind is not None and kind not in LEDGER_KINDS:
        raise DomainError(f"Unknown entry kind {kind!r}.")
    currency = args.get("currency") or None
    if currency is not None and currency not in CURRENCIES:
        raise DomainError(f"Unknown currency {currency!r}.")
    date_from = read_date(args.get("from"), "From")
    date_to = read_date(args.get("to"), "To")
    if date_from and date_to and date_to < date_from:
        raise DomainError("The date range ends before it starts.")
    return LedgerFilters(
        provider_id=read_int(args.get("provider_id"), "Provider"),
        kind=kind,
        currency=currency,
        date_from=date_from,
        date_to=date_to,
        before_id=read_int(args.get("before"), "Page"),
    )
