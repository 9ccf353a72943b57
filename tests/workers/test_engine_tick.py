"""The engine tick: the task records a heartbeat, and a real worker + beat keep /healthz green.

If the engine stops, nobody is paged; /healthz is how an operator (or a load balancer) finds
out, so these tests read what /healthz says and what the heartbeats table holds.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from flask import Flask
from flask.testing import FlaskClient

from crm import clock
from crm.app import create_app
from crm.extensions import db
from crm.health.models import Heartbeat
from crm.health.services import ENGINE
from crm.queue import ENGINE_TICK
from tests.conftest import make_settings
from tests.support.databases import scratch_database
from tests.workers.conftest import (
    BIN,
    Processes,
    process_env,
    run_flask,
    with_redis_db,
)


def _healthz(client: FlaskClient) -> tuple[int, dict[str, Any]]:
    response = client.get("/healthz")
    return response.status_code, response.get_json()


def _heartbeat() -> Heartbeat | None:
    db.session.expire_all()
    return db.session.get(Heartbeat, ENGINE)


def test_tick_task_records_a_heartbeat_that_healthz_reads(
    app: Flask, db_session: Any, client: FlaskClient
) -> None:
    import workers.engine  # noqa: F401  (registers engine.tick with every Celery app)

    # The task as the worker runs it: looked up by the name the web side enqueues, called
    # through the app's task class, which pushes the Flask app context.
    task = app.extensions["celery"].tasks[ENGINE_TICK]
    stale = app.config["CRM_SETTINGS"].heartbeat_stale_seconds
    before = _heartbeat()
    beats = before.beats if before is not None else 0
    first = datetime(2026, 3, 29, 0, 59, 58, tzinfo=UTC)  # across the spring-forward night
    second = first + timedelta(seconds=7)

    with clock.pinned(first):
        task()
    beat = _heartbeat()
    assert beat is not None
    assert (beat.beat_at, beat.beats) == (first, beats + 1)

    with clock.pinned(second):
        task()
    beat = _heartbeat()
    assert beat is not None
    assert (beat.beat_at, beat.beats) == (second, beats + 2)

    with clock.pinned(second + timedelta(seconds=10)):
        status, body = _healthz(client)
    assert status == 200, body
    assert body["status"] == "ok"
    assert body["engine"] == {
        "status": "ok",
        "last_tick_seconds_ago": 10.0,
        "stale_after_seconds": stale,
    }

    with clock.pinned(second + timedelta(seconds=stale + 1)):
        status, body = _healthz(client)
    assert status == 503
    assert body["status"] == "unhealthy"
    assert body["engine"]["status"] == "stale"
    assert body["engine"]["last_tick_seconds_ago"] == stale + 1
    assert (body["database"], body["broker"]) == ("ok", "ok")


def _wait_for_ticks(
    client: FlaskClient, processes: Processes, app: Flask, minimum_beats: int, seconds: float
) -> dict[str, Any]:
    """Poll /healthz until the engine is ok and has ticked ``minimum_beats`` times."""
    deadline = time.monotonic() + seconds
    body: dict[str, Any] = {}
    while time.monotonic() < deadline:
        processes.check_alive()
        status, body = _healthz(client)
        with app.app_context():
            beat = _heartbeat()
            count = beat.beats if beat is not None else 0
        if status == 200 and body["engine"]["status"] == "ok" and count >= minimum_beats:
            return body
        time.sleep(0.5)
    raise AssertionError(
        f"no {minimum_beats} ticks within {seconds}s; last /healthz: {body}\n"
        f"--- worker ---\n{processes.log('worker')}\n--- beat ---\n{processes.log('beat')}"
    )


def test_real_worker_and_beat_keep_the_engine_alive(tmp_path: Path, redis_url: str) -> None:
    broker = with_redis_db(redis_url, 5)
    with scratch_database(tmp_path, "engine") as database_url:
        env = process_env(database_url, broker, ENGINE_TICK_SECONDS="1")
        run_flask(env, "db", "upgrade")
        app = create_app(make_settings(database_url, broker))
        client = app.test_client()
        stale = app.config["CRM_SETTINGS"].heartbeat_stale_seconds
        try:
            # Nothing has ticked yet: healthy parts, but the engine has never run.
            status, body = _healthz(client)
            assert status == 503
            assert (body["database"], body["broker"]) == ("ok", "ok")
            assert body["engine"]["status"] == "never ticked"
            assert body["engine"]["last_tick_seconds_ago"] is None

            processes = Processes(tmp_path)
            celery = [str(BIN / "celery"), "-A", "workers.celery_app"]
            try:
                processes.start(
                    "worker", [*celery, "worker", "--loglevel", "INFO", "--concurrency", "1"], env
                )
                processes.start(
                    "beat",
                    [
                        *celery,
                        "beat",
                        "--loglevel",
                        "INFO",
                        "--schedule",
                        str(tmp_path / "beat-schedule"),
                    ],
                    env,
                )
                # Several ticks, not one: beat keeps sending and the worker keeps running them.
                body = _wait_for_ticks(client, processes, app, minimum_beats=3, seconds=30)
                assert body["status"] == "ok"
                assert body["engine"]["last_tick_seconds_ago"] <= stale
            finally:
                processes.stop_all()

            with app.app_context():
                beat = _heartbeat()
                assert beat is not None
                last_tick = beat.beat_at
            # With worker and beat gone nothing ticks; once the stale limit passes, /healthz
            # turns red and says why.
            with clock.pinned(last_tick + timedelta(seconds=stale + 1)):
                status, body = _healthz(client)
            assert status == 503
            assert body["status"] == "unhealthy"
            assert body["engine"]["status"] == "stale"
            assert body["engine"]["last_tick_seconds_ago"] == stale + 1
        finally:
            with app.app_context():
                db.engine.dispose()
