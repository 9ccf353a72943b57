"""The monthly invoice run: beat asks every hour; the task makes the due month's run once."""

from __future__ import annotations

from datetime import date
from typing import Any

from celery.schedules import crontab
from flask import Flask
from sqlalchemy import select

from crm import clock
from crm.extensions import db
from crm.fees import accruals
from crm.fees.models import Invoice, InvoiceRun
from crm.queue import MONTHLY_INVOICING
from tests.services.fee_factories import admitted, agreement_for, harbour_house, uk
from tests.services.intake_factories import team
from workers.schedule import beat_schedule


def _task(app: Flask) -> Any:
    import workers.fees  # noqa: F401  (registers the task with every Celery app)

    return app.extensions["celery"].tasks[MONTHLY_INVOICING]


def test_beat_checks_every_hour() -> None:
    entry = beat_schedule(5)["monthly-invoicing"]
    assert entry["task"] == MONTHLY_INVOICING
    assert entry["schedule"] == crontab(minute=0)


def test_the_task_makes_the_due_months_run_once(app: Flask, db_session: Any) -> None:
    people = team()
    clinic = harbour_house()
    agreement_for(clinic, people["manager"])
    admitted(clinic, people["admissions"], date(2026, 11, 2))
    with clock.pinned(uk(date(2026, 11, 5), 11)):
        accruals.fire_due_fee_triggers()
    db.session.commit()
    task = _task(app)
    with clock.pinned(uk(date(2026, 12, 1), 5)):
        task()  # before six: November's run is not due yet (October's, with nothing, is)
    assert db.session.scalars(select(Invoice)).all() == []
    with clock.pinned(uk(date(2026, 12, 1), 6)):
        task()
        task()  # beat's next hour, or a second beat: nothing more
    runs = db.session.scalars(select(InvoiceRun).order_by(InvoiceRun.id)).all()
    assert [(r.period, r.documents, r.actor_id) for r in runs] == [
        ("2026-10", 0, None),
        ("2026-11", 1, None),
    ]
    [invoice] = db.session.scalars(select(Invoice)).all()
    assert (invoice.number, invoice.status) == ("INV-2026-0001", "issued")
