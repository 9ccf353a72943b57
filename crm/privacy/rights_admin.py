"""The rights requests screens: log a request, verify identity, extend, export (a task builds
the ZIP while the page shows its progress), download through an expiring link, erase, close."""

from __future__ import annotations

from typing import Any

from flask import Response, abort, flash, jsonify, redirect, request, url_for
from flask_admin import expose
from sqlalchemy import select

from crm import clock
from crm.admin.secure import SecureBaseView
from crm.auth.mfa_views import fresh_second_factor
from crm.auth.permissions import Permission
from crm.database import unit_of_work
from crm.errors import DomainError, ErrorKind
from crm.extensions import db
from crm.intake.models import Contact
from crm.intake.queries import names_of
from crm.oncall.wallclock import local_date
from crm.privacy import access, deadlines, erasure, requests
from crm.privacy.forms import new_request, read_date
from crm.privacy.models import RECEIVED_VIA, Erasure, SubjectAccessExport
from crm.privacy.services import record_audit_event
from crm.queue import PRIVACY_EXPORT, enqueue_after_commit
from crm.requestctx import current_actor

CLOSE_CHOICES = {"completed": "Completed", "refused": "Refused", "withdrawn": "Withdrawn by them"}


def _flash_error(exc: DomainError) -> None:
    details = "; ".join(m for ms in exc.field_errors.values() for m in ms)
    flash(exc.message + (f" ({details})" if details else ""), "error")


class RightsRequestView(SecureBaseView):
    """Admins handle subject access, erasure and the other rights, each within its month."""

    permission = Permission.MANAGE_DATA_PROTECTION

    def __init__(self) -> None:
        super().__init__(
            name="Rights requests",
            endpoint="rights_requests",
            url="/admin/rights-requests",
            category="Data protection",
        )

    @expose("/")
    def index(self) -> Any:
        rows = requests.open_requests()
        with unit_of_work():
            record_audit_event(
                current_actor(),
                "view",
                object_type="rights_requests",
                detail=f"list, {len(rows)} rows",
            )
        return self.render(
            "privacy/rights_requests.html",
            rows=rows,
            today=local_date(clock.now()),
            kinds=requests.KIND_LABELS,
        )

    @expose("/new", methods=("GET", "POST"))
    def new(self) -> Any:
        form: dict[str, str] = dict(request.form) if request.method == "POST" else {}
        errors: dict[str, list[str]] = {}
        if request.method == "POST":
            try:
                with unit_of_work():
                    row = requests.log_request(new_request(request.form), current_actor())
                    request_id = row.id
            except DomainError as exc:
                _flash_error(exc)
                errors = exc.field_errors
            else:
                flash(f"Request {request_id} logged: due {row.due_on:%d %b %Y}.", "success")
                return redirect(url_for(".details", request_id=request_id))
        return self.render(
            "privacy/rights_request_form.html",
            form=form,
            errors=errors,
            kinds=requests.KIND_LABELS,
            via=RECEIVED_VIA,
        )

    @expose("/<int:request_id>/")
    def details(self, request_id: int) -> Any:
        row = self._request(request_id)
        with unit_of_work():
            record_audit_event(
                current_actor(), "view", object_type="rights_requests", object_id=request_id
            )
        row = self._request(request_id)
        contact_ids = requests.subject_ids(row.id)
        exports = db.session.scalars(
            select(SubjectAccessExport)
            .where(SubjectAccessExport.rights_request_id == row.id)
            .order_by(SubjectAccessExport.id.desc())
        ).all()
        return self.render(
            "privacy/rights_request.html",
            row=row,
            kinds=requests.KIND_LABELS,
            contacts=db.session.scalars(select(Contact).where(Contact.id.in_(contact_ids))).all(),
            leads=requests.leads_of(contact_ids),
            exports=exports,
            tokens={e.id: access.download_token(e) for e in exports if e.status == "ready"},
            erasure=db.session.scalar(select(Erasure).where(Erasure.rights_request_id == row.id)),
            holds=erasure.holds([lead.id for lead in requests.leads_of(contact_ids)]),
            names=names_of({row.handled_by_id, row.verified_by_id, row.created_by_id}),
            today=local_date(clock.now()),
            latest_extension=deadlines.latest_extension(row.due_on),
            close_choices=CLOSE_CHOICES,
        )

    def _request(self, request_id: int) -> Any:
        try:
            return requests.get_request(request_id)
        except DomainError:
            abort(404)

    def _act(self, request_id: int, action: Any, success: str) -> Any:
        self._request(request_id)
        try:
            with unit_of_work():
                result = action()
        except DomainError as exc:
            if exc.kind == ErrorKind.NOT_FOUND:
                abort(404)
            _flash_error(exc)
        else:
            flash(result if isinstance(result, str) else success, "success")
        return redirect(url_for(".details", request_id=request_id))

    @expose("/<int:request_id>/verify", methods=("POST",))
    def verify(self, request_id: int) -> Any:
        method = request.form.get("method")
        return self._act(
            request_id,
            lambda: requests.verify_identity(request_id, method, current_actor()),
            "Identity verified.",
        )

    @expose("/<int:request_id>/extend", methods=("POST",))
    def extend(self, request_id: int) -> Any:
        def act() -> None:
            new_due = read_date(request.form.get("extended_to"), "New due date")
            requests.extend(request_id, new_due, request.form.get("reason"), current_actor())

        return self._act(request_id, act, "Due date extended.")

    @expose("/<int:request_id>/export", methods=("POST",))
    def export(self, request_id: int) -> Any:
        def act() -> str:
            export = access.start_export(request_id, current_actor())
            enqueue_after_commit(db.session(), PRIVACY_EXPORT, export.id)
            return "The export is being built: this page shows its progress."

        return self._act(request_id, act, "")

    @expose("/<int:request_id>/exports/<int:export_id>/progress")
    def export_progress(self, request_id: int, export_id: int) -> Any:
        export = db.session.get(SubjectAccessExport, export_id)
        if export is None or export.rights_request_id != request_id:
            abort(404)
        return jsonify(
            {
                "status": export.status,
                "progress": export.progress,
                "stage": export.stage,
                "finished": export.status in ("ready", "failed", "expired"),
            }
        )

    @expose("/download/<token>")
    @fresh_second_factor
    def download(self, token: str) -> Any:
        with unit_of_work():  # commits the download's audit event, refused or not
            try:
                export = access.read_download(token, current_actor())
            except DomainError as exc:
                refused = exc.message
            else:
                refused = ""
                content, export_id = export.content or b"", export.id
                request_id = export.rights_request_id
        if refused:
            return self.render("privacy/download_refused.html", message=refused), 410
        return Response(
            content,
            mimetype="application/zip",
            headers={
                "Content-Disposition": (
                    f'attachment; filename="subject-access-{request_id}-{export_id}.zip"'
                ),
                "Cache-Control": "no-store",
            },
        )

    @expose("/<int:request_id>/erase", methods=("POST",))
    def erase(self, request_id: int) -> Any:
        if request.form.get("confirm") != "yes":
            flash("Tick the box to confirm the erasure: nothing was erased.", "error")
            return redirect(url_for(".details", request_id=request_id))
        return self._act(
            request_id,
            lambda: erasure.erase_request(request_id, current_actor()).message,
            "",
        )

    @expose("/<int:request_id>/close", methods=("POST",))
    def close(self, request_id: int) -> Any:
        status = request.form.get("status", "")
        return self._act(
            request_id,
            lambda: requests.close_request(
                request_id, status, request.form.get("outcome"), current_actor()
            ),
            "Request closed.",
        )
