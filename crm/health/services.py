"""Heartbeats and the health report that /healthz and the dashboard show."""

from __future__ import annotations

from dataclasses import dataclass

import redis
from sqlalchemy import text, update
from sqlalchemy.exc import IntegrityError

from crm import clock
from crm.extensions import db
from crm.health.models import Heartbeat

ENGINE = "engine"


@dataclass(frozen=True)
class HealthReport:
    """Each part's state; healthy only when every part is."""

    database: bool
    broker: bool
    last_tick_seconds_ago: float | None
    tick_stale_after: int

    @property
    def engine(self) -> bool:
        age = self.last_tick_seconds_ago
        return age is not None and age <= self.tick_stale_after

    @property
    def healthy(self) -> bool:
        return self.database and self.broker and self.engine


def record_heartbeat(name: str = ENGINE) -> Heartbeat:
    """Note that ``name`` is alive now (one row per process kind)."""
    beat = db.session.get(Heartbeat, name)
    if beat is None:
        try:
            with db.session.begin_nested():
                db.session.add(Heartbeat(name=name, beat_at=clock.now(), beats=0))
        except IntegrityError:
            pass  # two first ticks at once: the other one made the row
        beat = db.session.get(Heartbeat, name)
        assert beat is not None  # noqa: S101 (just made, by us or the other tick)
    # In SQL, so overlapping ticks never lose a count.
    db.session.execute(
        update(Heartbeat)
        .where(Heartbeat.name == name)
        .values(beat_at=clock.now(), beats=Heartbeat.beats + 1)
    )
    db.session.refresh(beat)
    return beat


def _database_ok() -> bool:
    try:
        db.session.execute(text("SELECT 1"))
    except Exception:  # any failure here means "unhealthy", whatever its kind
        db.session.rollback()
        return False
    return True


def _broker_ok(redis_url: str) -> bool:
    try:
        client = redis.Redis.from_url(redis_url, socket_connect_timeout=1, socket_timeout=1)
        try:
            return bool(client.ping())
        finally:
            client.close()
    except redis.RedisError:
        return False


def check_health(redis_url: str, stale_after_seconds: int) -> HealthReport:
    """Probe the database and broker and read the engine's last tick."""
    database = _database_ok()
    age: float | None = None
    if database:
        beat = db.session.get(Heartbeat, ENGINE)
        if beat is not None:
            age = max(0.0, (clock.now() - beat.beat_at).total_seconds())
    return HealthReport(
        database=database,
        broker=_broker_ok(redis_url),
        last_tick_seconds_ago=age,
        tick_stale_after=stale_after_seconds,
    )
