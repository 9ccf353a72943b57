"""The second step after the password, enrolling an authenticator app, recovery codes, the
account's security page and step-up; and the gate that keeps a half-signed-in session to
these pages until its second step is done."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

import segno
from flask import (
    Flask,
    current_app,
    flash,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_login import current_user

from crm.auth import factors, totp
from crm.auth.access import is_sessionless_request, public, requires
from crm.auth.models import StaffSession
from crm.auth.permissions import Permission
from crm.auth.views import bp, safe_next
from crm.database import unit_of_work
from crm.errors import DomainError
from crm.extensions import db, limiter
from crm.requestctx import current_actor

F = TypeVar("F", bound=Callable[..., Any])
# What a session waiting for its second step may open (and static files).
OPEN_BEFORE_SECOND_STEP = frozenset(
    {
        "auth.login",
        "auth.logout",
        "auth.second_step",
        "auth.enrol",
        "auth.recovery_codes",
        "auth.passkey_login_options",
        "auth.passkey_login",
        "health.healthz",
    }
)


def policy() -> factors.Policy:
    return factors.Policy.from_settings(current_app.config["CRM_SETTINGS"])


def _staff_session() -> StaffSession | None:
    sid = session.get("sid")
    return db.session.get(StaffSession, sid) if sid else None


def after_password(next_url: str | None) -> Any:
    """Where the login form sends a person whose password was right."""
    step = factors.next_step(current_user, policy())
    if step is None:
        with unit_of_work():
            row = _staff_session()
            if row is not None:
                row.second_factor = "none"  # optional for this role, and nothing enrolled
        return redirect(next_url or url_for("admin.index"))
    target = "auth.second_step" if step == "verify" else "auth.enrol"
    return redirect(url_for(target, next=next_url) if next_url else url_for(target))


def _gate() -> Any:
    endpoint = request.endpoint or ""
    if endpoint in OPEN_BEFORE_SECOND_STEP or endpoint.endswith("static") or not endpoint:
        return None
    if is_sessionless_request():  # a website's key, not a staff session
        return None
    if not current_user.is_authenticated:
        return None
    row = _staff_session()
    if row is None or row.second_factor is not None:
        return None
    return after_password(safe_next(request.full_path if request.method == "GET" else None))


def account_key() -> str:
    return f"second-step:{current_user.get_id() if current_user.is_authenticated else '-'}"


def code_failed(_response: Any) -> bool:
    return bool(g.get("second_step_failed"))


def code_limit() -> str:
    s = current_app.config["CRM_SETTINGS"]
    return f"{s.login_failures_per_account} per {s.login_failure_window_minutes} minutes"


# One limit for every way of answering the second step: wrong answers per account.
limit_codes = limiter.limit(
    code_limit, key_func=account_key, methods=["POST"], deduct_when=code_failed, scope="mfa"
)


def _signed_in_or_login() -> Any:
    """Someone not signed in with a password has no second step to take: to the start."""
    if not current_user.is_authenticated or _staff_session() is None:
        return redirect(url_for("home"), code=303)
    return None


@bp.route("/login/second-step", methods=["GET", "POST"])
@public
@limit_codes
def second_step() -> Any:
    """The code from the authenticator app, or a recovery code, after the password."""
    redirect_away = _signed_in_or_login()
    if redirect_away is not None:
        return redirect_away
    next_url = safe_next(request.args.get("next"))
    have = factors.factors_of(current_user.id)
    if request.method == "POST":
        result = _check_second_factor()
        if result is not None:
            return redirect(
                result if result.startswith("/") else next_url or url_for("admin.index")
            )
        g.second_step_failed = True
    return render_template("auth/second_step.html", factors=have, next_url=next_url, step_up=False)


def _check_second_factor() -> str | None:
    """Check the posted code; a path (or "ok") on success, None (with a flash) on failure.
    The audit event of a failure is committed too: only the code check itself is refused."""
    sid, actor, user_id = session.get("sid", ""), current_actor(), current_user.id
    left, refused = None, ""
    with unit_of_work():
        try:
            if request.form.get("recovery_code"):
                left = factors.use_recovery_code(
                    user_id, sid, request.form.get("recovery_code"), actor
                )
            else:
                factors.verify_code(user_id, sid, request.form.get("code"), actor)
        except DomainError as exc:
            refused = exc.message
    if refused:
        flash(refused, "error")
        return None
    if left is not None:
        flash(
            f"Recovery code accepted. You have {left} left: make new ones now on this page.",
            "warning",
        )
        return url_for("auth.security")
    return "ok"


@bp.route("/login/enrol", methods=["GET", "POST"])
@public
@limit_codes
def enrol() -> Any:
    """Set up an authenticator app: scan the QR code, confirm with a code."""
    redirect_away = _signed_in_or_login()
    if redirect_away is not None:
        return redirect_away
    secret_key = current_app.config["SECRET_KEY"]
    if request.method == "POST":
        codes: list[str] | None = None
        refused = ""
        with unit_of_work():  # a refusal's audit event is kept; nothing else was changed
            try:
                codes = factors.confirm_totp(
                    current_user.id,
                    request.form.get("token"),
                    request.form.get("code"),
                    secret_key,
                    current_actor(),
                )
                factors.mark_passed(session.get("sid", ""), current_user.id, "totp")
            except DomainError as exc:
                refused = exc.message
        if not refused:
            session["recovery_codes"] = codes
            flash("Your authenticator app is set up.", "success")
            next_url = safe_next(request.args.get("next"))
            if codes:
                return redirect(url_for("auth.recovery_codes", next=next_url))
            return redirect(next_url or url_for("admin.index"))
        g.second_step_failed = True
        flash(refused, "error")
    try:
        with unit_of_work():
            secret, token = factors.start_totp(current_user.id, secret_key)
    except DomainError as exc:
        flash(exc.message, "error")
        return redirect(url_for("auth.security"))
    uri = totp.provisioning_uri(secret, current_user.email)
    qr = segno.make(uri, error="m").svg_data_uri(scale=5)
    return render_template(
        "auth/enrol.html",
        secret=secret,
        token=token,
        qr=qr,
        required=policy().requires(current_user.role),
    )


@bp.route("/login/recovery-codes")
@public
def recovery_codes() -> Any:
    """The new recovery codes, shown once (they are stored only as hashes)."""
    redirect_away = _signed_in_or_login()
    if redirect_away is not None:
        return redirect_away
    codes = session.pop("recovery_codes", None)
    if not codes:
        return redirect(url_for("auth.security"))
    return render_template(
        "auth/recovery_codes.html", codes=codes, next_url=safe_next(request.args.get("next"))
    )


@bp.route("/account/security", methods=["GET"])
@requires(Permission.CHANGE_OWN_PASSWORD)
def security() -> Any:
    from crm.auth.models import Passkey

    passkeys = db.session.scalars(
        db.select(Passkey).where(Passkey.user_id == current_user.id).order_by(Passkey.id)
    ).all()
    return render_template(
        "auth/security.html",
        factors=factors.factors_of(current_user.id),
        passkeys=passkeys,
        required=policy().requires(current_user.role),
    )


@bp.route("/account/security/recovery-codes", methods=["POST"])
@requires(Permission.CHANGE_OWN_PASSWORD)
def new_recovery_codes() -> Any:
    if not factors.factors_of(current_user.id).any:
        flash("Set up an authenticator app or a passkey first.", "error")
        return redirect(url_for("auth.security"))
    with unit_of_work():
        session["recovery_codes"] = factors.new_recovery_codes(current_user.id, current_actor())
    return redirect(url_for("auth.recovery_codes"))


@bp.route("/account/security/authenticator/remove", methods=["POST"])
@requires(Permission.CHANGE_OWN_PASSWORD)
def remove_authenticator() -> Any:
    try:
        with unit_of_work():
            factors.remove_totp(current_user.id, policy(), current_actor())
    except DomainError as exc:
        flash(exc.message, "error")
    else:
        flash("The authenticator app was removed.", "success")
    return redirect(url_for("auth.security"))


def step_up_minutes() -> int:
    return int(current_app.config["CRM_SETTINGS"].step_up_minutes)


def fresh_second_factor(view: F) -> F:
    """Exports and downloads: a second factor within the last 15 minutes, or step up first.
    Someone with no factor (optional for their role, none enrolled) has nothing to step up to."""

    @wraps(view)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        stale = (
            current_user.is_authenticated
            and factors.factors_of(current_user.id).any
            and not factors.is_fresh(session.get("sid", ""), step_up_minutes())
        )
        if stale:
            return redirect(url_for("auth.step_up", next=request.full_path.rstrip("?")))
        return view(*args, **kwargs)

    return guarded  # type: ignore[return-value]


@bp.route("/login/step-up", methods=["GET", "POST"])
@requires(Permission.VIEW_DASHBOARD)
@limit_codes
def step_up() -> Any:
    """Confirm it is still you before an export or a download."""
    next_url = safe_next(request.args.get("next"))
    if request.method == "POST":
        result = _check_second_factor()
        if result is not None:
            return redirect(
                result if result.startswith("/") else next_url or url_for("admin.index")
            )
        g.second_step_failed = True
    return render_template(
        "auth/second_step.html",
        factors=factors.factors_of(current_user.id),
        next_url=next_url,
        step_up=True,
        minutes=step_up_minutes(),
    )


def init_second_step(app: Flask) -> None:
    from crm.auth import passkey_views  # noqa: F401  (registers the passkey routes on ``bp``)

    app.before_request(_gate)


def too_many_codes() -> Any:
    """The second step's rate limit (per account): audited, and said plainly."""
    from crm.privacy.services import record_audit_event

    with unit_of_work():
        record_audit_event(
            current_actor(), "second_factor", outcome="rate_limited", detail=request.path[:200]
        )
    flash("Too many wrong codes. Wait a few minutes, or ask an administrator to help.", "error")
    have = factors.factors_of(current_user.id) if current_user.is_authenticated else None
    return render_template("auth/second_step.html", factors=have, next_url=None, step_up=False), 429


LIMITED_ENDPOINTS = frozenset({"auth.second_step", "auth.enrol", "auth.step_up"})
