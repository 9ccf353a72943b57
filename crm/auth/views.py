"""Login, logout and change-password pages, and Flask-Login's session loader."""

from __future__ import annotations

import hashlib
from typing import Any
from urllib.parse import urlsplit

from flask import (
    Blueprint,
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
from flask_login import current_user, login_user, logout_user

from crm.auth import services
from crm.auth.access import public, requires
from crm.auth.forms import ChangePasswordForm, LoginForm, LogoutForm
from crm.auth.models import User
from crm.auth.permissions import Permission
from crm.database import unit_of_work
from crm.errors import DomainError
from crm.extensions import limiter, login_manager
from crm.privacy.services import record_audit_event
from crm.requestctx import current_actor

bp = Blueprint("auth", __name__)


def _settings() -> Any:
    return current_app.config["CRM_SETTINGS"]


def safe_next(target: str | None) -> str | None:
    """``target`` if it is a path on this site; None for anything that could leave it."""
    if not target or not target.startswith("/") or target.startswith("//"):
        return None
    if "\\" in target or any(ord(ch) < 32 for ch in target):
        return None
    parts = urlsplit(target)
    return target if not parts.scheme and not parts.netloc else None


def _account_key() -> str:
    email = (request.form.get("email") or "").strip().lower()
    return "account:" + hashlib.sha256(email.encode()).hexdigest()


def _login_failed(_response: Any) -> bool:
    return bool(g.get("login_failed"))


def _account_limit() -> str:
    s = _settings()
    return f"{s.login_failures_per_account} per {s.login_failure_window_minutes} minutes"


def _ip_limit() -> str:
    s = _settings()
    return f"{s.login_failures_per_ip} per {s.login_failure_window_minutes} minutes"


@bp.route("/login", methods=["GET", "POST"])
@public
@limiter.limit(
    _account_limit,
    key_func=_account_key,
    methods=["POST"],
    deduct_when=_login_failed,
    scope="login-account",
)
@limiter.limit(_ip_limit, methods=["POST"], deduct_when=_login_failed, scope="login-ip")
def login() -> Any:
    next_url = safe_next(request.args.get("next"))
    if current_user.is_authenticated:
        return redirect(next_url or url_for("admin.index"))
    form = LoginForm()
    if form.validate_on_submit():
        with unit_of_work():
            outcome = services.log_in(
                form.email.data,
                form.password.data,
                current_actor(),
                request.headers.get("User-Agent"),
            )
        if outcome.user is not None and outcome.session_id is not None:
            session.clear()
            session["sid"] = outcome.session_id
            login_user(outcome.user, remember=False)
            from crm.auth.mfa_views import after_password  # the second step, or none

            return after_password(next_url)
        g.login_failed = True
        form.password.errors.append(services.GENERIC_LOGIN_FAILURE)
    elif request.method == "POST":
        g.login_failed = True
    return render_template("auth/login.html", form=form, next_url=next_url)


@bp.route("/logout", methods=["POST"])
@requires(Permission.VIEW_DASHBOARD)
def logout() -> Any:
    form = LogoutForm()
    if form.validate_on_submit():
        with unit_of_work():
            services.log_out(session.get("sid", ""), current_actor())
        logout_user()
        session.clear()
        flash("You have logged out.", "info")
    return redirect(url_for("auth.login"))


@bp.route("/account/password", methods=["GET", "POST"])
@requires(Permission.CHANGE_OWN_PASSWORD)
def change_password() -> Any:
    form = ChangePasswordForm()
    if form.validate_on_submit():
        try:
            with unit_of_work():
                services.change_own_password(
                    current_user.id,
                    form.current_password.data,
                    form.new_password.data,
                    session.get("sid"),
                    current_actor(),
                )
        except DomainError as exc:
            for name, problems in exc.field_errors.items():
                field = form.new_password if name == "password" else form.current_password
                field.errors.extend(problems)
        else:
            flash("Your password has been changed. Other sessions were logged out.", "success")
            return redirect(url_for("admin.index"))
    return render_template("auth/change_password.html", form=form)


def rate_limited_login(error: Any) -> Any:
    with unit_of_work():
        record_audit_event(
            current_actor(), "login", outcome="rate_limited", detail=request.path[:200]
        )
    form = LoginForm()
    # An unvalidated field's errors is an empty tuple: assign a list, do not append.
    form.password.errors = [
        "Too many failed attempts. Wait a few minutes, or ask an administrator to help."
    ]
    return render_template("auth/login.html", form=form, next_url=None), 429


@login_manager.user_loader
def _load_user(user_id: str) -> User | None:
    sid = session.get("sid")
    if not sid or not user_id.isdigit():
        return None
    s = _settings()
    with unit_of_work():
        return services.load_session_user(
            sid, int(user_id), s.session_idle_minutes, s.session_max_hours
        )


def init_auth(app: Flask) -> None:
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.session_protection = None  # the server-side session row does this job
    login_manager.login_message = None
    from crm.auth import mfa_views  # registers the second-step routes on ``bp``

    mfa_views.init_second_step(app)
    app.register_blueprint(bp)
    app.jinja_env.globals["logout_form"] = LogoutForm
