"""The report summaries, refreshed every minute; the weekly digest to managers: beat checks
hourly; each manager's message goes once."""

from __future__ import annotations

import logging

from celery import shared_task
from flask import current_app

from crm.database import unit_of_work
from crm.queue import REPORT_SUMMARIES, WEEKLY_DIGEST
from crm.reports import digest, summary

log = logging.getLogger(__name__)


@shared_task(name=WEEKLY_DIGEST)
def weekly_digest() -> None:
    """Queue last week's digest (from 08:00 UK time on Monday) for managers who lack it."""
    settings = current_app.config["CRM_SETTINGS"]
    with unit_of_work():
        outcome = digest.send_weekly_digest(
            None, settings.callback_target_minutes, settings.public_base_url
        )
    if outcome.queued:
        log.info("weekly digest %s: %d message(s)", outcome.period.start, outcome.queued)


@shared_task(name=REPORT_SUMMARIES)
def refresh_summaries() -> None:
    """Rebuild the report summaries of the days whose leads changed since the last refresh."""
    with unit_of_work():
        outcome = summary.refresh()
    log.info(
        "report summaries: %d day(s) of leads, %d of report facts rebuilt%s",
        outcome.days,
        outcome.fact_days,
        " (full)" if outcome.full else "",
    )
