"""The endpoint's write committed by itself (``inbox.accept(commit=True)``), with real commits.

In a serving process on PostgreSQL the row is one statement that is its own transaction, on
the engine's autocommit twin (``crm.database.autocommit_twin``), whose pool looks at the
socket instead of pinging; on SQLite the same statement commits a unit of work. Each test
runs on a scratch database of its own (no outer transaction), as a web process does.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.pool import NullPool

from crm.database import autocommit_twin, session_autocommit_twin, unit_of_work
from crm.errors import DomainError, ErrorKind
from crm.extensions import db
from crm.intake import inbox, services
from crm.intake.models import CallbackInbox
from tests.services.intake_factories import actor_for, request_data, team
from tests.services.oncall_factories import scratch_app


@pytest.fixture
def scratch(tmp_path: Path, redis_url: str) -> Iterator[Flask]:
    with scratch_app(tmp_path, redis_url, "inbox_commit") as application:
        yield application


def _accept(idem: str | None = None, key: int | None = None, **changes: Any) -> inbox.InboxAnswer:
    return inbox.accept(
        request_data(**changes),
        source="web_form",
        channel="web_form",
        target_minutes=15,
        api_key_id=key,
        idempotency_key=idem,
        request_hash=("h-" + idem) if idem else None,
        commit=True,
    )


def _rows_seen_elsewhere(app: Flask) -> list[tuple[str, bool]]:
    """The inbox as another process sees it: through a connection of its own."""
    with app.app_context():
        url = db.engine.url
    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            found = conn.execute(
                select(CallbackInbox.reference, CallbackInbox.requested_again).order_by(
                    CallbackInbox.id
                )
            )
            return [(r.reference, r.requested_again) for r in found]
    finally:
        engine.dispose()


def test_the_endpoint_write_is_committed_when_it_returns(scratch: Flask) -> None:
    with scratch.app_context():
        first = _accept(phone="07700 900401", email="first@example.org")
        again = _accept(phone="07700 900401", email="first@example.org")
        other = _accept(phone="07700 900402", email="other@example.org")
        twin = session_autocommit_twin(db.session)
        postgres = db.engine.dialect.name == "postgresql"

    assert (twin is not None) == postgres  # PostgreSQL: its own transaction; SQLite: a unit
    assert again.reference == first.reference and again.requested_again
    assert not first.requested_again and other.reference != first.reference
    assert _rows_seen_elsewhere(scratch) == [
        (first.reference, False),
        (first.reference, True),
        (other.reference, False),
    ]


def test_a_replayed_key_is_refused_by_the_write_and_answered_from_its_row(
    scratch: Flask,
) -> None:
    with scratch.app_context():
        with unit_of_work():
            key, _ = services.issue_api_key("www.replay.example", actor_for(team()["admin"]))
        answer = _accept(idem="replay-key-0001", key=key.id, phone="07700 900411")
        with pytest.raises(DomainError) as refused:
            _accept(idem="replay-key-0001", key=key.id, phone="07700 900411")
        with unit_of_work():
            previous = inbox.replay(key.id, "replay-key-0001", "h-replay-key-0001")

    assert refused.value.kind == ErrorKind.CONFLICT
    assert previous == inbox.InboxAnswer(answer.reference, False, replayed=True)
    assert len(_rows_seen_elsewhere(scratch)) == 1


def test_a_pooled_connection_the_database_closed_is_replaced_before_the_write(
    scratch: Flask,
) -> None:
    """A server restart or a terminated backend leaves pooled connections closed; the twin
    does not ping (a round trip per request), so its checkout looks at the socket. Without
    that look, the request after a restart would fail on the closed connection."""
    with scratch.app_context():
        if db.engine.dialect.name != "postgresql":
            # SQLite has no server to close a connection, and no twin: the unit of work.
            assert session_autocommit_twin(db.session) is None
            assert _accept(phone="07700 900421").reference
            return
        _accept(phone="07700 900421")  # the twin's pool now holds one connection
        twin = autocommit_twin(db.engine, scratch.config["SQLALCHEMY_ENGINE_OPTIONS"])
        pooled = twin.raw_connection()
        backend = pooled.driver_connection.info.backend_pid  # type: ignore[union-attr]
        pooled.close()
        with db.engine.connect() as conn:
            conn.execute(text("SELECT pg_terminate_backend(:pid, 5000)"), {"pid": backend})
            conn.commit()

        answer = _accept(phone="07700 900422", email="after-restart@example.org")

        pooled = twin.raw_connection()
        replaced = pooled.driver_connection.info.backend_pid  # type: ignore[union-attr]
        pooled.close()
        stored = db.session.scalar(
            select(func.count()).where(CallbackInbox.reference == answer.reference)
        )
    assert replaced != backend
    assert stored == 1
