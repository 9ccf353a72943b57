"""Stuck requests: callback requests the engine could not turn into a lead, for managers.

Each one is a person who asked to be called back: the page shows who and how to reach them,
what went wrong, and a Retry button that sends the request back to the engine.
"""

from __future__ import annotations

from typing import Any

from flask import flash, redirect, url_for
from flask_admin import expose

from crm.admin.secure import SecureBaseView
from crm.auth.permissions import Permission
from crm.database import unit_of_work
from crm.errors import DomainError
from crm.intake import inbox
from crm.privacy.services import record_audit_event
from crm.requestctx import current_actor


class StuckRequestsView(SecureBaseView):
    permission = Permission.VIEW_ENGINE_HEALTH

    def __init__(self) -> None:
        super().__init__(name="Stuck requests", endpoint="stuck_requests", category="Operations")

    @expose("/")
    def index(self) -> Any:
        rows = inbox.troubled()
        with unit_of_work():
            if rows:  # names and phone numbers of people waiting for a call: an audited read
                record_audit_event(
                    current_actor(),
                    "view",
                    object_type="callback_inbox",
                    detail=f"stuck requests, {len(rows)} rows",
                )
            return self.render(
                "intake/stuck_requests.html", rows=rows, max_attempts=inbox.MAX_ATTEMPTS
            )

    @expose("/<int:row_id>/retry", methods=("POST",))
    def retry(self, row_id: int) -> Any:
        try:
            with unit_of_work():
                row = inbox.retry(row_id, current_actor())
                reference = row.reference
        except DomainError as exc:
            flash(exc.message, "error")
        else:
            flash(f"Request {reference} is back with the engine: it is tried again now.", "success")
        return redirect(url_for(".index"))
