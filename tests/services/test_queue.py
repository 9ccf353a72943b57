"""enqueue_after_commit against the real Redis broker: sent after commit, dropped on rollback."""

from __future__ import annotations

import base64
import json
import logging
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
import redis
from celery import Celery
from celery import _state as celery_state
from flask import Flask
from sqlalchemy import text

from crm import clock
from crm.extensions import db
from crm.health.models import Heartbeat
from crm.health.services import record_heartbeat
from crm.queue import ENGINE_TICK, MAX_COUNTDOWN, enqueue_after_commit, init_queue

pytestmark = pytest.mark.usefixtures("db_session")
UNREACHABLE = "redis://127.0.0.1:1/0"


@dataclass
class Broker:
    celery: Celery
    queue: str
    redis: redis.Redis

    def sent(self) -> list[tuple[str, list[object]]]:
        """(task name, args) of every message waiting in our queue, oldest first."""
        messages = []
        for raw in reversed(self.redis.lrange(self.queue, 0, -1)):  # kombu LPUSHes
            message = json.loads(raw)
            args, _kwargs, _embed = json.loads(base64.b64decode(message["body"]))
            messages.append((message["headers"]["task"], args))
        return messages


@pytest.fixture
def broker(app: Flask, redis_url: str) -> Iterator[Broker]:
    """The app's own Celery set-up (init_queue), sending to a queue no worker listens on."""
    original, current = app.extensions["celery"], celery_state.get_current_app()
    celery = init_queue(app)
    celery.conf.task_default_queue = f"crm-test-{uuid.uuid4().hex}"
    client = redis.Redis.from_url(redis_url)
    try:
        yield Broker(celery, celery.conf.task_default_queue, client)
    finally:
        app.extensions["celery"] = original
        current.set_current()
        queue = celery.conf.task_default_queue
        client.delete(queue, f"_kombu.binding.{queue}", f"_kombu.binding_permanent.{queue}")
        client.close()
        celery.close()


def test_the_app_sends_to_the_broker_it_was_configured_with(app: Flask, redis_url: str) -> None:
    assert app.extensions["celery"].conf.broker_url == redis_url


def test_task_is_sent_only_after_commit(broker: Broker) -> None:
    enqueue_after_commit(db.session, ENGINE_TICK, 7, "lead-7")
    db.session.flush()
    assert broker.sent() == []  # not while the transaction could still fail
    db.session.commit()
    assert broker.sent() == [(ENGINE_TICK, [7, "lead-7"])]


def test_several_tasks_go_in_order_and_only_once(broker: Broker) -> None:
    enqueue_after_commit(db.session, ENGINE_TICK, 1)
    enqueue_after_commit(db.session, "engine.other", 2)
    db.session.commit()
    db.session.commit()  # a second commit has nothing left to send
    assert broker.sent() == [(ENGINE_TICK, [1]), ("engine.other", [2])]


def test_task_is_dropped_on_rollback(broker: Broker) -> None:
    enqueue_after_commit(db.session, ENGINE_TICK, "rolled-back")
    db.session.rollback()
    db.session.commit()  # a later commit does not resurrect it
    assert broker.sent() == []
    enqueue_after_commit(db.session, ENGINE_TICK, "kept")
    db.session.commit()
    assert broker.sent() == [(ENGINE_TICK, ["kept"])]


def test_task_survives_a_rolled_back_savepoint(broker: Broker) -> None:
    """A failed inner step that the service recovers from must not lose the outer wake-up."""
    enqueue_after_commit(db.session, ENGINE_TICK, "outer")
    with pytest.raises(ZeroDivisionError), db.session.begin_nested():
        db.session.execute(text("SELECT 1"))
        raise ZeroDivisionError
    db.session.commit()
    assert broker.sent() == [(ENGINE_TICK, ["outer"])]


def test_unreachable_broker_does_not_undo_the_commit(
    broker: Broker, caplog: pytest.LogCaptureFixture
) -> None:
    broker.celery.conf.broker_url = UNREACHABLE
    moment = datetime(2025, 2, 1, 8, 0, tzinfo=UTC)
    with clock.pinned(moment):
        record_heartbeat("queue-test")
    enqueue_after_commit(db.session, ENGINE_TICK)
    with caplog.at_level(logging.WARNING, logger="crm.queue"):
        db.session.commit()  # nothing raises: a lost wake-up costs one tick
    assert "could not enqueue engine.tick" in caplog.text
    db.session.expire_all()
    stored = db.session.get(Heartbeat, "queue-test")
    assert stored is not None and stored.beat_at == moment
    assert broker.sent() == []


def test_a_wake_up_is_delayed_by_seconds_at_most(broker: Broker) -> None:
    """A delayed task waits in worker memory: seconds only; later work belongs in a due row."""
    with pytest.raises(ValueError, match="countdown must be between 0 and"):
        enqueue_after_commit(db.session, ENGINE_TICK, "late", countdown=MAX_COUNTDOWN + 1)
    enqueue_after_commit(db.session, ENGINE_TICK, "soon", countdown=2)
    db.session.commit()
    assert broker.sent() == [(ENGINE_TICK, ["soon"])]
    [raw] = broker.redis.lrange(broker.queue, 0, -1)
    eta = datetime.fromisoformat(json.loads(raw)["headers"]["eta"])
    assert 1 <= (eta - datetime.now(UTC)).total_seconds() <= 2
