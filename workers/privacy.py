"""Data protection tasks: building a subject access export step by step (its progress is
committed after each step), and the nightly retention sweep."""

from __future__ import annotations

import logging

from celery import shared_task

from crm import clock
from crm.database import unit_of_work
from crm.privacy import access, archive, retention
from crm.privacy.services import Actor
from crm.queue import PRIVACY_EXPORT, RETENTION_SWEEP

log = logging.getLogger(__name__)


@shared_task(name=PRIVACY_EXPORT)
def build_export(export_id: int) -> None:
    """Gather each section in its own transaction, so the page's progress bar moves; a
    redelivered task starts the export again from the first step."""
    try:
        with unit_of_work():
            export = access.get_export(export_id)
            if export.status not in ("queued", "running"):
                return
            scope = access.scope_of(export.rights_request_id)
        sections = {}
        for done, (key, title, collect) in enumerate(access.STEPS):
            with unit_of_work():
                sections[key] = collect(scope)
                access.record_progress(export_id, done + 1, f"Gathered: {title}")
        with unit_of_work():
            content, records = archive.pack(
                sections,
                {key: title for key, title, _ in access.STEPS},
                access.staff_names(),
                scope.request_id,
                clock.now(),
            )
            access.finish_export(export_id, content, records)
    except Exception as exc:
        log.exception("subject access export %s failed", export_id)
        with unit_of_work():
            access.fail_export(
                export_id, f"The export stopped on an unexpected error ({type(exc).__name__})."
            )
        raise


@shared_task(name=RETENTION_SWEEP)
def retention_sweep() -> dict[str, int]:
    """Apply the retention periods, one committed batch at a time; a run interrupted by a
    crash or a deploy is resumed by the next sweep."""
    actor = Actor.system("retention")
    with unit_of_work():
        run_id = retention.start_run(actor.email or "system:retention").id
    try:
        more = True
        while more:
            with unit_of_work():
                more = retention.sweep_batch(run_id, actor)
    except Exception as exc:
        log.exception("retention run %s failed", run_id)
        with unit_of_work():
            retention.fail_run(
                run_id, f"The run stopped on an unexpected error ({type(exc).__name__})."
            )
        raise
    with unit_of_work():
        return dict(retention.get_run(run_id).counts or {})
