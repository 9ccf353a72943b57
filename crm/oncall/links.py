"""Signed acknowledge links sent in page messages, and back-office links."""

from __future__ import annotations

from typing import Any

from flask import current_app
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

SALT = "page-acknowledge"


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=SALT)


def _base() -> str:
    return str(current_app.config["CRM_SETTINGS"].public_base_url).rstrip("/")


def ack_token(page_id: int, user_id: int | None) -> str:
    return _serializer().dumps({"p": page_id, "u": user_id})


def ack_url(page_id: int, user_id: int | None = None) -> str:
    return f"{_base()}/ack/{ack_token(page_id, user_id)}"


def page_url(page_id: int) -> str:
    return f"{_base()}/admin/pages/{page_id}/"


def lead_url(lead_id: int) -> str:
    return f"{_base()}/admin/leads/{lead_id}/"


def invoice_url(invoice_id: int) -> str:
    return f"{_base()}/admin/fees/invoices/{invoice_id}/"


def rights_request_url(request_id: int) -> str:
    return f"{_base()}/admin/rights-requests/{request_id}/"


def read_ack_token(token: str) -> tuple[int, int | None]:
    """The (page id, user id) in a link; ValueError saying why a link is refused."""
    max_age = int(current_app.config["CRM_SETTINGS"].ack_link_hours) * 3600
    try:
        data: Any = _serializer().loads(token, max_age=max_age)
    except SignatureExpired:
        raise ValueError(
            "This acknowledge link has expired. Open the page in the back office instead."
        ) from None
    except BadSignature:
        raise ValueError("This acknowledge link is not valid.") from None
    if not isinstance(data, dict) or not isinstance(data.get("p"), int):
        raise ValueError("This acknowledge link is not valid.")
    user = data.get("u")
    return int(data["p"]), int(user) if isinstance(user, int) else None
