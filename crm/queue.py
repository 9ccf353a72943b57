"""Celery wiring for the web side: task names, and enqueueing only after commit."""

from __future__ import annotations

import logging
from typing import Any

from celery import Celery, Task
from flask import Flask
from sqlalchemy import event
from sqlalchemy.orm import Session, scoped_session

log = logging.getLogger(__name__)

# Task names: the web side enqueues by name and never imports workers/.
ENGINE_TICK = "engine.tick"
ENGINE_KICK = "engine.kick"  # the same work as a tick, sent right after a commit that needs it
INTAKE_KICK = "intake.build_leads"  # after a request reached the inbox: build its lead now
PROVIDER_IMPORT = "providers.import"  # work through an uploaded directory CSV
MONTHLY_INVOICING = "fees.monthly_invoicing"  # hourly check: the month's invoice run, once
WEEKLY_DIGEST = "reports.weekly_digest"  # hourly check: Monday's digest to managers, once each
REPORT_SUMMARIES = "reports.refresh_summaries"  # every minute: the report summaries
PRIVACY_EXPORT = "privacy.build_export"  # a subject access ZIP, step by step
RETENTION_SWEEP = "privacy.retention_sweep"  # nightly: the retention periods, in batches

_PENDING = "crm_tasks_after_commit"
# A delayed wake-up lives in the worker's memory (and Redis redelivers long ones after the
# visibility timeout): seconds only, never a substitute for a due row (ARCHITECTURE.md rule 4).
MAX_COUNTDOWN = 10.0


def init_queue(app: Flask) -> Celery:
    """Create the Celery app for this Flask app; tasks run inside its app context."""

    class FlaskTask(Task):  # type: ignore[misc]
        def __call__(self, *args: Any, **kwargs: Any) -> Any:
            with app.app_context():
                return self.run(*args, **kwargs)

    settings = app.config["CRM_SETTINGS"]
    celery = Celery(app.import_name, task_cls=FlaskTask)
    celery.conf.update(
        broker_url=settings.redis_url,
        result_backend=None,
        task_ignore_result=True,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        broker_connection_retry_on_startup=True,
        broker_transport_options={
            "visibility_timeout": 300,
            "socket_connect_timeout": 2,
            # Sending a task with Redis down must fail fast, not retry for ~6 s inside a web
            # request (kombu's default while opening the producer's channel): the wake-up is
            # optional, the due rows are in the database. Workers and beat reconnect by their
            # own retry settings (broker_connection_retry*), which these do not change.
            "max_retries": 1,
            "interval_start": 0,
            "interval_step": 0.2,
            "interval_max": 0.2,
        },
        timezone="UTC",
        enable_utc=True,
    )
    app.extensions["celery"] = celery
    return celery


def enqueue_after_commit(
    session: Session | scoped_session[Session],
    task_name: str,
    *args: Any,
    countdown: float | None = None,
) -> None:
    """Send ``task_name`` once the session's transaction commits; drop it on rollback.

    ``countdown`` (seconds, at most ``MAX_COUNTDOWN``) delays a wake-up: the task waits in the
    worker's memory, so only a few seconds are allowed; anything later belongs in a due row.
    """
    if countdown is not None and not 0 <= countdown <= MAX_COUNTDOWN:
        raise ValueError(f"countdown must be between 0 and {MAX_COUNTDOWN} seconds")
    if isinstance(session, scoped_session):  # db.session: act on this context's Session
        session = session()
    if not session.in_transaction():
        # Without a transaction a rollback is a no-op that fires no event, and the task would
        # leak into whatever the session commits next.
        session.begin()
    session.info.setdefault(_PENDING, []).append((task_name, args, countdown))


def enqueue_committed(task_name: str, *args: Any) -> None:
    """Send ``task_name`` now, for work already committed outside the session (a statement
    that was its own transaction, ``crm.database.autocommit_twin``)."""
    _send(task_name, args, None)


def _send(task_name: str, args: tuple[Any, ...], countdown: float | None) -> None:
    from flask import current_app

    celery: Celery = current_app.extensions["celery"]
    try:
        celery.send_task(task_name, args=args, retry=False, countdown=countdown)
    except Exception:  # a lost wake-up costs one tick: the due rows are in the database
        log.warning("could not enqueue %s; the next engine tick will pick it up", task_name)


@event.listens_for(Session, "after_commit")
def _after_commit(session: Session) -> None:
    for task_name, args, countdown in session.info.pop(_PENDING, []):
        _send(task_name, args, countdown)


@event.listens_for(Session, "after_soft_rollback")
def _after_rollback(session: Session, _previous: Any) -> None:
    if session.in_transaction():
        # Only a savepoint (or a failed flush) ended: the outer transaction may still commit,
        # and an extra wake-up is harmless where a lost one costs a tick.
        return
    session.info.pop(_PENDING, None)
