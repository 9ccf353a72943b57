"""Intake lateness with the real processes: gunicorn, a Celery worker (prefork, 2) and beat.

Called by ``bench.intake`` in the same run as the throughput figures:

1. **Drain**: the worker starts on the inbox rows the throughput run left (no worker ran
   then): how fast the engine turns inbox rows into leads.
2. **Committed → visible in the queue** at a paced rate (50 requests a second by default,
   open loop: each request is sent at its scheduled instant whatever the others do). For each
   request, the inbox row's ``received_at`` (written in the transaction the 201 waits for) to
   its ``processed_at`` (written in the transaction that commits the lead, which the queue
   reads): both from the server's clock.
3. **Out of hours → first message**: the office closed, one person on call by SMS to a
   Twilio-shaped stand-in on 127.0.0.1 (``bench.oncall.Recorder``); requests one at a time
   over HTTP, from the 201's arrival at the client to the SMS's arrival at the stand-in.
"""

from __future__ import annotations

import http.client
import json
import queue
import subprocess
import threading
import time
from datetime import time as wall_time
from datetime import timedelta
from pathlib import Path
from typing import Any

from flask import Flask
from sqlalchemy import text

from bench import load
from bench.oncall import BIN, Recorder, _percentile, _start, _stop
from bench.pages import intake_body
from crm.extensions import db

INTAKE_PATH = "/api/v1/callback-requests"


def _say(message: str) -> None:
    print(message, flush=True)


def live_sms_env(env: dict[str, str], sms_port: int) -> dict[str, str]:
    return env | {
        "NOTIFY_DELIVERY": "live",
        "SMS_PROVIDER": "twilio",
        "TWILIO_ACCOUNT_SID": "ACbench",
        "TWILIO_AUTH_TOKEN": "token",
        "TWILIO_FROM": "+447700900000",
        "TWILIO_API_BASE": f"http://127.0.0.1:{sms_port}",
    }


def quiet_the_seed(app: Flask) -> dict[str, int]:
    """The seed is history: its pages still 'triggered', reminders due and messages pending
    would keep the engine busy with synthetic work (34,000 page steps), so they are closed
    before the engine starts; the figures then time the intake's own path."""
    statements = {
        "pages": "UPDATE pages SET status = 'resolved' WHERE status = 'triggered'",
        "reminders": (
            "UPDATE reminders SET status = 'done' WHERE status IN ('pending', 'notified') "
            "AND due_at < now() + interval '1 day'"
        ),
        "messages": "UPDATE outbound_messages SET status = 'cancelled' WHERE status = 'pending'",
    }
    closed = {}
    with app.app_context(), db.engine.begin() as conn:
        for name, sql in statements.items():
            closed[name] = conn.execute(text(sql)).rowcount
    _say(f"  quietened the seed's engine work: {closed}")
    return closed


def _waiting(app: Flask) -> int:
    with app.app_context(), db.engine.connect() as conn:
        return int(
            conn.scalar(text("SELECT count(*) FROM callback_inbox WHERE status <> 'processed'"))
            or 0
        )


def drain(app: Flask, limit_seconds: float = 600) -> dict[str, Any]:
    """Wait until no inbox row waits; the build rate while the worker worked through them."""
    started, first = time.monotonic(), _waiting(app)
    while (left := _waiting(app)) and time.monotonic() - started < limit_seconds:
        time.sleep(0.5)
    seconds = time.monotonic() - started
    rate = (first - left) / seconds if seconds > 0 else 0.0
    _say(f"  drain: {first:,} waiting rows built in {seconds:.1f} s ({rate:.0f} leads/s)")
    return {"rows": first, "left": left, "seconds": round(seconds, 1), "leads_per_s": round(rate)}


def _digit(run: str) -> int:
    """One digit of the run's phone numbers (UK mobiles, 07 then 9 digits), so runs differ."""
    return int(run[-1])


class _Client:
    """One keep-alive connection posting callback requests."""

    def __init__(self, port: int, api_key: str) -> None:
        self.port, self.api_key = port, api_key
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)

    def post(self, phone: str, idempotency_key: str) -> tuple[int, dict[str, Any]]:
        headers = {
            "Content-Type": "application/json",
            "Authorization": f"Bearer {self.api_key}",
            "Idempotency-Key": idempotency_key,
        }
        try:
            self.conn.request(
                "POST", INTAKE_PATH, body=json.dumps(intake_body(phone)), headers=headers
            )
            response = self.conn.getresponse()
            return response.status, json.loads(response.read() or b"{}")
        except (OSError, http.client.HTTPException):
            self.conn.close()
            self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
            return 0, {}

    def post_again_if_dropped(self, phone: str, idempotency_key: str) -> tuple[int, dict[str, Any]]:
        """The server closes an idle keep-alive connection: send once more on a new one
        (the same Idempotency-Key, so never twice)."""
        status, body = self.post(phone, idempotency_key)
        return self.post(phone, idempotency_key) if status == 0 else (status, body)


def paced(port: int, api_key: str, rate: float, seconds: float, run: str) -> dict[str, Any]:
    """Send ``rate`` requests a second for ``seconds`` (open loop, 8 client threads)."""
    total = int(rate * seconds)
    slots: queue.Queue[int] = queue.Queue()
    for n in range(total):
        slots.put(n)
    start = time.monotonic() + 0.5
    statuses: list[int] = []
    late_sends: list[float] = []
    lock = threading.Lock()

    def client() -> None:
        me = _Client(port, api_key)
        while True:
            try:
                n = slots.get_nowait()
            except queue.Empty:
                return
            due = start + n / rate
            wait = due - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            status, _ = me.post(f"+4475{_digit(run)}{n:07d}", f"{run}-{n}")
            with lock:
                statuses.append(status)
                late_sends.append(max(0.0, time.monotonic() - due))

    threads = [threading.Thread(target=client) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - start
    errors = sum(1 for s in statuses if s != 201)
    return {"requests": total, "errors": errors, "achieved_rate": round(total / elapsed, 1)}


def visible_lateness(app: Flask, run: str, wait_seconds: float = 120) -> dict[str, Any]:
    """received_at → processed_at of the run's rows, once every one is processed."""
    like = f"{run}-%"
    deadline = time.monotonic() + wait_seconds
    with app.app_context():
        while time.monotonic() < deadline:
            with db.engine.connect() as conn:
                left = conn.scalar(
                    text(
                        "SELECT count(*) FROM callback_inbox WHERE idempotency_key LIKE :like "
                        "AND status <> 'processed'"
                    ),
                    {"like": like},
                )
            if not left:
                break
            time.sleep(0.5)
        with db.engine.connect() as conn:
            rows = conn.execute(
                text(
                    "SELECT extract(epoch FROM processed_at - received_at) FROM callback_inbox "
                    "WHERE idempotency_key LIKE :like AND status = 'processed'"
                ),
                {"like": like},
            ).all()
    seconds = [float(r[0]) for r in rows]
    if not seconds:
        return {"n": 0}
    return {
        "n": len(seconds),
        "unprocessed": int(left or 0),
        "median_ms": round(_percentile(seconds, 0.5) * 1000, 1),
        "p95_ms": round(_percentile(seconds, 0.95) * 1000, 1),
        "p99_ms": round(_percentile(seconds, 0.99) * 1000, 1),
        "max_ms": round(max(seconds) * 1000, 1),
    }


def _close_office_with_someone_on_call(app: Flask, run: str) -> None:
    """A closure for today and tomorrow, one admissions person on call by SMS, a policy."""
    from crm import clock
    from crm.auth import services as auth
    from crm.database import unit_of_work
    from crm.notify.services import save_contact_method
    from crm.oncall import policies, rotas
    from crm.oncall.models import Closure
    from crm.privacy.services import Actor

    actor = Actor.system("bench")
    with app.app_context(), unit_of_work():
        today = clock.now().astimezone(clock.LONDON).date()
        for offset in (0, 1):
            db.session.add(Closure(day=today + timedelta(days=offset), name="bench"))
        user = auth.create_user(
            auth.StaffDetails(f"Night Cover {run}", f"night.{run}@bench.example", "admissions"),
            "violet harbour lantern ember",
            actor,
        )
        save_contact_method(user.id, "sms", "+447400900999", 0, 0, allow_http_webhooks=True)
        rota = rotas.save_rota(
            f"Bench night {run}", [user.id], 7, wall_time(9),
            today - timedelta(days=today.weekday()), "Europe/London", actor,
        )  # fmt: skip
        policies.save_policy(
            f"Bench night {run}",
            0,
            True,
            [policies.StepInput("rota", rota.id, None, None, 5)],
            actor,
            allow_http=True,
        )


def _open_office(app: Flask) -> None:
    with app.app_context(), db.engine.begin() as conn:
        conn.execute(text("DELETE FROM closures WHERE name = 'bench'"))


def out_of_hours(
    app: Flask, port: int, api_key: str, recorder: Recorder, requests: int, run: str
) -> dict[str, Any]:
    """Requests one at a time: the 201's arrival → the page's SMS at the stand-in."""
    _close_office_with_someone_on_call(app, run)
    client = _Client(port, api_key)
    latencies: list[float] = []
    try:
        for n in range(requests):
            status, body = client.post_again_if_dropped(f"+4474{_digit(run)}{n:07d}", f"{run}-o{n}")
            answered = time.time()
            if status != 201:
                _say(f"  out-of-hours request {n}: {status}")
                continue
            reference = body["reference"]
            deadline = time.monotonic() + 30
            arrived = None
            while time.monotonic() < deadline and arrived is None:
                arrived = next((t for t, b in list(recorder.arrivals) if reference in b), None)
                time.sleep(0.01)
            if arrived is None:
                _say(f"  out-of-hours request {n}: no message within 30 s")
                continue
            latencies.append(arrived - answered)
            time.sleep(0.3)
    finally:
        _open_office(app)
    if not latencies:
        return {"n": 0, "of": requests}
    return {
        "n": len(latencies),
        "of": requests,
        "median_s": round(_percentile(latencies, 0.5), 3),
        "p95_s": round(_percentile(latencies, 0.95), 3),
        "max_s": round(max(latencies), 3),
    }


def run(
    app: Flask,
    env: dict[str, str],
    api_key: str,
    tmp: Path,
    *,
    rate: float,
    seconds: float,
    out_of_hours_requests: int,
) -> dict[str, Any]:
    """The three lateness figures with gunicorn, a worker and beat running."""
    recorder = Recorder()
    live = live_sms_env(env, recorder.port)
    tag = f"late{int(time.time())}"
    out: dict[str, Any] = {"rate": rate, "seconds": seconds, "worker": "prefork, concurrency 2"}
    out["seed_work_closed"] = quiet_the_seed(app)
    procs: list[subprocess.Popen[bytes]] = []
    try:
        with load.gunicorn("wsgi:app", live, tmp / "gunicorn-lateness.log") as port:
            celery = str(BIN / "celery")
            procs.append(
                _start(
                    [celery, "-A", "workers.celery_app", "worker", "--concurrency", "2",
                     "--loglevel", "WARNING", "--without-gossip", "--without-mingle"],
                    live,
                )
            )  # fmt: skip
            procs.append(
                _start(
                    [celery, "-A", "workers.celery_app", "beat", "--loglevel", "WARNING",
                     "-s", str(tmp / "beat-schedule")],
                    live,
                )
            )  # fmt: skip
            out["drain"] = drain(app)
            _say(f"  paced: {rate:.0f} requests/s for {seconds:.0f} s")
            out["paced"] = paced(port, api_key, rate, seconds, tag)
            out["visible"] = visible_lateness(app, tag)
            _say(f"  committed → visible in the queue: {out['visible']}")
            out["out_of_hours"] = out_of_hours(
                app, port, api_key, recorder, out_of_hours_requests, tag
            )
            _say(f"  out of hours → first message: {out['out_of_hours']}")
    finally:
        _stop(procs)
        recorder.stop()
    return out
