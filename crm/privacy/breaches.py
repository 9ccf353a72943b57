"""The breach register's use cases: record an incident, assess it, decide and record the
notifications to the ICO and to the people affected, log actions, close it.

Every function checks its input with ``crm.privacy.breach_rules`` and raises DomainError
(changing nothing) when it is refused; each change writes an audit event naming the breach
by id only, never its text. Nothing here commits: the boundary does.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from crm import clock
from crm.auth.models import User
from crm.errors import DomainError, ErrorKind
from crm.extensions import db
from crm.privacy import breach_rules as rules
from crm.privacy.models import Breach
from crm.privacy.services import Actor, record_audit_event

OBJECT_TYPE = "breaches"


@dataclass(frozen=True)
class IncidentDetails:
    """What is known when an incident is first recorded."""

    title: str
    discovered_at: datetime | None
    occurred_at: datetime | None = None
    description: str = ""
    data_involved: str = ""
    people_affected: int | None = 0
    special_category: bool = False


@dataclass(frozen=True)
class Assessment:
    """The risk assessment, with what data and how many people it concerns."""

    risk_level: str
    risk_assessment: str
    data_involved: str
    people_affected: int | None
    special_category: bool


@dataclass(frozen=True)
class RegisterRow:
    """One incident in the register, with its ICO deadline and countdown."""

    breach: Breach
    deadline: datetime
    countdown: rules.Countdown


def _refuse(errors: rules.FieldErrors | list[str], what: str) -> None:
    problems = errors if isinstance(errors, list) else [p for ps in errors.values() for p in ps]
    if problems:
        raise DomainError(
            f"{what} was not saved: {' '.join(problems)}",
            field_errors=errors if isinstance(errors, dict) else {},
        )


def get_breach(breach_id: int) -> Breach:
    """The incident, or DomainError NOT_FOUND."""
    breach = db.session.get(Breach, breach_id)
    if breach is None:
        raise DomainError("No such incident in the breach register.", ErrorKind.NOT_FOUND)
    return breach


def _open_breach(breach_id: int) -> Breach:
    breach = get_breach(breach_id)
    if breach.status != "open":
        raise DomainError(
            "This incident is closed: nothing about it can be changed.", ErrorKind.CONFLICT
        )
    return breach


def _touched(breach: Breach, actor: Actor, action: str, step: str) -> Breach:
    breach.updated_at = clock.now()
    breach.updated_by_id = actor.user_id
    db.session.flush()
    # The step's name only: the breach's own words may describe people and stay out of here.
    record_audit_event(actor, action, object_type=OBJECT_TYPE, object_id=breach.id, detail=step)
    return breach


def record_breach(details: IncidentDetails, actor: Actor) -> Breach:
    """Open a new incident; its 72-hour ICO clock starts at ``discovered_at``."""
    now = clock.now()
    errors = rules.check_incident(
        title=details.title,
        discovered_at=details.discovered_at,
        occurred_at=details.occurred_at,
        people_affected=details.people_affected,
        now=now,
    )
    _refuse(errors, "The incident")
    discovered_at = details.discovered_at
    if discovered_at is None:  # refused above already; this tells the type checker
        raise DomainError("Enter when the breach was discovered.")
    breach = Breach(
        title=details.title.strip(),
        discovered_at=discovered_at,
        occurred_at=details.occurred_at,
        description=details.description.strip(),
        data_involved=details.data_involved.strip(),
        people_affected=details.people_affected or 0,
        special_category=details.special_category,
        risk_level="unassessed",
        status="open",
        created_at=now,
        created_by_id=actor.user_id,
        updated_at=now,
        updated_by_id=actor.user_id,
    )
    db.session.add(breach)
    db.session.flush()
    record_audit_event(actor, "create", object_type=OBJECT_TYPE, object_id=breach.id)
    return breach


def update_assessment(breach_id: int, assessment: Assessment, actor: Actor) -> Breach:
    """Record (or revise) the risk level and why, what data and how many people."""
    breach = _open_breach(breach_id)
    _refuse(
        rules.check_assessment(
            risk_level=assessment.risk_level,
            risk_assessment=assessment.risk_assessment,
            data_involved=assessment.data_involved,
            people_affected=assessment.people_affected,
        ),
        "The assessment",
    )
    breach.risk_level = assessment.risk_level
    breach.risk_assessment = assessment.risk_assessment.strip()
    breach.data_involved = assessment.data_involved.strip()
    breach.people_affected = assessment.people_affected or 0
    breach.special_category = assessment.special_category
    return _touched(breach, actor, "update", "assessment")


def decide_ico(breach_id: int, notify: bool | None, reason: str, actor: Actor) -> Breach:
    """Decide whether the ICO is to be told, with the reason (kept for the ICO's scrutiny)."""
    breach = _open_breach(breach_id)
    _refuse(rules.check_decision(notify, reason, "the ICO"), "The ICO decision")
    if notify is False and breach.ico_notified_at is not None:
        raise DomainError("The ICO decision was not saved: the ICO has already been notified.")
    breach.notify_ico = notify
    breach.ico_reason = reason.strip()
    return _touched(breach, actor, "update", "ico_decision")


def record_ico_notified(
    breach_id: int, notified_at: datetime | None, reference: str, actor: Actor
) -> Breach:
    """Record when the ICO was told and the reference it gave; the countdown stops."""
    breach = _open_breach(breach_id)
    if breach.notify_ico is not True:
        raise DomainError(
            "The ICO notification was not saved: first record the decision to notify the ICO."
        )
    errors = rules.check_notified_at(notified_at, breach.discovered_at, clock.now())
    errors.update(rules.check_reference(reference))
    _refuse(errors, "The ICO notification")
    breach.ico_notified_at = notified_at
    breach.ico_reference = reference.strip() or None
    return _touched(breach, actor, "update", "ico_notified")


def decide_people(breach_id: int, notify: bool | None, reason: str, actor: Actor) -> Breach:
    """Decide whether the people affected are to be told (article 34), with the reason."""
    breach = _open_breach(breach_id)
    _refuse(rules.check_decision(notify, reason, "the people affected"), "The decision")
    if notify is False and breach.people_notified_at is not None:
        raise DomainError("The decision was not saved: the people have already been notified.")
    breach.notify_people = notify
    breach.people_reason = reason.strip()
    return _touched(breach, actor, "update", "people_decision")


def record_people_notified(breach_id: int, notified_at: datetime | None, actor: Actor) -> Breach:
    """Record when the people affected were told."""
    breach = _open_breach(breach_id)
    if breach.notify_people is not True:
        raise DomainError(
            "The notification was not saved: first record the decision to notify the people."
        )
    _refuse(
        rules.check_notified_at(notified_at, breach.discovered_at, clock.now()),
        "The notification",
    )
    breach.people_notified_at = notified_at
    return _touched(breach, actor, "update", "people_notified")


def _name_of(actor: Actor) -> str:
    user = db.session.get(User, actor.user_id) if actor.user_id else None
    return user.name if user is not None else (actor.email or "unknown")


def add_action(breach_id: int, text: str, actor: Actor) -> Breach:
    """Append a dated, signed line to the incident's actions log."""
    breach = _open_breach(breach_id)
    _refuse(rules.check_action(text), "The action")
    line = rules.action_line(clock.now(), _name_of(actor), text)
    breach.actions = rules.append_action(breach.actions or "", line)
    return _touched(breach, actor, "update", "action_added")


def close_breach(breach_id: int, actor: Actor) -> Breach:
    """Close the incident once both decisions are made and carried out."""
    breach = _open_breach(breach_id)
    problems = rules.check_close(
        notify_ico=breach.notify_ico,
        ico_notified_at=breach.ico_notified_at,
        notify_people=breach.notify_people,
        people_notified_at=breach.people_notified_at,
    )
    if problems:
        raise DomainError(f"The incident cannot be closed yet: {' '.join(problems)}")
    breach.status = "closed"
    breach.closed_at = clock.now()
    return _touched(breach, actor, "close", "closed")


def register_row(breach: Breach, now: datetime | None = None) -> RegisterRow:
    """The incident with its deadline and the countdown as of ``now``."""
    return RegisterRow(
        breach,
        rules.ico_deadline(breach.discovered_at),
        rules.countdown(
            breach.discovered_at,
            now or clock.now(),
            notify_ico=breach.notify_ico,
            ico_notified_at=breach.ico_notified_at,
        ),
    )


def open_breaches() -> list[RegisterRow]:
    """The incidents still open, earliest ICO deadline first."""
    query = select(Breach).where(Breach.status == "open").order_by(Breach.discovered_at, Breach.id)
    now = clock.now()
    return [register_row(b, now) for b in db.session.scalars(query)]


def list_breaches() -> list[RegisterRow]:
    """Every incident: the open ones first (earliest deadline first), then the closed ones,
    most recently closed first."""
    closed = select(Breach).where(Breach.status != "open")
    closed = closed.order_by(Breach.closed_at.desc(), Breach.id.desc())
    now = clock.now()
    return open_breaches() + [register_row(b, now) for b in db.session.scalars(closed)]
