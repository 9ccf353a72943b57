"""The beat schedule: the engine tick every few seconds."""

from __future__ import annotations

from typing import Any

from crm.queue import ENGINE_TICK


def beat_schedule(tick_seconds: int) -> dict[str, dict[str, Any]]:
    """Periodic tasks. Only wake-ups travel through Redis; the work itself is in the database."""
    return {
        "engine-tick": {
            "task": ENGINE_TICK,
            "schedule": float(tick_seconds),
            # A tick that waited longer than one period is useless: the next one is coming.
            "options": {"expires": float(tick_seconds)},
        },
    }
