"""The callback inbox: a public callback request is accepted with one committed row, and the
engine turns each row into the lead within a second.

``accept`` is all the endpoint does before its 201: one INSERT ... SELECT that works out the
answer and writes the row, so a burst of requests costs the database a statement each.
``build_next_lead`` is the engine's part (ARCHITECTURE.md rule 4): it claims one waiting row
by compare-and-set and, in the caller's transaction, records the lead exactly as a synchronous
capture would (contact and de-duplication, owner, stage change, consents, disclosure,
reminder, out-of-hours page, audit), marking the row processed. A row that fails is retried
with backoff; after ``MAX_ATTEMPTS`` it is ``stuck``: shown to managers (and paged) with its
error, never dropped. No savepoint: a failed build is rolled back whole and its failure
recorded in a transaction of its own.
"""

from __future__ import annotations

import logging
import time
from contextlib import nullcontext
from dataclasses import dataclass, fields
from datetime import datetime, timedelta
from functools import cache
from typing import Any, cast

import psycopg
from psycopg.types.json import Json
from sqlalchemy import (
    Table,
    bindparam,
    func,
    literal_column,
    or_,
    select,
    union_all,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.postgresql.psycopg import dialect as psycopg_dialect
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError

from crm import clock
from crm.database import claim_due, session_autocommit_twin, unit_of_work
from crm.errors import DomainError, ErrorKind
from crm.extensions import db
from crm.intake import services
from crm.intake.callback import CallbackRequestData
from crm.intake.models import CallbackInbox, Contact, Lead
from crm.intake.references import new_reference
from crm.oncall import paging
from crm.privacy.services import Actor, record_audit_event
from crm.queue import INTAKE_KICK, enqueue_after_commit, enqueue_committed

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 5
# Seconds before the next try after the 1st, 2nd, 3rd and 4th failure; the 5th makes it stuck.
BACKOFF_SECONDS = (5, 30, 120, 600)
OPEN_STATUSES = ("pending", "building", "stuck")
ERROR_LENGTH = 300


@dataclass(frozen=True)
class InboxAnswer:
    """What the endpoint answers: the lead reference, and whether it is a repeat."""

    reference: str
    requested_again: bool
    replayed: bool = False


# --- the endpoint's part ---------------------------------------------------------------------


def replay(api_key_id: int | None, idempotency_key: str, request_hash: str) -> InboxAnswer | None:
    """The answer already given for this key; DomainError (conflict) if the body differs."""
    row = db.session.execute(
        select(
            CallbackInbox.reference, CallbackInbox.requested_again, CallbackInbox.request_hash
        ).where(
            CallbackInbox.api_key_id == api_key_id,
            CallbackInbox.idempotency_key == idempotency_key,
        )
    ).first()
    if row is None:
        return None
    if row.request_hash != request_hash:
        raise DomainError(
            "This Idempotency-Key was already used with a different request body.",
            ErrorKind.CONFLICT,
        )
    return InboxAnswer(row.reference, row.requested_again, replayed=True)


def _inline(values: tuple[str, ...]) -> list[Any]:
    """Our own vocabulary's values as SQL literals: one statement text whatever is bound."""
    return [literal_column(f"'{value}'") for value in values]


@cache
def _answer_query(with_email: bool) -> Any:
    """The endpoint's one read, built once (bind parameters: phone, email, candidate): the
    reference of the person's open lead, of a request of theirs still in the inbox, and
    whether a lead already has the candidate reference."""
    contacts, leads, box = (
        cast(Table, Contact.__table__),
        cast(Table, Lead.__table__),
        cast(Table, CallbackInbox.__table__),
    )
    # The person as services.find_contact finds them: by phone, else by email.
    found = [
        select(contacts.c.id.label("id"), literal_column("0").label("pref")).where(
            contacts.c.phone == bindparam("phone")
        )
    ]
    waiting = [box.c.phone == bindparam("phone")]
    if with_email:
        found.append(
            select(contacts.c.id, literal_column("1")).where(contacts.c.email == bindparam("email"))
        )
        waiting.append(box.c.email == bindparam("email"))
    people = union_all(*found).subquery()
    person = select(people.c.id).order_by(people.c.pref).limit(1).scalar_subquery()
    open_lead = (
        select(leads.c.reference)
        .where(
            or_(leads.c.caller_id == person, leads.c.client_id == person),
            leads.c.stage.in_(_inline(services.OPEN_STAGE_VALUES)),
            leads.c.merged_into_id.is_(None),
        )
        .order_by(leads.c.created_at.desc())
        .limit(1)
        .scalar_subquery()
    )
    earlier = (
        select(box.c.reference)
        .where(box.c.status.in_(_inline(OPEN_STATUSES)), or_(*waiting))
        .order_by(box.c.id)
        .limit(1)
        .scalar_subquery()
    )
    taken = select(leads.c.id).where(leads.c.reference == bindparam("candidate")).exists()
    return select(open_lead.label("open_lead"), earlier.label("earlier"), taken.label("taken"))


# The inbox row's columns the endpoint writes, in the order of the one INSERT.
_ACCEPT_COLUMNS = (
    "received_at",
    "source",
    "channel",
    "api_key_id",
    "idempotency_key",
    "request_hash",
    "consent_wording_version",
    "disclosure_wording_version",
    "target_minutes",
    "request",
    "phone",
    "email",
    "remote_addr",
    "request_id",
    "status",
    "attempts",
    "next_attempt_at",
)


@cache
def _accept_statement(dialect: str, with_email: bool) -> Any:
    """The endpoint's one statement: INSERT ... SELECT the answer ... ON CONFLICT DO NOTHING
    RETURNING reference, requested_again. The answer (``_answer_query``) is worked out in the
    statement itself: the open lead's reference, else the inbox's, else the candidate. It
    inserts nothing when the key was used already or (rarely) the candidate is a lead's
    reference: ``accept`` then takes the two-statement path, which tells the two apart."""
    table = cast(Table, CallbackInbox.__table__)
    answer = _answer_query(with_email).subquery("answer")
    repeat = or_(answer.c.open_lead.is_not(None), answer.c.earlier.is_not(None))
    values = [bindparam(name, type_=table.c[name].type) for name in _ACCEPT_COLUMNS]
    reference = func.coalesce(
        answer.c.open_lead, answer.c.earlier, bindparam("candidate", type_=table.c.reference.type)
    )
    chosen = (
        select(*values, reference, repeat)
        .select_from(answer)
        .where(or_(repeat, answer.c.taken.is_(False)))
    )
    columns = [*_ACCEPT_COLUMNS, "reference", "requested_again"]
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    return (
        insert(table)
        .from_select(columns, chosen, include_defaults=False)
        .on_conflict_do_nothing()
        .returning(table.c.reference, table.c.requested_again)
    )


@cache
def _prepared(name: str, with_email: bool) -> tuple[str, dict[str, Any]]:
    """On PostgreSQL the endpoint's statements are server-side prepared (a plan made once per
    connection: planning the answer took 1.5 ms, running it 0.2) and run on the driver's
    cursor, with none of SQLAlchemy's per-execution work. The app prepares nothing else
    (config.py: searches need plans made for their terms); every look-up here is equality on
    an indexed, near-unique column, which one generic plan serves for any value."""
    compiled = _statement(name, "postgresql", with_email).compile(dialect=psycopg_dialect())  # type: ignore[no-untyped-call]
    return str(compiled), dict(compiled.params)


def _run(
    name: str, with_email: bool, params: dict[str, Any], connection: Connection | psycopg.Connection
) -> Any:
    """One of the endpoint's statements on ``connection`` (SQLAlchemy's, or on PostgreSQL the
    driver's own): its row, or None."""
    if isinstance(connection, Connection):
        if connection.dialect.name != "postgresql":
            statement = _statement(name, connection.dialect.name, with_email)
            return connection.execute(statement, params).first()
        connection = cast(psycopg.Connection, connection.connection.driver_connection)
    sql, fixed = _prepared(name, with_email)
    bound = {k: Json(v) if isinstance(v, dict) else v for k, v in params.items()}
    with connection.cursor() as cursor:
        cursor.execute(sql, fixed | bound, prepare=True)
        return cursor.fetchone()


def _statement(name: str, dialect: str, with_email: bool) -> Any:
    if name == "accept":
        return _accept_statement(dialect, with_email)
    if name == "insert":
        return _insert_statement(dialect)
    return _answer_query(with_email)


@cache
def _insert_statement(dialect: str) -> Any:
    """INSERT ... ON CONFLICT DO NOTHING RETURNING id: a replayed key inserts nothing."""
    table = cast(Table, CallbackInbox.__table__)
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    columns = (*_ACCEPT_COLUMNS, "reference", "requested_again")
    return (
        insert(table)
        .values({name: bindparam(name, type_=table.c[name].type) for name in columns})
        .on_conflict_do_nothing()
        .returning(table.c.id)
    )


def _answer_for(
    data: CallbackRequestData, connection: Connection | psycopg.Connection
) -> tuple[str, bool]:
    """The reference to give: the person's open lead, a request of theirs still in the inbox,
    or a new one no lead has. The engine applies the same rules
    (``services.capture_callback_request``) when it builds the lead."""
    candidate = new_reference()
    row = _run(
        "answer",
        bool(data.email),
        {"phone": data.phone, "email": data.email, "candidate": candidate},
        connection,
    )
    if row[0] is not None:
        return row[0], True
    if row[1] is not None:
        return row[1], True
    return (services.unique_reference() if row[2] else candidate), False


def accept(
    data: CallbackRequestData,
    *,
    source: str,
    channel: str,
    target_minutes: int,
    api_key_id: int | None = None,
    idempotency_key: str | None = None,
    request_hash: str | None = None,
    remote_addr: str | None = None,
    request_id: str | None = None,
    commit: bool = False,
) -> InboxAnswer:
    """Write the one inbox row for a validated request; a kick follows the commit.

    By default the row joins the session's transaction (the hosted form and staff-logged
    enquiries). ``commit=True`` (the public endpoint) commits it before returning: in a
    serving process on PostgreSQL as a statement that is its own transaction, on the
    engine's autocommit twin (``crm.database.autocommit_twin``): one round trip, where a
    session's transaction costs a ping, BEGIN and COMMIT more. Where the session is bound to
    a connection of its own (a test's outer transaction), or on SQLite, it commits a unit of
    work on the session instead: the same statement, the same answer.
    """
    now = clock.now()
    values: dict[str, Any] = {
        "received_at": now,
        "source": source,
        "channel": channel,
        "api_key_id": api_key_id,
        "idempotency_key": idempotency_key,
        "request_hash": request_hash,
        "consent_wording_version": data.consent_wording_version,
        "disclosure_wording_version": data.disclosure_wording_version,
        "target_minutes": target_minutes,
        "request": stored_request(data),
        "phone": data.phone,
        "email": data.email,
        "remote_addr": remote_addr,
        "request_id": request_id,
        "status": "pending",
        "attempts": 0,
        "next_attempt_at": now,
    }
    twin = session_autocommit_twin(db.session) if commit else None
    if twin is not None:
        pooled = twin.raw_connection()
        try:
            answer = _write(data, values, cast(psycopg.Connection, pooled.driver_connection))
        finally:
            pooled.close()
        _kick(committed=True)
        return answer
    with unit_of_work() if commit else nullcontext():
        answer = _write(data, values, db.session.connection())
        _kick(committed=False)
    return answer


def _write(
    data: CallbackRequestData,
    values: dict[str, Any],
    connection: Connection | psycopg.Connection,
) -> InboxAnswer:
    """The row on ``connection``: one statement answers and inserts.

    When it inserts nothing, the two-statement path (the answer, then a plain INSERT) runs: a
    replayed Idempotency-Key finds its row taken again and the caller (in a new transaction)
    answers from that row with ``replay``, or refuses a different body; a candidate reference
    a lead already has is replaced by an unused one.
    """
    row = _run("accept", bool(data.email), values | {"candidate": new_reference()}, connection)
    if row is not None:
        return InboxAnswer(row[0], bool(row[1]))
    reference, again = _answer_for(data, connection)
    stored = _run(
        "insert",
        bool(data.email),
        values | {"reference": reference, "requested_again": again},
        connection,
    )
    if stored is None:
        raise DomainError(
            "A request with this Idempotency-Key is already being handled.",
            ErrorKind.CONFLICT,
        )
    return InboxAnswer(reference, again)


# A kick costs the request about a millisecond of CPU (Celery's message), more than the rest
# of the endpoint's own work; and a worker building leads takes every row that arrives while
# it works. So each web process sends at most one kick per KICK_EVERY_SECONDS, and the worker
# building from a kick keeps looking for LINGER_SECONDS after its last lead
# (``crm.oncall.engine.run_inbox``): longer, so a request whose kick was skipped is built by
# the loop the last kick started. The engine tick looks too, whatever happens to a kick.
KICK_EVERY_SECONDS = 0.2
LINGER_SECONDS = 0.5
_last_kick = [float("-inf")]


def _kick(*, committed: bool) -> None:
    now = time.monotonic()
    if now - _last_kick[0] >= KICK_EVERY_SECONDS:
        _last_kick[0] = now
        if committed:
            enqueue_committed(INTAKE_KICK)
        else:
            enqueue_after_commit(db.session(), INTAKE_KICK)


def stored_request(data: CallbackRequestData) -> dict[str, Any]:
    """The request as JSON values (its fields are text, numbers, booleans and a tuple of
    substances and a mapping: ``dataclasses.asdict``'s deep copy is not needed, and cost 0.4 ms)."""
    values = {name: getattr(data, name) for name in _REQUEST_FIELDS}
    values["substances"] = list(data.substances)
    values["utm"] = dict(data.utm)
    return values


_REQUEST_FIELDS = tuple(f.name for f in fields(CallbackRequestData))


def request_from(stored: dict[str, Any] | None) -> CallbackRequestData:
    """The validated request back from its row; ValueError if the row does not hold one."""
    if not isinstance(stored, dict):
        raise ValueError("the inbox row holds no request")
    try:
        values = dict(stored)
        values["substances"] = tuple(values.get("substances") or ())
        return CallbackRequestData(**values)
    except TypeError as exc:
        raise ValueError(f"the stored request does not fit this version: {exc}") from exc


# --- the engine's part -----------------------------------------------------------------------


def _actor(row: CallbackInbox) -> Actor:
    if row.api_key_id is not None:
        return Actor(
            email=f"api-key:{row.api_key_id}",
            role="website",
            ip=row.remote_addr,
            request_id=row.request_id,
        )
    return Actor(ip=row.remote_addr, request_id=row.request_id)  # the hosted form: anonymous


def _build(row: CallbackInbox) -> Lead:
    data = request_from(row.request)
    result = services.capture_callback_request(
        data,
        source=row.source,
        channel=row.channel,
        target_minutes=row.target_minutes,
        actor=_actor(row),
        api_key_id=row.api_key_id,
        received_at=clock.as_utc(row.received_at),
        reference=row.reference,
    )
    if row.api_key_id is not None:
        services.note_api_key_used(row.api_key_id)
    return result.lead


def describe(exc: BaseException) -> str:
    """The error for managers: its kind and first line (a database error's parameters and
    detail lines, which may hold the person's details, are left out)."""
    message = str(exc.orig if isinstance(exc, DBAPIError) and exc.orig else exc)
    first = (message.strip().splitlines() or [""])[0]
    return f"{type(exc).__name__}: {first}"[:ERROR_LENGTH]


def backoff(attempts: int) -> timedelta:
    return timedelta(seconds=BACKOFF_SECONDS[min(attempts, len(BACKOFF_SECONDS)) - 1])


def _claim(now: datetime) -> int | None:
    """Compare-and-set the oldest waiting row ``pending → building``: its id, or None."""
    table = cast(Table, CallbackInbox.__table__)
    if db.session.get_bind().dialect.name == "postgresql":
        claimed = claim_due(
            db.session, table, table.c.next_attempt_at, now, 1, {"status": "building"}, [table.c.id]
        )
        return int(claimed[0].id) if claimed else None
    # SQLite: a statement that begins with UPDATE, so that pysqlite opens the transaction
    # before it (it runs a WITH ... UPDATE on its own, committed at once, and the claim would
    # outlive a crash); the database's write lock makes it the only claimer.
    oldest = (
        select(table.c.id)
        .where(table.c.status == "pending", table.c.next_attempt_at <= now)
        .order_by(table.c.next_attempt_at, table.c.id)
        .limit(1)
        .scalar_subquery()
    )
    claimed_id = db.session.execute(
        update(table)
        .where(table.c.id == oldest, table.c.status == "pending")
        .values(status="building")
        .returning(table.c.id)
    ).scalar()
    return int(claimed_id) if claimed_id is not None else None


class RowFailed(Exception):
    """Building inbox row ``row_id`` raised ``error``; the caller rolls back, then records it."""

    def __init__(self, row_id: int, error: Exception) -> None:
        super().__init__(f"inbox row {row_id}: {error}")
        self.row_id = row_id
        self.error = error


def build_next_lead() -> str | None:
    """Claim the oldest waiting row and record its lead in this transaction.

    Returns "built", or None when nothing is waiting; raises ``RowFailed`` when building
    fails. The caller commits: the claim, the lead and the row's new state land together or
    not at all, so a worker killed half-way leaves the row waiting, and no lead.
    """
    row_id = _claim(clock.now())
    if row_id is None:
        return None
    row = db.session.scalars(
        select(CallbackInbox)
        .where(CallbackInbox.id == row_id)
        .execution_options(populate_existing=True)
    ).one()
    try:
        lead = _build(row)
    except Exception as exc:  # any error: the caller rolls back and records it on the row
        raise RowFailed(row.id, exc) from exc
    row.status = "processed"
    row.processed_at = clock.now()
    row.lead_id = lead.id
    # The lead holds the request now: the inbox keeps only the answer it gave.
    row.request = None
    row.phone = row.email = row.remote_addr = None
    return "built"


def record_failure(row_id: int, error: Exception) -> str | None:
    """After the failed build was rolled back: count the attempt, wait ``backoff`` before the
    next, or after ``MAX_ATTEMPTS`` mark the row stuck and page the managers.

    Returns "failed" or "stuck" (None if another worker has dealt with the row meanwhile).
    """
    row = db.session.scalars(
        select(CallbackInbox)
        .where(CallbackInbox.id == row_id, CallbackInbox.status == "pending")
        .execution_options(populate_existing=True)
    ).first()
    if row is None:
        return None
    row.attempts += 1
    row.last_error = describe(error)
    if row.attempts >= MAX_ATTEMPTS:
        row.status = "stuck"
        paging.trigger_page(
            f"inbox:{row.id}",
            f"Callback request {row.reference} could not be recorded: call the person back "
            "from Stuck requests",
            to_managers=True,
        )
        log.error("inbox row %s is stuck after %s attempts: %s", row.id, row.attempts, error)
        return "stuck"
    row.next_attempt_at = clock.now() + backoff(row.attempts)
    log.warning("inbox row %s failed (attempt %s): %s", row.id, row.attempts, error)
    return "failed"


# --- managers' view --------------------------------------------------------------------------


def troubled(limit: int = 200) -> list[CallbackInbox]:
    """Requests that failed at least once and are not built yet: stuck first, oldest first."""
    return list(
        db.session.scalars(
            select(CallbackInbox)
            .where(CallbackInbox.status.in_(("pending", "stuck")), CallbackInbox.attempts > 0)
            .order_by((CallbackInbox.status == "stuck").desc(), CallbackInbox.id)
            .limit(limit)
        )
    )


def count_stuck() -> int:
    return int(
        db.session.scalar(
            select(func.count()).select_from(CallbackInbox).where(CallbackInbox.status == "stuck")
        )
        or 0
    )


def retry(row_id: int, actor: Actor) -> CallbackInbox:
    """A manager sends a stuck (or waiting) request back to the engine now."""
    row = db.session.get(CallbackInbox, row_id)
    if row is None:
        raise DomainError("No such request in the inbox.", ErrorKind.NOT_FOUND)
    if row.status == "processed":
        raise DomainError(f"Request {row.reference} is already recorded as a lead.")
    db.session.execute(
        update(CallbackInbox)
        .where(CallbackInbox.id == row.id, CallbackInbox.status.in_(("pending", "stuck")))
        .values(status="pending", attempts=0, next_attempt_at=clock.now())
    )
    record_audit_event(
        actor, "update", object_type="callback_inbox", object_id=row.id, detail="retry"
    )
    enqueue_after_commit(db.session(), INTAKE_KICK)
    db.session.refresh(row)
    return row
