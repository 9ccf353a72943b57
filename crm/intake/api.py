"""The public intake API for the service's websites: POST /api/v1/callback-requests."""

from __future__ import annotations

import json
import re
from typing import Any

from flask import Blueprint, Flask, Response, current_app, jsonify, request

from crm.auth.access import public, sessionless
from crm.database import unit_of_work
from crm.errors import DomainError, ErrorKind
from crm.extensions import csrf, limiter
from crm.intake import inbox, rate_limits, services
from crm.intake.callback import IntakeInvalid, parse_callback_request
from crm.intake.openapi import openapi_document
from crm.requestctx import request_id

bp = Blueprint("intake_api", __name__, url_prefix="/api/v1")
MAX_BODY = 16 * 1024
_IDEMPOTENCY_KEY = re.compile(r"^[\x21-\x7e]{1,255}$")


def problem(
    status: int, title: str, detail: str | None = None, errors: dict[str, list[str]] | None = None
) -> Response:
    """An RFC 9457 problem details response."""
    body: dict[str, Any] = {"type": "about:blank", "title": title, "status": status}
    if detail:
        body["detail"] = detail
    if errors:
        body["errors"] = [{"field": f, "message": m} for f, ms in errors.items() for m in ms]
    response = jsonify(body)
    response.status_code = status
    response.mimetype = "application/problem+json"
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="intake"'
    return response


def _settings() -> Any:
    return current_app.config["CRM_SETTINGS"]


def _bearer() -> str | None:
    header = request.headers.get("Authorization", "")
    return header[7:].strip() if header.lower().startswith("bearer ") else None


def _read_json() -> Any:
    """The JSON object in the body, or a problem Response explaining what is wrong."""
    if request.content_length is None and request.headers.get("Transfer-Encoding"):
        return problem(411, "Length required", "Send a Content-Length header.")
    if (request.content_length or 0) > MAX_BODY:
        return problem(413, "Request too large", f"The body must be at most {MAX_BODY} bytes.")
    if request.mimetype != "application/json":
        return problem(415, "Unsupported media type", "Send Content-Type: application/json.")
    try:
        payload = json.loads(request.get_data(cache=False, as_text=False) or b"")
    except (ValueError, UnicodeDecodeError):
        return problem(400, "Malformed JSON", "The body is not valid JSON.")
    if not isinstance(payload, dict):
        return problem(400, "Malformed request", "The body must be a JSON object.")
    return payload


def _created(answer: inbox.InboxAnswer) -> Response:
    response = jsonify(
        {
            "reference": answer.reference,
            "status": "received",
            "requested_again": answer.requested_again,
        }
    )
    response.status_code = 201
    if answer.replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return response


@bp.post("/callback-requests")
@public
@sessionless  # a website's key, never a staff session; crm.intake.rate_limits counts its limits
@limiter.exempt
def create_callback_request() -> Response:
    settings = _settings()
    if rate_limits.over_limit(
        request.remote_addr, settings.intake_per_ip_per_minute, settings.intake_global_per_minute
    ):
        return too_many_requests()
    key = services.authenticate_api_key(_bearer())
    if key is None:
        return problem(401, "Unauthorised", "Send a valid website API key as a Bearer token.")
    payload = _read_json()
    if isinstance(payload, Response):
        return payload
    idem = request.headers.get("Idempotency-Key")
    if idem is not None and not _IDEMPOTENCY_KEY.match(idem):
        return problem(400, "Bad Idempotency-Key", "Use 1-255 visible ASCII characters.")
    fingerprint = services.request_fingerprint(payload)
    key_id = key.id
    try:
        data = parse_callback_request(payload)
    except IntakeInvalid as exc:
        return problem(
            422, "Invalid callback request", "Some fields need correcting.", exc.field_errors
        )
    return _capture(key_id, data, idem, fingerprint)


def _capture(key_id: int, data: Any, idem: str | None, fingerprint: str) -> Response:
    """One committed inbox row, then 201: the engine builds the lead within a second."""
    try:
        answer = inbox.accept(
            data,
            source="web_form",
            channel="web_form",
            target_minutes=_settings().callback_target_minutes,
            api_key_id=key_id,
            idempotency_key=idem,
            request_hash=fingerprint if idem else None,
            remote_addr=request.remote_addr,
            request_id=request_id(),
            commit=True,
        )
    except DomainError as exc:
        if exc.kind == ErrorKind.CONFLICT and idem:
            # A twin request committed first: answer as it did, or refuse a different body.
            try:
                with unit_of_work():
                    previous = inbox.replay(key_id, idem, fingerprint)
            except DomainError as again:
                return problem(409, "Conflict", again.message)
            if previous is not None:
                return _created(previous)
        return problem(exc.http_status, "Request refused", exc.message, exc.field_errors)
    return _created(answer)


@bp.get("/openapi.json")
@public
def openapi() -> Response:
    return jsonify(openapi_document())


def too_many_requests() -> Response:
    return problem(429, "Too many requests", "Rate limit reached; retry in a minute.")


def init_intake_api(app: Flask) -> None:
    csrf.exempt(bp)
    app.register_blueprint(bp)
