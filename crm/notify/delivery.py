"""Delivering due messages: claimed in batches, sent on a thread pool, outcomes written together.

The order that makes a crash safe (ARCHITECTURE.md rule 5): messages are claimed
``pending → sending`` and committed before any provider call, never more at once than the
sender threads free to send them at once (the sends wait on the network, not the CPU); the
outcomes are written back with one statement. A worker killed mid-send leaves at most a pool's
worth ``sending``, later ``unknown``, never resent. ``crm.oncall.dispatch`` runs the pipeline;
``deliver_claimed`` sends a batch in the caller's transaction (a page's messages, holding the
page).

Threads only call the providers: the database session never leaves the calling thread.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from types import TracebackType
from typing import Any, cast

from sqlalchemy import Table, bindparam, func, select, text, update

from crm import clock
from crm.database import UTCDateTime, claim_due
from crm.extensions import db
from crm.notify.channels import (
    Attachment,
    Channel,
    ChatWebhook,
    Connections,
    DeliveryError,
    Message,
    SmtpEmail,
    TwilioSms,
)
from crm.notify.models import MessageAttachment, OutboundMessage

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 3
SENDING_TIMEOUT = timedelta(minutes=2)
SENDER_THREADS = 16  # sends in flight at once per worker process


@dataclass(frozen=True)
class Channels:
    """The configured adapters; ``hold`` keeps messages in the dev outbox instead of sending."""

    by_name: dict[str, Channel]
    hold: bool

    @classmethod
    def from_settings(cls, s: Any) -> Channels:
        by_name: dict[str, Channel] = {
            "email": SmtpEmail(
                s.smtp_host,
                s.smtp_port,
                s.smtp_from,
                s.smtp_username,
                s.smtp_password,
                s.smtp_starttls,
            ),
            "webhook": ChatWebhook(),
        }
        if s.sms_provider == "twilio":
            by_name["sms"] = TwilioSms(
                s.twilio_account_sid, s.twilio_auth_token, s.twilio_from, s.twilio_api_base
            )
        return cls(by_name, hold=s.notify_delivery == "dev_outbox")


@dataclass(frozen=True)
class Claimed:
    """A message claimed for sending, with everything the send needs."""

    id: int
    channel: str
    address: str
    subject: str
    body: str
    attempts: int
    page_id: int | None
    attachments: tuple[Attachment, ...] = ()

    @property
    def message(self) -> Message:
        return Message(self.address, self.subject, self.body, self.attachments)


@dataclass
class Outcome:
    status: str
    provider_ref: str | None = None
    error: str | None = None
    sent_at: datetime | None = None
    due_at: datetime | None = None  # set when a retry is due later


class Senders:
    """A small pool of threads for provider calls, sharing keep-alive HTTP connections
    (``crm.notify.channels.Connections``, which locks its own state); closing the pool closes
    them."""

    def __init__(self, threads: int = SENDER_THREADS) -> None:
        self.threads = threads
        self.connections = Connections()
        self._pool = ThreadPoolExecutor(threads, thread_name_prefix="notify-send")

    def submit(self, channel: Channel, message: Message) -> Future[str | Exception]:
        """Start one send; its future holds the provider reference or the exception raised."""
        return self._pool.submit(_attempt, channel, message, self.connections)

    def send_all(self, jobs: Sequence[tuple[Channel, Message]]) -> list[str | Exception]:
        """Each job's provider reference, or the exception its send raised; in job order."""
        if len(jobs) == 1:
            return [_attempt(*jobs[0], self.connections)]
        futures = [self.submit(channel, message) for channel, message in jobs]
        return [future.result() for future in futures]

    def close(self) -> None:
        self._pool.shutdown(wait=True)
        self.connections.close()

    def __enter__(self) -> Senders:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def _messages() -> Table:
    return cast(Table, OutboundMessage.__table__)


def _attempt(
    channel: Channel, message: Message, connections: Connections | None = None
) -> str | Exception:
    try:
        return channel.send(message, connections)
    except Exception as exc:  # recorded per message: one bad send must not lose the batch
        return exc


def claim_messages(limit: int = SENDER_THREADS) -> list[Claimed]:
    """Claim up to ``limit`` due pending messages (pending → sending) with one UPDATE; each is
    claimed by one caller only, on either database (``crm.database.claim_due``)."""
    now = clock.now()
    # Core statements on the table throughout: an ORM entity anywhere in them sends the UPDATE
    # down the ORM's bulk path, which costs more CPU than the claim itself.
    table = _messages()
    rows = claim_due(
        db.session,
        table,
        table.c.due_at,
        now,
        limit,
        {"status": "sending", "claimed_at": now, "attempts": table.c.attempts + 1},
        (
            table.c.id,
            table.c.channel,
            table.c.address,
            table.c.subject,
            table.c.body,
            table.c.attempts,
            table.c.page_id,
        ),
    )
    return _claimed(rows)


def _claimed(rows: Sequence[Any]) -> list[Claimed]:
    """Claimed rows in due order (RETURNING keeps no order)."""
    rows = sorted(rows, key=lambda row: (row.due_at, row.id))
    return [
        Claimed(r.id, r.channel, r.address, r.subject, r.body, r.attempts, r.page_id) for r in rows
    ]


def claim_due_messages(limit: int = 100) -> list[int]:
    """Claim due pending messages (pending → sending); each id is claimed by one caller only."""
    return [message.id for message in claim_messages(limit)]


def _hold_pages_while_sending(page_ids: set[int]) -> set[int]:
    """The pages among ``page_ids`` still triggered; their rows stay locked until commit.

    The conditional UPDATE takes each page's row lock (the database lock on SQLite) for the
    rest of this transaction, so an acknowledgement racing these sends waits for them to
    finish: nothing is sent after an acknowledgement commits. Ids in order, so two batches
    lock shared pages in the same order.
    """
    if not page_ids:
        return set()
    from crm.oncall.models import Page

    table = cast(Table, Page.__table__)
    rows = db.session.execute(
        update(table)
        .where(table.c.id.in_(sorted(page_ids)), table.c.status == "triggered")
        .values(last_notified_at=clock.now())
        .returning(table.c.id)
    )
    return set(rows.scalars())


def outcome_of(message: Claimed, result: str | Exception) -> Outcome:
    """What a send's result (the provider's reference, or the error) makes of the message."""
    if not isinstance(result, Exception):
        return Outcome("sent", provider_ref=result[:100], sent_at=clock.now())
    return _failure(message, result)


def _failure(message: Claimed, exc: Exception) -> Outcome:
    if not isinstance(exc, DeliveryError):
        # A fault of ours after the call began: it may have reached the provider. Never resent.
        log.exception("unexpected error sending message %s", message.id, exc_info=exc)
        return Outcome("unknown", error=f"unexpected error: {exc}"[:500])
    if exc.maybe_sent:  # no answer: it may have reached the provider. Never resent.
        return Outcome("unknown", error=str(exc)[:500])
    if exc.transient and message.attempts < MAX_ATTEMPTS:
        retry_at = clock.now() + timedelta(seconds=30 * message.attempts)
        return Outcome("pending", error=str(exc)[:500], due_at=retry_at)
    return Outcome("failed", error=str(exc)[:500])


@dataclass
class Plan:
    """Claimed messages sorted: outcomes known without a send, and the sends to make."""

    outcomes: dict[int, Outcome] = field(default_factory=dict)
    to_send: list[tuple[Claimed, Channel]] = field(default_factory=list)


def plan(batch: Sequence[Claimed], channels: Channels, live_pages: set[int]) -> Plan:
    """Which claimed messages to send, and on which adapter. A page's message is sent only if
    its page is in ``live_pages`` (held by ``deliver_claimed``); others are cancelled."""
    sorted_out = Plan()
    for message in batch:
        adapter = channels.by_name.get(message.channel)
        if message.page_id is not None and message.page_id not in live_pages:
            sorted_out.outcomes[message.id] = Outcome(
                "failed", error="cancelled: page already acknowledged"
            )
        elif channels.hold:
            sorted_out.outcomes[message.id] = Outcome("held", provider_ref="dev-outbox")
        elif adapter is None:
            sorted_out.outcomes[message.id] = Outcome(
                "failed", error=f"no {message.channel} channel configured"
            )
        else:
            sorted_out.to_send.append((message, adapter))
    return sorted_out


def with_attachments(batch: Sequence[Claimed]) -> list[Claimed]:
    """The batch with each email's attachments loaded (one query, only when emails are in it)."""
    emails = [m.id for m in batch if m.channel == "email"]
    if not emails:
        return list(batch)
    found: dict[int, list[Attachment]] = {}
    rows = db.session.execute(
        select(
            MessageAttachment.message_id,
            MessageAttachment.filename,
            MessageAttachment.content_type,
            MessageAttachment.content,
        )
        .where(MessageAttachment.message_id.in_(emails))
        .order_by(MessageAttachment.id)
    )
    for message_id, filename, content_type, content in rows:
        found.setdefault(message_id, []).append(Attachment(filename, content_type, content))
    return [replace(m, attachments=tuple(found[m.id])) if m.id in found else m for m in batch]


def deliver_claimed(
    batch: Sequence[Claimed], channels: Channels, senders: Senders | None = None
) -> list[str]:
    """Send claimed messages (concurrently on ``senders``) and record every outcome with one
    UPDATE, in the caller's transaction; returns the new statuses in batch order."""
    batch = with_attachments(batch)
    live_pages = _hold_pages_while_sending({m.page_id for m in batch if m.page_id is not None})
    sends = plan(batch, channels, live_pages)
    jobs = [(adapter, message.message) for message, adapter in sends.to_send]
    if senders is None:
        results = [_attempt(adapter, message) for adapter, message in jobs]
    else:
        results = senders.send_all(jobs)
    for (message, _), result in zip(sends.to_send, results, strict=True):
        sends.outcomes[message.id] = outcome_of(message, result)
    record_outcomes(sends.outcomes)
    return [sends.outcomes[message.id].status for message in batch]


# PostgreSQL takes a batch's outcomes as arrays in one statement (one round trip, one plan).
_RECORD_SQL = (
    "UPDATE outbound_messages AS m SET status = o.status,"
    " provider_ref = coalesce(o.provider_ref, m.provider_ref),"
    " error = coalesce(o.error, m.error),"
    " sent_at = coalesce(o.sent_at, m.sent_at),"
    " due_at = coalesce(o.due_at, m.due_at)"
    " FROM unnest(CAST(:ids AS integer[]), CAST(:statuses AS varchar[]),"
    " CAST(:refs AS varchar[]), CAST(:errors AS varchar[]),"
    " CAST(:sent AS timestamptz[]), CAST(:due AS timestamptz[]))"
    " AS o(id, status, provider_ref, error, sent_at, due_at)"
    " WHERE m.id = o.id AND m.status = 'sending'"
)
_RECORD_ON_POSTGRESQL = text(_RECORD_SQL)


def record_outcomes(outcomes: dict[int, Outcome]) -> None:
    """Write every outcome with one statement, only on rows this caller still holds
    (``sending``): arrays unnested on PostgreSQL, an executemany on SQLite (in-process)."""
    if not outcomes:
        return
    if db.session.get_bind().dialect.name == "postgresql":
        db.session.execute(_RECORD_ON_POSTGRESQL, _outcome_arrays(outcomes))
        return
    table = _messages()
    when = UTCDateTime()
    statement = (
        update(table)
        .where(table.c.id == bindparam("b_id"), table.c.status == "sending")
        .values(
            status=bindparam("b_status"),
            provider_ref=func.coalesce(bindparam("b_ref"), table.c.provider_ref),
            error=func.coalesce(bindparam("b_error"), table.c.error),
            sent_at=func.coalesce(bindparam("b_sent_at", type_=when), table.c.sent_at),
            due_at=func.coalesce(bindparam("b_due_at", type_=when), table.c.due_at),
        )
    )
    db.session.execute(
        statement,
        [
            {
                "b_id": message_id,
                "b_status": o.status,
                "b_ref": o.provider_ref,
                "b_error": o.error,
                "b_sent_at": o.sent_at,
                "b_due_at": o.due_at,
            }
            for message_id, o in outcomes.items()
        ],
    )


# PostgreSQL: the finished outcomes written and the next messages claimed in one statement (one
# round trip for both). The two sets of rows are apart (``sending`` against ``pending``), and a
# retry the outcomes make ``pending`` again is due later, so the claim cannot take it back.
_REFILL_ON_POSTGRESQL = text(
    # Constants only, no input: the record statement above as the first CTE.
    "WITH recorded AS (" + _RECORD_SQL + " RETURNING m.id),"  # noqa: S608
    " due AS MATERIALIZED (SELECT id FROM outbound_messages"
    " WHERE status = 'pending' AND due_at <= :now ORDER BY due_at, id LIMIT :limit"
    " FOR UPDATE SKIP LOCKED)"
    " UPDATE outbound_messages AS t SET status = 'sending', claimed_at = :now,"
    " attempts = t.attempts + 1 FROM due WHERE t.id = due.id AND t.status = 'pending'"
    " RETURNING t.id, t.channel, t.address, t.subject, t.body, t.attempts, t.page_id, t.due_at"
)


def _outcome_arrays(outcomes: dict[int, Outcome]) -> dict[str, list[Any]]:
    values = outcomes.values()
    return {
        "ids": list(outcomes),
        "statuses": [o.status for o in values],
        "refs": [o.provider_ref for o in values],
        "errors": [o.error for o in values],
        "sent": [o.sent_at for o in values],
        "due": [o.due_at for o in values],
    }


def record_and_claim(outcomes: dict[int, Outcome], limit: int) -> list[Claimed]:
    """Write ``outcomes`` and claim up to ``limit`` due messages, in the caller's transaction:
    one statement on PostgreSQL, ``record_outcomes`` then ``claim_messages`` elsewhere."""
    if not limit or db.session.get_bind().dialect.name != "postgresql":
        record_outcomes(outcomes)
        return claim_messages(limit) if limit else []
    rows = db.session.execute(
        _REFILL_ON_POSTGRESQL,
        {**_outcome_arrays(outcomes), "now": clock.now(), "limit": limit},
    ).all()
    return _claimed(rows)


def deliver(message_id: int, channels: Channels) -> str:
    """Send one claimed message and record the outcome; returns the new status."""
    message = db.session.get(OutboundMessage, message_id)
    if message is None or message.status != "sending":
        return "skipped"
    claimed = Claimed(
        message.id,
        message.channel,
        message.address,
        message.subject,
        message.body,
        message.attempts,
        message.page_id,
    )
    [status] = deliver_claimed([claimed], channels)
    db.session.expire(message)
    return status


def mark_stuck_messages_unknown() -> int:
    """Messages left ``sending`` by a crashed worker: their fate is unknown; never resend."""
    cutoff = clock.now() - SENDING_TIMEOUT
    result = db.session.execute(
        update(OutboundMessage)
        .where(OutboundMessage.status == "sending", OutboundMessage.claimed_at < cutoff)
        .values(status="unknown", error="worker stopped mid-send; not resent")
    )
    return int(getattr(result, "rowcount", 0) or 0)
