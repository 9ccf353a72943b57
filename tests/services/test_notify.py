"""Outbound messages: queued once per idempotency key, sent through real channel adapters to
real local servers (an HTTP recorder for SMS and webhooks, aiosmtpd for email), retried on
transient failures with backoff, failed on permanent ones, held in the dev outbox."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask import Flask

from crm import clock
from crm.errors import DomainError
from crm.extensions import db
from crm.notify import services as notify
from crm.notify.models import ContactMethod, OutboundMessage
from crm.oncall import paging
from crm.privacy.services import Actor
from tests.services.oncall_factories import count, messages, person
from tests.support.recorders import (  # noqa: F401  (fixtures)
    HttpRecorder,
    SmtpRecorder,
    http_recorder_fixture,
    smtp_recorder_fixture,
)

NOW = datetime(2026, 11, 29, 2, 40, tzinfo=UTC)
SID, TOKEN, SENDER = "AC0123456789abcdef", "twilio-test-token", "+447700900999"


def live_channels(app: Flask, http: HttpRecorder, smtp: SmtpRecorder) -> notify.Channels:
    """The adapters as configured from settings, pointed at the local recording servers."""
    settings = dataclasses.replace(
        app.config["CRM_SETTINGS"],
        notify_delivery="live",
        smtp_host="127.0.0.1",
        smtp_port=smtp.port,
        smtp_from="admissions-crm@crm.example",
        sms_provider="twilio",
        twilio_account_sid=SID,
        twilio_auth_token=TOKEN,
        twilio_from=SENDER,
        twilio_api_base=http.base_url,
    )
    return notify.Channels.from_settings(settings)


def queue(key: str, channel: str, address: str, **extra: Any) -> OutboundMessage:
    with clock.pinned(extra.pop("at", NOW)):
        assert notify.queue_message(key, channel, address, "Subject line", "Body text", **extra)
        db.session.commit()
    [row] = messages(idempotency_key=key)
    return row


def send_due(channels: notify.Channels, at: datetime = NOW) -> list[str]:
    """One dispatcher pass at ``at``: claim what is due, deliver each, commit each."""
    with clock.pinned(at):
        claimed = notify.claim_due_messages()
        db.session.commit()
        statuses = []
        for message_id in claimed:
            statuses.append(notify.deliver(message_id, channels))
            db.session.commit()
    return statuses


def stored(message: OutboundMessage) -> OutboundMessage:
    db.session.expire_all()
    row = db.session.get(OutboundMessage, message.id)
    assert row is not None
    return row


@pytest.fixture
def channels(
    app: Flask, db_session: Any, http_recorder: HttpRecorder, smtp_recorder: SmtpRecorder
) -> notify.Channels:
    return live_channels(app, http_recorder, smtp_recorder)


# --- queueing ------------------------------------------------------------------------------------


def test_a_message_is_queued_once_per_idempotency_key(db_session: Any) -> None:
    with clock.pinned(NOW):
        assert notify.queue_message(
            "page:1:c0:s0:webhook", "webhook", "https://x.example/h", "S", "B"
        )
        assert not notify.queue_message(
            "page:1:c0:s0:webhook", "webhook", "https://other.example/h", "S2", "B2"
        )
        db.session.commit()
    [row] = messages(idempotency_key="page:1:c0:s0:webhook")
    assert (row.address, row.subject, row.status, row.due_at) == (
        "https://x.example/h",
        "S",
        "pending",
        NOW,
    )


def test_a_person_is_reached_on_each_contact_method_in_order_with_its_delay(
    db_session: Any,
) -> None:
    alice = person(
        name="Alice Methods",
        methods=(
            ("email", "Alice@Staff.Example", 0),
            ("sms", "07700 900123", 5),
            ("webhook", "https://chat.example/alice", 10),
        ),
    )
    with clock.pinned(NOW):
        assert notify.notify_person(alice, "page:7:c0:s0", "Subj", "Body", page_id=None) == 3
        assert notify.notify_person(alice, "page:7:c0:s0", "Subj", "Body") == 0  # same keys
        db.session.commit()
    assert [(m.channel, m.address, m.due_at, m.user_id) for m in messages()] == [
        ("email", "alice@staff.example", NOW, alice.id),
        ("sms", "+447700900123", NOW + timedelta(minutes=5), alice.id),
        ("webhook", "https://chat.example/alice", NOW + timedelta(minutes=10), alice.id),
    ]
    assert messages()[1].idempotency_key == f"page:7:c0:s0:{alice.id}:sms:+447700900123"


def test_without_contact_methods_the_account_email_and_phone_are_used(db_session: Any) -> None:
    with_phone = person(name="Phoebe Phone", phone="+447700900321")
    without = person(name="Eric Emailonly")
    with clock.pinned(NOW):
        notify.notify_person(with_phone, "k1", "S", "B")
        notify.notify_person(without, "k2", "S", "B")
        db.session.commit()
    assert [(m.user_id, m.channel, m.address) for m in messages()] == [
        (with_phone.id, "email", with_phone.email),
        (with_phone.id, "sms", "+447700900321"),
        (without.id, "email", without.email),
    ]


@pytest.mark.parametrize(
    ("channel", "address", "delay", "message"),
    [
        ("sms", "12345", 0, "Enter a valid phone number"),
        ("sms", "", 0, "Phone number is required."),
        ("email", "not-an-email", 0, "Enter a valid email address"),
        ("webhook", "http://chat.example/hook", 0, "Webhook URLs must start with https://"),
        ("webhook", "ftp://chat.example/hook", 0, "Webhook URLs must start with https://"),
        ("webhook", "https://chat.example/a b", 0, "contains spaces or control characters"),
        ("pigeon", "loft 3", 0, "Choose email, SMS or chat webhook."),
        ("email", "ok@staff.example", -1, "The delay must be between 0 and 120 minutes."),
        ("email", "ok@staff.example", 121, "The delay must be between 0 and 120 minutes."),
    ],
)
def test_a_bad_contact_method_is_refused_and_nothing_is_written(
    db_session: Any, channel: str, address: str, delay: int, message: str
) -> None:
    alice = person(name="Alice Contact")
    before = count(ContactMethod)
    with pytest.raises(DomainError, match=message):
        notify.save_contact_method(alice.id, channel, address, 0, delay, allow_http_webhooks=False)
    db.session.commit()
    assert count(ContactMethod) == before


def test_a_contact_method_for_nobody_or_twice_is_refused(db_session: Any) -> None:
    alice = person(name="Alice Twice", methods=(("sms", "+447700900123", 0),))
    before = count(ContactMethod)
    with pytest.raises(DomainError, match=r"No such staff member."):
        notify.save_contact_method(10**9, "sms", "07700 900123", 0, 0, allow_http_webhooks=False)
    with pytest.raises(DomainError, match=r"already") as twice:
        notify.save_contact_method(alice.id, "sms", "07700 900123", 1, 0, allow_http_webhooks=False)
    assert twice.value.field_errors["address"]
    db.session.commit()
    assert count(ContactMethod) == before


# --- claiming -------------------------------------------------------------------------------------


def test_a_due_message_is_claimed_by_one_caller_only(db_session: Any) -> None:
    due = queue("k-due", "email", "a@staff.example")
    later = queue("k-later", "email", "b@staff.example", due_at=NOW + timedelta(minutes=1))
    with clock.pinned(NOW):
        assert notify.claim_due_messages() == [due.id]
        assert notify.claim_due_messages() == []
        db.session.commit()
    row = stored(due)
    assert (row.status, row.attempts, row.claimed_at) == ("sending", 1, NOW)
    assert stored(later).status == "pending"


def test_messages_stuck_sending_become_unknown_and_are_never_resent(db_session: Any) -> None:
    old = queue("k-old", "sms", "+447700900123")
    recent = queue("k-recent", "sms", "+447700900124", at=NOW + timedelta(minutes=1))
    for claimed_at in (NOW, NOW + timedelta(minutes=2)):  # claimed, then the worker died
        with clock.pinned(claimed_at):
            assert len(notify.claim_due_messages()) == 1
            db.session.commit()
    with clock.pinned(NOW + timedelta(minutes=2, seconds=1)):  # over 2 minutes 'sending'
        assert notify.mark_stuck_messages_unknown() == 1
        db.session.commit()
        assert notify.claim_due_messages() == []
    assert (stored(old).status, stored(old).error) == (
        "unknown",
        "worker stopped mid-send; not resent",
    )
    assert stored(recent).status == "sending"


# --- delivering through real local servers --------------------------------------------------------


def test_an_sms_reaches_the_gateway_with_to_from_body_and_basic_auth(
    channels: notify.Channels, http_recorder: HttpRecorder
) -> None:
    row = queue("k-sms", "sms", "+447700900123")
    assert send_due(channels) == ["sent"]
    [request] = http_recorder.sms
    assert request.path == f"/2010-04-01/Accounts/{SID}/Messages.json"
    assert request.headers["content-type"] == "application/x-www-form-urlencoded"
    assert request.basic_auth == (SID, TOKEN)
    assert request.form == {"To": "+447700900123", "From": SENDER, "Body": "Body text"}
    sent = stored(row)
    assert (sent.status, sent.sent_at, sent.error) == ("sent", NOW, None)
    assert sent.provider_ref == request.reply["sid"]


def test_a_webhook_posts_json_text(channels: notify.Channels, http_recorder: HttpRecorder) -> None:
    row = queue("k-hook", "webhook", http_recorder.webhook_url("admissions"))
    assert send_due(channels) == ["sent"]
    [request] = http_recorder.webhooks
    assert request.path == "/hooks/admissions"
    assert request.headers["content-type"] == "application/json"
    assert request.json == {"text": "*Subject line*\nBody text"}
    assert stored(row).status == "sent"


def test_an_email_arrives_with_its_subject_and_body(
    channels: notify.Channels, smtp_recorder: SmtpRecorder
) -> None:
    row = queue("k-mail", "email", "alice@staff.example")
    assert send_due(channels) == ["sent"]
    [mail] = smtp_recorder.received()
    assert (mail.sender, mail.recipients) == ("admissions-crm@crm.example", ["alice@staff.example"])
    assert (mail.subject, mail.body.strip()) == ("Subject line", "Body text")
    assert mail.message["To"] == "alice@staff.example"
    assert stored(row).status == "sent"


def test_a_gateway_error_is_retried_with_backoff_then_failed_after_three_attempts(
    channels: notify.Channels, http_recorder: HttpRecorder
) -> None:
    row = queue("k-retry", "sms", "+447700900123")
    http_recorder.respond_with(500)
    assert send_due(channels) == ["pending"]
    first = stored(row)
    assert (first.attempts, first.due_at, first.error) == (
        1,
        NOW + timedelta(seconds=30),
        "HTTP 500 from provider",
    )
    assert send_due(channels, NOW + timedelta(seconds=29)) == []  # not before its backoff
    assert send_due(channels, NOW + timedelta(seconds=30)) == ["pending"]
    second = stored(row)
    assert (second.attempts, second.due_at) == (2, NOW + timedelta(seconds=90))
    assert send_due(channels, NOW + timedelta(seconds=90)) == ["failed"]
    third = stored(row)
    assert (third.status, third.attempts, third.sent_at) == ("failed", 3, None)
    http_recorder.respond_with(None)
    assert send_due(channels, NOW + timedelta(hours=1)) == []  # never a fourth try
    assert [r.status for r in http_recorder.sms] == [500, 500, 500]


def test_a_transient_failure_then_success_sends_once(
    channels: notify.Channels, http_recorder: HttpRecorder
) -> None:
    row = queue("k-recover", "sms", "+447700900123")
    http_recorder.respond_with(429)
    assert send_due(channels) == ["pending"]
    http_recorder.respond_with(None)
    assert send_due(channels, NOW + timedelta(seconds=30)) == ["sent"]
    assert [r.status for r in http_recorder.sms] == [429, 201]
    assert (stored(row).status, stored(row).attempts) == ("sent", 2)


def test_a_rejected_request_fails_at_once(
    channels: notify.Channels, http_recorder: HttpRecorder
) -> None:
    row = queue("k-400", "sms", "+447700900123")
    http_recorder.respond_with(400)
    assert send_due(channels) == ["failed"]
    assert (stored(row).status, stored(row).error) == ("failed", "HTTP 400 from provider")
    assert send_due(channels, NOW + timedelta(hours=1)) == []
    assert len(http_recorder.sms) == 1


def test_an_unreachable_gateway_is_a_transient_failure(
    channels: notify.Channels, http_recorder: HttpRecorder
) -> None:
    row = queue("k-down", "sms", "+447700900123")
    with http_recorder.down():
        assert send_due(channels) == ["pending"]
    assert stored(row).error is not None and "could not reach provider" in str(stored(row).error)
    assert send_due(channels, NOW + timedelta(seconds=30)) == ["sent"]
    assert len(http_recorder.sms) == 1


def test_smtp_refusals_and_deferrals(
    channels: notify.Channels, smtp_recorder: SmtpRecorder
) -> None:
    refused = queue("k-refused", "email", "nobody@staff.example")
    smtp_recorder.reject_recipients = True
    assert send_due(channels) == ["failed"]
    assert "recipient refused" in str(stored(refused).error)
    smtp_recorder.reject_recipients = False
    deferred = queue("k-deferred", "email", "alice@staff.example")
    smtp_recorder.defer_data = True
    assert send_due(channels) == ["pending"]
    assert "451" in str(stored(deferred).error)
    smtp_recorder.defer_data = False
    assert send_due(channels, NOW + timedelta(seconds=30)) == ["sent"]
    assert [m.recipients for m in smtp_recorder.received()] == [["alice@staff.example"]]


def test_an_unreachable_mail_server_is_a_transient_failure(
    app: Flask, db_session: Any, http_recorder: HttpRecorder
) -> None:
    stopped = SmtpRecorder()  # never started: nothing listens on its port
    row = queue("k-nosmtp", "email", "alice@staff.example")
    assert send_due(live_channels(app, http_recorder, stopped)) == ["pending"]
    assert "SMTP failed" in str(stored(row).error)


def test_a_channel_that_is_not_configured_fails_the_message(app: Flask, db_session: Any) -> None:
    row = queue("k-nosms", "sms", "+447700900123")
    settings = dataclasses.replace(
        app.config["CRM_SETTINGS"], notify_delivery="live", sms_provider="none"
    )
    assert send_due(notify.Channels.from_settings(settings)) == ["failed"]
    assert stored(row).error == "no sms channel configured"


def test_the_dev_outbox_holds_messages_and_sends_nothing_anywhere(
    app: Flask, channels: notify.Channels, http_recorder: HttpRecorder, smtp_recorder: SmtpRecorder
) -> None:
    held = dataclasses.replace(channels, hold=True)
    rows = [
        queue("k-h1", "sms", "+447700900123"),
        queue("k-h2", "email", "alice@staff.example"),
        queue("k-h3", "webhook", http_recorder.webhook_url()),
    ]
    assert send_due(held) == ["held", "held", "held"]
    assert [(stored(r).status, stored(r).provider_ref, stored(r).sent_at) for r in rows] == [
        ("held", "dev-outbox", None)
    ] * 3
    assert http_recorder.requests == [] and smtp_recorder.received() == []
    # Development settings choose the outbox.
    dev = dataclasses.replace(app.config["CRM_SETTINGS"], notify_delivery="dev_outbox")
    assert notify.Channels.from_settings(dev).hold is True


def test_a_page_message_is_not_sent_once_the_page_is_acknowledged(
    channels: notify.Channels, http_recorder: HttpRecorder
) -> None:
    alice = person(name="Alice Acker", methods=(("sms", "+447700900123", 0),))
    with clock.pinned(NOW):
        page = paging.trigger_page("safeguarding:3", "Safeguarding flag")
        db.session.commit()
    row = queue("k-page", "sms", "+447700900123", page_id=page.id)
    with clock.pinned(NOW):
        claimed = notify.claim_due_messages()
        db.session.commit()
        paging.acknowledge(page.id, alice.id, Actor(alice.id))
        db.session.commit()
        assert [notify.deliver(i, channels) for i in claimed] == ["failed"]
        db.session.commit()
        assert notify.deliver(row.id, channels) == "skipped"  # not 'sending' any more
    assert stored(row).error == "cancelled: page already acknowledged"
    assert http_recorder.requests == []
