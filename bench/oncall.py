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
import asyncio
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
from pathlib import Path
from typing import Any, cast

from bench.matching_rank import reference_ms

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
RESULTS = ROOT / "bench" / "results"


class Recorder:
    """A Twilio-shaped SMS endpoint that notes when each message body arrived.

    It stands in for a provider on another machine, so it should take as little of this one's
    CPU as it can: a bare asyncio protocol on its own thread (one event loop, no thread per
    connection, no header objects) instead of the standard library's threaded HTTP server,
    which cost about 0.45 ms of CPU a message, a third of the machine during the burst.
    """

    def __init__(self) -> None:
        self.arrivals: list[tuple[float, str]] = []
        self.loop = asyncio.new_event_loop()
        ready = threading.Event()
        outer = self

        class Gateway(asyncio.Protocol):
            def connection_made(self, transport: asyncio.BaseTransport) -> None:
                self.transport = cast(asyncio.Transport, transport)
                self.buffer = b""

            def data_received(self, data: bytes) -> None:
                self.buffer += data
                while (end := self.buffer.find(b"\r\n\r\n")) >= 0:
                    head = self.buffer[:end].lower()
                    at = head.find(b"content-length:")
                    length = int(head[at + 15 :].split(b"\r\n", 1)[0]) if at >= 0 else 0
                    if len(self.buffer) < end + 4 + length:
                        return  # the body is still arriving
                    body = self.buffer[end + 4 : end + 4 + length]
                    self.buffer = self.buffer[end + 4 + length :]
                    form = urllib.parse.parse_qs(body.decode())
                    outer.arrivals.append((time.time(), form.get("Body", [""])[0]))
                    closing = b"connection: close" in head
                    self.transport.write(REPLY_CLOSE if closing else REPLY)
                    if closing:
                        self.transport.close()
                        return

        async def serve() -> None:
            # A provider takes many connections at once: a backlog of 128, not 5, so the sender
            # threads all connecting at once are neither reset nor stalled on SYN retries.
            server = await self.loop.create_server(Gateway, "127.0.0.1", 0, backlog=128)
            self.port = server.sockets[0].getsockname()[1]
            ready.set()

        def run() -> None:
            asyncio.set_event_loop(self.loop)
            self.loop.run_until_complete(serve())
            self.loop.run_forever()

        threading.Thread(target=run, daemon=True).start()
        ready.wait(10)

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)


_SID = b'{"sid": "SMbench"}'
REPLY = (
    b"HTTP/1.1 201 Created\r\nContent-Type: application/json\r\n"
    b"Content-Length: %d\r\n\r\n%s" % (len(_SID), _SID)
)
REPLY_CLOSE = REPLY.replace(b"\r\n\r\n", b"\r\nConnection: close\r\n\r\n", 1)


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


def _cpu_seconds(groups: dict[str, int]) -> dict[str, float]:
    """CPU seconds (user + system) used so far by each named process group, by PostgreSQL's
    processes, by Redis, and by this process (the stand-in and the benchmark itself)."""
    tick = os.sysconf("SC_CLK_TCK")
    totals = dict.fromkeys([*groups, "postgresql", "redis", "benchmark + stand-in"], 0.0)
    by_group = {pgid: name for name, pgid in groups.items()}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        name, _, rest = stat.partition(" (")[2].rpartition(") ")
        fields = rest.split()
        used = (int(fields[11]) + int(fields[12])) / tick  # utime, stime
        pgid = int(fields[2])
        if int(entry.name) == os.getpid():
            totals["benchmark + stand-in"] += used
        elif pgid in by_group:
            totals[by_group[pgid]] += used
        elif name.startswith("postgres"):
            totals["postgresql"] += used
        elif name.startswith("redis-server"):
            totals["redis"] += used
    return totals


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
    app: Any,
    recorder: Recorder,
    owners: list[int],
    count: int,
    groups: dict[str, int],
    hogs: int = 0,
) -> tuple[list[float], dict[str, float]]:
    """Insert ``count`` follow-ups due in one minute; lateness = SMS arrival minus due time.
    Also the CPU each component used from just before the burst to its last message."""
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
    time.sleep(max(0.0, due_epoch - time.time() - 1))
    # Busy loops competing for the CPU during the burst: a host with less of it to spare.
    busy = [
        _start([sys.executable, "-c", "while True: pass"], dict(os.environ)) for _ in range(hogs)
    ]
    groups = {**groups, **{f"busy loop {i + 1}": proc.pid for i, proc in enumerate(busy)}}
    cpu_before = _cpu_seconds(groups)
    try:
        _wait_for(lambda: len(recorder.arrivals) - before >= count, 600)
        cpu_after = _cpu_seconds(groups)
    finally:
        _stop(busy)
    arrivals = [t for t, _ in recorder.arrivals[before:]]
    cpu = {name: round(cpu_after[name] - cpu_before[name], 2) for name in cpu_after}
    return [max(0.0, t - due_epoch) for t in arrivals], cpu


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=30)
    parser.add_argument("--reminders", type=int, default=10_000)
    parser.add_argument("--admin-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/8")
    parser.add_argument("--concurrency", type=int, default=2)
    parser.add_argument(
        "--busy-loops",
        type=int,
        default=0,
        help="CPU-bound processes competing with the engine during the burst (a busier host)",
    )
    args = parser.parse_args()

    reference = reference_ms()  # the host's speed, measured while nothing else runs
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
        lateness, cpu = measure_reminder_lateness(
            app,
            recorder,
            owners,
            args.reminders,
            {"worker": procs[0].pid, "beat": procs[1].pid},
            args.busy_loops,
        )
    finally:
        _stop(procs)
        recorder.stop()
    result = {
        "date": date.today().isoformat(),
        "worker_concurrency": args.concurrency,
        "busy_loops_during_burst": args.busy_loops,
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
        # CPU seconds per component from 1 s before the burst was due to its last message.
        "burst_cpu_s": cpu,
        "host_reference_ms": reference,
    }
    print(json.dumps(result, indent=2))
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"oncall-{int(time.time())}.json").write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
