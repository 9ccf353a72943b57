"""The passkey ceremonies' endpoints: options as JSON, the browser's answer posted back
(crm/static/js/passkeys.js). The challenge waits in the signed session, one per ceremony."""

from __future__ import annotations

from typing import Any

from flask import abort, current_app, flash, g, jsonify, redirect, request, session, url_for
from flask_login import current_user

from crm.auth import passkeys
from crm.auth.access import public, requires
from crm.auth.mfa_views import limit_codes, policy
from crm.auth.permissions import Permission
from crm.auth.views import bp, safe_next
from crm.database import unit_of_work
from crm.errors import DomainError
from crm.requestctx import current_actor


def _rp() -> passkeys.RelyingParty:
    return passkeys.RelyingParty.from_base_url(current_app.config["CRM_SETTINGS"].public_base_url)


def _refused(message: str, status: int = 400) -> Any:
    return jsonify({"ok": False, "message": message}), status


@bp.route("/account/passkeys/options", methods=["POST"])
@requires(Permission.CHANGE_OWN_PASSWORD)
def passkey_register_options() -> Any:
    options, challenge = passkeys.registration_options(current_user, _rp())
    session["passkey_register"] = challenge
    return current_app.response_class(options, mimetype="application/json")


@bp.route("/account/passkeys", methods=["POST"])
@requires(Permission.CHANGE_OWN_PASSWORD)
def passkey_register() -> Any:
    challenge = session.pop("passkey_register", None)
    payload = request.get_json(silent=True) or {}
    refused = ""
    with unit_of_work():  # a refusal's audit event is kept; nothing else is written
        try:
            passkeys.register(
                current_user.id,
                payload.get("credential"),
                challenge,
                payload.get("name"),
                _rp(),
                current_actor(),
            )
        except DomainError as exc:
            refused = exc.message
    if refused:
        return _refused(refused)
    flash("Passkey added.", "success")
    return jsonify({"ok": True, "next": url_for("auth.security")})


@bp.route("/account/passkeys/<int:passkey_id>/remove", methods=["POST"])
@requires(Permission.CHANGE_OWN_PASSWORD)
def remove_passkey(passkey_id: int) -> Any:
    try:
        with unit_of_work():
            passkeys.remove(current_user.id, passkey_id, policy(), current_actor())
    except DomainError as exc:
        if exc.kind.value == "not_found":
            abort(404)
        flash(exc.message, "error")
    else:
        flash("Passkey removed.", "success")
    return redirect(url_for("auth.security"))


@bp.route("/login/passkey/options", methods=["POST"])
@public
def passkey_login_options() -> Any:
    if not current_user.is_authenticated:
        return _refused("Sign in with your password first.", 401)
    try:
        options, challenge = passkeys.authentication_options(current_user.id, _rp())
    except DomainError as exc:
        return _refused(exc.message)
    session["passkey_login"] = challenge
    return current_app.response_class(options, mimetype="application/json")


@bp.route("/login/passkey", methods=["POST"])
@public
@limit_codes
def passkey_login() -> Any:
    if not current_user.is_authenticated:
        return _refused("Sign in with your password first.", 401)
    challenge = session.pop("passkey_login", None)
    payload = request.get_json(silent=True) or {}
    refused = ""
    with unit_of_work():
        try:
            passkeys.sign_in(
                current_user.id,
                session.get("sid", ""),
                payload.get("credential"),
                challenge,
                _rp(),
                current_actor(),
            )
        except DomainError as exc:
            refused = exc.message
    if refused:
        g.second_step_failed = True
        return _refused(refused)
    return jsonify(
        {"ok": True, "next": safe_next(request.args.get("next")) or url_for("admin.index")}
    )
