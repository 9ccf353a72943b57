"""The Engine health page tells a manager the truth about the engine: never ticked, stale, or
ticking (the browser journey sees the last case with a real worker and beat)."""

from __future__ import annotations

import re
from datetime import timedelta

from sqlalchemy import select

from crm.extensions import db
from crm.health.models import Heartbeat
from crm.health.services import record_heartbeat


def _last_tick_cell(client) -> str:  # type: ignore[no-untyped-def]
    response = client.get("/admin/engine_health/")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    cell = re.search(r'data-testid="last-tick">(.*?)</td>', html, re.S)
    assert cell, html
    return " ".join(cell.group(1).split())


def test_an_engine_that_never_ticked_is_shown_as_never_and_stale(client_for, db_session) -> None:  # type: ignore[no-untyped-def]
    cell = _last_tick_cell(client_for("manager"))
    assert cell.startswith("never")
    assert "stale" in cell and ">ok<" not in cell


def test_a_recent_tick_is_ok_and_an_old_one_stale(client_for, db_session) -> None:  # type: ignore[no-untyped-def]
    record_heartbeat()
    db.session.commit()
    client = client_for("manager")
    cell = _last_tick_cell(client)
    assert re.match(r"^\d+(\.\d)? seconds ago", cell), cell
    assert ">ok<" in cell and "stale" not in cell

    beat = db.session.scalars(select(Heartbeat)).one()
    beat.beat_at = beat.beat_at - timedelta(hours=1)
    db.session.commit()
    cell = _last_tick_cell(client)
    assert "seconds ago" in cell and "stale" in cell
