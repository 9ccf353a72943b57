"""Declaring what a plain Flask view needs: a permission, or nothing (public)."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from flask import abort, redirect, request, url_for
from flask_login import current_user

from crm.auth.permissions import Permission, has_permission
from crm.extensions import limiter

F = TypeVar("F", bound=Callable[..., Any])


def login_redirect() -> Any:
    """Send an anonymous visitor to the login page, remembering where they were going."""
    target = request.full_path if request.query_string else request.path
    return redirect(url_for("auth.login", next=target))


def deny_access() -> None:
    """Record the refusal in the audit trail, then answer 403."""
    from crm.database import unit_of_work
    from crm.privacy.services import record_audit_event
    from crm.requestctx import current_actor

    with unit_of_work():
        record_audit_event(
            current_actor(), "access_denied", outcome="denied", detail=request.path[:200]
        )
    abort(403)


def requires(permission: Permission) -> Callable[[F], F]:
    """The view needs ``permission``: anonymous → login redirect, other roles → 403."""

    def decorate(view: F) -> F:
        @wraps(view)
        def guarded(*args: Any, **kwargs: Any) -> Any:
            if not current_user.is_authenticated:
                return login_redirect()
            if not has_permission(current_user.role, permission):
                deny_access()
            return view(*args, **kwargs)

        guarded.required_permission = permission  # type: ignore[attr-defined]
        return guarded  # type: ignore[return-value]

    return decorate


def public(view: F) -> F:
    """The view is open to anyone (login page, health check, public intake)."""
    view.is_public = True  # type: ignore[attr-defined]
    return view


def sessionless(view: F) -> F:
    """The view serves machines with a key of their own, never a staff browser: no staff
    session is looked up for it, no second step asked, and Flask-Limiter's per-request
    machinery is skipped (the view counts its own limits). Use with ``public``."""
    view.is_sessionless = True  # type: ignore[attr-defined]
    return view


def is_sessionless_request() -> bool:
    """True if this request is for a ``sessionless`` view."""
    from flask import current_app, request

    view = current_app.view_functions.get(request.endpoint or "")
    return bool(getattr(view, "is_sessionless", False))


# Flask-Limiter runs before every request; for a sessionless view it stops at this filter.
limiter.request_filter(is_sessionless_request)
