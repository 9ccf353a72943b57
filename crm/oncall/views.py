"""Public on-call endpoints: the acknowledge link from a message, and iCal feeds."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Flask, Response, abort, render_template, request
from flask_login import current_user

from crm.auth.access import public
from crm.auth.models import User
from crm.database import unit_of_work
from crm.errors import DomainError
from crm.extensions import db
from crm.oncall import calendar, links, paging
from crm.oncall.models import Page
from crm.privacy.services import Actor, record_audit_event
from crm.requestctx import request_id

ack_bp = Blueprint("ack", __name__)
calendar_bp = Blueprint("calendar", __name__, url_prefix="/ical")


@ack_bp.route("/ack/<token>", methods=["GET", "POST"])
@public
def acknowledge(token: str) -> Any:
    """GET shows a confirmation (link scanners follow GETs); only the POST acknowledges."""
    try:
        page_id, user_id = links.read_ack_token(token)
    except ValueError as exc:
        return render_template("oncall/ack.html", error=str(exc), page=None), 400
    if user_id is None and current_user.is_authenticated:
        user_id = current_user.id
    page = db.session.get(Page, page_id)
    if page is None or user_id is None:
        message = "This link does not name who is acknowledging; log in and use the page."
        return render_template("oncall/ack.html", error=message, page=None), 400
    if request.method == "GET":
        # The confirmation shows the page's summary (it names the lead): an audited read by
        # the person the link was sent to.
        with unit_of_work():
            record_audit_event(_link_actor(user_id), "view", object_type="pages", object_id=page_id)
            return render_template("oncall/ack.html", error=None, page=page, done=False)
    actor = Actor(user_id, None, None, request.remote_addr, request_id())
    try:
        with unit_of_work():
            paging.acknowledge(page_id, user_id, actor, via="message link")
    except DomainError as exc:
        return render_template("oncall/ack.html", error=exc.message, page=page), 409
    return render_template(
        "oncall/ack.html", error=None, page=db.session.get(Page, page_id), done=True
    )


def _link_actor(user_id: int) -> Actor:
    """The staff member an acknowledge link names, acting from this request's address."""
    user = db.session.get(User, user_id)
    email, role = (user.email, user.role) if user is not None else (None, None)
    return Actor(user_id, email, role, request.remote_addr, request_id())


def _ics(body: bytes | None) -> Response:
    if body is None:
        abort(404)
    return Response(
        body,
        mimetype="text/calendar",
        headers={"Content-Disposition": "inline; filename=on-call.ics"},
    )


@calendar_bp.get("/rota/<token>.ics")
@public
def rota_feed(token: str) -> Response:
    return _ics(calendar.rota_feed(token))


@calendar_bp.get("/person/<token>.ics")
@public
def person_feed(token: str) -> Response:
    return _ics(calendar.person_feed(token))


def init_oncall_views(app: Flask) -> None:
    app.register_blueprint(ack_bp)
    app.register_blueprint(calendar_bp)
