"""The hosted "Receive a callback" page, which the service's website links to or frames."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Flask, current_app, g, render_template, request

from crm.auth.access import public
from crm.database import unit_of_work
from crm.extensions import limiter
from crm.intake import inbox, wording
from crm.intake.callback import IntakeInvalid, parse_callback_request
from crm.intake.forms import CallbackForm
from crm.requestctx import request_id

bp = Blueprint("callback", __name__)


def _settings() -> Any:
    return current_app.config["CRM_SETTINGS"]


def _per_ip() -> str:
    return f"{_settings().intake_per_ip_per_minute} per minute"


def _render(form: CallbackForm, status: int = 200) -> Any:
    g.frame_ancestors = _settings().callback_frame_ancestors
    return render_template("intake/callback.html", form=form, wording=wording), status


def _show_errors(form: CallbackForm, errors: dict[str, list[str]]) -> None:
    for name, problems in errors.items():
        field = getattr(form, name, None)
        if field is not None and hasattr(field, "errors"):
            field.errors = [*list(field.errors), *problems]
        else:
            form.form_errors.append("; ".join(problems))


@bp.route("/callback", methods=["GET", "POST"])
@public
@limiter.limit(_per_ip, methods=["POST"], scope="callback-form")
def callback() -> Any:
    form = CallbackForm()
    if request.method == "GET":
        return _render(form)
    if not form.validate_on_submit():
        if form.csrf_token.errors:
            form.form_errors.append(
                "The form expired. Please check your details and send it again."
            )
            return _render(form, 400)
        return _render(form, 422)
    if form.website.data:
        # A bot filled the hidden field: answer like a success, store nothing.
        g.frame_ancestors = _settings().callback_frame_ancestors
        return render_template("intake/callback_thanks.html", reference=None, wording=wording)
    payload = form.payload() | {
        "consent_wording_version": wording.CONSENT_VERSION,
        "disclosure_wording_version": wording.DISCLOSURE_VERSION,
    }
    try:
        data = parse_callback_request(payload)
    except IntakeInvalid as exc:
        _show_errors(form, exc.field_errors)
        return _render(form, 422)
    # The same write path as the website API: one inbox row, the lead built by the engine.
    with unit_of_work():
        answer = inbox.accept(
            data,
            source="web_form",
            channel="web_form",
            target_minutes=_settings().callback_target_minutes,
            remote_addr=request.remote_addr,
            request_id=request_id(),
        )
        reference = answer.reference
    g.frame_ancestors = _settings().callback_frame_ancestors
    return render_template("intake/callback_thanks.html", reference=reference, wording=wording)


def too_many_requests() -> Any:
    form = CallbackForm()
    form.form_errors.append(
        "Too many requests from your connection. Please wait a minute, or call us instead."
    )
    return _render(form, 429)


def init_callback_form(app: Flask) -> None:
    app.register_blueprint(bp)
