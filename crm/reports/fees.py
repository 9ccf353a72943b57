"""The fees report: what was accrued, clawed back, invoiced, paid and written off, per UK
calendar month and per provider, and the aged debt at the period's end. Reads only.

Every amount is per currency: money in different currencies is never added together. Amounts
are summed by the database from the ledger (crm/fees/ledger.py, postings.py) per accounting
day into the report facts (crm/reports/activity.py, in pence: the ledger holds two decimal
places), and read back as Decimal; the aged debt is computed from the ledger when the page
is opened:

- the day an entry counts on is its ``posted_on`` (the accounting day, UK time), within the
  period's days; a month row covers only the period's days of that month;
- a **reversal** counts as the kind of the entry it reverses (its ``reverses_id``), with its
  own (opposite) sign, so a reversed accrual or payment nets to nothing;
- **accrued**: ``accrual`` entries (the unbilled account), the fee before VAT;
- **clawed back**: ``clawback`` entries (the unbilled account), as a positive amount, before VAT:
  both the part netted before invoicing and the part put on a credit note;
- **invoiced**: ``invoice`` entries less ``credit_note`` entries (the receivable account), with
  VAT, as on the documents: a voided invoice and its credit note net to nothing;
- **paid**: ``payment`` entries, as a positive amount: money received, allocated to invoices or
  held as the provider's credit (credit later used on an invoice is not counted twice);
- **written off**: ``write_off`` entries, as a positive amount;
- **aged debt**: what was owed on open invoices at the period's end (or today, if the period
  ends later), from crm.fees.queries.aged_debt: the total of its age buckets.

Fees are per provider, not per lead: the report has no lead sets and ignores lead filters.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date, timedelta
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.orm import aliased

from crm import clock
from crm.extensions import db
from crm.fees.models import LedgerEntry
from crm.fees.queries import AgedRow, aged_debt, aged_totals, provider_names
from crm.fees.vocabulary import AGE_BUCKET_LABELS, AGE_BUCKETS, CURRENCIES
from crm.oncall.wallclock import local_date
from crm.reports import activity, summary
from crm.reports.activity import NO_SOURCE, DayFacts
from crm.reports.leads import Filters
from crm.reports.model import Cell, Chart, Figure, Report, Series, Table
from crm.reports.periods import Period

ZERO = Decimal(0)
DEFAULT_CURRENCY = "GBP"
# Each measure: the ledger kinds it sums (reversals as the kind they reverse) and its sign.
MEASURES: dict[str, tuple[str, tuple[str, ...], int]] = {
    "accrued": ("Accrued", ("accrual",), 1),
    "clawed_back": ("Clawed back", ("clawback",), -1),
    "invoiced": ("Invoiced", ("invoice", "credit_note"), 1),
    "paid": ("Paid", ("payment",), -1),
    "written_off": ("Written off", ("write_off",), -1),
}
MEASURE_OF_KIND = {kind: key for key, (_, kinds, _) in MEASURES.items() for kind in kinds}

DEFINITIONS = {
    "accrued": "Referral fees earned (accrual entries posted in the period, less their "
    "reversals), before VAT.",
    "clawed_back": "Fees refunded under a clawback rule (clawback entries posted in the period, "
    "less their reversals), before VAT, whether netted before invoicing or credited after.",
    "invoiced": "Invoices issued in the period less credit notes issued in it, with VAT "
    "(a voided invoice and its credit note net to nothing).",
    "paid": "Money received from providers (payment entries posted in the period, less their "
    "reversals), allocated to invoices or held as credit.",
    "written_off": "Debt written off in the period (write-off entries, less their reversals).",
    "aged_debt": "What providers owed on open invoices at the end of the period (or today, if "
    "the period ends later), all ages together.",
    "by_month": "Per UK calendar month (only the period's days of it) and currency, by the "
    "day each ledger entry was posted. Accrued and clawed back are before VAT; invoiced, paid "
    "and written off are as on the documents, with VAT. Currencies are never added together.",
    "by_provider": "Per provider and currency over the period, as in the monthly table, with "
    "what the provider owed on open invoices at the end of the period.",
    "aged": "What providers owed on open invoices at the end of the period, by days past the "
    "due date, per currency; credit is money received and not yet allocated to an invoice.",
}

Sums = dict[tuple[int, int, int, str], dict[str, Decimal]]  # (year, month, provider, currency)


CENT = Decimal("0.01")


def day_facts(period: Period, filters: Filters) -> DayFacts:
    """The report's facts per accounting day (crm/reports/activity.py), summed by the database:
    per provider, the measure and currency (``<measure>:<currency>``) in pence, reversals as the
    kind they reverse with their own sign. Fees have no lead filters."""
    original = aliased(LedgerEntry)
    kind = func.coalesce(original.kind, LedgerEntry.kind)
    query = (
        select(
            LedgerEntry.posted_on,
            LedgerEntry.provider_id,
            LedgerEntry.currency,
            kind,
            func.sum(LedgerEntry.amount),
        )
        .outerjoin(original, original.id == LedgerEntry.reverses_id)
        .where(LedgerEntry.posted_on >= period.start, LedgerEntry.posted_on <= period.end)
        .group_by(LedgerEntry.posted_on, LedgerEntry.provider_id, LedgerEntry.currency, kind)
    )
    out = activity.day_facts()
    for day, provider_id, currency, entry_kind, total in db.session.execute(query):
        measure = MEASURE_OF_KIND.get(entry_kind)
        if measure is None:
            continue
        pence = int(Decimal(total or 0) * 100)  # amounts have two decimal places
        out[day][(NO_SOURCE, provider_id, f"{measure}:{currency}", 0)] += (
            MEASURES[measure][2] * pence
        )
    return out


def ledger_sums(period: Period) -> Sums:
    """The measures per month, provider and currency over the period's days, from the report
    facts: one read per month the period overlaps (a whole month reads its month rows)."""
    sums: Sums = defaultdict(lambda: dict.fromkeys(MEASURES, ZERO))
    for y, m in months_of(period):
        first = date(y, m, 1)
        last = (first + timedelta(days=32)).replace(day=1) - timedelta(days=1)
        part = Period(max(first, period.start), min(last, period.end))
        for (provider_id, metric, _), pence in activity.read("fees", part).counts.items():
            measure, currency = metric.split(":", 1)
            sums[(y, m, provider_id, currency)][measure] += (Decimal(pence) / 100).quantize(CENT)
    return sums


def _by_currency(sums: Sums) -> dict[str, dict[str, Decimal]]:
    out: dict[str, dict[str, Decimal]] = defaultdict(lambda: dict.fromkeys(MEASURES, ZERO))
    for (_, _, _, currency), values in sums.items():
        for key, amount in values.items():
            out[currency][key] += amount
    return out


def months_of(period: Period) -> list[tuple[int, int]]:
    """The UK calendar months the period overlaps, in order."""
    months = []
    year, month = period.start.year, period.start.month
    while (year, month) <= (period.end.year, period.end.month):
        months.append((year, month))
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return months


def as_of_day(period: Period, today: date) -> date:
    return min(period.end, today)


def _currency_order(currencies: set[str]) -> list[str]:
    known = [c for c in CURRENCIES if c in currencies]
    return known + sorted(c for c in currencies if c not in CURRENCIES)


def fees_report(period: Period, filters: Filters) -> Report:
    now = clock.now()
    today = local_date(now)
    previous = period.previous()
    sums, sums_before = ledger_sums(period), ledger_sums(previous)
    totals, totals_before = _by_currency(sums), _by_currency(sums_before)
    as_of, as_of_before = as_of_day(period, today), as_of_day(previous, today)
    aged, aged_before = aged_debt(as_of), aged_debt(as_of_before)
    debt, debt_before = aged_totals(aged), aged_totals(aged_before)
    currencies = _currency_order(
        {*totals, *totals_before, *debt, *debt_before} or {DEFAULT_CURRENCY}
    )
    report = summary.summarised_report("fees", "Fees", period)
    report.notes.append("Money in different currencies is never added together.")
    report.notes.append(
        f"Aged debt as of {as_of:%d %b %Y} (previous period: {as_of_before:%d %b %Y}), "
        "computed from the ledger when the page is opened."
    )
    if filters.source or filters.owner_id:
        report.notes.append("Fees are per provider: the lead filters do not apply to them.")
    for currency in currencies:
        for key, (label, _, _) in MEASURES.items():
            report.figures.append(
                Figure(
                    f"{key}:{currency}",
                    f"{label} ({currency})",
                    totals[currency][key] if currency in totals else ZERO,
                    totals_before[currency][key] if currency in totals_before else ZERO,
                    "money",
                    DEFINITIONS[key],
                    None,
                    currency,
                )
            )
        report.figures.append(
            Figure(
                f"aged_debt:{currency}",
                f"Aged debt ({currency})",
                debt[currency]["total"] if currency in debt else ZERO,
                debt_before[currency]["total"] if currency in debt_before else ZERO,
                "money",
                DEFINITIONS["aged_debt"],
                None,
                currency,
            )
        )
    by_month = _by_month(period, sums)
    report.tables.append(by_month)
    report.tables.append(_by_provider(sums, aged))
    report.tables.append(_aged(debt, currencies, as_of))
    report.charts.extend(_month_charts(by_month, currencies))
    return report


def _month_charts(table: Table, currencies: list[str]) -> list[Chart]:
    """One chart per currency of the monthly table's figures (never two currencies on one)."""
    charts = []
    for currency in currencies:
        rows = [row for row in table.rows if row[1] == currency]
        if not rows:
            continue
        charts.append(
            Chart(
                f"by_month_{currency}",
                f"By month ({currency})",
                "bar",
                [str(row[0]) for row in rows],
                [
                    Series(label, [row[2 + i] for row in rows])
                    for i, (label, _, _) in enumerate(MEASURES.values())
                ],
                table.key,
            )
        )
    return charts


def fees_sets_for(period: Period, filters: Filters) -> dict[str, list[int]]:
    """No lead sets: fees are per provider (see the module's docstring)."""
    return {}


def _money_units(n: int) -> list[str]:
    return ["money"] * n


def _by_month(period: Period, sums: Sums) -> Table:
    currencies = _currency_order({c for (_, _, _, c) in sums})
    per: dict[tuple[int, int, str], dict[str, Decimal]] = defaultdict(
        lambda: dict.fromkeys(MEASURES, ZERO)
    )
    for (y, m, _, currency), values in sums.items():
        for key, amount in values.items():
            per[(y, m, currency)][key] += amount
    rows: list[list[Cell]] = []
    for y, m in months_of(period):
        for currency in currencies:
            values = per.get((y, m, currency), dict.fromkeys(MEASURES, ZERO))
            rows.append([f"{date(y, m, 1):%b %Y}", currency, *values.values()])
    return Table(
        "by_month",
        "By month",
        ["Month", "Currency", *[label for label, _, _ in MEASURES.values()]],
        rows,
        DEFINITIONS["by_month"],
        None,
        ["text", "text", *_money_units(len(MEASURES))],
    )


def _by_provider(sums: Sums, aged: list[AgedRow]) -> Table:
    per: dict[tuple[int, str], dict[str, Decimal]] = defaultdict(
        lambda: dict.fromkeys(MEASURES, ZERO)
    )
    for (_, _, provider_id, currency), values in sums.items():
        for key, amount in values.items():
            per[(provider_id, currency)][key] += amount
    owed: dict[tuple[int, str], Decimal] = {(r.provider_id, r.currency): r.total for r in aged}
    keys = {*per, *(k for k, total in owed.items() if total)}
    names = provider_names({p for p, _ in keys})
    rank = {c: i for i, c in enumerate(CURRENCIES)}
    order = sorted(
        keys,
        key=lambda k: (names.get(k[0], "?").lower(), k[0], rank.get(k[1], len(rank)), k[1]),
    )
    rows: list[list[Cell]] = [
        [
            names.get(provider_id, "?"),
            currency,
            *per.get((provider_id, currency), dict.fromkeys(MEASURES, ZERO)).values(),
            owed.get((provider_id, currency), ZERO),
        ]
        for provider_id, currency in order
    ]
    return Table(
        "by_provider",
        "By provider",
        ["Provider", "Currency", *[label for label, _, _ in MEASURES.values()], "Aged debt"],
        rows,
        DEFINITIONS["by_provider"],
        None,
        ["text", "text", *_money_units(len(MEASURES) + 1)],
    )


def _aged(debt: dict[str, dict[str, Decimal]], currencies: list[str], as_of: date) -> Table:
    rows: list[list[Cell]] = [
        [
            currency,
            *[debt.get(currency, {}).get(b, ZERO) for b in AGE_BUCKETS],
            debt.get(currency, {}).get("total", ZERO),
            debt.get(currency, {}).get("credit", ZERO),
        ]
        for currency in currencies
    ]
    return Table(
        "aged",
        f"Aged debt as of {as_of:%d %b %Y}",
        ["Currency", *[AGE_BUCKET_LABELS[b] for b in AGE_BUCKETS], "Total", "Credit"],
        rows,
        DEFINITIONS["aged"],
        None,
        ["text", *_money_units(len(AGE_BUCKETS) + 2)],
    )
