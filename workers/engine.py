"""The engine tick (every few seconds from beat) and the post-commit kick (same work, now)."""

from __future__ import annotations

from celery import shared_task
from flask import current_app

from crm.notify.services import Channels
from crm.oncall.engine import run_tick
from crm.queue import ENGINE_KICK, ENGINE_TICK


def _channels() -> Channels:
    return Channels.from_settings(current_app.config["CRM_SETTINGS"])


@shared_task(name=ENGINE_TICK)
def tick() -> None:
    # Looks one period ahead: the next item due before the next tick gets a kick timed for it.
    period = current_app.config["CRM_SETTINGS"].engine_tick_seconds
    run_tick(_channels(), look_ahead_seconds=float(period))


@shared_task(name=ENGINE_KICK)
def kick() -> None:
    run_tick(_channels(), heartbeat=False)
