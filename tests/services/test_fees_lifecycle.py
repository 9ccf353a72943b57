"""Fees from the referral lifecycle on a real database: each accrual and clawback exactly once,
nothing for an admission that never earned, per-week and percentage bases, agreement versions,
and correcting dates (reverse, then post again)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import select

from crm import clock
from crm.errors import DomainError
from crm.extensions import db
from crm.fees import accruals, agreements, invoicing, postings, queries
from crm.fees.arithmetic import FeeTerms, parse_tiers
from crm.fees.models import Invoice, LedgerEntry
from crm.referrals.corrections import correct_dates
from tests.services.fee_factories import (
    HARBOUR_TERMS,
    admitted,
    agreement_for,
    harbour_house,
    move,
    referred,
    uk,
)
from tests.services.intake_factories import actor_for, team

pytestmark = pytest.mark.usefixtures("db_session")
MONDAY = date(2026, 11, 2)


@pytest.fixture
def people():
    return team()


def entries(kind: str | None = None) -> list[LedgerEntry]:
    query = select(LedgerEntry).order_by(LedgerEntry.id)
    if kind:
        query = query.where(LedgerEntry.kind == kind)
    return list(db.session.scalars(query))


def tick(day: date, hour: int = 10, minute: int = 1) -> int:
    with clock.pinned(uk(day, hour, minute)):
        posted = accruals.fire_due_fee_triggers()
        db.session.flush()
    return posted


def invoice_run(day: date, manager) -> list[Invoice]:
    with clock.pinned(uk(day, 15)):
        outcome = invoicing.run_invoicing(day, actor_for(manager))
        db.session.flush()
    return outcome.invoices


def balance_of(referral_id: int) -> Decimal:
    return sum(
        (e.amount for e in entries() if e.referral_id == referral_id and e.account == "unbilled"),
        Decimal(0),
    )


def test_an_accrual_is_posted_once_however_often_its_trigger_is_replayed(people) -> None:
    clinic = harbour_house()
    agreement_for(clinic, people["manager"])
    referral = admitted(clinic, people["admissions"], MONDAY)
    assert tick(date(2026, 11, 5)) == 1
    assert tick(date(2026, 11, 5), 11) == 0
    [trigger] = queries.referral_triggers(referral.id)
    # A job run twice: the trigger is done, and firing it again claims nothing.
    assert accruals.fire_triggers([trigger.id], actor_for(people["manager"])) == 0
    # Even a posting replayed by hand with the same key writes nothing.
    [accrual] = entries("accrual")
    replay = postings.Posting(
        kind="accrual",
        key=accrual.idempotency_key,
        provider_id=accrual.provider_id,
        currency="GBP",
        amount=Decimal("2500.00"),
        referral_id=referral.id,
    )
    assert postings.post(replay, actor_for(people["manager"])) is None
    assert len(entries()) == 1


@pytest.mark.parametrize("ending", ["did_not_arrive", "withdrawn"])
def test_an_admission_that_never_happened_earns_nothing(people, ending) -> None:
    clinic = harbour_house()
    agreement_for(clinic, people["manager"])
    referral = referred(clinic, people["admissions"], on=MONDAY)
    move(referral, people["admissions"], "admission_planned", MONDAY, at_hour=10)
    move(referral, people["admissions"], ending, MONDAY, reason="The client changed their mind")
    assert tick(date(2026, 11, 30)) == 0
    assert entries() == [] and queries.referral_triggers(referral.id) == []


def test_a_stay_shorter_than_the_trigger_earns_nothing(people) -> None:
    clinic = harbour_house()
    agreement_for(clinic, people["manager"])
    referral = admitted(clinic, people["admissions"], MONDAY)
    move(referral, people["admissions"], "discharged", date(2026, 11, 4), outcome="early")
    assert [t.status for t in queries.referral_triggers(referral.id)] == ["cancelled"]
    assert tick(date(2026, 11, 5)) == 0
    assert entries() == []


def test_no_agreement_in_force_no_fee(people) -> None:
    clinic = harbour_house()
    agreement_for(clinic, people["manager"], effective_to=date(2026, 10, 31))
    referral = admitted(clinic, people["admissions"], MONDAY)
    assert queries.referral_triggers(referral.id) == []
    assert tick(date(2026, 11, 30)) == 0 and entries() == []


def test_a_fee_earned_on_admission_is_posted_at_once(people) -> None:
    clinic = harbour_house()
    agreement_for(clinic, people["manager"], terms=FeeTerms(**{**_terms(), "trigger_nights": 0}))
    referral = admitted(clinic, people["admissions"], MONDAY)
    [accrual] = entries("accrual")
    assert (accrual.referral_id, accrual.amount, accrual.posted_on) == (
        referral.id,
        Decimal("2500.00"),
        MONDAY,
    )


@pytest.mark.parametrize(
    ("discharged_on", "refund"),
    [
        (date(2026, 11, 6), Decimal("-2500.00")),  # 4 nights: within 7 days, 100 %
        (date(2026, 11, 9), Decimal("-2500.00")),  # 7 nights: still within 7
        (date(2026, 11, 12), Decimal("-1250.00")),  # 10 nights: within 14, 50 %
        (date(2026, 11, 16), Decimal("-1250.00")),  # 14 nights: within 14
        (date(2026, 11, 17), None),  # 15 nights: nothing back
    ],
)
def test_an_early_discharge_is_clawed_back_by_the_tier_once(people, discharged_on, refund) -> None:
    clinic = harbour_house()
    agreement_for(clinic, people["manager"])
    referral = admitted(clinic, people["admissions"], MONDAY)
    tick(date(2026, 11, 5))
    move(referral, people["admissions"], "discharged", discharged_on, outcome="early")
    clawbacks = entries("clawback")
    if refund is None:
        assert clawbacks == []
    else:
        assert [(c.amount, c.idempotency_key) for c in clawbacks] == [
            (refund, f"clawback:referral:{referral.id}")
        ]
    assert balance_of(referral.id) == Decimal("2500.00") + (refund or 0)
    assert balance_of(referral.id) >= 0


def test_a_fully_clawed_back_fee_is_never_invoiced(people) -> None:
    clinic = harbour_house()
    agreement_for(clinic, people["manager"])
    referral = admitted(clinic, people["admissions"], MONDAY)
    tick(date(2026, 11, 5))
    move(referral, people["admissions"], "discharged", date(2026, 11, 6), outcome="early")
    assert invoice_run(date(2026, 11, 30), people["manager"]) == []


def test_per_week_of_stay_accrues_each_week_up_to_the_cap(people) -> None:
    clinic = harbour_house()
    weekly = FeeTerms(
        basis="per_week_of_stay",
        currency="GBP",
        vat_treatment="standard",
        amount=Decimal("700.00"),
        cap=Decimal("2000.00"),
        trigger_nights=3,
        payment_terms_days=30,
    )
    agreement_for(clinic, people["manager"], terms=weekly)
    referral = admitted(clinic, people["admissions"], MONDAY)
    assert tick(date(2026, 11, 5)) == 1  # week 1 at the trigger (3 nights)
    assert tick(date(2026, 11, 9), 9) == 0
    assert tick(date(2026, 11, 9)) == 1  # week 2 begins after 7 nights
    assert tick(date(2026, 11, 15)) == 0
    assert tick(date(2026, 11, 16)) == 1  # week 3, after 14 nights: only what the cap leaves
    accrued = [e.amount for e in entries("accrual")]
    assert accrued == [Decimal("700.00"), Decimal("700.00"), Decimal("600.00")]
    assert sum(accrued) == Decimal("2000.00")
    assert tick(date(2026, 12, 31)) == 0, "no week after the cap"
    assert [e.idempotency_key for e in entries("accrual")] == [
        f"accrual:referral:{referral.id}",
        f"accrual:referral:{referral.id}:week:2",
        f"accrual:referral:{referral.id}:week:3",
    ]


def test_per_week_stops_at_discharge(people) -> None:
    clinic = harbour_house()
    weekly = FeeTerms(
        basis="per_week_of_stay",
        currency="GBP",
        vat_treatment="zero",
        amount=Decimal("700.00"),
        cap=Decimal("7000.00"),
        trigger_nights=0,
        payment_terms_days=30,
    )
    agreement_for(clinic, people["manager"], terms=weekly)
    referral = admitted(clinic, people["admissions"], MONDAY)
    assert len(entries("accrual")) == 1
    move(referral, people["admissions"], "discharged", date(2026, 11, 8), outcome="completed")
    assert tick(date(2026, 12, 31)) == 0
    assert [e.amount for e in entries("accrual")] == [Decimal("700.00")]


def test_a_percentage_fee_waits_for_the_treatment_value(people) -> None:
    clinic = harbour_house()
    percent = FeeTerms(
        basis="percent_of_treatment_value",
        currency="GBP",
        vat_treatment="standard",
        rate=Decimal("12.5"),
        trigger_nights=3,
        payment_terms_days=30,
    )
    agreement_for(clinic, people["manager"], terms=percent)
    referral = admitted(clinic, people["admissions"], MONDAY)
    assert tick(date(2026, 11, 5)) == 1
    assert entries() == []
    assert [t.status for t in queries.referral_triggers(referral.id)] == ["waiting"]
    with clock.pinned(uk(date(2026, 11, 6), 9)):
        with pytest.raises(DomainError):
            accruals.set_treatment_value(referral.id, Decimal("-5"), actor_for(people["manager"]))
        accruals.set_treatment_value(referral.id, Decimal("12345.67"), actor_for(people["manager"]))
        db.session.flush()
    [accrual] = entries("accrual")
    assert accrual.amount == Decimal("1543.21")  # 12.5 % of £12,345.67, half up


def test_the_agreement_on_the_admission_date_governs_for_good(people) -> None:
    clinic = harbour_house()
    manager = people["manager"]
    first = agreement_for(clinic, manager, effective_to=date(2026, 11, 15))
    admitted(clinic, people["admissions"], MONDAY)
    tick(date(2026, 11, 5))
    # Its terms cannot change now it has governed a fee...
    changed = agreements.AgreementDetails(
        FeeTerms(**{**_terms(), "amount": Decimal("3000.00")}),
        first.effective_from,
        first.effective_to,
        billing_name=first.billing_name,
        billing_address=first.billing_address,
        accounts_email=first.accounts_email,
    )
    with pytest.raises(DomainError, match="governed fees"):
        agreements.update_agreement(first.id, changed, actor_for(manager))
    # ...nor can it end before the admission it governs...
    ends_early = agreements.AgreementDetails(
        HARBOUR_TERMS,
        first.effective_from,
        date(2026, 10, 31),
        billing_name=first.billing_name,
        billing_address=first.billing_address,
        accounts_email=first.accounts_email,
        po_reference=first.po_reference,
    )
    with pytest.raises(DomainError, match="cannot end before"):
        agreements.update_agreement(first.id, ends_early, actor_for(manager))
    # ...and a new version may not overlap it; from the day after, it governs new admissions.
    with pytest.raises(DomainError, match="overlap"):
        agreement_for(
            clinic,
            manager,
            FeeTerms(**{**_terms(), "amount": Decimal("3000.00")}),
            effective_from=date(2026, 11, 10),
        )
    agreement_for(
        clinic,
        manager,
        FeeTerms(**{**_terms(), "amount": Decimal("3000.00")}),
        effective_from=date(2026, 11, 16),
    )
    admitted(clinic, people["admissions"], date(2026, 11, 16), phone="07700 900456")
    tick(date(2026, 11, 19))
    assert [e.amount for e in entries("accrual")] == [Decimal("2500.00"), Decimal("3000.00")]


def test_correcting_the_admission_date_reverses_and_posts_again(people) -> None:
    clinic = harbour_house()
    manager = people["manager"]
    agreement_for(clinic, manager)
    referral = admitted(clinic, people["admissions"], MONDAY)
    tick(date(2026, 11, 5))
    with clock.pinned(uk(date(2026, 11, 6), 9)):
        with pytest.raises(DomainError, match="why"):
            correct_dates(referral.id, date(2026, 11, 3), None, " ", actor_for(manager))
        correct_dates(
            referral.id, date(2026, 11, 3), None, "Admitted Tuesday, not Monday", actor_for(manager)
        )
        db.session.flush()
    assert tick(date(2026, 11, 6)) == 1  # three nights after the new date
    kinds = [(e.kind, e.amount, e.idempotency_key) for e in entries()]
    assert kinds[:2] == [
        ("accrual", Decimal("2500.00"), f"accrual:referral:{referral.id}"),
        ("reversal", Decimal("-2500.00"), kinds[1][2]),
    ]
    assert entries("reversal")[0].reverses_id == entries("accrual")[0].id
    assert [(e.amount, e.idempotency_key) for e in entries("accrual")][1:] == [
        (Decimal("2500.00"), f"accrual:referral:{referral.id}:r1")
    ]
    assert balance_of(referral.id) == Decimal("2500.00")
    assert tick(date(2026, 11, 30)) == 0


def test_correcting_an_invoiced_admission_credits_it_and_bills_it_again(people) -> None:
    clinic = harbour_house()
    manager = people["manager"]
    agreement_for(clinic, manager)
    referral = admitted(clinic, people["admissions"], MONDAY)
    tick(date(2026, 11, 5))
    [invoice] = invoice_run(date(2026, 11, 6), manager)
    move(referral, people["admissions"], "discharged", date(2026, 11, 27), outcome="completed")
    # The discharge was really on the 10th (8 nights): 50 % back, credited on a credit note.
    with clock.pinned(uk(date(2026, 11, 28), 9)):
        correct_dates(referral.id, MONDAY, date(2026, 11, 10), "Wrong date", actor_for(manager))
        db.session.flush()
    notes = list(db.session.scalars(select(Invoice).where(Invoice.kind == "credit_note")))
    assert [n.credits_invoice_id for n in notes] == [invoice.id]
    assert sum(n.gross for n in notes) == Decimal("3000.00"), "the whole fee credited"
    [second] = invoice_run(date(2026, 11, 28), manager)
    assert (second.number, second.net) == ("INV-2026-0002", Decimal("1250.00"))
    assert balance_of(referral.id) >= 0


def test_dates_are_checked_before_anything_changes(people) -> None:
    clinic = harbour_house()
    manager = people["manager"]
    agreement_for(clinic, manager)
    referral = admitted(clinic, people["admissions"], MONDAY)
    tick(date(2026, 11, 5))
    before = len(entries())
    with clock.pinned(uk(date(2026, 11, 6), 9)):
        for admitted_on, discharged_on in (
            (None, None),
            (date(2026, 11, 10), None),  # after today
            (MONDAY, date(2026, 11, 1)),  # discharged before admitted
            (MONDAY, None),  # what is already recorded
        ):
            with pytest.raises(DomainError):
                correct_dates(referral.id, admitted_on, discharged_on, "x", actor_for(manager))
    assert len(entries()) == before


def _terms() -> dict[str, object]:
    return {
        "basis": "flat_per_admission",
        "currency": "GBP",
        "vat_treatment": "standard",
        "amount": Decimal("2500.00"),
        "trigger_nights": 3,
        "clawback_tiers": parse_tiers("7: 100, 14: 50"),
        "payment_terms_days": 30,
    }
