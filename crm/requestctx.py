"""Per-request facts for the audit trail: request id, client address, the acting user."""

from __future__ import annotations

import re
import uuid

from flask import Flask, g, request
from flask_login import current_user

from crm.privacy.services import Actor

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")


def _assign_request_id() -> None:
    supplied = request.headers.get("X-Request-ID", "")
    g.request_id = supplied if _REQUEST_ID.match(supplied) else uuid.uuid4().hex


def request_id() -> str | None:
    value = g.get("request_id")
    return str(value) if value else None


def current_actor() -> Actor:
    """The logged-in staff member (or anonymous) and where the request came from."""
    ip = request.remote_addr
    if current_user and current_user.is_authenticated:
        return Actor(current_user.id, current_user.email, current_user.role, ip, request_id())
    return Actor(None, None, None, ip, request_id())


def init_request_context(app: Flask) -> None:
    app.before_request(_assign_request_id)

    @app.after_request
    def _echo_request_id(response):  # type: ignore[no-untyped-def]
        if g.get("request_id"):
            response.headers["X-Request-ID"] = g.request_id
        return response
