"""The breach register's rules: the 72-hour ICO deadline, its countdown and what a valid
incident, decision and closure look like. Pure: values in, values (or problems) out.

Each ``check_*`` function returns the problems it found by field name (empty when all is
well), so a service can refuse the whole change at once and a form can show each problem
beside its field.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

LONDON = ZoneInfo("Europe/London")
# UK GDPR article 33: notify the ICO within 72 hours of becoming aware of the breach.
ICO_WINDOW = timedelta(hours=72)
# Less than this left (or overdue) and the register shows the incident in red.
URGENT_WITHIN = timedelta(hours=24)
RISK_LEVELS = ("unassessed", "low", "medium", "high")
TITLE_MAX = 200
REFERENCE_MAX = 60
TEXT_MAX = 10_000
ACTION_MAX = 1_000

FieldErrors = dict[str, list[str]]


def ico_deadline(discovered_at: datetime) -> datetime:
    """When the ICO must have been told: 72 hours after the breach was discovered."""
    return discovered_at + ICO_WINDOW


@dataclass(frozen=True)
class Countdown:
    """What the register shows against an incident's ICO deadline."""

    text: str
    urgent: bool  # less than 24 hours left, or overdue, and the ICO still to be told
    state: str  # "left" | "overdue" | "notified" | "not_notifying"


def _hours_minutes(span: timedelta) -> str:
    minutes = int(span.total_seconds() // 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min" if hours else f"{minutes} min"


def countdown(
    discovered_at: datetime,
    now: datetime,
    *,
    notify_ico: bool | None = None,
    ico_notified_at: datetime | None = None,
) -> Countdown:
    """The ICO deadline as staff read it: time left, time overdue, or how it was settled."""
    if ico_notified_at is not None:
        local = ico_notified_at.astimezone(LONDON)
        return Countdown(f"ICO notified {local:%d %b %H:%M}", False, "notified")
    if notify_ico is False:
        return Countdown("decided not to notify", False, "not_notifying")
    remaining = ico_deadline(discovered_at) - now
    if remaining <= timedelta(0):
        return Countdown(f"overdue by {_hours_minutes(-remaining)}", True, "overdue")
    return Countdown(f"{_hours_minutes(remaining)} left", remaining < URGENT_WITHIN, "left")


def _add(errors: FieldErrors, field: str, problem: str) -> None:
    errors.setdefault(field, []).append(problem)


def _check_text(errors: FieldErrors, field: str, value: str, label: str, limit: int) -> None:
    if len(value) > limit:
        _add(errors, field, f"{label} is too long: at most {limit} characters.")


def check_incident(
    *,
    title: str,
    discovered_at: datetime | None,
    occurred_at: datetime | None,
    people_affected: int | None,
    now: datetime,
) -> FieldErrors:
    """A new incident: a title, a discovery time that is not in the future (when it happened,
    if known, cannot be after that) and a count of people affected of zero or more."""
    errors: FieldErrors = {}
    if not title.strip():
        _add(errors, "title", "Give the incident a short title.")
    _check_text(errors, "title", title, "The title", TITLE_MAX)
    if discovered_at is None:
        _add(errors, "discovered_at", "Enter when the breach was discovered.")
    elif discovered_at > now:
        _add(errors, "discovered_at", "The discovery time cannot be in the future.")
    if occurred_at is not None:
        if occurred_at > now:
            _add(errors, "occurred_at", "When it happened cannot be in the future.")
        elif discovered_at is not None and occurred_at > discovered_at:
            _add(errors, "occurred_at", "It cannot have happened after it was discovered.")
    _check_people(errors, people_affected)
    return errors


def _check_people(errors: FieldErrors, people_affected: int | None) -> None:
    if people_affected is None:
        _add(errors, "people_affected", "Enter how many people are affected (0 if none).")
    elif people_affected < 0:
        _add(errors, "people_affected", "The number of people affected cannot be negative.")


def check_assessment(
    *,
    risk_level: str,
    risk_assessment: str,
    data_involved: str,
    people_affected: int | None,
) -> FieldErrors:
    """The risk assessment: a known level, the reasoning behind any level but "unassessed",
    and a count of people affected that is zero or more."""
    errors: FieldErrors = {}
    if risk_level not in RISK_LEVELS:
        _add(errors, "risk_level", "Choose a risk level: unassessed, low, medium or high.")
    elif risk_level != "unassessed" and not risk_assessment.strip():
        _add(errors, "risk_assessment", "Say why the risk is at this level.")
    _check_people(errors, people_affected)
    _check_text(errors, "risk_assessment", risk_assessment, "The assessment", TEXT_MAX)
    _check_text(errors, "data_involved", data_involved, "What data", TEXT_MAX)
    return errors


def check_decision(notify: bool | None, reason: str, whom: str) -> FieldErrors:
    """Deciding whether to notify ``whom`` needs the decision and the reason for it."""
    errors: FieldErrors = {}
    if notify is None:
        _add(errors, "notify", f"Choose whether to notify {whom}.")
    if not reason.strip():
        _add(errors, "reason", f"Give the reason for the decision about notifying {whom}.")
    _check_text(errors, "reason", reason, "The reason", TEXT_MAX)
    return errors


def check_notified_at(
    notified_at: datetime | None, discovered_at: datetime, now: datetime
) -> FieldErrors:
    """When someone was notified: not before the breach was discovered, not in the future."""
    errors: FieldErrors = {}
    if notified_at is None:
        _add(errors, "notified_at", "Enter when they were notified.")
    elif notified_at < discovered_at:
        _add(errors, "notified_at", "They cannot have been notified before it was discovered.")
    elif notified_at > now:
        _add(errors, "notified_at", "The notification time cannot be in the future.")
    return errors


def check_reference(reference: str) -> FieldErrors:
    errors: FieldErrors = {}
    _check_text(errors, "reference", reference, "The ICO reference", REFERENCE_MAX)
    return errors


def check_action(text: str) -> FieldErrors:
    errors: FieldErrors = {}
    if not text.strip():
        _add(errors, "text", "Describe the action taken.")
    _check_text(errors, "text", text, "The action", ACTION_MAX)
    return errors


def check_close(
    *,
    notify_ico: bool | None,
    ico_notified_at: datetime | None,
    notify_people: bool | None,
    people_notified_at: datetime | None,
) -> list[str]:
    """What still stands in the way of closing: both decisions made, and each notification
    that was decided on recorded as done."""
    problems: list[str] = []
    if notify_ico is None:
        problems.append("Decide whether to notify the ICO.")
    elif notify_ico and ico_notified_at is None:
        problems.append("Record when the ICO was notified.")
    if notify_people is None:
        problems.append("Decide whether to notify the people affected.")
    elif notify_people and people_notified_at is None:
        problems.append("Record when the people affected were notified.")
    return problems


def action_line(at: datetime, name: str, text: str) -> str:
    """One dated line of the actions log: "05 Dec 2026 14:02 Ann Admin: locked the laptop".
    The text is kept to one line so the log stays one action a line."""
    one_line = " ".join(text.split())
    return f"{at.astimezone(LONDON):%d %b %Y %H:%M} {name}: {one_line}"


def append_action(actions: str, line: str) -> str:
    return f"{actions.rstrip()}\n{line}" if actions.strip() else line
