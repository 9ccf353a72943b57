"""The engine works a burst in batches: due reminders are claimed and their messages queued a
batch at a time, messages are claimed a pool's worth at a time and sent in parallel, and every
outcome is written back; a tick also wakes the engine for the next item falling due.

The SMS provider is the reliability tests' Twilio-shaped server on 127.0.0.1, which records
when each request arrives and answers after a delay, so the test can see which sends were at
the provider together. SQL statements are counted on the app's engine while the tick runs."""

from __future__ import annotations

import base64
import dataclasses
import json
import math
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import redis
from flask import Flask
from sqlalchemy import event

from crm import clock
from crm.auth.models import User
from crm.extensions import db
from crm.intake.models import Contact, Lead
from crm.notify import services as notify
from crm.notify.channels import Message
from crm.oncall import engine, reminders
from crm.oncall.models import Reminder
from crm.queue import ENGINE_KICK, init_queue
from tests.reliability.support import SmsRecorder, live_sms_changes
from tests.services.oncall_factories import SUNDAY_NIGHT, count, messages, person

NOW = SUNDAY_NIGHT.astimezone(UTC)
BURST = 3 * notify.SENDER_THREADS  # three full batches of sends
PROVIDER_SECONDS = 0.5  # the provider answers each request this long after it arrives


def _due_follow_ups(owners: list[User], how_many: int) -> dict[int, str]:
    """Follow-ups due a minute ago, one per lead, owners in turn; reminder id → owner's phone."""
    phones = {}
    with clock.pinned(NOW - timedelta(hours=1)):
        caller = Contact(name="Burst Caller", phone="+447700900070", created_at=clock.now())
        db.session.add(caller)
        db.session.flush()
        for i in range(how_many):
            row = Lead(
                reference=f"B-{i:05d}",
                client_id=caller.id,
                caller_id=caller.id,
                source="web_form",
                stage="contacted",
                callback_due_at=clock.now(),
                created_at=clock.now(),
            )
            db.session.add(row)
            db.session.flush()
            owner = owners[i % len(owners)]
            reminder = reminders.create_reminder(
                "follow_up", NOW - timedelta(minutes=1), owner_id=owner.id, lead_id=row.id
            )
            phones[reminder.id] = notify.contact_methods(owner)[0][1]
        db.session.commit()
    return phones


@contextmanager
def statements() -> Iterator[list[str]]:
    """Every SQL statement sent to the database in the block (an executemany counts once)."""
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, sql: str, *_: Any) -> None:
        seen.append(" ".join(sql.split()))

    event.listen(db.engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(db.engine, "before_cursor_execute", record)


def _most_at_once(arrivals: list[float], answer_after: float) -> int:
    """The most requests the provider held at once (each from its arrival to its answer)."""
    events = sorted([(at, 1) for at in arrivals] + [(at + answer_after, -1) for at in arrivals])
    held = most = 0
    for _, change in events:  # at the same instant an answer (-1) sorts before an arrival
        held += change
        most = max(most, held)
    return most


def test_a_burst_of_due_reminders_is_queued_in_one_batch_and_sent_a_pool_at_a_time(
    app: Flask, db_session: Any
) -> None:
    owners = [
        person(name=f"Burst Owner {n}", methods=(("sms", f"+4477009006{n:02d}", 0),))
        for n in range(3)
    ]
    phones = _due_follow_ups(owners, BURST)
    with SmsRecorder(delay=PROVIDER_SECONDS) as provider:
        settings = dataclasses.replace(app.config["CRM_SETTINGS"], **live_sms_changes(provider))
        with statements() as sql, clock.pinned(NOW):
            report = engine.run_tick(notify.Channels.from_settings(settings), heartbeat=False)
        received = provider.snapshot()

    assert (report.reminders, report.sent) == (BURST, {"sent": BURST})
    assert count(Reminder, Reminder.status == "notified") == BURST

    # Exactly one message per reminder, under its own idempotency key, every outcome recorded.
    rows = messages()
    assert sorted(m.idempotency_key for m in rows) == sorted(
        f"reminder:{reminder_id}:{owner_id}:sms:{phones[reminder_id]}"
        for reminder_id, owner_id in db.session.query(Reminder.id, Reminder.owner_id)
    )
    assert {(m.status, m.attempts, m.sent_at, m.error) for m in rows} == {("sent", 1, NOW, None)}
    assert all(m.provider_ref and m.provider_ref.startswith("SM") for m in rows)
    assert len({m.provider_ref for m in rows}) == BURST  # each row has its own send's answer
    # Each reached the provider once, at its owner's number.
    assert Counter(sms.body for sms in received) == Counter(m.body for m in rows)
    assert {(sms.to, sms.body) for sms in received} == {(m.address, m.body) for m in rows}

    # Sent in parallel: the provider held a whole pool of sends at once, and never more (a
    # message is claimed only when a thread is free for it).
    assert _most_at_once([sms.at for sms in received], PROVIDER_SECONDS) == notify.SENDER_THREADS

    # Batched SQL: one claim and one INSERT for the whole burst of reminders; each claim of
    # messages takes at least half the pool, and writes the outcomes of the sends that finished.
    def statements_with(*parts: str) -> list[str]:
        return [s for s in sql if all(part in s for part in parts)]

    # The burst, then one that found nothing left.
    assert len(statements_with("UPDATE reminders SET status=")) == 2
    assert len(statements_with("INSERT INTO outbound_messages")) == 1
    # On PostgreSQL one statement writes the outcomes and claims (it counts as both).
    claims = [s for s in statements_with("UPDATE outbound_messages") if "attempts +" in s]
    outcome_writes = statements_with("UPDATE outbound_messages", "coalesce(")
    batches = math.ceil(BURST / notify.SENDER_THREADS)
    assert batches + 2 <= len(claims) <= 2 * batches + 2  # + two that found nothing due
    assert batches <= len(outcome_writes) <= 2 * batches + 2
    # The whole tick, savepoints included: under two statements a message (it was six).
    assert len(sql) < 2 * BURST


def test_a_send_that_fails_is_recorded_with_the_rest_of_its_batch(
    app: Flask, db_session: Any
) -> None:
    """One bad address in a batch: its own outcome is recorded, the others are sent."""
    ok = person(name="Good Number", methods=(("sms", "+447700900081", 0),))
    with clock.pinned(NOW):
        notify.notify_people(
            [
                notify.Notice(ok.id, f"k{i}", "S", f"Body {i}", [("sms", "+447700900081", 0)])
                for i in range(3)
            ]
            + [notify.Notice(ok.id, "hook", "S", "B", [("webhook", "ftp://x.example/h", 0)])]
        )
        db.session.commit()
    with SmsRecorder() as provider:
        settings = dataclasses.replace(app.config["CRM_SETTINGS"], **live_sms_changes(provider))
        with clock.pinned(NOW):
            report = engine.run_tick(notify.Channels.from_settings(settings), heartbeat=False)
        assert provider.count() == 3
    assert report.sent == {"sent": 3, "failed": 1}
    assert sorted((m.channel, m.status, m.error) for m in messages()) == [
        ("sms", "sent", None),
        ("sms", "sent", None),
        ("sms", "sent", None),
        ("webhook", "failed", "only http(s) URLs can be called"),
    ]


# --- waking the engine for the next due item --------------------------------------------------


@pytest.fixture
def kicks(app: Flask, redis_url: str) -> Iterator[Callable[[], list[dict[str, Any]]]]:
    """The app's Celery sending to a queue of this test's own; yields a function returning the
    headers (task name, ETA) of every message sent there, oldest first."""
    original = app.extensions["celery"]
    celery = init_queue(app)
    queue = f"crm-test-{uuid.uuid4().hex}"
    celery.conf.task_default_queue = queue
    client = redis.Redis.from_url(redis_url)

    def sent() -> list[dict[str, Any]]:
        raw = [json.loads(m) for m in reversed(client.lrange(queue, 0, -1))]  # kombu LPUSHes
        for message in raw:
            json.loads(base64.b64decode(message["body"]))  # a well-formed task body
        return [message["headers"] for message in raw]

    try:
        yield sent
    finally:
        app.extensions["celery"] = original
        original.set_current()
        client.delete(queue, f"_kombu.binding.{queue}", f"_kombu.binding_permanent.{queue}")
        client.close()
        celery.close()


def test_a_tick_sends_a_kick_timed_for_the_next_item_due_before_the_next_tick(
    db_session: Any, kicks: Callable[[], list[dict[str, Any]]]
) -> None:
    reminders.create_reminder(
        "follow_up", NOW + timedelta(seconds=3), owner_id=None, lead_id=None, grace_minutes=5
    )
    reminders.create_reminder(
        "follow_up", NOW + timedelta(seconds=4), owner_id=None, lead_id=None, grace_minutes=5
    )
    db.session.commit()
    channels = notify.Channels({}, hold=True)
    with clock.pinned(NOW):
        assert engine.next_due_within(5) == NOW + timedelta(seconds=3)
        sent_at = datetime.now(UTC)
        report = engine.run_tick(channels, look_ahead_seconds=5)
    assert report.wake_in == pytest.approx(3 + engine.WAKE_MARGIN_SECONDS)
    [kick] = kicks()
    assert kick["task"] == ENGINE_KICK
    eta = datetime.fromisoformat(kick["eta"])
    assert 2.5 <= (eta - sent_at).total_seconds() <= 4.5

    # Nothing due within the look-ahead (the next is 2 s beyond it): no kick, beat will come.
    with clock.pinned(NOW - timedelta(seconds=2)):
        assert engine.next_due_within(4) is None
        assert engine.run_tick(channels, look_ahead_seconds=4).wake_in is None
    # Without a look-ahead (a kick's own tick) nothing is scheduled either.
    with clock.pinned(NOW):
        assert engine.run_tick(channels).wake_in is None
    assert len(kicks()) == 1


class BrokenSms:
    """An SMS adapter with a bug of ours: it fails after the provider may have been called."""

    name = "sms"

    def __init__(self) -> None:
        self.calls = 0

    def send(self, message: Message, connections: object = None) -> str:
        self.calls += 1
        raise KeyError("sid")


def test_an_unexpected_error_in_a_send_leaves_that_message_unknown_and_never_resent(
    db_session: Any,
) -> None:
    ok = person(name="Bug Report", methods=(("sms", "+447700900091", 0),))
    with clock.pinned(NOW):
        notify.notify_people([notify.Notice(ok.id, "bug", "S", "B", [("sms", "+447700900091", 0)])])
        db.session.commit()
    broken = BrokenSms()
    channels = notify.Channels({"sms": broken}, hold=False)
    with clock.pinned(NOW):
        assert engine.run_tick(channels, heartbeat=False).sent == {"unknown": 1}
    with clock.pinned(NOW + timedelta(hours=1)):
        assert engine.run_tick(channels, heartbeat=False).sent == {}
    [row] = messages()
    assert (row.status, row.attempts, row.error) == ("unknown", 1, "unexpected error: 'sid'")
    assert broken.calls == 1
