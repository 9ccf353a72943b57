"""Real local servers that record what the channels send: HTTP (SMS, webhooks) and SMTP.

``HttpRecorder`` is a threaded HTTP server on 127.0.0.1. A POST to Twilio's Messages path
(``/2010-04-01/Accounts/<sid>/Messages.json``, form-encoded, basic auth) is recorded as an SMS
and answered 201 with ``{"sid": "SM..."}`` as Twilio does; any other POST is recorded as a chat
webhook (JSON) and answered 200. ``respond_with(status)`` makes it fail; ``down()`` stops it
listening (connections refused) and brings it back on the same port.

``SmtpRecorder`` is an aiosmtpd server that keeps every message it accepts; ``reject_recipients``
answers RCPT with 550 and ``defer_data`` answers DATA with 451.
"""

from __future__ import annotations

import base64
import email
import json
import logging
import re
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.message import Message as EmailMessage
from email.policy import default as default_policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

import pytest
from aiosmtpd.controller import Controller

from tests.support.servers import free_port


class ProviderServer(ThreadingHTTPServer):
    """A threaded HTTP server that, like a real provider, takes many connections at once: the
    standard library's listen backlog of 5 resets some when the engine's sender threads all
    connect together."""

    request_queue_size = 128
    daemon_threads = True


TWILIO_PATH = re.compile(r"^/2010-04-01/Accounts/(?P<sid>[^/]+)/Messages\.json$")


@dataclass(frozen=True)
class HttpRequest:
    """One request the HTTP recorder answered."""

    kind: str  # "sms" or "webhook"
    path: str
    headers: dict[str, str]
    body: bytes
    status: int
    account_sid: str | None = None
    form: dict[str, str] = field(default_factory=dict)
    json: Any = None
    reply: dict[str, Any] = field(default_factory=dict)

    @property
    def basic_auth(self) -> tuple[str, str] | None:
        value = self.headers.get("authorization", "")
        if not value.startswith("Basic "):
            return None
        user, _, password = base64.b64decode(value[6:]).decode().partition(":")
        return user, password


class HttpRecorder:
    """A real HTTP server on 127.0.0.1 recording SMS (Twilio-shaped) and webhook POSTs."""

    def __init__(self) -> None:
        self.port = free_port()
        self.requests: list[HttpRequest] = []
        self.status: int | None = None  # None: answer as the real service would
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def webhook_url(self, name: str = "chat") -> str:
        return f"{self.base_url}/hooks/{name}"

    @property
    def sms(self) -> list[HttpRequest]:
        with self._lock:
            return [r for r in self.requests if r.kind == "sms"]

    @property
    def webhooks(self) -> list[HttpRequest]:
        with self._lock:
            return [r for r in self.requests if r.kind == "webhook"]

    def respond_with(self, status: int | None) -> None:
        """Answer every request with ``status`` (None: succeed again)."""
        self.status = status

    def _record(self, request: HttpRequest) -> None:
        with self._lock:
            self.requests.append(request)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                headers = {k.lower(): v for k, v in self.headers.items()}
                match = TWILIO_PATH.match(self.path)
                status = recorder.status or (201 if match else 200)
                if match:
                    reply: dict[str, Any] = {"sid": f"SM{uuid.uuid4().hex}", "status": "queued"}
                    form = {k: v[0] for k, v in parse_qs(body.decode()).items()}
                    request = HttpRequest(
                        "sms", self.path, headers, body, status, match["sid"], form, reply=reply
                    )
                else:
                    reply = {"ok": status < 400}
                    request = HttpRequest(
                        "webhook",
                        self.path,
                        headers,
                        body,
                        status,
                        json=json.loads(body or b"null"),
                        reply=reply,
                    )
                recorder._record(request)
                payload = json.dumps(reply).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, format: str, *args: Any) -> None:
                return  # keep test output clean

        return Handler

    def start(self) -> HttpRecorder:
        self._server = ProviderServer(("127.0.0.1", self.port), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    @contextmanager
    def down(self) -> Iterator[None]:
        """Nothing listens on the port inside the block (connection refused)."""
        self.stop()
        try:
            yield
        finally:
            self.start()

    def __enter__(self) -> HttpRecorder:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


@dataclass(frozen=True)
class ReceivedEmail:
    sender: str
    recipients: list[str]
    message: EmailMessage

    @property
    def subject(self) -> str:
        return str(self.message["Subject"])

    @property
    def body(self) -> str:
        part = self.message.get_body(("plain",))  # type: ignore[attr-defined]
        return str(part.get_content()) if part is not None else ""


class _Handler:
    def __init__(self, recorder: SmtpRecorder) -> None:
        self.recorder = recorder

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: Any
    ) -> str:
        if self.recorder.reject_recipients:
            return "550 5.1.1 No such mailbox here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.recorder.defer_data:
            return "451 4.3.0 Try again later"
        parsed = email.message_from_bytes(envelope.original_content, policy=default_policy)
        self.recorder._record(
            ReceivedEmail(envelope.mail_from, list(envelope.rcpt_tos), parsed)  # type: ignore[arg-type]
        )
        return "250 Message accepted for delivery"


# aiosmtpd logs every SMTP command at INFO; thousands of messages drown the test log.
logging.getLogger("mail.log").setLevel(logging.WARNING)


class SmtpRecorder:
    """A real SMTP server (aiosmtpd) on 127.0.0.1 keeping every message it accepts."""

    def __init__(self) -> None:
        self.port = free_port()
        self.messages: list[ReceivedEmail] = []
        self.reject_recipients = False
        self.defer_data = False
        self._lock = threading.Lock()
        self._controller: Controller | None = None

    def _record(self, message: ReceivedEmail) -> None:
        with self._lock:
            self.messages.append(message)

    def received(self) -> list[ReceivedEmail]:
        with self._lock:
            return list(self.messages)

    def start(self) -> SmtpRecorder:
        # Made here, not in __init__: a Controller owns an event loop, closed when it stops.
        self._controller = Controller(_Handler(self), hostname="127.0.0.1", port=self.port)
        self._controller.start()
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def __enter__(self) -> SmtpRecorder:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


@pytest.fixture(name="http_recorder")
def http_recorder_fixture() -> Iterator[HttpRecorder]:
    """A recording SMS/webhook server for one test, stopped at its end."""
    with HttpRecorder() as server:
        yield server


@pytest.fixture(name="smtp_recorder")
def smtp_recorder_fixture() -> Iterator[SmtpRecorder]:
    """A recording SMTP server for one test, stopped at its end."""
    with SmtpRecorder() as server:
        yield server
