"""The Celery entry point: ``celery -A workers.celery_app worker`` (and ``beat``)."""

from __future__ import annotations

from celery import Celery

from crm.app import create_app
from workers.schedule import beat_schedule

flask_app = create_app()
celery_app: Celery = flask_app.extensions["celery"]
celery_app.conf.beat_schedule = beat_schedule(flask_app.config["CRM_SETTINGS"].engine_tick_seconds)
celery_app.conf.include = [
    "workers.engine",
    "workers.intake",
    "workers.providers",
    "workers.fees",
    "workers.reports",
    "workers.privacy",
]
celery_app.set_default()

# Import the task modules so a worker started with -A workers.celery_app registers them.
import workers.engine  # noqa: E402
import workers.fees  # noqa: E402
import workers.intake  # noqa: E402
import workers.privacy  # noqa: E402
import workers.providers  # noqa: E402
import workers.reports  # noqa: E402,F401
