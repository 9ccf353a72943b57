"""Fee arithmetic: the fee an admission earns, clawbacks, VAT and invoice totals. Pure, Decimal.

The one rounding rule: every amount that is stored (a fee, a week's fee, a clawback, a line's
VAT) is rounded once, half up, to the currency's minor unit (pence, cents). Totals are sums of
rounded amounts, so an invoice's lines always add up to its totals.

Decisions where DOMAIN.md is silent (docs/fees.md says the same to managers):
- "discharged within N days" counts the nights from the admission date to the discharge date:
  admitted Monday, discharged the next Thursday is 10 days, within 14 but not within 7;
- the first tier whose N covers the stay applies; tiers are ordered by N, and a longer stay
  never refunds more than a shorter one;
- per week of stay: the first week is earned at the trigger, each further week when it begins
  (7, 14, ... nights after admission), until the cap is reached or the client is discharged.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from crm.fees.vocabulary import AGE_BUCKETS, BASES, CURRENCIES, CURRENCY_SYMBOLS, VAT_RATES

HUNDRED = Decimal(100)
ZERO = Decimal(0)
MAX_TRIGGER_NIGHTS = 365
MAX_PAYMENT_TERMS_DAYS = 365
MAX_TIERS = 10
MAX_AMOUNT = Decimal("10000000")  # ten million in any currency: a typo, not a fee


class FeeTermsError(ValueError):
    """Terms that cannot be used; ``problems`` names each one in a manager's words."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__(" ".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class ClawbackTier:
    """Discharged within ``within_days`` of admission → ``percent`` of the fee refunded."""

    within_days: int
    percent: Decimal


@dataclass(frozen=True)
class FeeTerms:
    """What an agreement says about money: everything the arithmetic needs, nothing else."""

    basis: str
    currency: str
    vat_treatment: str
    amount: Decimal | None = None  # the flat fee, or the fee per week of stay
    rate: Decimal | None = None  # percent of the treatment value
    cap: Decimal | None = None  # per week of stay: the most one admission earns
    trigger_nights: int = 0  # 0: earned on admission; N: once the client has stayed N nights
    clawback_tiers: tuple[ClawbackTier, ...] = ()
    payment_terms_days: int = 30


def minor_unit(currency: str) -> Decimal:
    return Decimal(1).scaleb(-CURRENCIES[currency])


def round_money(value: Decimal, currency: str) -> Decimal:
    """``value`` rounded half up to the currency's minor unit (the one rounding rule)."""
    return value.quantize(minor_unit(currency), rounding=ROUND_HALF_UP)


def _money_problems(label: str, value: Decimal | None, currency: str) -> list[str]:
    if value is None:
        return [f"{label} is required."]
    if not value.is_finite() or value <= 0:
        return [f"{label} must be more than zero."]
    if value > MAX_AMOUNT:
        return [f"{label} is too large."]
    if currency in CURRENCIES and value != round_money(value, currency):
        return [f"{label} has more decimal places than {currency} has."]
    return []


def _basis_problems(terms: FeeTerms) -> list[str]:
    currency = terms.currency
    if terms.basis == "flat_per_admission":
        return _money_problems("The fee", terms.amount, currency)
    if terms.basis == "per_week_of_stay":
        problems = _money_problems("The fee per week", terms.amount, currency)
        problems += _money_problems("The cap", terms.cap, currency)
        cap, amount = terms.cap, terms.amount
        if not problems and cap is not None and amount is not None and cap < amount:
            problems.append("The cap cannot be less than one week's fee.")
        return problems
    if terms.basis == "percent_of_treatment_value":
        rate = terms.rate
        if rate is None:
            return ["The rate is required."]
        if not rate.is_finite() or rate <= 0:
            return ["The rate must be more than 0 %."]
        if rate > HUNDRED:
            return ["The rate cannot be over 100 %."]
        return []
    return [f"Unknown fee basis {terms.basis!r}."]


def _tier_problems(tiers: Sequence[ClawbackTier]) -> list[str]:
    if len(tiers) > MAX_TIERS:
        return [f"At most {MAX_TIERS} clawback tiers."]
    problems: list[str] = []
    previous: ClawbackTier | None = None
    for tier in tiers:
        if tier.within_days < 1 or tier.within_days > 3650:
            problems.append("A clawback tier's days must be between 1 and 3650.")
        if not tier.percent.is_finite() or not ZERO < tier.percent <= HUNDRED:
            problems.append("A clawback tier's percentage must be more than 0 and at most 100.")
        if previous is not None and tier.within_days <= previous.within_days:
            problems.append("Clawback tiers must be in order of days, shortest first.")
        elif (
            previous is not None
            and tier.percent.is_finite()
            and previous.percent.is_finite()
            and tier.percent > previous.percent
        ):
            problems.append("A later clawback tier cannot refund more than an earlier one.")
        previous = tier
    return problems


def check_terms(terms: FeeTerms) -> FeeTerms:
    """``terms`` if every part can be used; FeeTermsError naming each problem otherwise."""
    problems: list[str] = []
    if terms.currency not in CURRENCIES:
        problems.append(
            f"Unknown currency {terms.currency!r}: choose one of {', '.join(CURRENCIES)}."
        )
    if terms.vat_treatment not in VAT_RATES:
        problems.append(f"Unknown VAT treatment {terms.vat_treatment!r}.")
    if terms.basis not in BASES:
        problems.append(f"Unknown fee basis {terms.basis!r}.")
    else:
        problems += _basis_problems(terms)
    if not 0 <= terms.trigger_nights <= MAX_TRIGGER_NIGHTS:
        problems.append(f"The trigger must be between 0 and {MAX_TRIGGER_NIGHTS} nights.")
    if not 0 <= terms.payment_terms_days <= MAX_PAYMENT_TERMS_DAYS:
        problems.append(f"Payment terms must be between 0 and {MAX_PAYMENT_TERMS_DAYS} days.")
    problems += _tier_problems(terms.clawback_tiers)
    if problems:
        raise FeeTermsError(problems)
    return terms


_TIER = re.compile(r"^\s*(\d{1,4})\s*(?:days?)?\s*[:=→>-]+\s*(\d{1,3}(?:\.\d{1,2})?)\s*%?\s*$")


def parse_tiers(text: str | None) -> tuple[ClawbackTier, ...]:
    """Tiers as managers type them: ``7: 100, 14: 50`` (days: percent), in any spacing."""
    tiers = []
    for part in re.split(r"[,;\n]+", text or ""):
        if not part.strip():
            continue
        found = _TIER.match(part)
        if found is None:
            raise FeeTermsError(
                [
                    f"Cannot read the clawback tier {part.strip()!r}: write days: percent, "
                    "like 7: 100, 14: 50."
                ]
            )
        tiers.append(ClawbackTier(int(found.group(1)), Decimal(found.group(2))))
    return tuple(tiers)


def format_tiers(tiers: Sequence[ClawbackTier]) -> str:
    return ", ".join(f"{t.within_days}: {t.percent.normalize():f}" for t in tiers)


def parse_money(text: str | None, label: str) -> Decimal | None:
    """A typed amount (``2,500.00``, ``£2500``) as Decimal, None when blank."""
    cleaned = (text or "").strip().replace(",", "").lstrip("£€$").strip()
    if not cleaned:
        return None
    try:
        value = Decimal(cleaned)
    except InvalidOperation:
        raise FeeTermsError([f"{label} is not a number: {text!r}."]) from None
    if not value.is_finite():
        raise FeeTermsError([f"{label} is not a number: {text!r}."])
    return value


# --- what an admission earns -------------------------------------------------------------------


def accrual_date(admitted_on: date, trigger_nights: int) -> date:
    """The day the fee is earned: the admission date, or once N nights have been stayed."""
    return admitted_on + timedelta(days=trigger_nights)


def week_starts_on(admitted_on: date, trigger_nights: int, week: int) -> date:
    """Per week of stay: the day week ``week`` (1, 2, ...) is earned."""
    return max(
        accrual_date(admitted_on, trigger_nights), admitted_on + timedelta(days=7 * (week - 1))
    )


def first_fee(terms: FeeTerms, treatment_value: Decimal | None = None) -> Decimal:
    """What the trigger earns: the flat fee, the rate of the treatment value, or one week."""
    if terms.basis == "flat_per_admission":
        assert terms.amount is not None  # noqa: S101 (check_terms guarantees it)
        return round_money(terms.amount, terms.currency)
    if terms.basis == "percent_of_treatment_value":
        assert terms.rate is not None  # noqa: S101
        if treatment_value is None or not treatment_value.is_finite() or treatment_value < 0:
            raise FeeTermsError(["A percentage fee needs the treatment value of the admission."])
        return round_money(treatment_value * terms.rate / HUNDRED, terms.currency)
    return week_fee(terms, ZERO)


def week_fee(terms: FeeTerms, accrued_so_far: Decimal) -> Decimal:
    """Per week of stay: one more week's fee, no more than what is left under the cap."""
    assert terms.amount is not None and terms.cap is not None  # noqa: S101
    left = max(terms.cap - accrued_so_far, ZERO)
    return round_money(min(terms.amount, left), terms.currency)


def nights_stayed(admitted_on: date, until: date) -> int:
    return max((until - admitted_on).days, 0)


def trigger_met(terms: FeeTerms, admitted_on: date, discharged_on: date | None) -> bool:
    """Whether the stay reached the trigger (a discharge before it means no fee at all)."""
    if discharged_on is None:
        return True
    return nights_stayed(admitted_on, discharged_on) >= terms.trigger_nights


def clawback_percent(tiers: Sequence[ClawbackTier], nights: int) -> Decimal:
    """The refund for a stay of ``nights``: the first tier that covers it, else nothing."""
    for tier in tiers:
        if nights <= tier.within_days:
            return tier.percent
    return ZERO


def clawback(terms: FeeTerms, accrued: Decimal, admitted_on: date, discharged_on: date) -> Decimal:
    """The amount refunded (positive) for a discharge: never more than ``accrued``."""
    if accrued <= 0:
        return ZERO
    percent = clawback_percent(terms.clawback_tiers, nights_stayed(admitted_on, discharged_on))
    refund = round_money(accrued * percent / HUNDRED, terms.currency)
    return min(max(refund, ZERO), accrued)


# --- VAT and documents -------------------------------------------------------------------------


def vat_rate(vat_treatment: str) -> Decimal:
    return VAT_RATES[vat_treatment]


def vat_on(net: Decimal, vat_treatment: str, currency: str) -> Decimal:
    """One line's VAT, rounded once."""
    return round_money(net * vat_rate(vat_treatment) / HUNDRED, currency)


@dataclass(frozen=True)
class LineAmounts:
    net: Decimal
    vat_rate: Decimal
    vat: Decimal

    @property
    def gross(self) -> Decimal:
        return self.net + self.vat


@dataclass(frozen=True)
class Totals:
    lines: tuple[LineAmounts, ...]
    net: Decimal
    vat: Decimal

    @property
    def gross(self) -> Decimal:
        return self.net + self.vat


def document_totals(lines: Sequence[tuple[Decimal, str]], currency: str) -> Totals:
    """Each ``(net, vat treatment)`` line's VAT, and the document's totals as their sums."""
    amounts = tuple(
        LineAmounts(
            round_money(net, currency), vat_rate(treatment), vat_on(net, treatment, currency)
        )
        for net, treatment in lines
    )
    return Totals(
        amounts,
        sum((a.net for a in amounts), ZERO),
        sum((a.vat for a in amounts), ZERO),
    )


def due_on(issued_on: date, payment_terms_days: int) -> date:
    return issued_on + timedelta(days=payment_terms_days)


def age_bucket(due: date, as_of: date) -> str:
    """Aged debt: current (not yet due), 1 to 30, 31 to 60, 61 to 90 or over 90 days late."""
    late = (as_of - due).days
    if late <= 0:
        return AGE_BUCKETS[0]
    if late <= 30:
        return AGE_BUCKETS[1]
    if late <= 60:
        return AGE_BUCKETS[2]
    if late <= 90:
        return AGE_BUCKETS[3]
    return AGE_BUCKETS[4]


def format_money(amount: Decimal, currency: str) -> str:
    """``£2,500.00``; a negative amount with a minus sign before the symbol."""
    symbol = CURRENCY_SYMBOLS.get(currency, currency + " ")
    sign = "−" if amount < 0 else ""
    return f"{sign}{symbol}{abs(round_money(amount, currency)):,.{CURRENCIES[currency]}f}"
