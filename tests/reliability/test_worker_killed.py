"""A real worker SIGKILLed mid-tick, then restarted: every due reminder fires, none twice.

Two hundred follow-up reminders (one per lead) fall due at once for six staff members who
are reached by SMS. A real worker (prefork, two pool processes, as ``make run`` starts it) and
beat tick every second and send the SMS through the app's Twilio adapter to a local recording
server that takes 200 ms per message, so the sends take over a second. Part-way through,
the worker's whole process group is SIGKILLed (a crash: no shutdown, no acks, transactions
cut off); then a new worker starts.

The rule (ARCHITECTURE.md 5): a message is claimed ``pending → sending`` just before the
provider is called (in batches no larger than the pool of sender threads, all sent at once),
so a crash leaves at most the sends in flight ``sending``; after the
two-minute SENDING_TIMEOUT they become ``unknown`` and are never resent. Waiting two real
minutes would make the test slow, so once worker and beat have stopped the test process runs
one engine tick itself with the clock pinned past the timeout (``crm.clock.pinned``): the
tick that would have run two minutes later.
"""

from __future__ import annotations

import time
from collections import Counter
from datetime import datetime, timedelta
from datetime import time as wall_time
from pathlib import Path

from flask import Flask
from sqlalchemy import func, select

from crm import clock
from crm.extensions import db
from crm.intake import services as intake
from crm.intake import wording
from crm.intake.callback import parse_callback_request
from crm.notify.models import OutboundMessage
from crm.notify.services import SENDER_THREADS, SENDING_TIMEOUT, Channels
from crm.oncall.engine import run_tick
from crm.oncall.models import OfficeHoursSpan, Reminder
from crm.oncall.reminders import create_reminder
from crm.privacy.services import Actor
from tests.conftest import make_settings
from tests.reliability.support import (
    Processes,
    Sms,
    SmsRecorder,
    add_staff_with_sms,
    celery_beat,
    celery_worker,
    live_sms_changes,
    live_sms_settings,
    process_env,
    wait_until,
)
from tests.support.servers import EmbeddedRedis

REMINDERS = 200
OWNERS = 6
SMS_SECONDS = 0.2  # the provider's answer time: 200 sends on two pools of 16 take over a second
POOL = 2  # worker pool processes
# Each process sends a claimed batch at once on its sender threads: at most this many sends
# are in flight at any instant.
IN_FLIGHT = POOL * SENDER_THREADS
KILL_AFTER = 40  # SMS received by the provider before the kill
FOLLOW_UP = Reminder.kind == "follow_up"


def _seed(app: Flask) -> dict[int, str]:
    """200 leads, each with a follow-up due now; returns reminder id -> owner's SMS number.

    The office is open all day (so logging the enquiries pages nobody).
    """
    expected: dict[int, str] = {}
    with app.app_context():
        for weekday in range(7):
            db.session.add(
                OfficeHoursSpan(
                    weekday=weekday, opens_at=wall_time(0, 0), closes_at=wall_time(23, 59, 59)
                )
            )
        owners = [
            add_staff_with_sms("admissions", f"Owner {n}", f"+4477009001{n:02d}")
            for n in range(OWNERS)
        ]
        phones = {owner.id: f"+4477009001{n:02d}" for n, owner in enumerate(owners)}
        due = clock.now() - timedelta(seconds=5)
        for i in range(REMINDERS):
            owner = owners[i % OWNERS]
            data = parse_callback_request(
                {
                    "name": f"Enquirer Number {i}",
                    "phone": f"07700 900{500 + i}",
                    "consent_to_contact": True,
                    "consent_wording_version": wording.CONSENT_VERSION,
                    "disclosure_wording_version": wording.DISCLOSURE_VERSION,
                }
            )
            actor = Actor(owner.id, owner.email, owner.role)
            lead = intake.log_enquiry(data, source="phone", target_minutes=15, actor=actor).lead
            reminder = create_reminder(
                "follow_up", due, owner_id=owner.id, lead_id=lead.id, note="Call back Tuesday"
            )
            expected[reminder.id] = phones[owner.id]
        db.session.commit()
    return expected


def _statuses(app: Flask) -> tuple[Counter[str], Counter[str]]:
    """(follow-up reminder statuses, message statuses) as the database holds them now."""
    with app.app_context():
        reminders = db.session.execute(
            select(Reminder.status, func.count()).where(FOLLOW_UP).group_by(Reminder.status)
        ).all()
        messages = db.session.execute(
            select(OutboundMessage.status, func.count()).group_by(OutboundMessage.status)
        ).all()
    return Counter(dict(reminders)), Counter(dict(messages))


def _settled(app: Flask, killed_at: datetime) -> bool:
    """Every reminder fired, every message written and none left to send or in flight, except
    the ones the crashed worker left ``sending`` (claimed before the kill)."""
    with app.app_context():
        pending = db.session.scalar(
            select(func.count())
            .select_from(Reminder)
            .where(FOLLOW_UP, Reminder.status == "pending")
        )
        messages = db.session.scalar(select(func.count()).select_from(OutboundMessage))
        unfinished = db.session.scalar(
            select(func.count())
            .select_from(OutboundMessage)
            .where(
                (OutboundMessage.status == "pending")
                | (
                    (OutboundMessage.status == "sending")
                    & (OutboundMessage.claimed_at >= killed_at)
                )
            )
        )
    return pending == 0 and messages == REMINDERS and unfinished == 0


def test_worker_killed_mid_tick_then_restarted_fires_every_reminder_once(
    tmp_path: Path, scratch_db: str, redis_server: EmbeddedRedis, seed_app: Flask
) -> None:
    seeding = time.monotonic()
    expected = _seed(seed_app)
    print(
        f"\nseeded {len(expected)} leads with due follow-ups in {time.monotonic() - seeding:.1f}s"
    )
    processes = Processes(tmp_path)
    with SmsRecorder(delay=SMS_SECONDS) as recorder:
        env = process_env(scratch_db, redis_server.url, **live_sms_settings(recorder))
        try:
            started = time.monotonic()
            processes.start("worker", celery_worker(POOL), env)
            processes.start("beat", celery_beat(tmp_path / "beat-schedule"), env)
            wait_until(
                lambda: recorder.count() >= KILL_AFTER,
                90,
                lambda: f"only {recorder.count()} SMS reached the provider{processes.logs()}",
                every=0.02,
                processes=processes,
            )
            first_sms = recorder.snapshot()[0].at - started
            processes.kill("worker")
            killed_at = clock.now()
            time.sleep(0.5)  # a request the worker wrote just before dying still lands
            at_kill = recorder.count()
            reminders_at_kill, messages_at_kill = _statuses(seed_app)
            print(
                f"first SMS {first_sms:.1f}s after start; SIGKILL after {at_kill} SMS; "
                f"reminders {dict(reminders_at_kill)}; messages {dict(messages_at_kill)}"
            )
            assert 0 < at_kill < REMINDERS, (
                f"the kill must land mid-delivery, but {at_kill} of {REMINDERS} SMS had been "
                "received: slow the provider down or seed more reminders"
            )
            time.sleep(1.5)
            assert recorder.count() == at_kill, "an SMS was sent while no worker was running"

            restarted = time.monotonic()
            processes.start("worker-restarted", celery_worker(POOL), env)
            wait_until(
                lambda: _settled(seed_app, killed_at),
                90,
                lambda: f"not settled: {_statuses(seed_app)}{processes.logs()}",
                every=0.2,
                processes=processes,
            )
            print(
                f"the restarted worker finished in {time.monotonic() - restarted:.1f}s; "
                f"{recorder.count()} SMS received in all"
            )
        finally:
            processes.stop_all()

        # Two minutes later (pinned): the sweep that turns stuck sends into 'unknown'.
        settings = make_settings(scratch_db, redis_server.url, **live_sms_changes(recorder))
        later = clock.now() + SENDING_TIMEOUT + timedelta(seconds=5)
        with seed_app.app_context(), clock.pinned(later):
            report = run_tick(Channels.from_settings(settings))
        received = recorder.snapshot()

    _assert_every_reminder_fired_once(seed_app, expected, received, report.stuck)


def _assert_every_reminder_fired_once(
    app: Flask, expected: dict[int, str], received: list[Sms], stuck: int
) -> None:
    with app.app_context():
        reminders = db.session.scalars(select(Reminder).where(FOLLOW_UP)).all()
        messages = db.session.scalars(select(OutboundMessage)).all()
    not_fired = [r.id for r in reminders if r.status != "notified" or r.notified_at is None]
    assert not not_fired, f"{len(not_fired)} due reminders never fired: {not_fired[:5]}"
    assert {m.reminder_id for m in messages} == set(expected), "a reminder has no message"
    assert len(messages) == len(expected), "a reminder was queued twice"
    assert len({m.body for m in messages}) == len(messages), "each message names its own lead"

    per_body = Counter(sms.body for sms in received)
    twice = {body: n for body, n in per_body.items() if n > 1}
    assert not twice, f"SMS delivered more than once: {twice}"
    assert set(per_body) <= {m.body for m in messages}, "an SMS the database knows nothing of"
    assert all(sms.authorised for sms in received), "an SMS went out without the account's key"

    statuses = Counter(m.status for m in messages)
    print(f"final message statuses: {dict(statuses)}; swept to unknown: {stuck}")
    assert set(statuses) <= {"sent", "unknown"}, f"messages not in a final state: {statuses}"
    assert statuses["unknown"] == stuck, (statuses, stuck)
    assert statuses["unknown"] <= IN_FLIGHT, (
        f"{statuses['unknown']} messages were left 'unknown' (never sent) by the crash, but at "
        f"most {IN_FLIGHT} sends can be in flight at once: messages claimed long before their "
        "send were lost with the worker"
    )
    for message in messages:
        to = [sms.to for sms in received if sms.body == message.body]
        assert message.address == expected[message.reminder_id or 0], message.id
        if message.status == "sent":
            assert to == [message.address], (
                f"a 'sent' message must have reached the provider exactly once: message "
                f"{message.id} reached it {len(to)} times"
            )
            assert message.provider_ref and message.provider_ref.startswith("SM")
        else:  # in flight at the kill: it may or may not have reached the provider, once
            assert len(to) <= 1
            assert message.error == "worker stopped mid-send; not resent"
    assert len(received) == statuses["sent"] + sum(
        1 for m in messages if m.status == "unknown" and per_body[m.body]
    )
