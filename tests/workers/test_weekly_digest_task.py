"""The weekly digest: beat asks every hour; from Monday 08:00 UK time each active manager gets
one email with last week's headline figures against the week before, and no client detail."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from celery.schedules import crontab
from flask import Flask
from sqlalchemy import select

from crm import clock
from crm.extensions import db
from crm.notify.models import OutboundMessage
from crm.queue import WEEKLY_DIGEST
from crm.reports import digest
from tests.conftest import create_staff
from tests.services.report_factories import hand_built_week
from workers.schedule import beat_schedule


def _task(app: Flask) -> Any:
    import workers.reports  # noqa: F401  (registers the task with every Celery app)

    return app.extensions["celery"].tasks[WEEKLY_DIGEST]


def _digests() -> list[OutboundMessage]:
    return list(
        db.session.scalars(
            select(OutboundMessage)
            .where(OutboundMessage.idempotency_key.like("digest:%"))
            .order_by(OutboundMessage.id)
        )
    )


def test_beat_checks_every_hour() -> None:
    entry = beat_schedule(5)["weekly-digest"]
    assert entry["task"] == WEEKLY_DIGEST
    assert entry["schedule"] == crontab(minute=0)


def test_the_digest_is_due_from_monday_eight_uk_time() -> None:
    # Monday 23 November 2026 (GMT): before eight, the week before last is still the due one.
    assert digest.due_week(datetime(2026, 11, 23, 7, 59, tzinfo=UTC)).start.isoformat() == (
        "2026-11-09"
    )
    assert digest.due_week(datetime(2026, 11, 23, 8, 0, tzinfo=UTC)).start.isoformat() == (
        "2026-11-16"
    )
    # In summer (BST) eight in London is seven UTC.
    assert digest.due_week(datetime(2026, 6, 1, 7, 0, tzinfo=UTC)).start.isoformat() == (
        "2026-05-25"
    )


def test_every_active_manager_gets_one_digest_with_the_figures_and_no_client_detail(
    app: Flask, db_session: Any
) -> None:
    advisor = create_staff("admissions")
    week = hand_built_week(advisor)
    managers = [create_staff("manager").email, create_staff("manager").email]
    references = [week.l1.reference, week.l2.reference]
    create_staff("manager", active=False)
    create_staff("admin")
    task = _task(app)
    with clock.pinned(datetime(2026, 11, 23, 7, 30, tzinfo=UTC)):
        task()  # before eight: the week before's digest (nothing in it, but it is sent)
    with clock.pinned(datetime(2026, 11, 23, 8, 0, tzinfo=UTC)):
        task()
        task()  # the next hour's check, or a second beat: nothing more
    sent = [m for m in _digests() if ":2026-11-16:" in m.idempotency_key]
    assert sorted(m.address for m in sent) == sorted(managers)
    body = sent[0].body
    assert "The week of 16 Nov 2026 – 22 Nov 2026, against 09 Nov 2026 – 15 Nov 2026." in body
    assert "- Leads: 3 (the week before: 1)" in body
    assert "- Out of hours: 2 (the week before: 0)" in body
    assert "- Median: 17.5 min (the week before: 20.0 min)" in body
    assert "- Within 15 minutes: 50 % (the week before: 0 %)" in body
    assert "/admin/reports/intake/?preset=custom&start=2026-11-16&end=2026-11-22" in body
    for secret in ("Ada Winter", "Bea Night", "07700", *references):
        assert secret not in body and secret not in sent[0].subject
    assert len(_digests()) == 4  # two managers, two weeks, each once


def test_beat_refreshes_the_report_summaries_every_minute(app: Flask, db_session: Any) -> None:
    from crm.queue import REPORT_SUMMARIES
    from crm.reports import summary

    entry = beat_schedule(5)["report-summaries"]
    assert entry["task"] == REPORT_SUMMARIES and entry["schedule"] == 60.0
    advisor = create_staff("admissions")
    hand_built_week(advisor)
    task = app.extensions["celery"].tasks[REPORT_SUMMARIES]
    later = datetime(2026, 11, 23, 9, 5, tzinfo=UTC)
    with clock.pinned(later):
        task()
    assert summary.refreshed_at() == later
