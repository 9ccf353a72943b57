"""Channel adapters: email over SMTP, SMS through Twilio's HTTP API, chat webhooks.

Each ``send`` returns a provider reference or raises ``DeliveryError``. ``transient`` says
whether trying again later might work; ``maybe_sent`` that the request may have reached the
provider with no answer coming back (a timeout, a dropped connection), so sending again could
page someone twice: the engine records such a message ``unknown`` and never resends it. No
adapter retries by itself: the engine decides.

The HTTP adapters post on keep-alive connections when the caller passes ``Connections`` (the
engine's sender threads do): over TLS to a real provider a new connection per message costs a
handshake, and on this machine's loopback a fifth of the CPU of a send. A connection is reused
only while it is known good, so a reused connection never turns a sendable message into an
unknown one (``Connections``).
"""

from __future__ import annotations

import base64
import http.client
import json
import select
import smtplib
import ssl
import threading
import time
import urllib.parse
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import make_msgid
from typing import Protocol

TIMEOUT_SECONDS = 10
# An idle keep-alive connection is reused only this soon after its last answer: under the
# shortest idle timeout common servers use (Apache's 5 s), so the server has not dropped it.
KEEP_ALIVE_SECONDS = 4.0


class DeliveryError(Exception):
    def __init__(self, message: str, *, transient: bool, maybe_sent: bool = False) -> None:
        super().__init__(message)
        self.transient = transient and not maybe_sent
        self.maybe_sent = maybe_sent


@dataclass(frozen=True)
class Attachment:
    filename: str
    content_type: str  # "application/pdf"
    content: bytes


@dataclass(frozen=True)
class Message:
    address: str
    subject: str
    body: str
    attachments: tuple[Attachment, ...] = ()


Origin = tuple[str, str, int | None]  # scheme, host, port


class Connections:
    """Keep-alive HTTP connections shared by sender threads, by origin; ``close`` ends them.

    A send takes an idle connection (or makes a new one) and gives it back after a complete
    answer the server will keep open. An idle one is reused only within ``keep_alive_seconds``
    and only if the server has not closed it meanwhile (its socket would be readable: the
    server's FIN, or bytes nobody asked for); otherwise it is closed and a new one made, before
    anything is written.
    """

    def __init__(self, keep_alive_seconds: float = KEEP_ALIVE_SECONDS) -> None:
        self.keep_alive_seconds = keep_alive_seconds
        self._idle: dict[Origin, list[tuple[http.client.HTTPConnection, float]]] = {}
        self._lock = threading.Lock()
        self._closed = False

    def take(self, origin: Origin) -> http.client.HTTPConnection | None:
        """A reusable idle connection to ``origin``, or None: make a new one."""
        while True:
            with self._lock:
                idle = self._idle.get(origin)
                if not idle:
                    return None
                connection, since = idle.pop()
            if time.monotonic() - since <= self.keep_alive_seconds and _quiet(connection):
                return connection
            connection.close()

    def give_back(self, origin: Origin, connection: http.client.HTTPConnection) -> None:
        with self._lock:
            if not self._closed:
                self._idle.setdefault(origin, []).append((connection, time.monotonic()))
                return
        connection.close()

    def close(self) -> None:
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, {}
        for connections in idle.values():
            for connection, _ in connections:
                connection.close()


def _quiet(connection: http.client.HTTPConnection) -> bool:
    """True if an idle connection's socket is open with nothing to read, as it should be."""
    sock = connection.sock
    if sock is None:
        return False
    try:
        readable, _, _ = select.select([sock], [], [], 0)
    except (OSError, ValueError):
        return False
    return not readable


class Channel(Protocol):
    @property
    def name(self) -> str: ...

    def send(self, message: Message, connections: Connections | None = None) -> str: ...


@dataclass(frozen=True)
class SmtpEmail:
    """Email through an SMTP server (the compose mail catcher, or the provider's relay)."""

    host: str
    port: int
    sender: str
    username: str | None = None
    password: str | None = None
    starttls: bool = False
    name: str = "email"

    def send(self, message: Message, connections: Connections | None = None) -> str:
        """One SMTP session per message (``connections`` is for HTTP channels)."""
        email = EmailMessage()
        email["From"], email["To"], email["Subject"] = self.sender, message.address, message.subject
        email["Message-ID"] = make_msgid(domain=self.sender.rpartition("@")[2] or None)
        email.set_content(message.body)
        for attachment in message.attachments:
            maintype, _, subtype = attachment.content_type.partition("/")
            email.add_attachment(
                attachment.content, maintype=maintype, subtype=subtype, filename=attachment.filename
            )
        try:
            with smtplib.SMTP(self.host, self.port, timeout=TIMEOUT_SECONDS) as smtp:
                if self.starttls:
                    smtp.starttls(context=ssl.create_default_context())
                if self.username:
                    smtp.login(self.username, self.password or "")
                refused = smtp.send_message(email)
        except smtplib.SMTPRecipientsRefused as exc:
            raise DeliveryError(f"recipient refused: {exc}", transient=False) from None
        except (OSError, smtplib.SMTPException) as exc:
            raise DeliveryError(f"SMTP failed: {exc}", transient=True) from None
        if refused:
            raise DeliveryError(f"recipient refused: {refused}", transient=False)
        return str(email.get("Message-ID") or "smtp")


def _origin(url: str) -> tuple[Origin, str]:
    """The origin to connect to for ``url``, and the request target."""
    try:
        parts = urllib.parse.urlsplit(url)
        host, port = parts.hostname, parts.port
    except ValueError:
        raise DeliveryError("not a valid URL", transient=False) from None
    if parts.scheme not in ("https", "http") or not host:
        raise DeliveryError("only http(s) URLs can be called", transient=False)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return (parts.scheme, host, port), target


def _connect(origin: Origin) -> http.client.HTTPConnection:
    """A new, connected connection. Plain ``http.client``: the sender threads make many calls,
    and urllib's opener machinery costs a fifth more CPU a call. Nothing has been sent if this
    fails, so trying again later is safe."""
    scheme, host, port = origin
    if scheme == "https":  # certificates verified (the default context)
        connection: http.client.HTTPConnection = http.client.HTTPSConnection(
            host, port, timeout=TIMEOUT_SECONDS
        )
    else:
        connection = http.client.HTTPConnection(host, port, timeout=TIMEOUT_SECONDS)
    try:
        connection.connect()
    except (OSError, http.client.HTTPException) as exc:  # refused, unreachable, TLS failed
        connection.close()
        raise DeliveryError(f"could not reach provider: {exc}", transient=True) from None
    return connection


def _post(
    url: str, body: bytes, headers: dict[str, str], connections: Connections | None = None
) -> bytes:
    origin, target = _origin(url)
    connection = (connections.take(origin) if connections is not None else None) or _connect(origin)
    if connections is None:
        headers = {**headers, "Connection": "close"}
    try:
        connection.request("POST", target, body=body, headers=headers)
        response = connection.getresponse()
        raw = response.read()
    except (OSError, http.client.HTTPException) as exc:  # timed out, reset, dropped, garbled
        connection.close()
        raise DeliveryError(
            f"no answer from provider ({exc or type(exc).__name__}): it may have been"
            " delivered, so it is not sent again",
            transient=False,
            maybe_sent=True,
        ) from None
    if connections is not None and not response.will_close:
        connections.give_back(origin, connection)
    else:
        connection.close()
    if response.status >= 300:  # a provider API answers a POST directly; no redirects
        transient = response.status >= 500 or response.status == 429
        raise DeliveryError(f"HTTP {response.status} from provider", transient=transient)
    return raw


@dataclass(frozen=True)
class TwilioSms:
    """SMS through Twilio's Messages API (plain HTTPS, form-encoded, basic auth)."""

    account_sid: str
    auth_token: str
    sender: str
    api_base: str = "https://api.twilio.com"
    name: str = "sms"

    def send(self, message: Message, connections: Connections | None = None) -> str:
        url = f"{self.api_base.rstrip('/')}/2010-04-01/Accounts/{self.account_sid}/Messages.json"
        form = urllib.parse.urlencode(
            {"To": message.address, "From": self.sender, "Body": message.body[:1500]}
        ).encode()
        token = base64.b64encode(f"{self.account_sid}:{self.auth_token}".encode()).decode()
        raw = _post(
            url,
            form,
            {
                "Authorization": f"Basic {token}",
                "Content-Type": "application/x-www-form-urlencoded",
            },
            connections,
        )
        try:
            return str(json.loads(raw).get("sid") or "twilio")
        except ValueError:
            return "twilio"


@dataclass(frozen=True)
class ChatWebhook:
    """A Slack/Teams-compatible incoming webhook: POST {"text": ...} as JSON."""

    name: str = "webhook"

    def send(self, message: Message, connections: Connections | None = None) -> str:
        body = json.dumps({"text": f"*{message.subject}*\n{message.body}"}).encode()
        _post(message.address, body, {"Content-Type": "application/json"}, connections)
        return "webhook"
