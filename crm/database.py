"""Declarative Base with a constraint naming convention, column types, unit_of_work() and
the autocommit twin of an engine."""

from __future__ import annotations

import os
import select as io_select
import threading
import weakref
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from sqlalchemy import DateTime, MetaData, TypeDecorator, create_engine, event
from sqlalchemy.engine import Dialect, Engine
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, registry, scoped_session

from crm import clock

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """An instant: ``timestamptz`` on PostgreSQL, always aware UTC in Python."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are refused: pass an aware UTC instant")
        instant = clock.as_utc(value)
        # SQLite has no time zone type; store naive UTC so string order is time order.
        return instant.replace(tzinfo=None) if dialect.name == "sqlite" else instant

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return clock.as_utc(value) if value is not None else None


class Base(DeclarativeBase):
    """The declarative base every model shares."""

    registry = registry(
        metadata=MetaData(naming_convention=NAMING_CONVENTION),
        type_annotation_map={datetime: UTCDateTime()},
    )


class CreatedAtMixin:
    """Adds ``created_at``, set from the clock when the row is made."""

    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=clock.now, nullable=False)


@contextmanager
def unit_of_work(session: Session | None = None) -> Iterator[Session]:
    """Commit the block's work on success, roll it back on any exception."""
    if session is None:
        from crm.extensions import db

        session = db.session()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise


# --- the autocommit twin ----------------------------------------------------------------------

_twins: weakref.WeakKeyDictionary[Engine, tuple[int, Engine]] = weakref.WeakKeyDictionary()
_twins_lock = threading.Lock()


def autocommit_twin(engine: Engine, options: dict[str, Any]) -> Engine:
    """The same database as ``engine`` (made with ``options``) through a pool of its own whose
    connections are in autocommit: each statement is its own transaction, with no BEGIN and no
    COMMIT round trip. For work that is one statement (the intake endpoint's INSERT).

    Its pool does not ping on checkout (a round trip per request); it looks at the socket
    instead (``_still_open``), which catches what a ping catches after a server restart or a
    terminated backend. One twin per engine and process: a forked worker makes its own.
    """
    known = _twins.get(engine)
    if known is not None and known[0] == os.getpid():
        return known[1]
    with _twins_lock:
        known = _twins.get(engine)
        if known is None or known[0] != os.getpid():
            twin = create_engine(
                engine.url,
                **{k: v for k, v in options.items() if k != "pool_pre_ping"},
                isolation_level="AUTOCOMMIT",
                pool_reset_on_return=None,  # nothing to roll back: no transaction is ever open
            )
            event.listen(twin, "checkout", _refuse_closed)
            known = _twins[engine] = (os.getpid(), twin)
    return known[1]


def dispose_with_twin(engine: Engine) -> None:
    """Close ``engine``'s pooled connections and its autocommit twin's (if it has one)."""
    known = _twins.pop(engine, None)
    if known is not None:
        known[1].dispose()
    engine.dispose()


def session_autocommit_twin(scoped: scoped_session[Any]) -> Engine | None:
    """The autocommit twin of the app's engine, for a serving process on PostgreSQL; None
    where the session factory is bound to a connection of its own (a test's outer
    transaction, which a statement must join to see its data and to take it back) or on
    SQLite. Asks the factory, so no session is made to answer."""
    if scoped.session_factory.kw.get("bind") is not None:
        return None
    from flask import current_app

    from crm.extensions import db

    engine = db.engine
    if engine.dialect.name != "postgresql":
        return None
    return autocommit_twin(engine, current_app.config.get("SQLALCHEMY_ENGINE_OPTIONS", {}))


def _refuse_closed(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
    """Pool checkout: a connection the server has closed is replaced (the pool tries again)."""
    if not _still_open(dbapi_connection):
        raise DisconnectionError("the database closed this pooled connection")


def _still_open(dbapi_connection: Any) -> bool:
    """True unless the connection is known closed or the server has written to it while idle.

    An idle PostgreSQL connection receives nothing unless the server is ending it (a FATAL
    "terminating connection" message, then EOF) or it LISTENs, which ours never do: readable
    means closed. No round trip: a zero-timeout poll of the socket.
    """
    if getattr(dbapi_connection, "closed", False) or getattr(dbapi_connection, "broken", False):
        return False
    pgconn = getattr(dbapi_connection, "pgconn", None)
    if pgconn is None:
        return True
    try:
        poller = io_select.poll()
        poller.register(pgconn.socket, io_select.POLLIN)
        return not poller.poll(0)
    except Exception:  # no socket to poll (psycopg raises its own error): the connection is gone
        return False


def render_migration_item(type_: str, obj: Any, autogen_context: Any) -> str | bool:
    """Alembic renders our UTCDateTime as plain ``sa.DateTime(timezone=True)``."""
    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False


# Search indexes made by hand in migrations (pg_trgm, SQLite FTS5): not in the models' metadata.
HAND_MADE_SCHEMA = frozenset(
    {"ix_contacts_name_trgm", "contacts_name_fts", "ix_contacts_name_lower"}
)


def include_in_migrations(obj: Any, name: str | None, type_: str, *_: Any) -> bool:
    """Alembic autogenerate ignores the hand-made search structures."""
    return not (name in HAND_MADE_SCHEMA or (name or "").startswith("contacts_name_fts"))


def insert_or_ignore(session: Session | scoped_session[Any], model: Any, **values: Any) -> bool:
    """One ``INSERT ... ON CONFLICT DO NOTHING`` (both databases); True if the row went in.

    No savepoint and no look-up first: on PostgreSQL a concurrent twin holding the same
    unique key makes this wait for its commit and then insert nothing.
    """
    from sqlalchemy.dialects.postgresql import insert as pg_insert
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    # The Table, not the mapped class: a Core INSERT, without the ORM's bulk-insert machinery.
    table = model.__table__
    primary_key = table.primary_key.columns.values()[0]
    statement = insert(table).values(**values).on_conflict_do_nothing().returning(primary_key)
    return session.execute(statement).scalar() is not None


def skip_locked(query: Any, session: Session | scoped_session[Any]) -> Any:
    """On PostgreSQL, lock the rows read for claiming and skip rows another worker holds."""
    if session.get_bind().dialect.name == "postgresql":
        return query.with_for_update(skip_locked=True)
    return query


def claim_due(
    session: Session | scoped_session[Any],
    table: Any,
    due_column: Any,
    now: datetime,
    limit: int,
    values: dict[str, Any],
    returning: Sequence[Any],
) -> list[Any]:
    """Claim up to ``limit`` ``pending`` rows of ``table`` due by ``now`` (``due_column``, then
    id: oldest first) with one UPDATE setting ``values``; the claimed rows' ``returning``.

    The ids come from ``FOR UPDATE SKIP LOCKED`` on PostgreSQL and the UPDATE re-checks the
    status (compare-and-set), so overlapping claims never take one row twice on either
    database. MATERIALIZED: the locking LIMIT query runs exactly once (as a plain
    ``IN (subquery)`` PostgreSQL may re-run it for each row of a nested loop and claim far more
    than ``limit``). The index on (status, due column, id) yields the rows in claim order.
    """
    from sqlalchemy import select, update

    due = (
        skip_locked(
            select(table.c.id)
            .where(table.c.status == "pending", due_column <= now)
            .order_by(due_column, table.c.id)
            .limit(limit),
            session,
        )
        .cte("due")
        .prefix_with("MATERIALIZED")
    )
    return list(
        session.execute(
            update(table)
            .where(table.c.id == due.c.id, table.c.status == "pending")
            .values(**values)
            .returning(*returning, due_column)
        ).all()
    )


def configure_sqlite(engine: Any) -> None:
    """SQLite, the embedded default, serves web, worker and beat at once: WAL lets readers
    and one writer overlap, and a busy timeout makes writers wait their turn, not fail."""
    from sqlalchemy import event

    if engine.dialect.name != "sqlite":
        return

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()
