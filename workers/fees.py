"""The monthly invoice run: beat checks hourly; the run itself happens once per month."""

from __future__ import annotations

import logging

from celery import shared_task
from sqlalchemy.exc import IntegrityError

from crm.database import unit_of_work
from crm.fees import invoicing
from crm.queue import MONTHLY_INVOICING

log = logging.getLogger(__name__)


@shared_task(name=MONTHLY_INVOICING)
def monthly_invoicing() -> None:
    """Make the due month's invoice run if nobody has (from 06:00 UK time on the 1st)."""
    try:
        with unit_of_work():
            outcome = invoicing.run_monthly()
    except IntegrityError:
        log.info("monthly invoicing: another worker made this month's run")
        return
    if outcome is not None:
        log.info("monthly invoicing %s: %d invoice(s)", outcome.run.period, len(outcome.invoices))
