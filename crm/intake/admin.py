"""Back-office screens for intake: the queue, search, logging an enquiry, website API keys."""

from __future__ import annotations

from typing import Any

from flask import current_app, flash, redirect, request, url_for
from flask_admin import expose
from flask_login import current_user

from crm import clock
from crm.admin.secure import SecureBaseView, SecureModelView
from crm.auth.permissions import Permission, has_permission
from crm.database import unit_of_work
from crm.errors import DomainError
from crm.extensions import db
from crm.intake import queries, services, wording
from crm.intake.callback import IntakeInvalid, parse_callback_request
from crm.intake.forms import EnquiryForm
from crm.intake.models import ApiKey
from crm.privacy.services import record_audit_event
from crm.requestctx import current_actor


def _settings() -> Any:
    return current_app.config["CRM_SETTINGS"]


class QueueView(SecureBaseView):
    """Open leads needing action, most urgent first, with a live countdown."""

    permission = Permission.WORK_LEADS

    def __init__(self) -> None:
        super().__init__(name="Queue", endpoint="queue", url="/admin/queue", category=None)

    def _rows(self) -> tuple[str, int, list[queries.QueueRow]]:
        which = request.args.get("show", "all")
        which = which if which in queries.QUEUE_FILTERS else "all"
        page = request.args.get("page", "1")
        number = int(page) if page.isdigit() and 0 < int(page) < 10_000 else 1
        return which, number, queries.queue(current_user.id, which, number)

    @expose("/")
    def index(self) -> Any:
        which, page, rows = self._rows()
        flagged = []
        if has_permission(current_user.role, Permission.SEE_SAFEGUARDING_FLAGS):
            flagged = queries.flagged_for_managers()
        detail = f"queue, {len(rows)} rows" + (f", {len(flagged)} flagged" if flagged else "")
        with unit_of_work():
            _audit_queue(detail)
            # Rendered before the commit, which would expire the rows and reload each one.
            return self.render(
                "intake/queue.html",
                rows=rows,
                which=which,
                page=page,
                page_size=queries.PAGE_SIZE,
                now=clock.now(),
                flagged=flagged,
                target=_settings().callback_target_minutes,
            )

    @expose("/rows")
    def rows(self) -> Any:
        """Just the table body, fetched every few seconds by queue.js."""
        _which, _page, rows = self._rows()
        with unit_of_work():
            _audit_queue(f"queue refresh, {len(rows)} rows")
            return self.render("intake/_queue_rows.html", rows=rows, now=clock.now())


def _audit_queue(detail: str) -> None:
    """The queue names people (first names, references): each showing is an audited read."""
    record_audit_event(current_actor(), "view", object_type="leads", detail=detail)


class SearchView(SecureBaseView):
    """Find a lead by reference, phone (any format), email or name. Terms are never logged."""

    permission = Permission.WORK_LEADS

    def __init__(self) -> None:
        super().__init__(name="Search", endpoint="lead_search", url="/admin/search")

    @expose("/")
    def index(self) -> Any:
        term = request.args.get("q", "")
        if not term.strip():
            return self.render("intake/search.html", term=term, results=[])
        with unit_of_work():
            results = queries.search(term)
            # The searched words may be health data or a person's name: never stored.
            record_audit_event(
                current_actor(), "search", object_type="leads", detail=f"{len(results)} results"
            )
            # Rendered before the commit, which would expire the results and reload each one.
            return self.render("intake/search.html", term=term, results=results)


class NewEnquiryView(SecureBaseView):
    """Staff log an enquiry that came by phone, email or a partner referral."""

    permission = Permission.WORK_LEADS

    def __init__(self) -> None:
        super().__init__(name="Log an enquiry", endpoint="new_enquiry", url="/admin/enquiry")

    @expose("/", methods=("GET", "POST"))
    def index(self) -> Any:
        form = EnquiryForm()
        if request.method == "POST" and form.validate_on_submit():
            if not form.disclosure_read.data:
                form.disclosure_read.errors = ["Tell the caller about the commission first."]
            else:
                lead_id = self._save(form)
                if lead_id is not None:
                    return redirect(url_for("lead.details", lead_id=lead_id))
        return self.render("intake/new_enquiry.html", form=form, wording=wording)

    def _save(self, form: EnquiryForm) -> int | None:
        payload = form.payload() | {
            "consent_wording_version": "phone-script-2026-11",
            "disclosure_wording_version": wording.DISCLOSURE_VERSION,
        }
        try:
            data = parse_callback_request(payload)
        except IntakeInvalid as exc:
            for name, problems in exc.field_errors.items():
                field = getattr(form, name, None)
                if field is not None:
                    field.errors = [*list(field.errors), *problems]
            return None
        with unit_of_work():
            result = services.log_enquiry(
                data,
                source=form.source.data,
                target_minutes=_settings().callback_target_minutes,
                actor=current_actor(),
            )
            lead_id, reference = result.lead.id, result.lead.reference
        flash(
            f"Enquiry recorded as {reference}."
            if result.created
            else f"This person already has an open lead ({reference}); the request joined it.",
            "success",
        )
        return lead_id


class ApiKeyView(SecureModelView):
    """Admins issue and revoke the websites' intake API keys; only hashes are stored."""

    permission = Permission.MANAGE_API_KEYS
    can_create = False
    can_edit = False
    can_delete = False
    column_list = ("name", "prefix", "created_at", "last_used_at", "revoked_at")
    column_default_sort = ("created_at", True)
    list_template = "intake/api_keys.html"

    def __init__(self) -> None:
        super().__init__(
            ApiKey, db, name="Website API keys", endpoint="api_keys", category="Administration"
        )

    @expose("/issue", methods=("POST",))
    def issue(self) -> Any:
        try:
            with unit_of_work():
                _, secret = services.issue_api_key(request.form.get("name", ""), current_actor())
        except DomainError as exc:
            flash(exc.message, "error")
        else:
            flash("Copy this key now; it will not be shown again: " + secret, "success")
        return redirect(url_for(".index_view"))

    @expose("/revoke/<int:key_id>", methods=("POST",))
    def revoke(self, key_id: int) -> Any:
        try:
            with unit_of_work():
                key = services.revoke_api_key(key_id, current_actor())
                name = key.name
        except DomainError as exc:
            flash(exc.message, "error")
        else:
            flash(f"The key for {name} is revoked; requests using it now get 401.", "success")
        return redirect(url_for(".index_view"))
