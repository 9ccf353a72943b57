"""The intake kick: sent after a callback request reached the inbox, it builds the lead now,
and keeps looking for a moment after each lead (each web process sends at most one kick per
``KICK_EVERY_SECONDS``). The engine tick does the same every period, so a kick lost with
Redis costs seconds.
"""

from __future__ import annotations

from celery import shared_task

from crm.intake.inbox import LINGER_SECONDS
from crm.oncall.engine import run_inbox
from crm.queue import INTAKE_KICK


@shared_task(name=INTAKE_KICK)
def build_leads() -> None:
    run_inbox(linger_seconds=LINGER_SECONDS)
