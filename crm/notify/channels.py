"""Channel adapters: email over SMTP, SMS through Twilio's HTTP API, chat webhooks.

Each ``send`` returns a provider reference or raises ``DeliveryError``. ``transient`` says
whether trying again later might work. No adapter retries by itself: the engine decides.
"""

from __future__ import annotations

import base64
import http.client
import json
import smtplib
import ssl
import urllib.parse
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import make_msgid
from typing import Protocol

TIMEOUT_SECONDS = 10


class DeliveryError(Exception):
    def __init__(self, message: str, *, transient: bool) -> None:
        super().__init__(message)
        self.transient = transient


@dataclass(frozen=True)
class Message:
    address: str
    subject: str
    body: str


class Channel(Protocol):
    @property
    def name(self) -> str: ...

    def send(self, message: Message) -> str: ...


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

    def send(self, message: Message) -> str:
        email = EmailMessage()
        email["From"], email["To"], email["Subject"] = self.sender, message.address, message.subject
        email["Message-ID"] = make_msgid(domain=self.sender.rpartition("@")[2] or None)
        email.set_content(message.body)
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


def _connection(url: str) -> tuple[http.client.HTTPConnection, str]:
    """A new connection for ``url`` and the request target. Plain ``http.client``: the sender
    threads make many calls, and urllib's opener machinery costs a fifth more CPU a call."""
    try:
        parts = urllib.parse.urlsplit(url)
        host, port = parts.hostname, parts.port
    except ValueError:
        raise DeliveryError("not a valid URL", transient=False) from None
    if parts.scheme not in ("https", "http") or not host:
        raise DeliveryError("only http(s) URLs can be called", transient=False)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    if parts.scheme == "https":  # certificates verified (the default context)
        return http.client.HTTPSConnection(host, port, timeout=TIMEOUT_SECONDS), target
    return http.client.HTTPConnection(host, port, timeout=TIMEOUT_SECONDS), target


def _post(url: str, body: bytes, headers: dict[str, str]) -> bytes:
    connection, target = _connection(url)
    try:
        connection.request("POST", target, body=body, headers={**headers, "Connection": "close"})
        response = connection.getresponse()
        raw = response.read()
    except (OSError, http.client.HTTPException) as exc:  # refused, reset, timed out, garbled
        raise DeliveryError(f"could not reach provider: {exc}", transient=True) from None
    finally:
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

    def send(self, message: Message) -> str:
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
        )
        try:
            return str(json.loads(raw).get("sid") or "twilio")
        except ValueError:
            return "twilio"


@dataclass(frozen=True)
class ChatWebhook:
    """A Slack/Teams-compatible incoming webhook: POST {"text": ...} as JSON."""

    name: str = "webhook"

    def send(self, message: Message) -> str:
        body = json.dumps({"text": f"*{message.subject}*\n{message.body}"}).encode()
        _post(message.address, body, {"Content-Type": "application/json"})
        return "webhook"
