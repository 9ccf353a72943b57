"""One engine tick: claim and act on everything due. Any number may run at once safely.

Each phase runs in its own transactions; every claim is a compare-and-set on the row's status
(``FOR UPDATE SKIP LOCKED`` on PostgreSQL where rows are read for claiming), so overlapping
ticks and several workers never act twice on one item. Messages are claimed (never more than
the sender pool has free threads) and committed as ``sending`` before the provider is called,
then sent concurrently, their outcomes written a batch at a time (``crm.oncall.dispatch``).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import func, select, union_all

from crm import clock
from crm.database import unit_of_work
from crm.extensions import db
from crm.fees import accruals
from crm.fees.models import FeeTrigger
from crm.health.services import record_heartbeat
from crm.intake import inbox
from crm.intake.models import CallbackInbox
from crm.notify import services as notify
from crm.notify.models import OutboundMessage
from crm.oncall import dispatch, paging, reminders
from crm.oncall.models import Page, Reminder
from crm.queue import ENGINE_KICK, MAX_COUNTDOWN, enqueue_after_commit

AUDIT_LATENESS = timedelta(minutes=2)
# A tick keeps working while there is due work, up to this long (plus the batch in hand);
# overlapping ticks share the load safely (every claim is compare-and-set), so a burst drains
# at the speed of all the workers together.
TICK_BUDGET_SECONDS = 20.0
PAGE_BATCH = 200
REMINDER_BATCH = 500
FEE_BATCH = 500
# A wake-up lands this long after the due time, so the item is due when the kick looks.
WAKE_MARGIN_SECONDS = 0.1


@dataclass
class TickReport:
    leads: int = 0  # callback requests turned from inbox rows into leads
    inbox_failures: int = 0
    reminders: int = 0
    steps: int = 0
    fees: int = 0
    sent: dict[str, int] = field(default_factory=dict)
    stuck: int = 0
    late: int = 0
    helpers: int = 0  # kicks sent so that idle workers join a backlog
    wake_in: float | None = None  # seconds until the wake-up kick for the next due item


@dataclass
class _Tick:
    channels: notify.Channels
    senders: notify.Senders
    deadline: float
    report: TickReport = field(default_factory=TickReport)

    def has_time(self) -> bool:
        return time.monotonic() < self.deadline

    def ask_for_help(self) -> None:
        """A full batch means a backlog: one kick (after commit) brings an idle worker in."""
        if not self.report.helpers:
            enqueue_after_commit(db.session(), ENGINE_KICK)
            self.report.helpers = 1

    def count(self, statuses: Sequence[str]) -> None:
        for status in statuses:
            self.report.sent[status] = self.report.sent.get(status, 0) + 1


def _send_due_messages(tick: _Tick) -> None:
    tick.count(
        dispatch.send_due_messages(tick.channels, tick.senders, tick.deadline, tick.ask_for_help)
    )


def build_leads(report: TickReport, deadline: float) -> None:
    """Inbox rows into leads, one transaction each, until none is waiting (or time is up).

    A failure is recorded on its row (retried later) and the loop goes on to the next one.
    """
    while time.monotonic() < deadline:
        try:
            with unit_of_work():
                outcome = inbox.build_next_lead()
        except inbox.RowFailed as failure:  # rolled back: the row waits, its error recorded
            with unit_of_work():
                inbox.record_failure(failure.row_id, failure.error)
            report.inbox_failures += 1
            continue
        if outcome is None:
            return
        report.leads += 1


INBOX_BUDGET_SECONDS = 5.0
LINGER_POLL_SECONDS = 0.02


def run_inbox(
    budget_seconds: float = INBOX_BUDGET_SECONDS, linger_seconds: float = 0.0
) -> TickReport:
    """The intake kick: build the waiting leads now (their reminders and pages kick the rest).

    With ``linger_seconds`` (the kick passes ``inbox.LINGER_SECONDS``), after each lead it
    keeps looking that long for the next, polling: the web skips kicks while one was sent
    moments ago (``inbox.KICK_EVERY_SECONDS``). A kick that finds nothing stops at once.
    """
    report = TickReport()
    deadline = time.monotonic() + budget_seconds
    build_leads(report, deadline)
    if not (report.leads or report.inbox_failures):
        return report
    quiet_until = time.monotonic() + linger_seconds
    while time.monotonic() < min(quiet_until, deadline):
        time.sleep(LINGER_POLL_SECONDS)
        done = report.leads + report.inbox_failures
        build_leads(report, deadline)
        if report.leads + report.inbox_failures > done:
            quiet_until = time.monotonic() + linger_seconds
    return report


def _advance_pages(tick: _Tick) -> None:
    while tick.has_time():
        with unit_of_work():
            ran = paging.advance_due_pages(limit=PAGE_BATCH)
        tick.report.steps += ran
        if ran < PAGE_BATCH:
            return


def _post_fees(tick: _Tick) -> None:
    """Fees that fall due after N nights or each week of stay (crm.fees.accruals)."""
    while tick.has_time():
        with unit_of_work():
            posted = accruals.fire_due_fee_triggers(limit=FEE_BATCH)
        tick.report.fees += posted
        if posted < FEE_BATCH:
            return


def _fire_reminders(tick: _Tick) -> None:
    while tick.has_time():
        with unit_of_work():
            fired = reminders.fire_due_reminders(limit=REMINDER_BATCH)
            if fired >= REMINDER_BATCH:
                tick.ask_for_help()
        tick.report.reminders += fired
        if fired == 0:
            return
        _send_due_messages(tick)


def run_tick(
    channels: notify.Channels,
    *,
    heartbeat: bool = True,
    budget_seconds: float = TICK_BUDGET_SECONDS,
    look_ahead_seconds: float = 0.0,
) -> TickReport:
    """Callback requests waiting in the inbox first (their leads and out-of-hours pages),
    then pages (people are waiting), their messages, then reminders and theirs.

    With ``look_ahead_seconds`` (beat's tick passes its period), the tick also sends a kick
    timed for the first item falling due before the next tick, so it runs on time rather than
    up to a period late.
    """
    with notify.Senders() as senders:
        tick = _Tick(channels, senders, time.monotonic() + budget_seconds)
        if heartbeat:
            with unit_of_work():
                record_heartbeat()
        build_leads(tick.report, tick.deadline)
        _advance_pages(tick)
        _send_due_messages(tick)
        _fire_reminders(tick)
        _post_fees(tick)
    report = tick.report
    with unit_of_work():
        report.stuck = notify.mark_stuck_messages_unknown()
        report.late = audit_lateness()
        if look_ahead_seconds > 0:
            report.wake_in = _wake_for_next_due(min(look_ahead_seconds, MAX_COUNTDOWN))
    return report


def next_due_within(seconds: float) -> datetime | None:
    """The first instant after now, within ``seconds``, at which something falls due."""
    now = clock.now()
    until = now + timedelta(seconds=seconds)
    due = union_all(
        select(Reminder.due_at.label("at")).where(
            Reminder.status == "pending", Reminder.due_at > now, Reminder.due_at <= until
        ),
        select(Reminder.escalate_at).where(
            Reminder.status == "notified", Reminder.escalate_at > now, Reminder.escalate_at <= until
        ),
        select(OutboundMessage.due_at).where(
            OutboundMessage.status == "pending",
            OutboundMessage.due_at > now,
            OutboundMessage.due_at <= until,
        ),
        select(Page.next_step_at).where(
            Page.status == "triggered", Page.next_step_at > now, Page.next_step_at <= until
        ),
        select(FeeTrigger.due_at).where(
            FeeTrigger.status == "pending", FeeTrigger.due_at > now, FeeTrigger.due_at <= until
        ),
        select(CallbackInbox.next_attempt_at).where(
            CallbackInbox.status == "pending",
            CallbackInbox.next_attempt_at > now,
            CallbackInbox.next_attempt_at <= until,
        ),
    ).subquery()
    first: datetime | None = db.session.scalar(select(func.min(due.c.at)))
    return clock.as_utc(first) if first is not None else None


def _wake_for_next_due(seconds: float) -> float | None:
    first = next_due_within(seconds)
    if first is None:
        return None
    wait = (first - clock.now()).total_seconds() + WAKE_MARGIN_SECONDS
    wait = min(max(wait, 0.0), MAX_COUNTDOWN)
    enqueue_after_commit(db.session(), ENGINE_KICK, countdown=wait)
    return wait


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
    late += (
        db.session.scalar(
            select(func.count())
            .select_from(FeeTrigger)
            .where(FeeTrigger.status == "pending", FeeTrigger.due_at < cutoff)
        )
        or 0
    )
    late += (
        db.session.scalar(
            select(func.count())
            .select_from(CallbackInbox)
            .where(CallbackInbox.status == "pending", CallbackInbox.next_attempt_at < cutoff)
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
