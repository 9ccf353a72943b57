"""The provider directory import: one task per uploaded CSV, committing after every batch."""

from __future__ import annotations

import logging

from celery import shared_task

from crm.database import unit_of_work
from crm.providers import imports
from crm.queue import PROVIDER_IMPORT

log = logging.getLogger(__name__)


@shared_task(name=PROVIDER_IMPORT)
def run_import(job_id: int) -> None:
    """Import the job's rows batch by batch; a redelivered task resumes where it stopped."""
    try:
        with unit_of_work():
            prepared = imports.begin_import(job_id)
        if prepared is None:
            return  # already finished, or no such job
        more = True
        while more:
            with unit_of_work():
                more = imports.import_batch(prepared)
    except Exception as exc:
        log.exception("provider import %s failed", job_id)
        with unit_of_work():
            imports.fail_import(
                job_id, f"The import stopped on an unexpected error ({type(exc).__name__})."
            )
        raise
