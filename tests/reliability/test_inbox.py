"""The callback inbox with real processes: a worker SIGKILLed while building leads, and one
Idempotency-Key sent by eight threads at once to the real web process.

- Three hundred requests wait in the inbox; a real worker (prefork, two pool processes) builds
  their leads, and part-way through its whole process group is SIGKILLed. Each lead is built
  in the same transaction that marks its row processed, so a kill leaves every row either
  processed with its lead or waiting with none. A new worker (woken by beat) builds the rest:
  every inbox row ends as exactly one lead.
- Eight threads POST the same Idempotency-Key and body to gunicorn at the same instant: every
  answer is the same 201, the inbox holds one row, and the engine builds one lead from it.
"""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from collections import Counter
from datetime import time as wall_time
from pathlib import Path
from typing import Any

from flask import Flask
from sqlalchemy import func, select

from crm.extensions import db
from crm.intake import inbox, wording
from crm.intake import services as intake
from crm.intake.callback import parse_callback_request
from crm.intake.models import CallbackInbox, CallbackRequest, Contact, Lead
from crm.oncall.engine import run_inbox
from crm.oncall.models import OfficeHoursSpan, Reminder
from crm.privacy.services import Actor
from tests.reliability.support import (
    Processes,
    celery_beat,
    celery_worker,
    gunicorn,
    process_env,
    wait_until,
)
from tests.support.servers import EmbeddedRedis, free_port

REQUESTS = 300
KILL_AFTER = 30  # leads built before the kill
THREADS = 8


def _office_open_all_day() -> None:
    for weekday in range(7):
        db.session.add(
            OfficeHoursSpan(
                weekday=weekday, opens_at=wall_time(0, 0), closes_at=wall_time(23, 59, 59)
            )
        )


def _body(n: int) -> dict[str, Any]:
    return {
        "name": f"Inbox Caller {n}",
        "phone": f"07700 9{n:05d}",
        "consent_to_contact": True,
        "consent_wording_version": wording.CONSENT_VERSION,
        "disclosure_wording_version": wording.DISCLOSURE_VERSION,
    }


def _fill_inbox(app: Flask) -> None:
    """Three hundred accepted requests, as the endpoint commits them (no worker running yet)."""
    with app.app_context():
        _office_open_all_day()
        for n in range(REQUESTS):
            inbox.accept(
                parse_callback_request(_body(n)),
                source="web_form",
                channel="web_form",
                target_minutes=15,
            )
        db.session.commit()


def _state(app: Flask) -> tuple[Counter[str], int]:
    with app.app_context():
        statuses = db.session.execute(
            select(CallbackInbox.status, func.count()).group_by(CallbackInbox.status)
        ).all()
        leads = db.session.scalar(select(func.count()).select_from(Lead)) or 0
    return Counter(dict(statuses)), leads


def test_a_worker_killed_while_building_leads_leaves_exactly_one_lead_per_request(
    tmp_path: Path, scratch_db: str, redis_server: EmbeddedRedis, seed_app: Flask
) -> None:
    _fill_inbox(seed_app)
    processes = Processes(tmp_path)
    env = process_env(scratch_db, redis_server.url, ENGINE_TICK_SECONDS="1")
    try:
        # The 300 kicks the requests sent are waiting in Redis: the worker starts on them.
        processes.start("worker", celery_worker(), env)
        wait_until(
            lambda: _state(seed_app)[1] >= KILL_AFTER,
            90,
            lambda: f"no leads built: {_state(seed_app)}{processes.logs()}",
            every=0.02,
            processes=processes,
        )
        processes.kill("worker")
        statuses, leads = _state(seed_app)
        print(f"\nkilled the worker after {leads} leads: inbox {dict(statuses)}")
        assert leads < REQUESTS, "the worker finished before the kill: the test is void"
        # Nothing half-done survives the kill: a row is processed with its lead, or waiting.
        assert statuses["processed"] == leads and statuses["building"] == 0, statuses
        assert statuses["pending"] == REQUESTS - leads

        processes.start("worker-restarted", celery_worker(), env)
        processes.start("beat", celery_beat(tmp_path / "beat-schedule"), env)
        wait_until(
            lambda: _state(seed_app)[0]["processed"] == REQUESTS,
            120,
            lambda: f"not all built: {_state(seed_app)}{processes.logs()}",
            every=0.2,
            processes=processes,
        )
    finally:
        processes.stop_all()

    with seed_app.app_context():
        rows = db.session.scalars(select(CallbackInbox)).all()
        lead_ids = [row.lead_id for row in rows]
        assert None not in lead_ids and len(set(lead_ids)) == REQUESTS, "one lead per row"
        assert db.session.scalar(select(func.count()).select_from(Lead)) == REQUESTS
        assert db.session.scalar(select(func.count()).select_from(Contact)) == REQUESTS
        per_lead = db.session.execute(
            select(CallbackRequest.lead_id, func.count()).group_by(CallbackRequest.lead_id)
        ).all()
        assert len(per_lead) == REQUESTS and {count for _, count in per_lead} == {1}
        reminders = db.session.scalar(
            select(func.count()).select_from(Reminder).where(Reminder.kind == "callback_due")
        )
        assert reminders == REQUESTS
        references = {lead.id: lead.reference for lead in db.session.scalars(select(Lead))}
        assert all(references[row.lead_id] == row.reference for row in rows)


def _post(port: int, api_key: str, idempotency_key: str, body: dict[str, Any]) -> tuple[int, Any]:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/api/v1/callback-requests",
        data=json.dumps(body).encode(),
        headers={
            "Content-Type": "application/json",
            "Authorization": f"Bearer {api_key}",
            "Idempotency-Key": idempotency_key,
        },
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310 (loopback)
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")
    except OSError:  # not listening yet
        return 0, None


def test_one_idempotency_key_from_eight_threads_at_once_is_one_row_and_one_lead(
    tmp_path: Path, scratch_db: str, redis_server: EmbeddedRedis, seed_app: Flask
) -> None:
    with seed_app.app_context():
        _, api_key = intake.issue_api_key("www.twins.example", Actor.system("tests"))
        db.session.commit()
        before = db.session.scalar(select(func.count()).select_from(CallbackInbox)) or 0
    processes = Processes(tmp_path)
    port = free_port()
    env = process_env(scratch_db, redis_server.url)
    answers: list[tuple[int, Any]] = []
    try:
        processes.start("web", gunicorn(port), env)
        wait_until(
            lambda: _post(port, "crm_x_y", "warm-up", {})[0] == 401,
            60,
            lambda: processes.logs(),
            every=0.2,
            processes=processes,
        )
        start = threading.Barrier(THREADS)

        def send() -> None:
            start.wait()
            answers.append(_post(port, api_key, "double-click-8", _body(REQUESTS + 1)))

        threads = [threading.Thread(target=send) for _ in range(THREADS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
    finally:
        processes.stop_all()

    assert [status for status, _ in answers] == [201] * THREADS, answers
    assert len({answer["reference"] for _, answer in answers}) == 1, answers
    with seed_app.app_context():
        rows = db.session.scalars(
            select(CallbackInbox).where(CallbackInbox.idempotency_key == "double-click-8")
        ).all()
        assert len(rows) == 1
        total = db.session.scalar(select(func.count()).select_from(CallbackInbox))
        assert total == before + 1, "the twins wrote one row between them"
        assert run_inbox().leads == 1
        leads = db.session.scalars(select(Lead).where(Lead.reference == rows[0].reference)).all()
        assert len(leads) == 1 and leads[0].request_count == 1
