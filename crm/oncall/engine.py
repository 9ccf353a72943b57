"""One engine tick: claim and act on everything due. Any number may run at once safely.

Each phase runs in its own transaction; every claim is a compare-and-set on the row's status
(``FOR UPDATE SKIP LOCKED`` on PostgreSQL where rows are read for claiming), so overlapping
ticks and several workers never act twice on one item. Messages are claimed and committed as
``sending`` before the provider is called.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy import func, select

from crm import clock
from crm.database import unit_of_work
from crm.extensions import db
from crm.health.services import record_heartbeat
from crm.notify import services as notify
from crm.notify.models import OutboundMessage
from crm.oncall import paging, reminders
from crm.oncall.models import Page, Reminder

AUDIT_LATENESS = timedelta(minutes=2)
# A tick keeps working while there is due work, up to this long; overlapping ticks share the
# load safely (every claim is compare-and-set), so a burst drains at the speed of the workers.
TICK_BUDGET_SECONDS = 20.0
BATCH = 200


@dataclass
class TickReport:
    reminders: int = 0
    steps: int = 0
    sent: dict[str, int] = field(default_factory=dict)
    stuck: int = 0
    late: int = 0


def _send_due_messages(channels: notify.Channels, report: TickReport, deadline: float) -> None:
    while time.monotonic() < deadline:
        # Claim each message just before its send: a crash then leaves only the send in
        # flight 'sending' (later 'unknown'), not a whole batch claimed and never tried.
        with unit_of_work():
            claimed = notify.claim_due_messages(limit=1)
        if not claimed:
            return
        with unit_of_work():
            status = notify.deliver(claimed[0], channels)
        report.sent[status] = report.sent.get(status, 0) + 1


def run_tick(
    channels: notify.Channels,
    *,
    heartbeat: bool = True,
    budget_seconds: float = TICK_BUDGET_SECONDS,
) -> TickReport:
    """Pages first (people are waiting), then their messages, then reminders and theirs."""
    deadline = time.monotonic() + budget_seconds
    report = TickReport()
    if heartbeat:
        with unit_of_work():
            record_heartbeat()
    while time.monotonic() < deadline:
        with unit_of_work():
            ran = paging.advance_due_pages(limit=BATCH)
        report.steps += ran
        if ran < BATCH:
            break
    _send_due_messages(channels, report, deadline)
    while time.monotonic() < deadline:
        with unit_of_work():
            fired = reminders.fire_due_reminders(limit=BATCH)
        report.reminders += fired
        if fired == 0:
            break
        _send_due_messages(channels, report, deadline)
    with unit_of_work():
        report.stuck = notify.mark_stuck_messages_unknown()
        report.late = audit_lateness()
    return report


def count_late() -> int:
    """Due items more than two minutes overdue: the engine is behind or a channel is failing."""
    cutoff = clock.now() - AUDIT_LATENESS
    late = (
        db.session.scalar(
            select(func.count())
            .select_from(Reminder)
            .where(Reminder.status == "pending", Reminder.due_at < cutoff)
        )
        or 0
    )
    late += (
        db.session.scalar(
            select(func.count())
            .select_from(Page)
            .where(Page.status == "triggered", Page.next_step_at < cutoff)
        )
        or 0
    )
    late += (
        db.session.scalar(
            select(func.count())
            .select_from(OutboundMessage)
            .where(OutboundMessage.status == "pending", OutboundMessage.due_at < cutoff)
        )
        or 0
    )
    return int(late)


def audit_lateness() -> int:
    """Alert managers (one open page) when anything due is more than two minutes late."""
    late = count_late()
    if late:
        paging.trigger_page(
            "engine:late", f"Engine behind: {late} due items over 2 minutes late", to_managers=True
        )
    return late
