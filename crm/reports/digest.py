"""The weekly digest: from Monday 08:00 UK time, an email to every active manager with last
week's headline figures against the week before and a link to the reports. Counts and
durations only: no client names, no references, no health details.

Beat checks hourly (``workers/reports.py``); each manager's message has the key
``digest:<Monday>:<user id>``, so a second check, a second beat or a catch-up after an outage
sends nothing twice. The messages go out through the notification engine like any other.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta

from sqlalchemy import select

from crm import clock
from crm.auth.models import User
from crm.extensions import db
from crm.notify.services import queue_message
from crm.oncall.wallclock import LONDON
from crm.reports import intake
from crm.reports.leads import Filters
from crm.reports.model import Figure
from crm.reports.periods import Period, preset_period

DIGEST_AT = time(8, 0)  # Monday, UK time


@dataclass(frozen=True)
class DigestOutcome:
    period: Period
    queued: int


def due_week(now: datetime) -> Period:
    """The week whose digest is due at ``now``: last week, from 08:00 on Monday onwards."""
    local = now.astimezone(LONDON)
    if local.weekday() == 0 and local.time() < DIGEST_AT:
        local -= timedelta(days=1)  # before eight on Monday: the week before's is still current
    return preset_period("last_week", local.date())


def _line(figure: Figure) -> str:
    def show(value: object) -> str:
        if value is None:
            return "-"
        if figure.unit == "share":
            return f"{float(value) * 100:.0f} %"  # type: ignore[arg-type]
        if figure.unit == "minutes":
            return f"{float(value):.1f} min"  # type: ignore[arg-type]
        return f"{value:,}"

    return f"- {figure.label}: {show(figure.value)} (the week before: {show(figure.previous)})"


def digest_body(period: Period, target_minutes: int, reports_url: str) -> str:
    intake_report = intake.intake_report(period, Filters(), target_minutes)
    speed = intake.speed_report(period, Filters(), target_minutes)
    funnel = intake.funnel_report(period, Filters())
    lines = [
        f"The week of {period.label()}, against {period.previous().label()}.",
        "",
        "Intake",
        *(_line(intake_report.figure(k)) for k in ("leads", "in_hours", "out_of_hours")),
        "",
        "Speed to lead",
        *(_line(speed.figure(k)) for k in ("median", "p90", "within")),
        "",
        "The week's leads so far",
        *(_line(funnel.figure(k)) for k in ("admitted", "admitted_share")),
        "",
        f"The reports, with every figure's definition and the leads behind it: {reports_url}",
    ]
    return "\n".join(lines)


def send_weekly_digest(now: datetime | None, target_minutes: int, base_url: str) -> DigestOutcome:
    """Queue the due week's digest for every active manager who has not had it."""
    moment = now or clock.now()
    period = due_week(moment)
    managers = db.session.scalars(
        select(User).where(User.role == "manager", User.active.is_(True)).order_by(User.id)
    ).all()
    if not managers:
        return DigestOutcome(period, 0)
    url = f"{base_url.rstrip('/')}/admin/reports/intake/?preset=custom&start="
    url += f"{period.start.isoformat()}&end={period.end.isoformat()}"
    with clock.pinned(moment):
        body = digest_body(period, target_minutes, url)
    subject = f"Admissions weekly digest: week of {period.start:%d %b %Y}"
    queued = sum(
        queue_message(
            f"digest:{period.start.isoformat()}:{manager.id}",
            "email",
            manager.email,
            subject,
            body,
            user_id=manager.id,
        )
        for manager in managers
    )
    return DigestOutcome(period, queued)
