"""The engine tick: fires due reminders, runs due escalation steps and sends due messages.

The first tests run in the per-test rolled-back transaction. The concurrency tests need real
commits from several threads, so they run on a scratch database (a fresh SQLite file, or a
PostgreSQL database created for the test and dropped after), each thread in its own app
context and therefore its own session and connection."""

from __future__ import annotations

import dataclasses
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from crm import clock
from crm.auth.models import User
from crm.database import unit_of_work
from crm.extensions import db
from crm.health.services import record_heartbeat
from crm.intake.models import Contact, Lead
from crm.notify import services as notify
from crm.notify.channels import Message
from crm.notify.models import OutboundMessage
from crm.oncall import engine, paging, reminders
from crm.oncall.models import Page, PageEvent, Reminder
from crm.privacy.services import Actor
from tests.services.oncall_factories import (
    SUNDAY_NIGHT,
    count,
    events,
    lead,
    messages,
    person,
    policy,
    rota,
    rota_step,
    run_threads,
    scratch_app,
    user_step,
)
from tests.support.recorders import (  # noqa: F401  (fixtures)
    HttpRecorder,
    SmtpRecorder,
    http_recorder_fixture,
    smtp_recorder_fixture,
)

NOW = SUNDAY_NIGHT.astimezone(UTC)
SID, TOKEN = "AC-engine-test", "engine-token"


def channels_for(app: Flask, http: HttpRecorder, smtp: SmtpRecorder, *, hold: bool) -> Any:
    settings = dataclasses.replace(
        app.config["CRM_SETTINGS"],
        notify_delivery="dev_outbox" if hold else "live",
        smtp_port=smtp.port,
        sms_provider="twilio",
        twilio_account_sid=SID,
        twilio_auth_token=TOKEN,
        twilio_from="+447700900999",
        twilio_api_base=http.base_url,
    )
    return notify.Channels.from_settings(settings)


@pytest.fixture
def night_shift(db_session: Any) -> User:
    """Nina is on call (SMS and email); the policy pages the rota, then every manager."""
    nina = person(
        name="Nina Nights",
        methods=(("sms", "+447700900021", 0), ("email", "nina@staff.example", 0)),
    )
    person("manager", name="Mandy Manager")
    policy([rota_step(rota([nina]), 5)])
    return nina


# --- one tick, in the rolled-back transaction -----------------------------------------------------


def test_an_out_of_hours_request_reaches_the_person_on_call_in_one_tick(
    app: Flask, night_shift: User, http_recorder: HttpRecorder, smtp_recorder: SmtpRecorder
) -> None:
    enquiry = lead(SUNDAY_NIGHT)
    with clock.pinned(NOW):
        report = engine.run_tick(channels_for(app, http_recorder, smtp_recorder, hold=False))
    assert (report.steps, report.sent, report.late) == (1, {"sent": 2}, 0)
    [sms] = http_recorder.sms
    assert sms.form["To"] == "+447700900021"
    assert f"Out-of-hours callback request {enquiry.reference}" in sms.form["Body"]
    assert "/ack/" in sms.form["Body"]
    [mail] = smtp_recorder.received()
    assert mail.recipients == ["nina@staff.example"]
    assert mail.subject == f"[Admissions CRM] Out-of-hours callback request {enquiry.reference}"
    assert {m.status for m in messages()} == {"sent"}
    # A second tick finds nothing to do.
    with clock.pinned(NOW + timedelta(seconds=5)):
        again = engine.run_tick(channels_for(app, http_recorder, smtp_recorder, hold=False))
    assert (again.steps, again.reminders, again.sent) == (0, 0, {})
    assert len(http_recorder.requests) == 1 and len(smtp_recorder.received()) == 1


def test_in_the_dev_outbox_messages_are_held_and_nothing_is_sent_anywhere(
    app: Flask, night_shift: User, http_recorder: HttpRecorder, smtp_recorder: SmtpRecorder
) -> None:
    lead(SUNDAY_NIGHT)
    with clock.pinned(NOW):
        report = engine.run_tick(channels_for(app, http_recorder, smtp_recorder, hold=True))
    assert report.sent == {"held": 2}
    assert [(m.channel, m.status, m.sent_at) for m in messages()] == [
        ("sms", "held", None),
        ("email", "held", None),
    ]
    assert http_recorder.requests == [] and smtp_recorder.received() == []


def test_the_auditor_pages_every_manager_when_due_work_is_over_two_minutes_late(
    db_session: Any,
) -> None:
    mandy = person("manager", name="Mandy Manager", methods=(("email", "mandy@staff.example", 0),))
    person("manager", name="Gone Manager", active=False)
    with clock.pinned(NOW - timedelta(minutes=10)):
        reminders.create_reminder(
            "follow_up", NOW - timedelta(minutes=3), owner_id=None, lead_id=None
        )
        reminders.create_reminder(
            "follow_up", NOW - timedelta(minutes=1), owner_id=None, lead_id=None
        )
        notify.queue_message(
            "late-1",
            "email",
            "x@staff.example",
            "S",
            "B",
            due_at=NOW - timedelta(minutes=2, seconds=1),
        )
        notify.queue_message(
            "on-time", "email", "y@staff.example", "S", "B", due_at=NOW - timedelta(minutes=2)
        )
        db.session.commit()
    with clock.pinned(NOW):
        assert engine.count_late() == 2
        assert engine.audit_lateness() == 2
        assert engine.audit_lateness() == 2  # still late: the same page, counted again
        paging.advance_due_pages()
        db.session.commit()
    page = paging.open_page("engine:late")
    assert page is not None
    assert (page.summary, page.trigger_count, page.policy_id) == (
        "Engine behind: 2 due items over 2 minutes late",
        2,
        None,
    )
    assert [m.user_id for m in messages(page_id=page.id)] == [mandy.id]
    assert [kind for kind, _ in events(page)] == ["triggered", "fallback"]


def test_nothing_late_raises_no_alarm(db_session: Any) -> None:
    with clock.pinned(NOW):
        assert engine.audit_lateness() == 0
    assert count(Page) == 0


# --- concurrency on a scratch database ------------------------------------------------------------


@pytest.fixture
def scratch(tmp_path: Path, redis_url: str) -> Iterator[Flask]:
    # The app's own SQLite settings apply (WAL, a 30 s busy timeout): concurrent ticks on one
    # SQLite file wait for the single writer's turn rather than fail with "database is locked".
    with scratch_app(tmp_path, redis_url, "ticks") as application:
        yield application


def _thousand_due_reminders(http: HttpRecorder) -> dict[str, User]:
    """1,000 follow-ups due a minute ago, on 1,000 leads, for four owners reached by SMS,
    email, a chat webhook, and SMS plus a webhook: 1,250 messages to send."""
    owners = {
        "sms": person(name="Sam Sms", methods=(("sms", "+447700900031", 0),)),
        "email": person(name="Emma Email", methods=(("email", "emma@staff.example", 0),)),
        "webhook": person(name="Walt Webhook", methods=(("webhook", http.webhook_url("walt"), 0),)),
        "both": person(
            name="Bea Both",
            methods=(("sms", "+447700900032", 0), ("webhook", http.webhook_url("bea"), 0)),
        ),
    }
    people = list(owners.values())
    with clock.pinned(NOW - timedelta(hours=1)):
        caller = Contact(name="Bulk Caller", phone="+447700900033", created_at=clock.now())
        db.session.add(caller)
        db.session.flush()
        leads = [
            Lead(
                reference=f"T-{i:05d}",
                client_id=caller.id,
                caller_id=caller.id,
                source="web_form",
                stage="contacted",
                callback_due_at=clock.now(),
                created_at=clock.now(),
            )
            for i in range(1000)
        ]
        db.session.add_all(leads)
        db.session.flush()
        for i, row in enumerate(leads):
            reminders.create_reminder(
                "follow_up",
                NOW - timedelta(minutes=1),
                owner_id=people[i % 4].id,
                lead_id=row.id,
                grace_minutes=60,
            )
        record_heartbeat()  # the engine has ticked before (its row exists)
        db.session.commit()
    return owners


def test_two_ticks_at_once_over_a_thousand_due_reminders_send_each_message_once(
    scratch: Flask, http_recorder: HttpRecorder, smtp_recorder: SmtpRecorder
) -> None:
    with scratch.app_context():
        _thousand_due_reminders(http_recorder)
    channels = channels_for(scratch, http_recorder, smtp_recorder, hold=False)
    reports: list[tuple[str, float, float, engine.TickReport]] = []

    def ticker(name: str) -> Callable[[], None]:
        def tick_until_nothing_is_due() -> None:
            # A tick that lost every claim to the other one does nothing: keep ticking, as
            # beat would, until the database holds nothing due.
            for _ in range(100):
                began = time.monotonic()
                report = engine.run_tick(channels)
                reports.append((name, began, time.monotonic(), report))
                db.session.rollback()
                if not (report.reminders or report.steps or report.sent) and not (
                    count(Reminder, Reminder.status == "pending")
                    or count(OutboundMessage, OutboundMessage.status.in_(("pending", "sending")))
                ):
                    return
                time.sleep(0.05)

        return tick_until_nothing_is_due

    with clock.pinned(NOW):
        errors = run_threads(scratch, [ticker("a"), ticker("b")])
    assert errors == []

    # The two first ticks really ran at the same time.
    first = {name: (began, ended) for name, began, ended, _ in reversed(reports)}
    assert max(b for b, _ in first.values()) < min(e for _, e in first.values())
    assert sum(r.reminders for *_, r in reports) == 1000
    sent = Counter[str]()
    for *_, report in reports:
        sent.update(report.sent)
    assert dict(sent) == {"sent": 1250}

    with scratch.app_context():
        rows = messages()
        assert len(rows) == 1250
        assert len({m.idempotency_key for m in rows}) == 1250
        assert {(m.status, m.attempts) for m in rows} == {("sent", 1)}
        assert count(Reminder, Reminder.status == "notified") == 1000
        assert count(Page) == 0
    # Each message reached its server exactly once.
    sms = Counter((r.form["To"], r.form["Body"]) for r in http_recorder.sms)
    hooks = Counter(r.json["text"] for r in http_recorder.webhooks)
    mails = Counter((tuple(m.recipients), m.body) for m in smtp_recorder.received())
    assert (len(sms), len(hooks), len(mails)) == (500, 500, 250)
    assert set(sms.values()) == set(hooks.values()) == set(mails.values()) == {1}


class BlockingSms:
    """A Channel (the external SMS service) whose send waits until the test releases it."""

    name = "sms"

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.release = threading.Event()
        self.sent: list[Message] = []
        self.returned_at: datetime | None = None

    def send(self, message: Message, connections: object = None) -> str:
        self.entered.set()
        assert self.release.wait(timeout=30), "the test never released the send"
        self.sent.append(message)
        self.returned_at = datetime.now(UTC)
        return f"stub-{len(self.sent)}"


def _page_with_due_messages(app: Flask) -> tuple[int, int, int]:
    """A triggered page whose first step queued an SMS (due now) and an email (due in 3 min).
    Returns (page id, the SMS message id, the acknowledger's id)."""
    with app.app_context():
        olga = person(
            name="Olga Oncall",
            methods=(("sms", "+447700900041", 0), ("email", "olga@staff.example", 3)),
        )
        policy([user_step(olga, 5)])
        page = paging.trigger_page("safeguarding:race", "Safeguarding flag")
        db.session.commit()
        paging.advance_due_pages()
        db.session.commit()
        [sms] = messages(page_id=page.id, channel="sms")
        return page.id, sms.id, olga.id


def _acknowledge(app: Flask, page_id: int, user_id: int, done: dict[str, datetime]) -> None:
    with app.app_context(), unit_of_work():
        paging.acknowledge(page_id, user_id, Actor(user_id), via="message link")
    done["committed"] = datetime.now(UTC)


def test_an_acknowledgement_racing_a_send_waits_for_it_and_nothing_is_sent_after(
    scratch: Flask,
) -> None:
    page_id, sms_id, olga_id = _page_with_due_messages(scratch)
    stub = BlockingSms()
    channels = notify.Channels({"sms": stub}, hold=False)
    acked: dict[str, datetime] = {}

    def dispatcher() -> None:
        with unit_of_work():
            assert notify.claim_due_messages() == [sms_id]
        with unit_of_work():
            notify.deliver(sms_id, channels)

    def acknowledger() -> None:
        assert stub.entered.wait(timeout=30)  # the send is in progress, holding the page
        _acknowledge(scratch, page_id, olga_id, acked)

    def releaser() -> None:
        assert stub.entered.wait(timeout=30)
        time.sleep(1.0)
        assert "committed" not in acked, "the acknowledgement did not wait for the send"
        stub.release.set()

    assert run_threads(scratch, [dispatcher, acknowledger, releaser]) == []
    assert stub.returned_at is not None and len(stub.sent) == 1
    assert acked["committed"] > stub.returned_at
    with scratch.app_context():
        page = db.session.get(Page, page_id)
        assert page is not None and page.status == "acknowledged"
        sms = db.session.get(OutboundMessage, sms_id)
        assert sms is not None and sms.status == "sent" and sms.sent_at is not None
        assert sms.sent_at <= page.acknowledged_at  # type: ignore[operator]
        [email] = messages(page_id=page_id, channel="email")
        assert (email.status, email.error) == ("failed", "cancelled: acknowledged")
        acked_event = db.session.query(PageEvent).filter_by(page_id=page_id, kind="acknowledged")
        assert acked_event.one().at >= sms.sent_at
        # Later ticks send nothing more for this page.
        report = engine.run_tick(channels, heartbeat=False)
        assert report.sent == {} and len(stub.sent) == 1
        assert not [m for m in messages(page_id=page_id) if m.status in ("pending", "sending")]


def test_a_send_claimed_before_an_acknowledgement_that_commits_first_is_not_made(
    scratch: Flask,
) -> None:
    page_id, sms_id, olga_id = _page_with_due_messages(scratch)
    stub = BlockingSms()
    stub.release.set()
    channels = notify.Channels({"sms": stub}, hold=False)
    with scratch.app_context():
        with unit_of_work():
            assert notify.claim_due_messages() == [sms_id]
        acked: dict[str, datetime] = {}
        _acknowledge(scratch, page_id, olga_id, acked)
        with unit_of_work():
            assert notify.deliver(sms_id, channels) == "failed"
        sms = db.session.get(OutboundMessage, sms_id)
        assert sms is not None
        assert (sms.status, sms.sent_at, sms.error) == (
            "failed",
            None,
            "cancelled: page already acknowledged",
        )
    assert stub.sent == [] and not stub.entered.is_set()
