"""Fees from the referral lifecycle, exactly once: admitted (+ the trigger's nights) → accrual,
discharged early → clawback by the tier, a stay short of the trigger → nothing.

A fee that falls due later (after N nights, each further week of stay) is a ``FeeTrigger`` row
the engine claims (ARCHITECTURE.md rule 4); one already due is posted in the same transaction
as the admission. Every entry's key (``accrual:referral:42``, ``clawback:referral:42``, with
``:r1``... after a date correction) makes a replay write nothing. Services never commit.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any, cast

from sqlalchemy import Table, func, insert, select, update
from sqlalchemy.orm import aliased

from crm import clock
from crm.database import claim_due
from crm.errors import DomainError, ErrorKind
from crm.extensions import db
from crm.fees import credits
from crm.fees.agreements import agreement_in_force, terms_of
from crm.fees.arithmetic import (
    FeeTerms,
    clawback,
    first_fee,
    trigger_met,
    week_fee,
    week_starts_on,
)
from crm.fees.models import FeeAgreement, FeeTrigger, LedgerEntry
from crm.fees.postings import Posting, accrued_total, post_many
from crm.intake.models import Lead
from crm.oncall.wallclock import local_to_utc
from crm.privacy.services import Actor, record_audit_event
from crm.providers.models import ProviderLocation
from crm.referrals.models import Referral

ACCRUE_AT = time(10, 0)  # a fee after N nights is earned mid-morning UK time on day N
SYSTEM = Actor.system("fees")
EARNING = ("admitted", "discharged")


@dataclass(frozen=True)
class Stay:
    """What the fee rules need of a referral (one query for a whole batch)."""

    referral_id: int
    provider_id: int
    lead_reference: str
    status: str
    admitted_on: date | None
    discharged_on: date | None
    treatment_value: Decimal | None
    revision: int


def _stays(referral_ids: set[int]) -> dict[int, Stay]:
    if not referral_ids:
        return {}
    rows = db.session.execute(
        select(
            Referral.id,
            ProviderLocation.provider_id,
            Lead.reference,
            Referral.status,
            Referral.admitted_on,
            Referral.discharged_on,
            Referral.treatment_value,
            Referral.fee_revision,
        )
        .join(ProviderLocation, ProviderLocation.id == Referral.location_id)
        .join(Lead, Lead.id == Referral.lead_id)
        .where(Referral.id.in_(referral_ids))
    ).all()
    return {row[0]: Stay(*row) for row in rows}


def _suffix(revision: int) -> str:
    return f":r{revision}" if revision else ""


def accrual_key(referral_id: int, revision: int, week: int) -> str:
    week_part = f":week:{week}" if week > 1 else ""
    return f"accrual:referral:{referral_id}{week_part}{_suffix(revision)}"


def _due_at(day: date) -> datetime:
    return local_to_utc(day, ACCRUE_AT)


# --- the lifecycle's hooks ---------------------------------------------------------------------


def on_referral_moved(referral: Referral, to_status: str, actor: Actor) -> None:
    """Called by the referral lifecycle after a status change, in its transaction."""
    if to_status == "admitted":
        schedule_fee(referral, actor)
    elif to_status == "discharged":
        settle_discharge(referral, actor)


def schedule_fee(referral: Referral, actor: Actor) -> FeeTrigger | None:
    """The admission's fee trigger under the agreement in force on the admission date (none
    in force: no fee); posted at once when it is already due."""
    if referral.admitted_on is None:
        return None
    stay = _stays({referral.id})[referral.id]
    agreement = agreement_in_force(stay.provider_id, referral.admitted_on)
    if agreement is None:
        return None
    terms = terms_of(agreement)
    day = week_starts_on(referral.admitted_on, terms.trigger_nights, 1)
    trigger = FeeTrigger(
        referral_id=referral.id,
        agreement_id=agreement.id,
        revision=referral.fee_revision,
        week=1,
        due_at=_due_at(day) if terms.trigger_nights else clock.now(),
        status="pending",
        created_at=clock.now(),
    )
    db.session.add(trigger)
    db.session.flush()
    if trigger.due_at <= clock.now():
        fire_triggers([trigger.id], actor)
    return trigger


def settle_discharge(referral: Referral, actor: Actor) -> None:
    """No more weeks; a stay short of the trigger earns nothing (any accrual is reversed);
    otherwise the clawback tier for the stay, credited where the fee was already invoiced."""
    _cancel_triggers(referral.id)
    if referral.admitted_on is None or referral.discharged_on is None:
        return
    agreement = _governing(referral)
    if agreement is None:
        return
    terms = terms_of(agreement)
    stay = _stays({referral.id})[referral.id]
    if not trigger_met(terms, referral.admitted_on, referral.discharged_on):
        credits.reverse_fees(referral.id, actor, "The stay ended before the fee was earned.")
        return
    refund = clawback(
        terms, accrued_total(referral.id), referral.admitted_on, referral.discharged_on
    )
    if refund > 0:
        credits.post_refund(
            stay.provider_id,
            terms.currency,
            referral.id,
            stay.lead_reference,
            agreement.id,
            refund,
            f"clawback:referral:{referral.id}{_suffix(referral.fee_revision)}",
            actor,
            f"Discharged after {(referral.discharged_on - referral.admitted_on).days} days",
        )


def correct_fees(referral: Referral, actor: Actor) -> None:
    """The admission or discharge date was corrected: reverse what the old dates posted (crediting
    what was invoiced), then post again for the new dates under a new revision."""
    _cancel_triggers(referral.id)
    credits.reverse_fees(referral.id, actor, "Admission or discharge date corrected.")
    referral.fee_revision += 1
    db.session.flush()
    schedule_fee(referral, actor)
    if referral.status == "discharged":
        settle_discharge(referral, actor)


def _governing(referral: Referral) -> FeeAgreement | None:
    """The agreement of this revision's trigger (it governs the admission for good)."""
    agreement_id = db.session.scalar(
        select(FeeTrigger.agreement_id)
        .where(FeeTrigger.referral_id == referral.id, FeeTrigger.revision == referral.fee_revision)
        .limit(1)
    )
    return db.session.get(FeeAgreement, agreement_id) if agreement_id is not None else None


def _cancel_triggers(referral_id: int) -> None:
    db.session.execute(
        update(FeeTrigger)
        .where(FeeTrigger.referral_id == referral_id, FeeTrigger.status.in_(("pending", "waiting")))
        .values(status="cancelled", done_at=clock.now())
        .execution_options(synchronize_session=False)
    )


def set_treatment_value(referral_id: int, value: Decimal, actor: Actor) -> None:
    """A percentage fee waits for the programme's value: record it and let the trigger run."""
    referral = db.session.get(Referral, referral_id)
    if referral is None:
        raise DomainError("No such referral.", ErrorKind.NOT_FOUND)
    _check_value(value)
    referral.treatment_value = value
    db.session.execute(
        update(FeeTrigger)
        .where(FeeTrigger.referral_id == referral_id, FeeTrigger.status == "waiting")
        .values(status="pending", due_at=clock.now(), note=None)
        .execution_options(synchronize_session=False)
    )
    record_audit_event(
        actor, "update", object_type="referrals", object_id=referral_id, detail="treatment value"
    )
    db.session.flush()
    waiting = db.session.scalars(
        select(FeeTrigger.id).where(
            FeeTrigger.referral_id == referral_id,
            FeeTrigger.status == "pending",
            FeeTrigger.due_at <= clock.now(),
        )
    ).all()
    fire_triggers(list(waiting), actor)


def _check_value(value: Decimal) -> None:
    if not value.is_finite() or value <= 0 or value != value.quantize(Decimal("0.01")):
        raise DomainError("Enter the treatment value as an amount more than zero, like 9500.00.")
    if value > Decimal("10000000"):
        raise DomainError("That treatment value is too large.")


# --- the engine's part -------------------------------------------------------------------------


def _table() -> Table:
    return cast(Table, FeeTrigger.__table__)


def fire_due_fee_triggers(limit: int = 500) -> int:
    """Claim due fee triggers (compare-and-set, SKIP LOCKED on PostgreSQL) and post their fees."""
    table = _table()
    now = clock.now()
    rows = claim_due(
        db.session,
        table,
        table.c.due_at,
        now,
        limit,
        {"status": "done", "done_at": now},
        (table.c.id, table.c.referral_id, table.c.agreement_id, table.c.revision, table.c.week),
    )
    _post_claimed(rows, SYSTEM)
    return len(rows)


def fire_triggers(trigger_ids: Sequence[int], actor: Actor) -> int:
    """Post the fees of these triggers now (already due at the admission): claimed the same way."""
    if not trigger_ids:
        return 0
    table = _table()
    rows = db.session.execute(
        update(table)
        .where(table.c.id.in_(trigger_ids), table.c.status == "pending")
        .values(status="done", done_at=clock.now())
        .returning(
            table.c.id, table.c.referral_id, table.c.agreement_id, table.c.revision, table.c.week
        )
    ).all()
    _post_claimed(rows, actor)
    return len(rows)


def _post_claimed(rows: Sequence[Any], actor: Actor) -> None:
    if not rows:
        return
    stays = _stays({r.referral_id for r in rows})
    agreements = {
        a.id: a
        for a in db.session.scalars(
            select(FeeAgreement).where(FeeAgreement.id.in_({r.agreement_id for r in rows}))
        )
    }
    postings: list[Posting] = []
    follow_ups: list[dict[str, Any]] = []
    waiting: list[int] = []
    for row in rows:
        stay = stays[row.referral_id]
        agreement = agreements[row.agreement_id]
        outcome = _fee_for(row, stay, agreement)
        if outcome is None:
            continue
        if isinstance(outcome, str):  # "waiting": it needs the treatment value
            waiting.append(row.id)
            continue
        postings.append(outcome)
        following = _next_week(row, stay, agreement, outcome.amount)
        if following is not None:
            follow_ups.append(following)
    post_many(postings, actor)
    if follow_ups:
        db.session.execute(insert(FeeTrigger), follow_ups)
    if waiting:
        db.session.execute(
            update(FeeTrigger)
            .where(FeeTrigger.id.in_(waiting))
            .values(status="waiting", note="Needs the treatment value (a percentage fee).")
            .execution_options(synchronize_session=False)
        )


def _fee_for(row: Any, stay: Stay, agreement: FeeAgreement) -> Posting | str | None:
    """The posting a claimed trigger makes; None when nothing is due any more."""
    if row.revision != stay.revision or stay.status not in EARNING or stay.admitted_on is None:
        return None  # dates corrected since, or the referral no longer earns
    terms = terms_of(agreement)
    if not trigger_met(terms, stay.admitted_on, stay.discharged_on):
        return None
    if stay.discharged_on is not None and row.week > 1:
        return None  # discharged: no further weeks
    if terms.basis == "percent_of_treatment_value" and stay.treatment_value is None:
        return "waiting"
    amount = _amount(terms, row.week, stay)
    if amount <= 0:
        return None
    return Posting(
        kind="accrual",
        key=accrual_key(stay.referral_id, stay.revision, row.week),
        provider_id=stay.provider_id,
        currency=terms.currency,
        amount=amount,
        referral_id=stay.referral_id,
        lead_reference=stay.lead_reference,
        agreement_id=agreement.id,
        note=f"Week {row.week}" if terms.basis == "per_week_of_stay" else None,
    )


def _amount(terms: FeeTerms, week: int, stay: Stay) -> Decimal:
    if week == 1:
        return first_fee(terms, stay.treatment_value)
    return week_fee(terms, _accrued_weeks(stay.referral_id))


def _accrued_weeks(referral_id: int) -> Decimal:
    """What the referral's accruals come to now (every earlier revision is reversed)."""
    original = aliased(LedgerEntry)
    accruals = select(func.coalesce(func.sum(LedgerEntry.amount), 0)).where(
        LedgerEntry.referral_id == referral_id, LedgerEntry.kind == "accrual"
    )
    reversals = (
        select(func.coalesce(func.sum(LedgerEntry.amount), 0))
        .join(original, original.id == LedgerEntry.reverses_id)
        .where(LedgerEntry.referral_id == referral_id, original.kind == "accrual")
    )
    return Decimal(db.session.scalar(accruals) or 0) + Decimal(db.session.scalar(reversals) or 0)


def _next_week(
    row: Any, stay: Stay, agreement: FeeAgreement, earned: Decimal
) -> dict[str, Any] | None:
    terms = terms_of(agreement)
    if terms.basis != "per_week_of_stay" or stay.discharged_on is not None:
        return None
    assert terms.cap is not None and stay.admitted_on is not None  # noqa: S101
    so_far = _accrued_weeks(stay.referral_id) + earned
    if so_far >= terms.cap:
        return None
    week = row.week + 1
    return {
        "referral_id": stay.referral_id,
        "agreement_id": agreement.id,
        "revision": stay.revision,
        "week": week,
        "due_at": _due_at(week_starts_on(stay.admitted_on, terms.trigger_nights, week)),
        "status": "pending",
        "created_at": clock.now(),
    }
