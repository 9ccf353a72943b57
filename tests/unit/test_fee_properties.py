"""Properties of the fee arithmetic that must hold for every usable agreement and stay."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from crm.fees.arithmetic import (
    HUNDRED,
    MAX_AMOUNT,
    MAX_TIERS,
    ClawbackTier,
    FeeTerms,
    check_terms,
    clawback,
    clawback_percent,
    document_totals,
    first_fee,
    format_tiers,
    minor_unit,
    nights_stayed,
    parse_tiers,
    round_money,
    trigger_met,
    vat_on,
    week_fee,
    week_starts_on,
)
from crm.fees.vocabulary import BASES, CURRENCIES, VAT_RATES

D = Decimal
PROPERTY = settings(max_examples=200, deadline=None)

currencies = st.sampled_from(sorted(CURRENCIES))
vat_treatments = st.sampled_from(sorted(VAT_RATES))
money = st.decimals(min_value=D("0.01"), max_value=MAX_AMOUNT, places=2)
# fees as contracts write them, so that a stay spans many weeks before a cap is reached
modest_money = st.decimals(min_value=D("0.01"), max_value=D("20000"), places=2)
treatment_values = st.decimals(min_value=D("0"), max_value=D("1000000"), places=2)
admission_dates = st.dates(min_value=date(2020, 1, 1), max_value=date(2035, 12, 31))


@st.composite
def clawback_tiers(draw: st.DrawFn) -> tuple[ClawbackTier, ...]:
    """Ordered by days, percentages never rising: what a manager may type (two decimals)."""
    days = sorted(
        draw(st.lists(st.integers(1, 3650), unique=True, max_size=MAX_TIERS)),
    )
    percents = sorted(
        draw(
            st.lists(
                st.decimals(min_value=D("0.01"), max_value=HUNDRED, places=2),
                min_size=len(days),
                max_size=len(days),
            )
        ),
        reverse=True,
    )
    return tuple(ClawbackTier(d, p) for d, p in zip(days, percents, strict=True))


@st.composite
def fee_terms(draw: st.DrawFn, basis: str | None = None) -> FeeTerms:
    basis = basis or draw(st.sampled_from(sorted(BASES)))
    amount = rate = cap = None
    if basis == "flat_per_admission":
        amount = draw(st.one_of(modest_money, money))
    elif basis == "percent_of_treatment_value":
        rate = draw(st.decimals(min_value=D("0.0001"), max_value=HUNDRED, places=4))
    else:
        amount = draw(st.one_of(modest_money, money))
        cap = draw(st.decimals(min_value=amount, max_value=min(amount * 60, MAX_AMOUNT), places=2))
    terms = FeeTerms(
        basis=basis,
        currency=draw(currencies),
        vat_treatment=draw(vat_treatments),
        amount=amount,
        rate=rate,
        cap=cap,
        trigger_nights=draw(st.one_of(st.just(0), st.integers(0, 365))),
        clawback_tiers=draw(clawback_tiers()),
        payment_terms_days=draw(st.integers(0, 365)),
    )
    return check_terms(terms)  # the strategy only makes usable terms


@st.composite
def stays(draw: st.DrawFn) -> tuple[date, date]:
    """An admission and a discharge, from the same day to a little over two years on."""
    admitted = draw(admission_dates)
    nights = draw(st.one_of(st.integers(0, 30), st.integers(0, 800)))
    return admitted, admitted + timedelta(days=nights)


def referral_entries(
    terms: FeeTerms, treatment_value: Decimal, admitted: date, discharged: date
) -> tuple[list[Decimal], Decimal]:
    """The accruals one admission earns up to its discharge, and the clawback at discharge.

    As crm.fees.accruals posts them: nothing if the stay ends short of the trigger; otherwise
    the first fee, then (per week of stay) each further week that begins before the discharge,
    until the cap is reached; then the clawback for the stay on the total accrued.
    """
    if not trigger_met(terms, admitted, discharged):
        return [], D(0)
    accruals = [first_fee(terms, treatment_value)]
    if terms.basis == "per_week_of_stay":
        assert terms.cap is not None
        week = 2
        while (
            sum(accruals) < terms.cap
            and week_starts_on(admitted, terms.trigger_nights, week) < discharged
        ):
            accruals.append(week_fee(terms, sum(accruals, D(0))))
            week += 1
    refund = clawback(terms, sum(accruals, D(0)), admitted, discharged)
    return accruals, refund


def _exponent(value: Decimal) -> int:
    exponent = value.as_tuple().exponent
    assert isinstance(exponent, int)
    return exponent


@PROPERTY
@given(terms=fee_terms(), value=treatment_values, stay=stays())
def test_a_referrals_entries_never_sum_below_zero(
    terms: FeeTerms, value: Decimal, stay: tuple[date, date]
) -> None:
    admitted, discharged = stay
    accruals, refund = referral_entries(terms, value, admitted, discharged)
    entries = [*accruals, -refund] if refund else accruals
    places = -CURRENCIES[terms.currency]
    for entry in entries:
        assert _exponent(entry) == places  # every stored amount is rounded once
    assert all(a >= 0 for a in accruals)
    assert sum(entries, D(0)) >= 0


@PROPERTY
@given(terms=fee_terms(), value=treatment_values, stay=stays())
def test_a_clawback_never_exceeds_what_was_accrued(
    terms: FeeTerms, value: Decimal, stay: tuple[date, date]
) -> None:
    admitted, discharged = stay
    accruals, refund = referral_entries(terms, value, admitted, discharged)
    accrued = sum(accruals, D(0))
    assert D(0) <= refund <= accrued
    if accrued > 0:
        percent = clawback_percent(terms.clawback_tiers, nights_stayed(admitted, discharged))
        assert refund == round_money(accrued * percent / HUNDRED, terms.currency)


@PROPERTY
@given(
    terms=fee_terms(),
    accrued=st.one_of(money, st.decimals(min_value=D("-1000"), max_value=D("0"), places=2)),
    stay=stays(),
)
def test_a_clawback_of_any_accrued_amount_is_within_it(
    terms: FeeTerms, accrued: Decimal, stay: tuple[date, date]
) -> None:
    refund = clawback(terms, accrued, *stay)
    assert refund >= 0
    assert refund <= max(accrued, D(0))


@PROPERTY
@given(tiers=clawback_tiers(), a=st.integers(0, 4000), b=st.integers(0, 4000))
def test_a_longer_stay_never_refunds_more(tiers: tuple[ClawbackTier, ...], a: int, b: int) -> None:
    shorter, longer = sorted((a, b))
    assert clawback_percent(tiers, longer) <= clawback_percent(tiers, shorter)


@PROPERTY
@given(
    currency=currencies,
    lines=st.lists(
        st.tuples(
            st.decimals(min_value=D("-1000000"), max_value=D("1000000"), places=4),
            vat_treatments,
        ),
        max_size=30,
    ),
)
def test_line_vat_sums_to_the_document_vat_and_net_plus_vat_is_gross(
    currency: str, lines: list[tuple[Decimal, str]]
) -> None:
    totals = document_totals(lines, currency)
    places = -CURRENCIES[currency]
    assert len(totals.lines) == len(lines)
    for line, (net, treatment) in zip(totals.lines, lines, strict=True):
        assert line.net == round_money(net, currency)
        assert _exponent(line.net) == _exponent(line.vat) == places
        # the VAT shown is the VAT of the net shown, not of an unrounded figure
        assert line.vat == vat_on(line.net, treatment, currency)
        assert line.gross == line.net + line.vat
    assert totals.net == sum((line.net for line in totals.lines), D(0))
    assert totals.vat == sum((line.vat for line in totals.lines), D(0))
    assert totals.net + totals.vat == totals.gross
    assert totals.gross == sum((line.gross for line in totals.lines), D(0))


@PROPERTY
@given(
    currency=currencies,
    value=st.decimals(
        min_value=D("-1000000000000"),
        max_value=D("1000000000000"),
        allow_nan=False,
        allow_infinity=False,
    ),
)
def test_round_money_is_idempotent_and_has_the_minor_unit(currency: str, value: Decimal) -> None:
    rounded = round_money(value, currency)
    assert round_money(rounded, currency) == rounded
    assert _exponent(round_money(rounded, currency)) == _exponent(rounded)
    assert _exponent(rounded) == -CURRENCIES[currency]
    assert abs(rounded - value) <= minor_unit(currency) / 2


@PROPERTY
@given(terms=fee_terms("per_week_of_stay"), weeks=st.integers(1, 120))
def test_week_fees_never_exceed_the_cap(terms: FeeTerms, weeks: int) -> None:
    assert terms.amount is not None and terms.cap is not None
    total = D(0)
    for _ in range(weeks):
        fee = week_fee(terms, total)
        assert D(0) <= fee <= terms.amount
        total += fee
        assert total <= terms.cap
    # enough weeks reach the cap exactly
    if weeks * terms.amount >= terms.cap:
        assert total == terms.cap


@PROPERTY
@given(terms=fee_terms("per_week_of_stay"), stay=stays())
def test_a_stays_week_fees_never_exceed_the_cap(terms: FeeTerms, stay: tuple[date, date]) -> None:
    assert terms.cap is not None
    accruals, _ = referral_entries(terms, D(0), *stay)
    assert sum(accruals, D(0)) <= terms.cap
    assert all(fee > 0 for fee in accruals)  # no empty week is posted


@PROPERTY
@given(tiers=clawback_tiers())
def test_tiers_round_trip_through_their_text(tiers: tuple[ClawbackTier, ...]) -> None:
    assert parse_tiers(format_tiers(tiers)) == tiers
