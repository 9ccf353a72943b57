"""Real processes and servers for the reliability tests, all on 127.0.0.1.

- ``scratch_database``: a new SQLite file, or (TEST_DB=postgres) a new database created on
  TEST_DATABASE_URL's server and dropped afterwards, so the processes a test starts never touch
  the session's database.
- ``Processes``: worker, beat and web started as an operator would, each in its own process
  group so a SIGKILL (or the final stop) reaches the pool children it forked too.
- ``SmsRecorder``: a local HTTP server that speaks just enough of Twilio's Messages API for the
  app's real SMS adapter, and records every request it receives, so a test can count
  deliveries per message.
"""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.parse
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, TypeVar

from tests.support.recorders import ProviderServer

if TYPE_CHECKING:
    from crm.auth.models import User

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
_PASSED_THROUGH = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR")
TWILIO_SID = "AC" + "0" * 32
TWILIO_TOKEN = "reliability-test-token"
TWILIO_FROM = "+447700900999"

T = TypeVar("T")


# --- databases and the CLI --------------------------------------------------------------------


def process_env(database_url: str, redis_url: str, **settings: str) -> dict[str, str]:
    """The environment of a process this test starts: CRM_ENV=test on the given servers."""
    env = {name: os.environ[name] for name in _PASSED_THROUGH if name in os.environ}
    env.update(
        CRM_ENV="test",
        DATABASE_URL=database_url,
        REDIS_URL=redis_url,
        SECRET_KEY="reliability-test-secret-" + "r" * 32,
        PYTHONUNBUFFERED="1",
        PYTHONPATH=str(ROOT),
        **settings,
    )
    return env


def live_sms_settings(recorder: SmsRecorder, tick_seconds: int = 1) -> dict[str, str]:
    """Settings for real delivery: SMS through the app's Twilio adapter to ``recorder``."""
    return {
        "ENGINE_TICK_SECONDS": str(tick_seconds),
        "NOTIFY_DELIVERY": "live",
        "SMS_PROVIDER": "twilio",
        "TWILIO_ACCOUNT_SID": TWILIO_SID,
        "TWILIO_AUTH_TOKEN": TWILIO_TOKEN,
        "TWILIO_FROM": TWILIO_FROM,
        "TWILIO_API_BASE": recorder.url,
        # Nothing in these tests should send email; a closed port makes any attempt fail loudly.
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": "9",
    }


def live_sms_changes(recorder: SmsRecorder) -> dict[str, object]:
    """The same as ``live_sms_settings``, as ``Settings`` fields for an in-process app."""
    return {
        "notify_delivery": "live",
        "sms_provider": "twilio",
        "twilio_account_sid": TWILIO_SID,
        "twilio_auth_token": TWILIO_TOKEN,
        "twilio_from": TWILIO_FROM,
        "twilio_api_base": recorder.url,
        "smtp_port": 9,
    }


def run_flask(env: dict[str, str], *args: str) -> str:
    """``flask --app wsgi ARGS`` as an operator runs it; fail the test with its output."""
    result = subprocess.run(
        [str(BIN / "flask"), "--app", "wsgi", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if result.returncode != 0:
        raise AssertionError(f"flask {' '.join(args)} failed:\n{result.stdout}{result.stderr}")
    return result.stdout


# --- processes --------------------------------------------------------------------------------


def celery_worker(concurrency: int = 2) -> list[str]:
    """The worker as production runs it: prefork pool (the default), acks late."""
    return [
        str(BIN / "celery"), "-A", "workers.celery_app", "worker", "--loglevel", "INFO",
        "--concurrency", str(concurrency), "--without-gossip", "--without-mingle",
    ]  # fmt: skip


def celery_beat(schedule_file: Path) -> list[str]:
    return [
        str(BIN / "celery"), "-A", "workers.celery_app", "beat", "--loglevel", "INFO",
        "--schedule", str(schedule_file),
    ]  # fmt: skip


def gunicorn(port: int) -> list[str]:
    return [
        str(BIN / "gunicorn"), "wsgi:app", "--bind", f"127.0.0.1:{port}",
        "--workers", "1", "--threads", "4", "--timeout", "60", "--no-control-socket",
    ]  # fmt: skip


class Processes:
    """Long-running programs a test starts; ``stop_all`` always ends every one of them."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.running: dict[str, tuple[subprocess.Popen[bytes], IO[bytes]]] = {}

    def start(self, name: str, argv: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
        assert name not in self.running, f"{name} is already running"
        log = (self.log_dir / f"{name}.log").open("wb")
        proc = subprocess.Popen(
            argv, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        self.running[name] = (proc, log)
        return proc

    def kill(self, name: str) -> None:
        """SIGKILL the process and everything in its group (its pool children): a crash."""
        proc, log = self.running.pop(name)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        log.close()

    def reap(self, name: str) -> int | None:
        """If ``name`` has exited, forget it and return its exit code (else None)."""
        proc, log = self.running[name]
        if proc.poll() is None:
            return None
        del self.running[name]
        log.close()
        return proc.returncode

    def check_alive(self) -> None:
        for name, (proc, _) in self.running.items():
            if proc.poll() is not None:
                raise AssertionError(f"{name} exited with {proc.returncode}:\n{self.log(name)}")

    def log(self, name: str) -> str:
        path = self.log_dir / f"{name}.log"
        return path.read_text(errors="replace")[-4000:] if path.exists() else ""

    def logs(self) -> str:
        return "".join(
            f"\n--- {path.stem} ---\n{self.log(path.stem)}"
            for path in sorted(self.log_dir.glob("*.log"))
        )

    def stop_all(self) -> None:
        for proc, _ in reversed(self.running.values()):
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc, log in reversed(self.running.values()):
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)
            log.close()
        self.running.clear()


def wait_until(
    probe: Callable[[], T | None],
    seconds: float,
    failure: Callable[[], str],
    *,
    every: float = 0.1,
    processes: Processes | None = None,
) -> T:
    """Poll ``probe`` until it returns something truthy; fail with ``failure()`` after
    ``seconds`` (or at once when a process the test started has died)."""
    deadline = time.monotonic() + seconds
    while True:
        if processes is not None:
            processes.check_alive()
        found = probe()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {seconds:.0f}s: {failure()}")
        time.sleep(every)


# --- the SMS provider -------------------------------------------------------------------------


@dataclass(frozen=True)
class Sms:
    at: float  # time.monotonic() when the request arrived
    to: str
    sender: str
    body: str
    authorised: bool


class SmsRecorder:
    """Twilio's ``POST /2010-04-01/Accounts/{sid}/Messages.json`` on 127.0.0.1.

    Records a message when the whole request has arrived (that is when a real provider has it),
    then waits ``delay`` seconds before answering 201, so a batch of sends takes a while. A
    request cut short (its sender killed mid-write) or without ``To`` and ``Body`` sends nothing,
    as with the real provider.
    """

    def __init__(self, delay: float = 0.0) -> None:
        self.delay = delay
        self.received: list[Sms] = []
        self._lock = threading.Lock()
        self._server = ProviderServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        recorder = self
        expected_path = f"/2010-04-01/Accounts/{TWILIO_SID}/Messages.json"
        credentials = f"{TWILIO_SID}:{TWILIO_TOKEN}".encode()
        expected_auth = "Basic " + base64.b64encode(credentials).decode()

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                if len(raw) < length:
                    # The sender died between the headers and the whole body: a real provider
                    # never sees a complete request, so it sends no SMS.
                    return
                form = urllib.parse.parse_qs(raw.decode())
                if self.path != expected_path:
                    self._answer(404, {"message": "unknown path"})
                    return
                if not form.get("To") or not form.get("Body"):
                    self._answer(400, {"message": "A 'To' and a 'Body' are required."})
                    return
                sms = Sms(
                    time.monotonic(),
                    form.get("To", [""])[0],
                    form.get("From", [""])[0],
                    form.get("Body", [""])[0],
                    self.headers.get("Authorization") == expected_auth,
                )
                with recorder._lock:
                    recorder.received.append(sms)
                    number = len(recorder.received)
                time.sleep(recorder.delay)
                self._answer(201, {"sid": f"SM{number:032d}", "status": "queued"})

            def _answer(self, status: int, body: dict[str, Any]) -> None:
                raw = json.dumps(body).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(raw)))
                    self.end_headers()
                    self.wfile.write(raw)
                except OSError:
                    pass  # the sender was killed mid-request: that is the point of some tests

            def log_message(self, *args: Any) -> None:
                pass

        return Handler

    def snapshot(self) -> list[Sms]:
        with self._lock:
            return list(self.received)

    def count(self) -> int:
        with self._lock:
            return len(self.received)

    def bodies(self) -> Counter[str]:
        return Counter(sms.body for sms in self.snapshot())

    def __enter__(self) -> SmsRecorder:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)


# --- seeding through the app's services -------------------------------------------------------


def add_staff_with_sms(role: str, name: str, phone: str) -> User:
    """A staff member whose only contact method is an SMS to ``phone`` (call in app context;
    the caller commits)."""
    from crm.auth.services import StaffDetails, create_user
    from crm.notify.services import save_contact_method
    from crm.privacy.services import Actor
    from tests.conftest import PASSWORD

    email = f"{name.lower().replace(' ', '.')}.{uuid.uuid4().hex[:6]}@staff.example"
    user = create_user(StaffDetails(name, email, role), PASSWORD, Actor.system("tests"))
    save_contact_method(user.id, "sms", phone, 0, 0, allow_http_webhooks=False)
    return user
