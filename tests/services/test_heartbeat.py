"""Heartbeats, the health report, and UTCDateTime on the real database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import delete, exc, select, text

from crm import clock
from crm.extensions import db
from crm.health.models import Heartbeat
from crm.health.services import ENGINE, check_health, record_heartbeat

T0 = datetime(2025, 3, 30, 0, 59, 30, 123456, tzinfo=UTC)  # just before the clocks go forward
UNREACHABLE = "redis://127.0.0.1:1/0"


@pytest.fixture(autouse=True)
def no_heartbeats(db_session: object) -> None:
    """A worker in another test may have committed a real tick: start from none (rolled back)."""
    db.session.execute(delete(Heartbeat))
    db.session.commit()


def _stored(name: str = ENGINE) -> Heartbeat:
    db.session.expire_all()
    beat = db.session.get(Heartbeat, name)
    assert beat is not None
    return beat


def test_record_heartbeat_creates_then_updates_one_row() -> None:
    with clock.pinned(T0):
        record_heartbeat()
    db.session.commit()
    assert (_stored().beat_at, _stored().beats) == (T0, 1)
    with clock.pinned(T0 + timedelta(seconds=5)):
        record_heartbeat()
    db.session.commit()
    assert (_stored().beat_at, _stored().beats) == (T0 + timedelta(seconds=5), 2)
    assert db.session.scalars(select(Heartbeat.name)).all() == [ENGINE]


def test_heartbeats_are_kept_per_process_kind() -> None:
    with clock.pinned(T0):
        record_heartbeat("beat")
        record_heartbeat()
    db.session.commit()
    assert sorted(db.session.scalars(select(Heartbeat.name))) == ["beat", ENGINE]


def test_health_before_the_engine_ever_ticked(redis_url: str) -> None:
    report = check_health(redis_url, stale_after_seconds=60)
    assert (report.database, report.broker) == (True, True)
    assert report.last_tick_seconds_ago is None
    assert report.engine is False
    assert report.healthy is False


def test_health_with_a_recent_tick_is_ok(redis_url: str) -> None:
    with clock.pinned(T0):
        record_heartbeat()
    db.session.commit()
    with clock.pinned(T0 + timedelta(seconds=60)):
        report = check_health(redis_url, stale_after_seconds=60)
    assert report.last_tick_seconds_ago == 60.0
    assert report.engine is True
    assert report.healthy is True


def test_health_with_an_old_tick_is_stale(redis_url: str) -> None:
    with clock.pinned(T0):
        record_heartbeat()
    db.session.commit()
    with clock.pinned(T0 + timedelta(seconds=61)):
        report = check_health(redis_url, stale_after_seconds=60)
    assert report.last_tick_seconds_ago == 61.0
    assert report.tick_stale_after == 60
    assert (report.database, report.broker, report.engine) == (True, True, False)
    assert report.healthy is False


def test_unreachable_broker_is_reported(redis_url: str) -> None:
    with clock.pinned(T0):
        record_heartbeat()
        db.session.commit()
        report = check_health(UNREACHABLE, stale_after_seconds=60)
    assert (report.database, report.engine) == (True, True)
    assert report.broker is False
    assert report.healthy is False


def test_utc_datetime_round_trips_as_aware_utc() -> None:
    summer_london = datetime(2024, 7, 1, 12, 0, 0, 654321, tzinfo=clock.LONDON)
    db.session.add(Heartbeat(name="round-trip", beat_at=summer_london, beats=1))
    db.session.commit()
    stored = _stored("round-trip").beat_at
    assert stored == datetime(2024, 7, 1, 11, 0, 0, 654321, tzinfo=UTC)
    assert stored.utcoffset() == timedelta(0)
    assert stored.tzinfo is UTC


def test_utc_datetime_compares_instants_in_sql() -> None:
    """SQLite stores naive UTC text: comparisons must still follow real time order."""
    db.session.add_all(
        [
            Heartbeat(name="early", beat_at=datetime(2024, 7, 1, 10, 30, tzinfo=UTC), beats=1),
            Heartbeat(name="late", beat_at=datetime(2024, 7, 1, 11, 30, tzinfo=UTC), beats=1),
        ]
    )
    db.session.commit()
    cutoff = datetime(2024, 7, 1, 12, 0, tzinfo=timezone(timedelta(hours=1)))  # 11:00 UTC
    earlier = db.session.scalars(select(Heartbeat.name).where(Heartbeat.beat_at < cutoff)).all()
    assert earlier == ["early"]


def test_utc_datetime_refuses_naive_values() -> None:
    with pytest.raises(exc.StatementError, match="naive datetimes are refused"):  # noqa: SIM117
        with db.session.begin_nested():
            db.session.add(Heartbeat(name="naive", beat_at=datetime(2024, 1, 1), beats=1))
            db.session.flush()
    db.session.rollback()
    count = db.session.scalar(text("SELECT count(*) FROM heartbeats WHERE name = 'naive'"))
    assert count == 0
