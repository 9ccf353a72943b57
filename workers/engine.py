"""The engine tick: proves the clock is alive (and, as domains arrive, claims due work)."""

from __future__ import annotations

from celery import shared_task

from crm.database import unit_of_work
from crm.health.services import record_heartbeat
from crm.queue import ENGINE_TICK


@shared_task(name=ENGINE_TICK)
def tick() -> None:
    with unit_of_work():
        record_heartbeat()
