"""Withdrawing a consent from the lead page: the form posts here and returns to the lead."""

from __future__ import annotations

from typing import Any

from flask import abort, flash, redirect, request, url_for
from flask_admin import expose

from crm.admin.secure import SecureBaseView
from crm.auth.permissions import Permission
from crm.database import unit_of_work
from crm.errors import DomainError, ErrorKind
from crm.extensions import db
from crm.privacy import consents
from crm.providers.models import ProviderLocation
from crm.requestctx import current_actor


class ConsentView(SecureBaseView):
    """Any staff member who works leads records a withdrawal the person tells them of."""

    permission = Permission.WORK_LEADS

    def __init__(self) -> None:
        super().__init__(name="Consents", endpoint="consents", url="/admin/consents")

    def is_visible(self) -> bool:
        return False

    @expose("/")
    def index(self) -> Any:
        return redirect(url_for("queue.index"))

    @expose("/<int:lead_id>/withdraw", methods=("POST",))
    def withdraw(self, lead_id: int) -> Any:
        purpose = request.form.get("purpose", "")
        provider_id = None
        if purpose == "share_with_provider":
            location = _location(request.form.get("location_id", ""))
            provider_id = location.provider_id if location else None
        try:
            with unit_of_work():
                consents.withdraw(
                    lead_id,
                    purpose,
                    request.form.get("via", ""),
                    request.form.get("note"),
                    current_actor(),
                    provider_id=provider_id,
                )
        except DomainError as exc:
            if exc.kind == ErrorKind.NOT_FOUND:
                abort(404)
            flash(f"Nothing was recorded: {exc.message}", "error")
        else:
            flash(_done(purpose), "success")
        return redirect(url_for("lead.details", lead_id=lead_id) + "#consents")


def _location(value: str) -> ProviderLocation | None:
    return db.session.get(ProviderLocation, int(value)) if value.isdigit() else None


def _done(purpose: str) -> str:
    return {
        "contact": "Contact consent withdrawn: its callback and follow-up reminders and pages "
        "about it are stopped.",
        "health_details": "Health consent withdrawn: new referral summaries leave out health "
        "details.",
        "share_with_provider": "Sharing consent withdrawn: no new referral can be sent to that "
        "provider.",
    }.get(purpose, "Consent withdrawn.")
