"""The beat schedule: the engine tick every few seconds; the report summaries every minute; the
monthly invoicing and the weekly digest checked hourly; the retention sweep nightly."""

from __future__ import annotations

from typing import Any

from celery.schedules import crontab

from crm.queue import (
    ENGINE_TICK,
    MONTHLY_INVOICING,
    REPORT_SUMMARIES,
    RETENTION_SWEEP,
    WEEKLY_DIGEST,
)


def beat_schedule(tick_seconds: int) -> dict[str, dict[str, Any]]:
    """Periodic tasks. Only wake-ups travel through Redis; the work itself is in the database."""
    return {
        "engine-tick": {
            "task": ENGINE_TICK,
            "schedule": float(tick_seconds),
            # A tick that waited longer than one period is useless: the next one is coming.
            "options": {"expires": float(tick_seconds)},
        },
        # The days whose leads changed since the last refresh; a refresh that waited a minute
        # is overtaken by the next (one at a time: the summary state row is locked).
        "report-summaries": {
            "task": REPORT_SUMMARIES,
            "schedule": 60.0,
            "options": {"expires": 60.0},
        },
        # Due from 06:00 UK time on the 1st; checked at every o'clock so a beat that was down
        # at six catches up within the hour it is back (the run is made once per month).
        "monthly-invoicing": {
            "task": MONTHLY_INVOICING,
            "schedule": crontab(minute=0),
            "options": {"expires": 3000.0},
        },
        # Due from 08:00 UK time on Monday (at 07:00 or 08:00 UTC by the season), so checked
        # at every o'clock; each manager's message has its own key and goes once.
        "weekly-digest": {
            "task": WEEKLY_DIGEST,
            "schedule": crontab(minute=0),
            "options": {"expires": 3000.0},
        },
        # Nightly at 02:30 UTC, the quietest hour; a run cut short is resumed by the next.
        "retention-sweep": {
            "task": RETENTION_SWEEP,
            "schedule": crontab(hour=2, minute=30),
            "options": {"expires": 3600.0},
        },
    }
