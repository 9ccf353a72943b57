"""The weekly digest to managers: beat checks hourly; each manager's message goes once."""

from __future__ import annotations

import logging

from celery import shared_task
from flask import current_app

from crm.database import unit_of_work
from crm.queue import WEEKLY_DIGEST
from crm.reports import digest

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
