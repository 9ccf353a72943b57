"""A referral's lifecycle (DOMAIN.md "Referrals") and the lead stage it implies. Pure.

``sent → accepted | declined (reason) | waitlisted → admission_planned (date) → admitted (date)
→ discharged (date, completed | early)``; or ``did_not_arrive``, ``withdrawn``.

Decisions where DOMAIN.md is silent:
- a waitlisted referral can still be accepted, declined or planned; an accepted one can still
  be declined (the clinic changed its mind, with a reason);
- a planned admission can be re-planned (a new date) and ends in admitted or did_not_arrive;
- ``withdrawn`` (the client or staff stop the referral) is possible until admission;
- declined, discharged, did_not_arrive and withdrawn are final.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from enum import StrEnum

from crm.intake.stages import Stage
from crm.oncall.wallclock import local_date, local_to_utc


class ReferralStatus(StrEnum):
    SENT = "sent"
    ACCEPTED = "accepted"
    DECLINED = "declined"
    WAITLISTED = "waitlisted"
    ADMISSION_PLANNED = "admission_planned"
    ADMITTED = "admitted"
    DISCHARGED = "discharged"
    DID_NOT_ARRIVE = "did_not_arrive"
    WITHDRAWN = "withdrawn"


S = ReferralStatus
STATUS_LABELS = {s: s.value.replace("_", " ").capitalize() for s in ReferralStatus}
DISCHARGE_OUTCOMES = {"completed": "Completed the programme", "early": "Left early"}
# Why a clinic said no, as a fixed list so the referrals report can count by reason; the free
# text beside it gives the detail ("No female beds until February") and is required for other.
DECLINE_REASONS = {
    "no_bed": "No bed or place available",
    "clinical_needs": "Needs the clinic cannot meet",
    "funding": "Funding not in place",
    "not_suitable": "Not suitable for the programme",
    "client_unreachable": "The clinic could not reach the client",
    "other": "Another reason (say which)",
}

NEXT: dict[ReferralStatus, tuple[ReferralStatus, ...]] = {
    S.SENT: (S.ACCEPTED, S.DECLINED, S.WAITLISTED, S.WITHDRAWN),
    S.WAITLISTED: (S.ACCEPTED, S.ADMISSION_PLANNED, S.DECLINED, S.WITHDRAWN),
    S.ACCEPTED: (S.ADMISSION_PLANNED, S.DECLINED, S.WITHDRAWN),
    S.ADMISSION_PLANNED: (S.ADMISSION_PLANNED, S.ADMITTED, S.DID_NOT_ARRIVE, S.WITHDRAWN),
    S.ADMITTED: (S.DISCHARGED,),
    S.DECLINED: (),
    S.DISCHARGED: (),
    S.DID_NOT_ARRIVE: (),
    S.WITHDRAWN: (),
}
FINAL = frozenset(s for s, nxt in NEXT.items() if not nxt)
ENDED_WITHOUT_ADMISSION = frozenset({S.DECLINED, S.DID_NOT_ARRIVE, S.WITHDRAWN})
AWAITING_REPLY = frozenset({S.SENT})
ADMITTED_OR_AFTER = frozenset({S.ADMITTED, S.DISCHARGED})


class ReferralMoveError(ValueError):
    """A status change the lifecycle refuses; the message says why, in staff's words."""


@dataclass(frozen=True)
class StatusChange:
    """A checked move, with what to record on the referral and its event row."""

    from_status: ReferralStatus
    to_status: ReferralStatus
    reason: str | None = None
    on_date: date | None = None
    outcome: str | None = None
    decline_code: str | None = None  # a DECLINE_REASONS key, for declined only


@dataclass(frozen=True)
class MoveRequest:
    """What staff asked for: the new status and the details it may need."""

    to_status: str
    reason: str | None = None
    on_date: date | None = None
    outcome: str | None = None
    decline_code: str | None = None


def parse_status(value: str) -> ReferralStatus:
    try:
        return ReferralStatus(value)
    except ValueError:
        raise ReferralMoveError(f"Unknown referral status {value!r}.") from None


def _clean(text: str | None) -> str | None:
    text = (text or "").strip()
    return text[:500] or None


def _label(status: ReferralStatus) -> str:
    return STATUS_LABELS[status].lower()


def check_move(
    current: ReferralStatus,
    move: MoveRequest,
    *,
    today: date,
    admitted_on: date | None = None,
    sent_on: date | None = None,
) -> StatusChange:
    """Validate a status change; ReferralMoveError says what is wrong."""
    target = parse_status(move.to_status)
    if target not in NEXT[current]:
        allowed = ", ".join(_label(s) for s in NEXT[current]) or "nothing: it has ended"
        raise ReferralMoveError(
            f"A referral that is {_label(current)} cannot become {_label(target)}. "
            f"Next it can be: {allowed}."
        )
    reason = _clean(move.reason)
    code = _decline_code(target, move.decline_code, reason)
    if target == S.WITHDRAWN and not reason:
        raise ReferralMoveError(f"Say why the referral was {_label(target)}.")
    on_date, outcome = _dates(target, move, today, admitted_on)
    if target == S.ADMITTED and sent_on is not None and on_date is not None and on_date < sent_on:
        raise ReferralMoveError("The admission date cannot be before the referral was sent.")
    return StatusChange(current, target, reason, on_date, outcome, code)


def _decline_code(target: ReferralStatus, code: str | None, reason: str | None) -> str | None:
    """A decline needs one of the listed reasons (and words, for "another reason")."""
    code = (code or "").strip() or None
    if target != S.DECLINED:
        if code is not None:
            raise ReferralMoveError("A decline reason is only for a declined referral.")
        return None
    if code is None:
        raise ReferralMoveError("Say why the referral was declined: choose the clinic's reason.")
    if code not in DECLINE_REASONS:
        choices = ", ".join(DECLINE_REASONS)
        raise ReferralMoveError(f"Unknown decline reason {code!r}: choose one of {choices}.")
    if code == "other" and not reason:
        raise ReferralMoveError("Say in words why the clinic declined (another reason).")
    return code


def _dates(
    target: ReferralStatus, move: MoveRequest, today: date, admitted_on: date | None
) -> tuple[date | None, str | None]:
    day = move.on_date
    if target == S.ADMISSION_PLANNED:
        if day is None:
            raise ReferralMoveError("Give the planned admission date.")
        if day < today:
            raise ReferralMoveError("The planned admission date has passed; give a future date.")
        if day > today + timedelta(days=366):
            raise ReferralMoveError("The planned admission date must be within a year.")
        return day, None
    if target == S.ADMITTED:
        return _past_date(day, "admission", today), None
    if target == S.DISCHARGED:
        discharged = _past_date(day, "discharge", today)
        if admitted_on is not None and discharged < admitted_on:
            raise ReferralMoveError("The discharge date cannot be before the admission date.")
        if move.outcome not in DISCHARGE_OUTCOMES:
            raise ReferralMoveError("Say whether the client completed the programme or left early.")
        return discharged, move.outcome
    return None, None


def _past_date(day: date | None, what: str, today: date) -> date:
    if day is None:
        raise ReferralMoveError(f"Give the {what} date.")
    if day > today:
        raise ReferralMoveError(f"The {what} date cannot be in the future.")
    return day


def lead_stage_for(statuses: list[ReferralStatus]) -> Stage:
    """The lead stage its most advanced referral implies (DOMAIN.md: the lead follows it).

    Admitted or discharged → admitted; any referral still in play → referred; none in play
    (every one declined, withdrawn or not arrived) → matched: options were presented.
    """
    if any(s in ADMITTED_OR_AFTER for s in statuses):
        return Stage.ADMITTED
    if any(s not in ENDED_WITHOUT_ADMISSION for s in statuses):
        return Stage.REFERRED
    return Stage.MATCHED


CHASE_AT = time(10, 0)
ADMISSION_CHECK_AT = time(10, 0)


def add_working_days(start: datetime, days: int, closed: set[date]) -> datetime:
    """``days`` working days after ``start`` (Monday to Friday, not a closure or bank holiday), at
    10:00 UK time: "the clinic has not replied in 2 working days"."""
    day = local_date(start)
    remaining = days
    while remaining > 0:
        day += timedelta(days=1)
        if day.weekday() < 5 and day not in closed:
            remaining -= 1
    return local_to_utc(day, CHASE_AT)


def admission_check_due(planned: date) -> datetime:
    """The admission check falls due on the planned date, mid-morning UK time."""
    return local_to_utc(planned, ADMISSION_CHECK_AT)
