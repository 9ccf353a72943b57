"""One engine tick: claim and act on everything due. Any number may run at once safely.

Each phase runs in its own transaction; every claim is a compare-and-set on the row's status
(``FOR UPDATE SKIP LOCKED`` on PostgreSQL where rows are read for claiming), so overlapping
ticks and several workers never act twice on one item. Messages are claimed and committed as
``sending`` before the provider is called.
"""

from __future__ import annotations

from dataclasses import dataclass
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


@dataclass(frozen=True)
class TickReport:
    reminders: int
    steps: int
    sent: dict[str, int]
    stuck: int
    late: int


def run_tick(channels: notify.Channels, *, heartbeat: bool = True) -> TickReport:
    if heartbeat:
        with unit_of_work():
            record_heartbeat()
    with unit_of_work():
        fired = reminders.fire_due_reminders()
    with unit_of_work():
        steps = paging.advance_due_pages()
    with unit_of_work():
        claimed = notify.claim_due_messages()
    outcomes: dict[str, int] = {}
    for message_id in claimed:
        with unit_of_work():
            status = notify.deliver(message_id, channels)
        outcomes[status] = outcomes.get(status, 0) + 1
    with unit_of_work():
        stuck = notify.mark_stuck_messages_unknown()
        late = audit_lateness()
    return TickReport(fired, steps, outcomes, stuck, late)


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
