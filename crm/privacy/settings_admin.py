"""Data protection settings: the retention periods with a preview of the next run, the run
history and a "run now"; the purposes and their lawful bases. Admins only."""

from __future__ import annotations

from typing import Any

from flask import abort, flash, redirect, request, url_for
from flask_admin import expose
from sqlalchemy import select

from crm import clock
from crm.admin.secure import SecureBaseView
from crm.auth.permissions import Permission
from crm.database import unit_of_work
from crm.errors import DomainError, ErrorKind
from crm.extensions import db
from crm.privacy import purposes, retention, retention_rules
from crm.privacy.models import ProcessingPurpose
from crm.privacy.services import record_audit_event
from crm.queue import RETENTION_SWEEP, enqueue_after_commit
from crm.requestctx import current_actor


class RetentionView(SecureBaseView):
    """How long each kind of record is kept, and what the next nightly run would do."""

    permission = Permission.MANAGE_DATA_PROTECTION

    def __init__(self) -> None:
        super().__init__(
            name="Retention",
            endpoint="retention",
            url="/admin/retention",
            category="Data protection",
        )

    @expose("/")
    def index(self) -> Any:
        return self.render(
            "privacy/retention.html",
            policies=list(retention.policies().values()),
            preview=retention.preview(),
            runs=retention.recent_runs(),
            describe=retention_rules.describe,
        )

    @expose("/<code>", methods=("POST",))
    def set_period(self, code: str) -> Any:
        try:
            with unit_of_work():
                policy = retention.set_period(code, request.form.get("days"), current_actor())
                message = f"{policy.name}: kept {policy.days} days."
        except DomainError as exc:
            if exc.kind == ErrorKind.NOT_FOUND:
                abort(404)
            flash(f"Nothing was changed: {exc.message}", "error")
        else:
            flash(message, "success")
        return redirect(url_for(".index"))

    @expose("/run", methods=("POST",))
    def run_now(self) -> Any:
        with unit_of_work():
            record_audit_event(
                current_actor(), "retention_run_requested", object_type="retention_runs"
            )
            enqueue_after_commit(db.session(), RETENTION_SWEEP)
        flash("The retention run was started; refresh this page to see its report.", "success")
        return redirect(url_for(".index"))


class PurposesView(SecureBaseView):
    """Why the service holds personal data: each purpose's lawful basis and condition."""

    permission = Permission.MANAGE_DATA_PROTECTION

    def __init__(self) -> None:
        super().__init__(
            name="Purposes", endpoint="purposes", url="/admin/purposes", category="Data protection"
        )

    @expose("/")
    def index(self) -> Any:
        rows = db.session.scalars(select(ProcessingPurpose).order_by(ProcessingPurpose.id)).all()
        return self.render(
            "privacy/purposes.html",
            rows=rows,
            bases=purposes.LAWFUL_BASES,
            conditions=purposes.CONDITIONS,
            now=clock.now(),
        )

    @expose("/<int:purpose_id>", methods=("POST",))
    def update(self, purpose_id: int) -> Any:
        try:
            with unit_of_work():
                purposes.update_purpose(
                    purpose_id,
                    purposes.PurposeText(
                        request.form.get("name", ""),
                        request.form.get("description", ""),
                        request.form.get("lawful_basis", ""),
                        request.form.get("special_category_condition", ""),
                    ),
                    current_actor(),
                )
        except DomainError as exc:
            if exc.kind == ErrorKind.NOT_FOUND:
                abort(404)
            flash(f"Nothing was changed: {exc.message}", "error")
        else:
            flash("Purpose saved.", "success")
        return redirect(url_for(".index"))
