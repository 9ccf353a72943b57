"""Shared helpers for the intake web tests: API keys, request bodies, row counts, leads."""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from html.parser import HTMLParser
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from crm import clock
from crm.auth.models import User
from crm.extensions import db
from crm.intake import services, wording
from crm.intake.callback import parse_callback_request
from crm.intake.models import CallbackInbox, CallbackRequest, Contact, Lead
from crm.oncall.engine import run_inbox
from crm.privacy.models import AuditEvent, ConsentRecord, DisclosureRecord
from crm.privacy.services import Actor
from tests.support.html import csrf_token

API_URL = "/api/v1/callback-requests"
PROBLEM_JSON = "application/problem+json"
XSS_NAME = "<script>alert(1)</script>"
XSS_MESSAGE = "<img src=x onerror=alert(1)>"
COUNTED = {
    "leads": Lead,
    "contacts": Contact,
    "callback_requests": CallbackRequest,
    "consent_records": ConsentRecord,
    "disclosure_records": DisclosureRecord,
    "callback_inbox": CallbackInbox,
}


def issue_key(name: str = "www.example-rehab-help.co.uk") -> str:
    """A fresh website API key (committed to the test's transaction); returns the secret."""
    _, secret = services.issue_api_key(name, Actor.system("tests"))
    db.session.commit()
    return secret


def body(**changes: Any) -> dict[str, Any]:
    """A valid callback request body; ``changes`` override fields (None removes one)."""
    payload: dict[str, Any] = {
        "name": "Marigold Featherstone",
        "phone": "07700 900123",
        "email": "marigold@example.com",
        "best_time_to_call": "Weekday evenings",
        "consent_to_contact": True,
        "consent_wording_version": wording.CONSENT_VERSION,
        "disclosure_wording_version": wording.DISCLOSURE_VERSION,
    }
    payload.update(changes)
    return {k: v for k, v in payload.items() if v is not None}


def post_api(
    client: FlaskClient,
    payload: Any,
    secret: str | None,
    *,
    idempotency_key: str | None = None,
    ip: str = "127.0.0.1",
    **kwargs: Any,
) -> Any:
    """POST to the intake API; ``payload`` as bytes/str is sent raw, anything else as JSON."""
    headers = dict(kwargs.pop("headers", {}))
    if secret is not None:
        headers["Authorization"] = f"Bearer {secret}"
    if idempotency_key is not None:
        headers["Idempotency-Key"] = idempotency_key
    data = payload if isinstance(payload, bytes | str) else json.dumps(payload)
    kwargs.setdefault("content_type", "application/json")
    return client.post(
        API_URL, data=data, headers=headers, environ_base={"REMOTE_ADDR": ip}, **kwargs
    )


def build_waiting_leads() -> int:
    """What the engine does within a second of a request reaching the inbox: build its lead
    (the real engine code, run here in the test's process). Returns how many it built."""
    db.session.rollback()  # only what was committed
    return run_inbox().leads


def counts() -> dict[str, int]:
    """Rows in every table a callback request writes to, read after discarding anything
    the request left uncommitted (so only committed work is counted), once the engine has
    built the leads of requests waiting in the inbox."""
    build_waiting_leads()
    return {
        name: db.session.scalar(select(func.count()).select_from(model)) or 0
        for name, model in COUNTED.items()
    }


def assert_problem(response: Any, status: int) -> dict[str, Any]:
    """An RFC 9457 problem details answer with this status; returns the parsed body."""
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == PROBLEM_JSON
    problem = json.loads(response.get_data(as_text=True))
    assert problem["status"] == status
    assert isinstance(problem["title"], str) and problem["title"]
    return problem


def error_fields(problem: dict[str, Any]) -> dict[str, list[str]]:
    """The problem's field errors as field -> messages."""
    fields: dict[str, list[str]] = {}
    for item in problem.get("errors", []):
        fields.setdefault(item["field"], []).append(item["message"])
    return fields


def lead_by_reference(reference: str) -> Lead | None:
    build_waiting_leads()  # only what was committed, once the engine has built it
    return db.session.scalar(select(Lead).where(Lead.reference == reference))


def audit_rows_after(last_id: int) -> list[AuditEvent]:
    return list(
        db.session.scalars(select(AuditEvent).where(AuditEvent.id > last_id).order_by("id"))
    )


def last_audit_id() -> int:
    return db.session.scalar(select(func.max(AuditEvent.id))) or 0


def make_lead(
    name: str = "Marigold Featherstone",
    phone: str = "07700 900123",
    *,
    email: str | None = None,
    at: datetime | None = None,
    target_minutes: int = 15,
    source: str = "web_form",
    **extra: Any,
) -> Lead:
    """A lead captured through the service (as the API would), optionally at a pinned time."""
    payload = body(name=name, phone=phone, email=email, **extra)
    if email is None:
        payload.pop("email", None)
    data = parse_callback_request(payload)
    with clock.pinned(at or clock.now()):
        result = services.capture_callback_request(
            data,
            source=source,
            channel="web_form" if source == "web_form" else "phone",
            target_minutes=target_minutes,
            actor=Actor.system("tests"),
        )
        db.session.commit()
    return result.lead


def give(lead: Lead, owner: User | None) -> None:
    """Make ``owner`` (None: nobody) the lead's owner, as a manager's reassignment would."""
    if lead.owner_id == (owner.id if owner else None):
        return
    services.assign(lead, owner, Actor.system("tests"), "test setup")
    db.session.commit()


@contextmanager
def settings_changed(app: Flask, **changes: Any) -> Iterator[None]:
    """Run with some settings changed (read per request by the intake views), then restore."""
    previous = app.config["CRM_SETTINGS"]
    app.config["CRM_SETTINGS"] = dataclasses.replace(previous, **changes)
    try:
        yield
    finally:
        app.config["CRM_SETTINGS"] = previous


_SECRET = re.compile(r"crm_[0-9a-f]{8}_[A-Za-z0-9_-]{20,}")


def secret_in(html: str) -> str | None:
    """The API key secret shown on a page, if any."""
    match = _SECRET.search(html)
    return match.group(0) if match else None


class _Controls(HTMLParser):
    """Form controls, labels and elements by id from a page (stdlib parser, no regexes)."""

    def __init__(self) -> None:
        super().__init__()
        self.controls: list[dict[str, str | None]] = []
        self.label_for: set[str] = set()
        self.textareas: dict[str, str] = {}
        self._textarea: str | None = None
        self.meta: list[dict[str, str | None]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = {"tag": tag, **dict(attrs)}
        if tag in ("input", "select", "textarea"):
            self.controls.append(attributes)
        if tag == "textarea":
            self._textarea = attributes.get("name") or ""
            self.textareas[self._textarea] = ""
        if tag == "label" and attributes.get("for"):
            self.label_for.add(str(attributes["for"]))
        if tag == "meta":
            self.meta.append(attributes)

    def handle_endtag(self, tag: str) -> None:
        if tag == "textarea":
            self._textarea = None

    def handle_data(self, data: str) -> None:
        if self._textarea is not None:
            self.textareas[self._textarea] += data


def parse_page(html: str) -> _Controls:
    parser = _Controls()
    parser.feed(html)
    parser.close()
    return parser


def control(html: str, name: str, value: str | None = None) -> dict[str, str | None]:
    """The (first) input, select or textarea called ``name`` (with ``value``, for options)."""
    for attributes in parse_page(html).controls:
        if attributes.get("name") == name and (value is None or attributes.get("value") == value):
            return attributes
    raise AssertionError(f"no form control named {name!r} on the page")


def schema_problems(value: Any, schema: dict[str, Any], document: dict[str, Any]) -> list[str]:
    """Where ``value`` breaks ``schema`` (the JSON Schema keywords our OpenAPI uses).

    jsonschema is not a dependency; this checks the structure the document promises.
    """
    if "$ref" in schema:
        target: Any = document
        for part in schema["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        return schema_problems(value, target, document)
    kinds = {"string": str, "integer": int, "boolean": bool, "array": list, "object": dict}
    expected = schema.get("type")
    if expected and not isinstance(value, kinds[expected]):
        return [f"{value!r} is not of type {expected}"]
    problems = _value_problems(value, schema)
    if isinstance(value, list):
        for item in value:
            problems += schema_problems(item, schema.get("items", {}), document)
    if isinstance(value, dict):
        problems += _object_problems(value, schema, document)
    return problems


def _value_problems(value: Any, schema: dict[str, Any]) -> list[str]:
    problems = []
    if "const" in schema and value != schema["const"]:
        problems.append(f"{value!r} is not {schema['const']!r}")
    if "enum" in schema and value not in schema["enum"]:
        problems.append(f"{value!r} is not one of {schema['enum']}")
    if isinstance(value, str) and len(value) > schema.get("maxLength", len(value)):
        problems.append(f"{value[:20]!r}... is longer than {schema['maxLength']}")
    if isinstance(value, str) and not re.search(schema.get("pattern", ""), value):
        problems.append(f"{value!r} does not match {schema['pattern']}")
    if isinstance(value, list) and len(value) > schema.get("maxItems", len(value)):
        problems.append(f"more than {schema['maxItems']} items")
    return problems


def _object_problems(
    value: dict[str, Any], schema: dict[str, Any], document: dict[str, Any]
) -> list[str]:
    properties = schema.get("properties", {})
    problems = [f"{name} is required" for name in schema.get("required", []) if name not in value]
    if schema.get("additionalProperties") is False:
        problems += [f"{name} is not allowed" for name in value if name not in properties]
    for name, item in value.items():
        if name in properties:
            problems += [f"{name}: {p}" for p in schema_problems(item, properties[name], document)]
    return problems


# --- the lead screens ------------------------------------------------------------------------


def on_shift(user):
    """Mark an admissions person available, so new leads come to them round-robin."""
    user.available = True
    db.session.commit()
    return user


def row_of(html: str, reference: str) -> str:
    """The queue row showing ``reference``."""
    marker = f'<tr data-lead="{reference}">'
    assert marker in html, f"{reference} is not on the queue"
    return html.split(marker, 1)[1].split("</tr>", 1)[0]


def lead_page(client, lead_id: int) -> str:
    response = client.get(f"/admin/leads/{lead_id}/")
    assert response.status_code == 200
    return response.get_data(as_text=True)


def act(client, lead_id: int, action: str, **data) -> str:
    """Submit one of the lead page's forms (with its CSRF token); the page it lands on."""
    token = csrf_token(lead_page(client, lead_id))
    response = client.post(
        f"/admin/leads/{lead_id}/{action}",
        data={"csrf_token": token, **data},
        follow_redirects=True,
    )
    assert response.status_code == 200
    return response.get_data(as_text=True)


def stage_of(lead_id: int) -> str:
    db.session.rollback()
    return db.session.get(Lead, lead_id).stage


def connect(client, lead_id: int) -> str:
    return act(
        client,
        lead_id,
        "call",
        direction="outbound",
        outcome="connected",
        duration_minutes="5",
        notes="Spoke to the caller.",
    )


ASSESSMENT = {
    "substances": ["alcohol"],
    "primary_substance": "alcohol",
    "usage_duration": "1_to_5_years",
    "usage_frequency": "daily",
    "cravings": "y",
    "withdrawal": "y",
    "anxiety": "y",
    "treatment_wanted": "residential_rehab",
    "funding": "self_funded",
    "budget_band": "1000_1500",
    "timeframe": "within_a_week",
    "home_postcode": "ls1 4ap",
    "max_travel_miles": "100",
    "age": "34",
    "gender": "female",
}


def assess(client, lead_id: int, **answers) -> object:
    token = csrf_token(client.get(f"/admin/leads/{lead_id}/assessment").get_data(as_text=True))
    return client.post(
        f"/admin/leads/{lead_id}/assessment",
        data={"csrf_token": token, **answers},
        follow_redirects=True,
    )
