"""On-call engine speed, with a real Celery worker and beat on PostgreSQL and Redis.

    .venv/bin/python -m bench.oncall [--requests 30] [--reminders 10000]

1. Time from a committed out-of-hours callback request to the first message handed to the
   channel (an SMS gateway stand-in on 127.0.0.1 that records arrival times). Target: p95 < 3 s.
2. Lateness of N reminders due in the same minute: arrival at the channel minus due time.
   Target: p99 < 10 s.

Everything runs on this machine (loopback only) and stops by itself.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from datetime import date, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
RESULTS = ROOT / "bench" / "results"


class Recorder:
    """A Twilio-shaped SMS endpoint that notes when each message body arrived."""

    def __init__(self) -> None:
        self.arrivals: list[tuple[float, str]] = []
        lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                form = urllib.parse.parse_qs(self.rfile.read(length).decode())
                with lock:
                    outer.arrivals.append((time.time(), form.get("Body", [""])[0]))
                self.send_response(201)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(b'{"sid": "SMbench"}')

            def log_message(self, *args: Any) -> None:
                return

        class Server(ThreadingHTTPServer):
            # A provider takes many connections at once; the standard library's listen
            # backlog of 5 drops or resets some when the engine's sender threads all connect.
            request_queue_size = 128
            daemon_threads = True

        self.server = Server(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _env(db_url: str, redis_url: str, sms_port: int) -> dict[str, str]:
    return {
        **os.environ,
        "CRM_ENV": "test",
        "DATABASE_URL": db_url,
        "REDIS_URL": redis_url,
        "SECRET_KEY": "bench-" + "k" * 40,
        "ENGINE_TICK_SECONDS": "5",
        "NOTIFY_DELIVERY": "live",
        "SMS_PROVIDER": "twilio",
        "TWILIO_ACCOUNT_SID": "ACbench",
        "TWILIO_AUTH_TOKEN": "token",
        "TWILIO_FROM": "+447700900000",
        "TWILIO_API_BASE": f"http://127.0.0.1:{sms_port}",
        "LOG_LEVEL": "WARNING",
    }


def _fresh_database(admin_url: str, name: str) -> str:
    import sqlalchemy as sa

    engine = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    return admin_url.rsplit("/", 1)[0] + f"/{name}"


def _seed(app: Any, staff: int) -> tuple[list[int], str]:
    """Office closed today, one rota with SMS contacts, a default policy; staff user ids."""
    from crm import clock
    from crm.auth import services as auth
    from crm.database import unit_of_work
    from crm.extensions import db
    from crm.intake.services import issue_api_key
    from crm.notify.services import save_contact_method
    from crm.oncall import policies, rotas
    from crm.oncall.models import Closure
    from crm.privacy.services import Actor

    actor = Actor.system("bench")
    with app.app_context(), unit_of_work():
        today = clock.now().astimezone(clock.LONDON).date()
        for offset in (-1, 0, 1):
            db.session.add(Closure(day=today + timedelta(days=offset), name="bench"))
        ids = []
        for i in range(staff):
            user = auth.create_user(
                auth.StaffDetails(f"Bench Person {i}", f"bench.person{i}@x.example", "admissions"),
                "violet harbour lantern ember",
                actor,
            )
            save_contact_method(
                user.id, "sms", f"+447400{900000 + i:06d}", 0, 0, allow_http_webhooks=True
            )
            ids.append(user.id)
        rota = rotas.save_rota(
            "Bench rota",
            ids[:1],
            7,
            __import__("datetime").time(9),
            today - timedelta(days=today.weekday()),
            "Europe/London",
            actor,
        )
        policies.save_policy(
            "Bench policy",
            0,
            True,
            [policies.StepInput("rota", rota.id, None, None, 5)],
            actor,
            allow_http=True,
        )
        _, secret = issue_api_key("bench", actor)
    return ids, secret


def _start(argv: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        argv,
        cwd=ROOT,
        env=env,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _stop(procs: list[subprocess.Popen[bytes]]) -> None:
    for proc in procs:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
    for proc in procs:
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


def _wait_for(predicate: Any, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def measure_page_latency(app: Any, recorder: Recorder, requests: int) -> list[float]:
    """Commit a callback request (as the intake endpoint does), time until its SMS arrives."""
    from crm.database import unit_of_work
    from crm.intake.callback import parse_callback_request
    from crm.intake.services import capture_callback_request
    from crm.privacy.services import Actor

    latencies = []
    for i in range(requests):
        data = parse_callback_request(
            {
                "name": f"Bench Caller {i}",
                "phone": f"+447400{500000 + i:06d}",
                "consent_to_contact": True,
                "consent_wording_version": "bench",
                "disclosure_wording_version": "bench",
            }
        )
        with app.app_context():
            with unit_of_work():
                lead = capture_callback_request(
                    data,
                    source="web_form",
                    channel="web_form",
                    target_minutes=15,
                    actor=Actor.system("bench"),
                )
                reference = lead.lead.reference
            committed = time.time()
        if not _wait_for(lambda r=reference: any(r in body for _, body in recorder.arrivals), 30):
            print(f"  request {i}: no message within 30 s")
            continue
        arrived = next(t for t, body in recorder.arrivals if reference in body)
        latencies.append(arrived - committed)
        time.sleep(0.2)
    return latencies


def measure_reminder_lateness(
    app: Any, recorder: Recorder, owners: list[int], count: int
) -> list[float]:
    """Insert ``count`` follow-ups due in one minute; lateness = SMS arrival minus due time."""
    import sqlalchemy as sa

    from crm import clock
    from crm.extensions import db
    from crm.oncall.models import Reminder

    before = len(recorder.arrivals)
    with app.app_context():
        due = clock.now().replace(microsecond=0) + timedelta(seconds=40)
        rows = [
            {
                "kind": "follow_up",
                "owner_id": owners[i % len(owners)],
                "lead_id": None,
                "due_at": due + timedelta(seconds=i % 60 / 60),
                "escalate_at": due + timedelta(minutes=60),
                "grace_minutes": 60,
                "status": "pending",
                "created_at": clock.now(),
            }
            for i in range(count)
        ]
        db.session.execute(sa.insert(Reminder), rows)
        db.session.commit()
    due_epoch = due.timestamp()
    print(f"  {count} reminders due at {due:%H:%M:%S} UTC; waiting for them...")
    _wait_for(lambda: len(recorder.arrivals) - before >= count, 600)
    arrivals = [t for t, _ in recorder.arrivals[before:]]
    return [max(0.0, t - due_epoch) for t in arrivals]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=30)
    parser.add_argument("--reminders", type=int, default=10_000)
    parser.add_argument("--admin-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/8")
    parser.add_argument("--concurrency", type=int, default=2)
    args = parser.parse_args()

    db_url = _fresh_database(args.admin_url, "bench_oncall")
    recorder = Recorder()
    env = _env(db_url, args.redis_url, recorder.port)
    subprocess.run(
        [str(BIN / "flask"), "--app", "wsgi", "db", "upgrade"],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
    )
    import redis

    redis.Redis.from_url(args.redis_url).flushdb()
    os.environ.update(env)
    from crm.app import create_app

    app = create_app()
    owners, _ = _seed(app, staff=20)
    procs = [
        _start(
            [
                str(BIN / "celery"),
                "-A",
                "workers.celery_app",
                "worker",
                "--concurrency",
                str(args.concurrency),
                "--loglevel",
                "WARNING",
            ],
            env,
        ),
        _start(
            [
                str(BIN / "celery"),
                "-A",
                "workers.celery_app",
                "beat",
                "--loglevel",
                "WARNING",
                "-s",
                str(Path(tempfile.gettempdir()) / "bench-oncall-beat"),
            ],
            env,
        ),
    ]
    try:
        time.sleep(6)  # worker and beat connected
        print(f"Out-of-hours callback → first message ({args.requests} requests):")
        latencies = measure_page_latency(app, recorder, args.requests)
        print(f"Reminder burst ({args.reminders} due in the same minute):")
        lateness = measure_reminder_lateness(app, recorder, owners, args.reminders)
    finally:
        _stop(procs)
        recorder.stop()
    result = {
        "date": date.today().isoformat(),
        "worker_concurrency": args.concurrency,
        "page_latency_s": {
            "n": len(latencies),
            "median": statistics.median(latencies),
            "p95": _percentile(latencies, 0.95),
            "max": max(latencies),
        },
        "reminder_lateness_s": {
            "n": len(lateness),
            "expected": args.reminders,
            "first": min(lateness),
            "median": statistics.median(lateness),
            "p99": _percentile(lateness, 0.99),
            "max": max(lateness),
            # Delivery rate once the burst was under way: messages / (last - first arrival).
            "messages_per_s": len(lateness) / max(max(lateness) - min(lateness), 1e-9),
        },
    }
    print(json.dumps(result, indent=2))
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"oncall-{int(time.time())}.json").write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
