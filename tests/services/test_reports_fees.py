"""The fees report on a hand-built ledger with exact figures: per month and per provider, per
currency (never added together), reversals netted against what they reverse, invoices less
credit notes, the aged debt at the period's end, the previous period and an empty period.

The period is Monday 23 November to Sunday 13 December 2026 (three weeks across two months);
the previous one is 2 to 22 November. Entries are posted through crm.fees.postings on the days
below; invoices, the void, the payment and the write-off go through the real services.

| day | Harbour House (GBP, +20 % VAT) | Clinica Sol (EUR, outside the scope) |
| --- | --- | --- |
| 10 Nov (previous) | accrual 1,000 | |
| 24 Nov | | accrual 1,000 |
| 25 Nov | accrual 2,500 | |
| 1 Dec | invoice 4,200 (3,500 + VAT), due 31 Dec | invoice 1,000 |
| 2 Dec, 3 Dec | accrual 2,500, then its reversal | |
| 4 Dec | clawback 500 (not yet invoiced) | |
| 5 Dec | payment 1,000 | |
| 8 Dec | | invoice voided (credit note 1,000) |
| 9 Dec | | invoiced again 1,000 |
| 10 Dec | | written off 1,000 |
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from sqlalchemy import select

from crm import clock
from crm.auth.models import User
from crm.extensions import db
from crm.fees import credits, invoicing, payments
from crm.fees.models import FeeAgreement, Invoice, LedgerEntry
from crm.fees.postings import Posting, post, reversal_of
from crm.privacy.services import Actor
from crm.providers.models import ProviderLocation
from crm.reports import activity, fees
from crm.reports.leads import Filters
from crm.reports.model import Report
from crm.reports.periods import Period
from tests.conftest import create_staff
from tests.services.fee_factories import HARBOUR_TERMS, agreement_for, harbour_house, uk
from tests.services.intake_factories import actor_for
from tests.services.referral_factories import location
from tests.services.report_factories import refresh_summaries

PERIOD = Period(date(2026, 11, 23), date(2026, 12, 13))
AFTER = datetime(2026, 12, 20, 9, 0, tzinfo=UTC)
EUR_TERMS = replace(
    HARBOUR_TERMS, currency="EUR", amount=Decimal("1000.00"), vat_treatment="outside_scope"
)
D = Decimal


@dataclass
class Books:
    harbour: ProviderLocation
    sol: ProviderLocation
    gbp_invoice: Invoice


def _accrual(
    clinic: ProviderLocation,
    agreement: FeeAgreement,
    key: str,
    amount: str,
    on: date,
    actor: Actor,
    kind: str = "accrual",
) -> LedgerEntry:
    with clock.pinned(uk(on, 10)):
        entry = post(
            Posting(
                kind=kind,
                key=f"test:{key}",
                provider_id=clinic.provider_id,
                currency=agreement.currency,
                amount=D(amount),
                lead_reference="L-TEST01",
                agreement_id=agreement.id,
                posted_on=on,
            ),
            actor,
        )
    assert entry is not None
    return entry


def _invoices(on: date, actor: Actor) -> list[Invoice]:
    with clock.pinned(uk(on, 14)):
        outcome = invoicing.run_invoicing(on, actor)
        db.session.flush()
    return outcome.invoices


@pytest.fixture
def manager(db_session: object) -> User:
    return create_staff("manager")


@pytest.fixture
def books(manager: User) -> Books:
    actor = actor_for(manager)
    harbour = harbour_house()
    sol = location("Clinica Sol", provider_name="Clinica Sol SL", country="ES")
    gbp = agreement_for(harbour, manager)
    eur = agreement_for(sol, manager, EUR_TERMS, accounts_email="cuentas@clinica-sol.example")
    _accrual(harbour, gbp, "a0", "1000.00", date(2026, 11, 10), actor)
    _accrual(sol, eur, "e1", "1000.00", date(2026, 11, 24), actor)
    _accrual(harbour, gbp, "a1", "2500.00", date(2026, 11, 25), actor)
    by_currency = {i.currency: i for i in _invoices(date(2026, 12, 1), actor)}
    assert (by_currency["GBP"].gross, by_currency["EUR"].gross) == (D("4200.00"), D("1000.00"))
    a2 = _accrual(harbour, gbp, "a2", "2500.00", date(2026, 12, 2), actor)
    with clock.pinned(uk(date(2026, 12, 3), 10)):
        assert post(reversal_of(a2, "entered twice"), actor) is not None
    _accrual(harbour, gbp, "c1", "-500.00", date(2026, 12, 4), actor, kind="clawback")
    with clock.pinned(uk(date(2026, 12, 5), 11)):
        payments.record_payment(
            payments.PaymentDetails(
                harbour.provider_id, "GBP", D("1000.00"), date(2026, 12, 5), "bank_transfer"
            ),
            actor,
        )
    with clock.pinned(uk(date(2026, 12, 8), 11)):
        credits.void_invoice(by_currency["EUR"].id, "wrong billing address", actor)
    [again] = [i for i in _invoices(date(2026, 12, 9), actor) if i.currency == "EUR"]
    with clock.pinned(uk(date(2026, 12, 10), 11)):
        payments.write_off(again.id, "clinic closed", actor)
    db.session.commit()
    return Books(harbour, sol, by_currency["GBP"])


def build(period: Period = PERIOD, when: datetime = AFTER) -> Report:
    """The report as a manager opens it: after the engine's refresh of the summaries."""
    refresh_summaries(when)
    with clock.pinned(when):
        return fees.fees_report(period, Filters())


def figures(report: Report) -> dict[str, object]:
    return {f.key: (f.value, f.previous) for f in report.figures}


def test_fee_figures_are_exact_per_currency_with_the_previous_period(books: Books) -> None:
    report = build()
    assert (report.key, report.title, report.previous) == (
        "fees",
        "Fees",
        Period(date(2026, 11, 2), date(2026, 11, 22)),
    )
    assert figures(report) == {
        "accrued:GBP": (D("2500.00"), D("1000.00")),  # the reversed accrual nets to nothing
        "clawed_back:GBP": (D("500.00"), D(0)),
        "invoiced:GBP": (D("4200.00"), D(0)),
        "paid:GBP": (D("1000.00"), D(0)),
        "written_off:GBP": (D(0), D(0)),
        "aged_debt:GBP": (D("3200.00"), D(0)),
        "accrued:EUR": (D("1000.00"), D(0)),
        "clawed_back:EUR": (D(0), D(0)),
        "invoiced:EUR": (D("1000.00"), D(0)),  # invoiced, voided by a credit note, invoiced again
        "paid:EUR": (D(0), D(0)),
        "written_off:EUR": (D("1000.00"), D(0)),
        "aged_debt:EUR": (D(0), D(0)),
    }
    for figure in report.figures:
        assert figure.unit == "money" and figure.currency == figure.key.split(":")[1]
        assert isinstance(figure.value, Decimal) and figure.definition
        assert figure.drill is None
    assert all(t.definition for t in report.tables)
    assert fees.fees_sets_for(PERIOD, Filters()) == {}
    assert report.drill_keys() == set()


def test_months_and_providers_never_add_currencies_together(books: Books) -> None:
    report = build()
    table = report.table("by_month")
    assert table.columns == [
        "Month",
        "Currency",
        "Accrued",
        "Clawed back",
        "Invoiced",
        "Paid",
        "Written off",
    ]
    assert table.rows == [
        ["Nov 2026", "GBP", D("2500.00"), D(0), D(0), D(0), D(0)],
        ["Nov 2026", "EUR", D("1000.00"), D(0), D(0), D(0), D(0)],
        ["Dec 2026", "GBP", D(0), D("500.00"), D("4200.00"), D("1000.00"), D(0)],
        ["Dec 2026", "EUR", D(0), D(0), D("1000.00"), D(0), D("1000.00")],
    ]
    providers = report.table("by_provider").rows
    assert providers == [
        ["Clinica Sol SL", "EUR", D("1000.00"), D(0), D("1000.00"), D(0), D("1000.00"), D(0)],
        [
            "Harbour House Ltd",
            "GBP",
            D("2500.00"),
            D("500.00"),
            D("4200.00"),
            D("1000.00"),
            D(0),
            D("3200.00"),
        ],
    ]
    aged = {row[0]: row[1:] for row in report.table("aged").rows}
    assert report.table("aged").title == "Aged debt as of 13 Dec 2026"
    assert aged["GBP"] == [D("3200.00"), D(0), D(0), D(0), D(0), D("3200.00"), D(0)]
    assert aged["EUR"] == [D(0)] * 7


def test_the_aged_debt_is_as_of_today_when_the_period_runs_on(books: Books) -> None:
    # Seen on 4 December, the period has not ended: the debt is today's, before the payment.
    report = build(when=uk(date(2026, 12, 4), 18))
    got = figures(report)
    assert got["aged_debt:GBP"] == (D("4200.00"), D(0))
    assert got["aged_debt:EUR"] == (D("1000.00"), D(0))
    assert report.table("aged").title == "Aged debt as of 04 Dec 2026"


def test_a_month_period_has_one_row_per_currency_and_the_previous_month_sums(books: Books) -> None:
    december = Period(date(2026, 12, 1), date(2026, 12, 31))
    report = build(december, datetime(2027, 1, 5, 9, tzinfo=UTC))
    assert [row[:2] for row in report.table("by_month").rows] == [
        ["Dec 2026", "GBP"],
        ["Dec 2026", "EUR"],
    ]
    got = figures(report)
    # The previous period is 31 days back: 31 October to 30 November.
    assert report.previous == Period(date(2026, 10, 31), date(2026, 11, 30))
    assert got["accrued:GBP"] == (D(0), D("3500.00"))
    assert got["accrued:EUR"] == (D(0), D("1000.00"))
    # On 31 December the GBP invoice is not yet due; the previous period's end had no invoice.
    assert got["aged_debt:GBP"] == (D("3200.00"), D(0))


def test_an_empty_period_has_zero_figures_in_pounds_and_no_rows(db_session: object) -> None:
    report = build()
    assert figures(report) == {
        "accrued:GBP": (D(0), D(0)),
        "clawed_back:GBP": (D(0), D(0)),
        "invoiced:GBP": (D(0), D(0)),
        "paid:GBP": (D(0), D(0)),
        "written_off:GBP": (D(0), D(0)),
        "aged_debt:GBP": (D(0), D(0)),
    }
    assert report.table("by_month").rows == []
    assert report.table("by_provider").rows == []
    assert report.table("aged").rows == [["GBP", *[D(0)] * 7]]


def test_the_fee_facts_equal_a_direct_sum_of_the_ledger_and_follow_new_entries(
    books: Books, manager: User
) -> None:
    """The summarised sums (crm/reports/activity.py) against the same sums straight from the
    ledger, for the period, a whole month (its month rows), and a period with loose days either
    side; then a reversal posted later is seen (the trigger logs its day) and nets out."""
    periods = (PERIOD, Period(date(2026, 11, 1), date(2026, 11, 30)), PERIOD.previous())
    periods += (Period(date(2026, 10, 20), date(2026, 12, 3)),)

    def assert_equal() -> None:
        for each in periods:
            direct = activity.collapse(fees.day_facts(each, Filters()))
            assert activity.read("fees", each) == direct, each

    refresh_summaries(AFTER)
    assert_equal()
    assert activity.read("fees", PERIOD).total("accrued:GBP") == 250_000  # pence
    payment = db.session.scalar(select(LedgerEntry).where(LedgerEntry.kind == "payment"))
    assert payment is not None
    with clock.pinned(uk(date(2026, 12, 21), 10)):
        assert post(reversal_of(payment, "bounced"), actor_for(manager)) is not None
        db.session.commit()
    later = datetime(2026, 12, 21, 11, 0, tzinfo=UTC)
    refresh_summaries(later)
    assert_equal()
    december = Period(date(2026, 12, 1), date(2026, 12, 31))
    assert activity.read("fees", december).total("paid:GBP") == 0  # paid, then reversed
