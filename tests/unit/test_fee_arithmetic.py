"""Fee arithmetic and ledger rules (crm.fees.arithmetic, crm.fees.ledger) with exact figures.

The story used throughout: a client admitted on Monday 2026-11-02; a clawback rule of
"discharged within 7 days → 100 %, within 14 days → 50 %".
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest

from crm.fees.arithmetic import (
    MAX_AMOUNT,
    ClawbackTier,
    FeeTerms,
    FeeTermsError,
    LineAmounts,
    accrual_date,
    age_bucket,
    check_terms,
    clawback,
    clawback_percent,
    document_totals,
    due_on,
    first_fee,
    format_money,
    format_tiers,
    minor_unit,
    nights_stayed,
    parse_money,
    parse_tiers,
    round_money,
    trigger_met,
    vat_on,
    vat_rate,
    week_fee,
    week_starts_on,
)
from crm.fees.ledger import (
    DocumentMoney,
    EntryFacts,
    LedgerRuleError,
    account_of,
    check_reversible,
    invoice_status,
)

D = Decimal
ADMITTED = date(2026, 11, 2)  # a Monday
TIERS = (ClawbackTier(7, D("100")), ClawbackTier(14, D("50")))


def _flat(**changes: Any) -> FeeTerms:
    terms = FeeTerms(
        basis="flat_per_admission",
        currency="GBP",
        vat_treatment="standard",
        amount=D("2500.00"),
        clawback_tiers=TIERS,
    )
    return replace(terms, **changes)


def _percent(**changes: Any) -> FeeTerms:
    terms = FeeTerms(
        basis="percent_of_treatment_value",
        currency="GBP",
        vat_treatment="standard",
        rate=D("10"),
    )
    return replace(terms, **changes)


def _weekly(**changes: Any) -> FeeTerms:
    terms = FeeTerms(
        basis="per_week_of_stay",
        currency="GBP",
        vat_treatment="standard",
        amount=D("700.00"),
        cap=D("2000.00"),
    )
    return replace(terms, **changes)


def _problems(terms: FeeTerms) -> list[str]:
    with pytest.raises(FeeTermsError) as caught:
        check_terms(terms)
    assert str(caught.value) == " ".join(caught.value.problems)
    return caught.value.problems


# --- check_terms: what is accepted ------------------------------------------------------------


@pytest.mark.parametrize(
    "terms",
    [
        _flat(),
        _flat(amount=MAX_AMOUNT),  # ten million is the most, not a typo
        _flat(amount=D("0.01"), currency="EUR", vat_treatment="outside_scope"),
        _flat(amount=D("2500")),  # no decimals is fine
        _flat(clawback_tiers=()),
        _flat(clawback_tiers=tuple(ClawbackTier(d, D("10")) for d in range(1, 11))),  # ten tiers
        _flat(clawback_tiers=(ClawbackTier(1, D("100")), ClawbackTier(3650, D("0.01")))),
        _flat(clawback_tiers=(ClawbackTier(7, D("50")), ClawbackTier(14, D("50")))),  # equal ok
        _flat(trigger_nights=0, payment_terms_days=0),
        _flat(trigger_nights=365, payment_terms_days=365),
        _percent(),
        _percent(rate=D("100")),
        _percent(rate=D("0.01"), currency="USD", vat_treatment="exempt"),
        _percent(rate=D("12.345")),  # a rate is not money: more places are allowed
        _weekly(),
        _weekly(cap=D("700.00")),  # a cap of exactly one week
        _weekly(vat_treatment="zero"),
    ],
)
def test_usable_terms_are_returned_unchanged(terms: FeeTerms) -> None:
    assert check_terms(terms) is terms


def test_a_cap_or_rate_on_a_flat_fee_is_not_refused_and_not_used() -> None:
    # There is no rule against a cap on a non-weekly basis: the form drops it, the arithmetic
    # ignores it.
    terms = _flat(cap=D("1.00"), rate=D("50"))
    assert check_terms(terms) is terms
    assert first_fee(terms, D("100000.00")) == D("2500.00")


# --- check_terms: each refusal ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("terms", "problems"),
    [
        (_flat(basis="per_hour"), ["Unknown fee basis 'per_hour'."]),
        (_flat(basis=""), ["Unknown fee basis ''."]),
        (_flat(currency="JPY"), ["Unknown currency 'JPY': choose one of GBP, EUR, USD."]),
        (_flat(currency="gbp"), ["Unknown currency 'gbp': choose one of GBP, EUR, USD."]),
        (_flat(vat_treatment="reduced"), ["Unknown VAT treatment 'reduced'."]),
        # flat fee: the amount
        (_flat(amount=None), ["The fee is required."]),
        (_flat(amount=D("0")), ["The fee must be more than zero."]),
        (_flat(amount=D("-1.00")), ["The fee must be more than zero."]),
        (_flat(amount=D("NaN")), ["The fee must be more than zero."]),
        (_flat(amount=D("Infinity")), ["The fee must be more than zero."]),
        (_flat(amount=MAX_AMOUNT + D("0.01")), ["The fee is too large."]),
        (_flat(amount=D("2500.005")), ["The fee has more decimal places than GBP has."]),
        (_flat(amount=D("0.001")), ["The fee has more decimal places than GBP has."]),
        # an unknown currency has no minor unit to check against: only the currency is named
        (
            _flat(currency="XXX", amount=D("1.234")),
            ["Unknown currency 'XXX': choose one of GBP, EUR, USD."],
        ),
        # percentage of the treatment value: the rate
        (_percent(rate=None), ["The rate is required."]),
        (_percent(rate=D("0")), ["The rate must be more than 0 %."]),
        (_percent(rate=D("-5")), ["The rate must be more than 0 %."]),
        (_percent(rate=D("NaN")), ["The rate must be more than 0 %."]),
        (_percent(rate=D("100.01")), ["The rate cannot be over 100 %."]),
        (_percent(rate=D("150")), ["The rate cannot be over 100 %."]),
        # per week of stay: the weekly fee and the cap
        (_weekly(amount=None), ["The fee per week is required."]),
        (_weekly(cap=None), ["The cap is required."]),
        (_weekly(amount=None, cap=None), ["The fee per week is required.", "The cap is required."]),
        (_weekly(amount=D("-700")), ["The fee per week must be more than zero."]),
        (_weekly(cap=D("0")), ["The cap must be more than zero."]),
        (_weekly(cap=MAX_AMOUNT + 1), ["The cap is too large."]),
        (_weekly(cap=D("2000.001")), ["The cap has more decimal places than GBP has."]),
        (_weekly(cap=D("699.99")), ["The cap cannot be less than one week's fee."]),
        # trigger and payment terms
        (_flat(trigger_nights=-1), ["The trigger must be between 0 and 365 nights."]),
        (_flat(trigger_nights=366), ["The trigger must be between 0 and 365 nights."]),
        (_flat(payment_terms_days=-1), ["Payment terms must be between 0 and 365 days."]),
        (_flat(payment_terms_days=366), ["Payment terms must be between 0 and 365 days."]),
    ],
)
def test_each_unusable_part_is_named(terms: FeeTerms, problems: list[str]) -> None:
    assert _problems(terms) == problems


@pytest.mark.parametrize(
    ("tiers", "problems"),
    [
        (
            tuple(ClawbackTier(d, D("10")) for d in range(1, 12)),
            ["At most 10 clawback tiers."],
        ),
        ((ClawbackTier(0, D("100")),), ["A clawback tier's days must be between 1 and 3650."]),
        ((ClawbackTier(3651, D("100")),), ["A clawback tier's days must be between 1 and 3650."]),
        (
            (ClawbackTier(7, D("0")),),
            ["A clawback tier's percentage must be more than 0 and at most 100."],
        ),
        (
            (ClawbackTier(7, D("-10")),),
            ["A clawback tier's percentage must be more than 0 and at most 100."],
        ),
        (
            (ClawbackTier(7, D("100.01")),),
            ["A clawback tier's percentage must be more than 0 and at most 100."],
        ),
        (
            (ClawbackTier(7, D("150")),),
            ["A clawback tier's percentage must be more than 0 and at most 100."],
        ),
        (
            (ClawbackTier(7, D("NaN")),),
            ["A clawback tier's percentage must be more than 0 and at most 100."],
        ),
        (
            (ClawbackTier(14, D("50")), ClawbackTier(7, D("100"))),
            ["Clawback tiers must be in order of days, shortest first."],
        ),
        (
            (ClawbackTier(7, D("100")), ClawbackTier(7, D("50"))),
            ["Clawback tiers must be in order of days, shortest first."],
        ),
        (
            (ClawbackTier(7, D("50")), ClawbackTier(14, D("100"))),
            ["A later clawback tier cannot refund more than an earlier one."],
        ),
        (
            (ClawbackTier(7, D("100")), ClawbackTier(14, D("50")), ClawbackTier(28, D("60"))),
            ["A later clawback tier cannot refund more than an earlier one."],
        ),
        (
            (ClawbackTier(0, D("0")), ClawbackTier(0, D("50"))),
            [
                "A clawback tier's days must be between 1 and 3650.",
                "A clawback tier's percentage must be more than 0 and at most 100.",
                "A clawback tier's days must be between 1 and 3650.",
                "Clawback tiers must be in order of days, shortest first.",
            ],
        ),
    ],
)
def test_each_unusable_clawback_tier_is_named(
    tiers: tuple[ClawbackTier, ...], problems: list[str]
) -> None:
    assert _problems(_flat(clawback_tiers=tiers)) == problems


def test_every_problem_is_named_at_once() -> None:
    terms = FeeTerms(
        basis="per_week_of_stay",
        currency="JPY",
        vat_treatment="reduced",
        amount=None,
        cap=D("-1"),
        trigger_nights=400,
        payment_terms_days=-3,
        clawback_tiers=(ClawbackTier(14, D("50")), ClawbackTier(7, D("100"))),
    )
    assert _problems(terms) == [
        "Unknown currency 'JPY': choose one of GBP, EUR, USD.",
        "Unknown VAT treatment 'reduced'.",
        "The fee per week is required.",
        "The cap must be more than zero.",
        "The trigger must be between 0 and 365 nights.",
        "Payment terms must be between 0 and 365 days.",
        "Clawback tiers must be in order of days, shortest first.",
    ]


def test_a_non_number_tier_percentage_before_another_tier_is_a_named_problem() -> None:
    # check_terms promises FeeTermsError naming each problem. A NaN percentage followed by a
    # further tier reaches the "later tier refunds more" comparison with the NaN, and Decimal's
    # ordering comparison with NaN raises decimal.InvalidOperation instead.
    tiers = (ClawbackTier(7, D("NaN")), ClawbackTier(14, D("50")))
    assert _problems(_flat(clawback_tiers=tiers)) == [
        "A clawback tier's percentage must be more than 0 and at most 100."
    ]


# --- parse_tiers and format_tiers -------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "7: 100, 14: 50",
        "7:100,14:50",
        "  7 : 100 ,  14 : 50  ",
        "7 days: 100%, 14 days: 50%",
        "7 day = 100 %; 14 days = 50 %",
        "7 → 100\n14 -> 50",
        "7 - 100\n\n14 >= 50",
        "7: 100.00, 14: 50.0",
        "7: 100,, 14: 50,",
    ],
)
def test_tiers_are_read_as_managers_type_them(text: str) -> None:
    assert parse_tiers(text) == TIERS
    assert parse_tiers(text)[0].percent == D("100")
    assert isinstance(parse_tiers(text)[0].within_days, int)


def test_tier_percentages_keep_up_to_two_decimals() -> None:
    assert parse_tiers("3: 12.5, 10: 0.25") == (
        ClawbackTier(3, D("12.5")),
        ClawbackTier(10, D("0.25")),
    )


@pytest.mark.parametrize("text", [None, "", "   ", ", ;\n"])
def test_no_tiers_is_an_empty_rule(text: str | None) -> None:
    assert parse_tiers(text) == ()


@pytest.mark.parametrize(
    ("text", "bad"),
    [
        ("7 100", "7 100"),
        ("x: 50", "x: 50"),
        ("7: 100, x: 50", "x: 50"),
        ("7:", "7:"),
        (": 50", ": 50"),
        ("7: fifty", "7: fifty"),
        ("7: 12.345", "7: 12.345"),  # percentages have at most two decimals
        ("7: 1000", "7: 1000"),  # at most three digits
        ("12345: 50", "12345: 50"),  # days have at most four digits
        ("-7: 50", "-7: 50"),
        ("7.5: 50", "7.5: 50"),
    ],
)
def test_an_unreadable_tier_is_quoted_back(text: str, bad: str) -> None:
    with pytest.raises(FeeTermsError) as caught:
        parse_tiers(text)
    assert caught.value.problems == [
        f"Cannot read the clawback tier {bad!r}: write days: percent, like 7: 100, 14: 50."
    ]


def test_a_readable_but_unusable_tier_is_left_to_check_terms() -> None:
    over = parse_tiers("7: 150")
    assert over == (ClawbackTier(7, D("150")),)
    assert _problems(_flat(clawback_tiers=over)) == [
        "A clawback tier's percentage must be more than 0 and at most 100."
    ]
    duplicate = parse_tiers("7: 100, 7: 50")
    assert duplicate == (ClawbackTier(7, D("100")), ClawbackTier(7, D("50")))
    assert _problems(_flat(clawback_tiers=duplicate)) == [
        "Clawback tiers must be in order of days, shortest first."
    ]
    assert _problems(_flat(clawback_tiers=parse_tiers("0: 50"))) == [
        "A clawback tier's days must be between 1 and 3650."
    ]


@pytest.mark.parametrize(
    ("tiers", "text"),
    [
        (TIERS, "7: 100, 14: 50"),
        ((), ""),
        ((ClawbackTier(7, D("100.00")), ClawbackTier(14, D("50.0"))), "7: 100, 14: 50"),
        ((ClawbackTier(3, D("12.50")),), "3: 12.5"),
        ((ClawbackTier(3650, D("0.01")),), "3650: 0.01"),
        ((ClawbackTier(30, D("1E+1")),), "30: 10"),
    ],
)
def test_tiers_are_written_back_plainly_and_read_back_the_same(
    tiers: tuple[ClawbackTier, ...], text: str
) -> None:
    assert format_tiers(tiers) == text
    assert parse_tiers(format_tiers(tiers)) == tiers


# --- parse_money ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("2,500", D("2500")),
        ("£2,500.00", D("2500.00")),
        ("£ 2,500.00 ", D("2500.00")),
        ("€1,234.5", D("1234.5")),
        ("$3", D("3")),
        ("0.01", D("0.01")),
        ("-1", D("-1")),  # read as typed: check_terms refuses it
        ("1.005", D("1.005")),  # read as typed: check_terms refuses the third decimal
    ],
)
def test_typed_amounts_are_read_exactly(text: str, value: Decimal) -> None:
    read = parse_money(text, "The fee")
    assert read == value
    assert read is not None and read.as_tuple() == value.as_tuple()


def test_read_amounts_still_go_through_check_terms() -> None:
    assert _problems(_flat(amount=parse_money("-1", "The fee"))) == [
        "The fee must be more than zero."
    ]
    assert _problems(_flat(amount=parse_money("1.005", "The fee"))) == [
        "The fee has more decimal places than GBP has."
    ]


@pytest.mark.parametrize("text", [None, "", "   ", "£", " € "])
def test_a_blank_amount_is_none(text: str | None) -> None:
    assert parse_money(text, "The fee") is None


@pytest.mark.parametrize("text", ["abc", "2.500.00", "NaN", "Infinity", "-inf", "sNaN", "1 000"])
def test_a_non_number_is_refused_with_the_label(text: str) -> None:
    with pytest.raises(FeeTermsError) as caught:
        parse_money(text, "The cap")
    assert caught.value.problems == [f"The cap is not a number: {text!r}."]


# --- round_money ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "rounded"),
    [
        ("0.005", "0.01"),
        ("0.004", "0.00"),
        ("0.0049999", "0.00"),
        ("2.675", "2.68"),
        ("2.665", "2.67"),
        ("2.6749", "2.67"),
        ("1234.565", "1234.57"),
        ("-0.005", "-0.01"),  # half away from zero, as half up means in decimal
        ("-2.675", "-2.68"),
        ("10", "10.00"),
        ("1E+3", "1000.00"),
    ],
)
def test_money_is_rounded_half_up_to_the_minor_unit(value: str, rounded: str) -> None:
    for currency in ("GBP", "EUR", "USD"):
        result = round_money(D(value), currency)
        assert result == D(rounded)
        assert result.as_tuple().exponent == -2


def test_the_minor_unit_is_a_penny_or_a_cent() -> None:
    assert minor_unit("GBP") == minor_unit("EUR") == minor_unit("USD") == D("0.01")


# --- what an admission earns ------------------------------------------------------------------


def test_a_flat_fee_is_the_amount_whatever_the_treatment_value() -> None:
    assert first_fee(_flat()) == D("2500.00")
    assert first_fee(_flat(), D("99999.99")) == D("2500.00")
    assert first_fee(_flat(amount=D("2500"))).as_tuple().exponent == -2


@pytest.mark.parametrize(
    ("rate", "value", "fee"),
    [
        ("10", "12345.67", "1234.57"),  # 1,234.567 → 1,234.57
        ("12.5", "999.99", "125.00"),  # 124.99875 → 125.00
        ("10", "0.05", "0.01"),  # 0.005 → 0.01
        ("10", "0.04", "0.00"),
        ("100", "8000.00", "8000.00"),
        ("33.33", "10000.00", "3333.00"),
        ("10", "0", "0.00"),
    ],
)
def test_a_percentage_fee_is_the_rate_of_the_treatment_value(
    rate: str, value: str, fee: str
) -> None:
    assert first_fee(_percent(rate=D(rate)), D(value)) == D(fee)


def test_a_percentage_fee_in_euros() -> None:
    assert first_fee(_percent(currency="EUR", rate=D("15")), D("23456.78")) == D("3518.52")


@pytest.mark.parametrize("value", [None, D("-0.01"), D("NaN"), D("Infinity")])
def test_a_percentage_fee_needs_a_treatment_value(value: Decimal | None) -> None:
    with pytest.raises(FeeTermsError) as caught:
        first_fee(_percent(), value)
    assert caught.value.problems == ["A percentage fee needs the treatment value of the admission."]


def test_a_weekly_fee_first_earns_one_week() -> None:
    assert first_fee(_weekly()) == D("700.00")
    assert first_fee(_weekly(cap=D("700.00"))) == D("700.00")


@pytest.mark.parametrize(
    ("accrued", "fee"),
    [
        ("0", "700.00"),
        ("700.00", "700.00"),
        ("1299.99", "700.00"),
        ("1300.00", "700.00"),
        ("1400.00", "600.00"),  # the third week only tops up to the cap
        ("1999.99", "0.01"),
        ("2000.00", "0.00"),
        ("2500.00", "0.00"),  # never negative, even past the cap
    ],
)
def test_a_week_earns_no_more_than_is_left_under_the_cap(accrued: str, fee: str) -> None:
    result = week_fee(_weekly(), D(accrued))
    assert result == D(fee)
    assert result.as_tuple().exponent == -2


def test_weeks_add_up_to_the_cap_and_stop() -> None:
    terms, total, fees = _weekly(), D(0), []
    for _ in range(5):
        fees.append(week_fee(terms, total))
        total += fees[-1]
    assert fees == [D("700.00"), D("700.00"), D("600.00"), D("0.00"), D("0.00")]
    assert total == D("2000.00")


def test_when_fees_and_weeks_are_earned() -> None:
    assert accrual_date(ADMITTED, 0) == ADMITTED
    assert accrual_date(ADMITTED, 28) == date(2026, 11, 30)
    # no trigger: each week when it begins
    assert [week_starts_on(ADMITTED, 0, w) for w in (1, 2, 3)] == [
        date(2026, 11, 2),
        date(2026, 11, 9),
        date(2026, 11, 16),
    ]
    # a 10-night trigger: weeks 1 and 2 are both earned at the trigger, week 3 when it begins
    assert [week_starts_on(ADMITTED, 10, w) for w in (1, 2, 3)] == [
        date(2026, 11, 12),
        date(2026, 11, 12),
        date(2026, 11, 16),
    ]


@pytest.mark.parametrize(
    ("until", "nights"),
    [
        (date(2026, 11, 2), 0),
        (date(2026, 11, 3), 1),
        (date(2026, 11, 12), 10),  # Monday to the next Thursday
        (date(2026, 11, 1), 0),  # a date before admission is no stay, not a negative one
        (date(2027, 11, 2), 365),
    ],
)
def test_nights_stayed(until: date, nights: int) -> None:
    assert nights_stayed(ADMITTED, until) == nights


@pytest.mark.parametrize(
    ("trigger", "discharged", "met"),
    [
        (0, None, True),
        (0, date(2026, 11, 2), True),  # earned on admission, even a same-day discharge
        (7, None, True),  # still in treatment: the trigger is waited for, not refused
        (7, date(2026, 11, 8), False),  # 6 nights
        (7, date(2026, 11, 9), True),  # 7 nights
        (7, date(2026, 11, 20), True),
        (28, date(2026, 11, 29), False),
    ],
)
def test_trigger_met(trigger: int, discharged: date | None, met: bool) -> None:
    assert trigger_met(_flat(trigger_nights=trigger), ADMITTED, discharged) is met


# --- clawbacks --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("nights", "percent"),
    [(0, "100"), (1, "100"), (7, "100"), (8, "50"), (10, "50"), (14, "50"), (15, "0"), (400, "0")],
)
def test_the_first_tier_covering_the_stay_applies(nights: int, percent: str) -> None:
    assert clawback_percent(TIERS, nights) == D(percent)


def test_no_tiers_no_clawback() -> None:
    assert clawback_percent((), 0) == D(0)


@pytest.mark.parametrize(
    ("discharged", "refund"),
    [
        (date(2026, 11, 2), "2500.00"),  # same day
        (date(2026, 11, 5), "2500.00"),  # 3 nights: within 7
        (date(2026, 11, 9), "2500.00"),  # 7 nights: within 7
        (date(2026, 11, 10), "1250.00"),  # 8 nights: within 14
        (date(2026, 11, 12), "1250.00"),  # Monday to the next Thursday: 10 nights
        (date(2026, 11, 16), "1250.00"),  # 14 nights: within 14
        (date(2026, 11, 17), "0.00"),  # day 15: no refund
        (date(2027, 1, 1), "0.00"),
    ],
)
def test_the_clawback_story(discharged: date, refund: str) -> None:
    result = clawback(_flat(), D("2500.00"), ADMITTED, discharged)
    assert result == D(refund)
    assert result.as_tuple().exponent == -2


@pytest.mark.parametrize(
    ("accrued", "tiers", "refund"),
    [
        ("2000.00", TIERS, "1000.00"),  # a capped weekly total
        ("0.01", TIERS, "0.01"),  # 50 % of a penny is half a penny: rounds up
        ("100.01", (ClawbackTier(30, D("33.33")),), "33.33"),  # 33.333333 → 33.33
        ("0.01", (ClawbackTier(30, D("33.33")),), "0.00"),
        ("1234.57", (ClawbackTier(30, D("12.5")),), "154.32"),  # 154.32125 → 154.32
        ("0", TIERS, "0"),
        ("-100.00", TIERS, "0"),  # nothing accrued (or less): nothing to claw back
    ],
)
def test_clawback_amounts(accrued: str, tiers: tuple[ClawbackTier, ...], refund: str) -> None:
    assert clawback(_flat(clawback_tiers=tiers), D(accrued), ADMITTED, date(2026, 11, 12)) == D(
        refund
    )


def test_no_rule_means_no_clawback() -> None:
    assert clawback(_flat(clawback_tiers=()), D("2500.00"), ADMITTED, ADMITTED) == D("0.00")


# --- VAT and documents ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("treatment", "rate"),
    [("standard", "20"), ("zero", "0"), ("exempt", "0"), ("outside_scope", "0")],
)
def test_vat_rates(treatment: str, rate: str) -> None:
    assert vat_rate(treatment) == D(rate)


def test_an_unknown_vat_treatment_has_no_rate() -> None:
    with pytest.raises(KeyError):
        vat_rate("reduced")


@pytest.mark.parametrize(
    ("net", "treatment", "vat"),
    [
        ("2500.00", "standard", "500.00"),
        ("1234.57", "standard", "246.91"),  # 246.914
        ("1234.58", "standard", "246.92"),  # 246.916
        ("0.03", "standard", "0.01"),  # 0.006
        ("0.02", "standard", "0.00"),  # 0.004
        ("0.025", "standard", "0.01"),  # 0.005: half up
        ("-1250.00", "standard", "-250.00"),  # a credit note's line
        ("2500.00", "zero", "0.00"),
        ("2500.00", "exempt", "0.00"),
        ("2500.00", "outside_scope", "0.00"),  # reverse charge: no UK VAT on the invoice
    ],
)
def test_vat_on_one_line(net: str, treatment: str, vat: str) -> None:
    result = vat_on(D(net), treatment, "GBP")
    assert result == D(vat)
    assert result.as_tuple().exponent == -2


def test_document_totals_are_the_sums_of_the_lines() -> None:
    totals = document_totals(
        [
            (D("2500.00"), "standard"),
            (D("1234.57"), "standard"),
            (D("-1250.00"), "standard"),
            (D("100.00"), "exempt"),
            (D("0.03"), "standard"),
        ],
        "GBP",
    )
    assert totals.lines == (
        LineAmounts(D("2500.00"), D("20"), D("500.00")),
        LineAmounts(D("1234.57"), D("20"), D("246.91")),
        LineAmounts(D("-1250.00"), D("20"), D("-250.00")),
        LineAmounts(D("100.00"), D("0"), D("0.00")),
        LineAmounts(D("0.03"), D("20"), D("0.01")),
    )
    assert [line.gross for line in totals.lines] == [
        D("3000.00"),
        D("1481.48"),
        D("-1500.00"),
        D("100.00"),
        D("0.04"),
    ]
    assert totals.net == D("2584.60")
    assert totals.vat == D("496.92")
    assert totals.gross == D("3081.52")
    # the lines, not a recomputation on the net total, make the totals
    assert totals.vat == sum(line.vat for line in totals.lines)


def test_a_line_net_is_rounded_once_and_its_vat_is_the_vat_of_that_net() -> None:
    totals = document_totals([(D("1.005"), "standard"), (D("0.125"), "standard")], "EUR")
    assert [line.net for line in totals.lines] == [D("1.01"), D("0.13")]
    assert [line.vat for line in totals.lines] == [D("0.20"), D("0.03")]
    assert (totals.net, totals.vat, totals.gross) == (D("1.14"), D("0.23"), D("1.37"))


def test_an_empty_document_totals_zero() -> None:
    totals = document_totals([], "GBP")
    assert totals.lines == ()
    assert (totals.net, totals.vat, totals.gross) == (0, 0, 0)


@pytest.mark.parametrize(
    ("issued", "days", "due"),
    [
        (date(2026, 11, 30), 30, date(2026, 12, 30)),
        (date(2026, 12, 15), 30, date(2027, 1, 14)),
        (date(2026, 11, 30), 0, date(2026, 11, 30)),
        (date(2028, 2, 1), 28, date(2028, 2, 29)),
    ],
)
def test_due_on(issued: date, days: int, due: date) -> None:
    assert due_on(issued, days) == due


@pytest.mark.parametrize(
    ("late", "bucket"),
    [
        (-30, "current"),
        (-1, "current"),
        (0, "current"),  # due today is not late
        (1, "1-30"),
        (30, "1-30"),
        (31, "31-60"),
        (60, "31-60"),
        (61, "61-90"),
        (90, "61-90"),
        (91, "90+"),
        (400, "90+"),
    ],
)
def test_age_buckets(late: int, bucket: str) -> None:
    due = date(2026, 12, 30)
    assert age_bucket(due, due + timedelta(days=late)) == bucket


@pytest.mark.parametrize(
    ("amount", "currency", "text"),
    [
        ("2500", "GBP", "£2,500.00"),
        ("2500.00", "GBP", "£2,500.00"),
        ("1234.5", "EUR", "€1,234.50"),
        ("0", "USD", "$0.00"),
        ("999.999", "USD", "$1,000.00"),
        ("1234567.891", "GBP", "£1,234,567.89"),
        ("0.005", "GBP", "£0.01"),
        ("-1250.00", "GBP", "\u2212£1,250.00"),  # U+2212 MINUS SIGN, before the symbol
        ("-0.50", "EUR", "\u2212€0.50"),
        ("-1234567.8", "USD", "\u2212$1,234,567.80"),
    ],
)
def test_format_money(amount: str, currency: str, text: str) -> None:
    assert format_money(D(amount), currency) == text


# --- the ledger -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "reversed_kind", "account"),
    [
        ("accrual", None, "unbilled"),
        ("clawback", None, "unbilled"),
        ("invoice", None, "receivable"),
        ("payment", None, "receivable"),
        ("credit_note", None, "receivable"),
        ("write_off", None, "receivable"),
        ("reversal", "accrual", "unbilled"),
        ("reversal", "clawback", "unbilled"),
        ("reversal", "payment", "receivable"),
        ("reversal", "write_off", "receivable"),
        ("reversal", "invoice", "receivable"),
        ("accrual", "payment", "unbilled"),  # only a reversal looks at what it reverses
    ],
)
def test_account_of(kind: str, reversed_kind: str | None, account: str) -> None:
    assert account_of(kind, reversed_kind) == account


@pytest.mark.parametrize(
    ("kind", "reversed_kind", "message"),
    [
        ("refund", None, "Unknown ledger entry kind 'refund'."),
        ("", None, "Unknown ledger entry kind ''."),
        ("reversal", None, "A reversal must name the entry it reverses."),
        ("reversal", "bogus", "Unknown ledger entry kind 'bogus'."),
        # the reversed kind is the root of the chain (postings follows it back), never a reversal
        ("reversal", "reversal", "A reversal must name the entry it reverses."),
    ],
)
def test_account_of_refuses(kind: str, reversed_kind: str | None, message: str) -> None:
    with pytest.raises(LedgerRuleError) as caught:
        account_of(kind, reversed_kind)
    assert str(caught.value) == message


@pytest.mark.parametrize(
    "facts",
    [
        EntryFacts("accrual", already_reversed=False, billed=False),
        EntryFacts("clawback", already_reversed=False, billed=False),
        EntryFacts("payment", already_reversed=False, billed=False),
        EntryFacts("payment", already_reversed=False, billed=True),  # the billed rule is unbilled
        EntryFacts("write_off", already_reversed=False, billed=False),
    ],
)
def test_reversible_entries(facts: EntryFacts) -> None:
    assert check_reversible(facts) is None


@pytest.mark.parametrize(
    ("facts", "message"),
    [
        (
            EntryFacts("invoice", already_reversed=False, billed=False),
            "The invoice entry itself is not reversed: void the invoice or issue a credit note.",
        ),
        (
            EntryFacts("credit_note", already_reversed=False, billed=True),
            "The credit note entry itself is not reversed: void the invoice or issue a credit "
            "note.",
        ),
        (
            # the kind is refused before anything else
            EntryFacts("invoice", already_reversed=True, billed=True),
            "The invoice entry itself is not reversed: void the invoice or issue a credit note.",
        ),
        (
            EntryFacts("bogus", already_reversed=False, billed=False),
            "The bogus entry itself is not reversed: void the invoice or issue a credit note.",
        ),
        (
            EntryFacts("accrual", already_reversed=True, billed=False),
            "This accrual entry has already been reversed.",
        ),
        (
            EntryFacts("payment", already_reversed=True, billed=False),
            "This payment entry has already been reversed.",
        ),
        (
            EntryFacts("write_off", already_reversed=True, billed=False),
            "This write-off entry has already been reversed.",
        ),
        (
            EntryFacts("reversal", already_reversed=False, billed=False),
            "A reversal is not itself reversed: post the original again (record the payment "
            "again, for instance).",
        ),
        (
            EntryFacts("accrual", already_reversed=True, billed=True),
            "This accrual entry has already been reversed.",
        ),
        (
            EntryFacts("accrual", already_reversed=False, billed=True),
            "This accrual is on an issued invoice or credit note: correct the referral's dates "
            "(which credits it) or void the invoice instead.",
        ),
        (
            EntryFacts("clawback", already_reversed=False, billed=True),
            "This clawback is on an issued invoice or credit note: correct the referral's dates "
            "(which credits it) or void the invoice instead.",
        ),
    ],
)
def test_refused_reversals(facts: EntryFacts, message: str) -> None:
    with pytest.raises(LedgerRuleError) as caught:
        check_reversible(facts)
    assert str(caught.value) == message


def test_outstanding_is_gross_less_everything_that_settled_it() -> None:
    assert DocumentMoney(D("3000.00")).outstanding == D("3000.00")
    money = DocumentMoney(D("3000.00"), D("1000.00"), D("500.00"), D("200.00"))
    assert money.outstanding == D("1300.00")
    assert DocumentMoney(D("3000.00"), paid=D("3100.00")).outstanding == D("-100.00")


@pytest.mark.parametrize(
    ("current", "money", "status"),
    [
        ("draft", DocumentMoney(D("3000.00"), paid=D("3000.00")), "draft"),
        ("void", DocumentMoney(D("3000.00"), paid=D("1000.00")), "void"),
        ("issued", DocumentMoney(D("3000.00")), "issued"),
        ("issued", DocumentMoney(D("3000.00"), paid=D("0.01")), "part_paid"),
        ("issued", DocumentMoney(D("3000.00"), paid=D("2999.99")), "part_paid"),
        ("issued", DocumentMoney(D("3000.00"), paid=D("3000.00")), "paid"),
        ("issued", DocumentMoney(D("3000.00"), paid=D("3100.00")), "paid"),  # overpaid
        ("issued", DocumentMoney(D("3000.00"), credited=D("3000.00")), "void"),
        ("part_paid", DocumentMoney(D("3000.00"), credited=D("3000.00")), "void"),
        ("issued", DocumentMoney(D("3000.00"), credited=D("1250.00")), "issued"),  # a clawback
        ("issued", DocumentMoney(D("3000.00"), D("1750.00"), D("1250.00")), "paid"),
        ("issued", DocumentMoney(D("3000.00"), D("1000.00"), D("1250.00")), "part_paid"),
        # credited in full after a payment: nothing left, but not void (the payment stands)
        ("part_paid", DocumentMoney(D("3000.00"), D("10.00"), D("3000.00")), "paid"),
        ("issued", DocumentMoney(D("3000.00"), written_off=D("3000.00")), "written_off"),
        (
            "part_paid",
            DocumentMoney(D("3000.00"), D("1000.00"), D("0"), D("2000.00")),
            "written_off",
        ),
        ("issued", DocumentMoney(D("3000.00"), written_off=D("500.00")), "issued"),
        ("issued", DocumentMoney(D("3000.00"), D("1000.00"), written_off=D("500.00")), "part_paid"),
        # money, not history, decides: a reversed payment reopens a paid invoice
        ("paid", DocumentMoney(D("3000.00")), "issued"),
        ("paid", DocumentMoney(D("3000.00"), paid=D("1000.00")), "part_paid"),
        ("written_off", DocumentMoney(D("3000.00")), "issued"),
    ],
)
def test_invoice_status(current: str, money: DocumentMoney, status: str) -> None:
    assert invoice_status(current, money) == status


def test_an_invoice_moves_from_issued_to_part_paid_to_paid() -> None:
    gross = D("3000.00")
    status = invoice_status("issued", DocumentMoney(gross))
    assert status == "issued"
    status = invoice_status(status, DocumentMoney(gross, paid=D("1000.00")))
    assert status == "part_paid"
    status = invoice_status(status, DocumentMoney(gross, paid=D("2000.00")))
    assert status == "part_paid"
    status = invoice_status(status, DocumentMoney(gross, paid=D("3000.00")))
    assert status == "paid"


def test_an_invoice_credited_in_full_is_void_and_stays_void() -> None:
    gross = D("2500.00")
    status = invoice_status("issued", DocumentMoney(gross, credited=gross))
    assert status == "void"
    assert invoice_status(status, DocumentMoney(gross)) == "void"


def test_an_invoice_settled_by_a_write_off_is_written_off() -> None:
    gross = D("2500.00")
    status = invoice_status("issued", DocumentMoney(gross, paid=D("500.00")))
    assert status == "part_paid"
    status = invoice_status(status, DocumentMoney(gross, D("500.00"), written_off=D("2000.00")))
    assert status == "written_off"
