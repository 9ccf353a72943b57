"""Secure base views for Flask-Admin: permission checks, audit, DomainError → flash."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import abort, flash, g, request
from flask_admin import AdminIndexView, BaseView, expose
from flask_admin.contrib.sqla import ModelView
from flask_admin.model import typefmt
from flask_admin.model.helpers import get_mdict_item_or_list
from flask_login import current_user
from werkzeug.wrappers import Response

from crm.auth.access import deny_access, login_redirect
from crm.auth.permissions import Permission, has_permission
from crm.clock import LONDON
from crm.database import unit_of_work
from crm.errors import DomainError
from crm.extensions import db
from crm.privacy.services import record_audit_event
from crm.requestctx import current_actor


class _Guarded:
    """Mixin: the view names the permission it needs; the menu hides what a role cannot open."""

    permission: Permission = Permission.VIEW_DASHBOARD

    def is_accessible(self) -> bool:
        return bool(
            current_user.is_authenticated and has_permission(current_user.role, self.permission)
        )

    def is_visible(self) -> bool:
        return self.is_accessible()

    def inaccessible_callback(self, name: str, **kwargs: Any) -> Any:
        if not current_user.is_authenticated:
            return login_redirect()
        deny_access()
        return None


class SecureIndexView(_Guarded, AdminIndexView):  # type: ignore[misc]
    """The dashboard: any logged-in staff member."""

    show_page_title = False

    @expose("/")
    def index(self) -> Any:
        from flask import current_app

        from crm import clock
        from crm.auth.permissions import Permission as P
        from crm.intake import inbox, queries
        from crm.oncall import rotas
        from crm.privacy import requests as privacy_requests

        settings = current_app.config["CRM_SETTINGS"]
        now = clock.now()
        flagged = (
            queries.flagged_for_managers()
            if has_permission(current_user.role, P.SEE_SAFEGUARDING_FLAGS)
            else []
        )
        with unit_of_work():
            if flagged:  # the safeguarding banner names leads: an audited read
                record_audit_event(
                    current_actor(),
                    "view",
                    object_type="leads",
                    detail=f"dashboard safeguarding flags, {len(flagged)} rows",
                )
            # Rendered before the commit, which would expire the rows and reload each one.
            return self.render(
                "admin/dashboard.html",
                summary=queries.queue_summary(
                    current_user.id, settings.callback_target_minutes, now
                ),
                target=settings.callback_target_minutes,
                on_call=rotas.on_call_now_everywhere(now),
                flagged=flagged,
                gaps=rotas.gap_check(now=now)
                if has_permission(current_user.role, P.MANAGE_ONCALL)
                else [],
                stuck_requests=inbox.count_stuck()
                if has_permission(current_user.role, P.VIEW_ENGINE_HEALTH)
                else 0,
                overdue_requests=privacy_requests.overdue()
                if has_permission(current_user.role, P.MANAGE_DATA_PROTECTION)
                else [],
            )


class SecureBaseView(_Guarded, BaseView):  # type: ignore[misc]
    """A custom page (queue, timeline, reports) behind a permission; it titles itself."""

    show_page_title = False


def _uk_time(view: Any, value: datetime, name: str | None = None) -> str:
    """Instants in lists show as UK wall-clock time, as staff read them."""
    return value.astimezone(LONDON).strftime("%d %b %Y %H:%M")


class SecureModelView(_Guarded, ModelView):  # type: ignore[misc]
    """A model list/form behind a permission, with every change audited.

    Flask-Admin leaves some doors open by default; each is closed here on purpose:
    inline edit without editable columns, export of every column, and details of rows
    the list query would hide.

    A view of a table holding client data names it in ``audit_reads`` (the table name):
    opening its list or a row's details then writes a "view" audit event.
    """

    audit_reads: str | None = None

    column_type_formatters = {**typefmt.BASE_FORMATTERS, datetime: _uk_time}
    column_type_formatters_detail = column_type_formatters
    can_export = False
    can_set_page_size = False
    page_size = 50
    simple_list_pager = True

    def on_model_change(self, form: Any, model: Any, is_created: bool) -> None:
        db.session.flush()
        record_audit_event(
            current_actor(),
            "create" if is_created else "update",
            object_type=model.__tablename__,
            object_id=_pk(model),
        )

    def on_model_delete(self, model: Any) -> None:
        record_audit_event(
            current_actor(), "delete", object_type=model.__tablename__, object_id=_pk(model)
        )

    def handle_view_exception(self, exc: Exception) -> bool:
        if isinstance(exc, DomainError):
            flash(exc.message, "error")
            return True
        return bool(super().handle_view_exception(exc))

    def get_one(self, id: Any) -> Any:
        # get_one() ignores get_query(): re-apply the list's filter so hidden rows stay hidden.
        model = super().get_one(id)
        if model is None or not self._row_visible(model):
            return None
        return model

    def _row_visible(self, model: Any) -> bool:
        return True

    def get_list(self, *args: Any, **kwargs: Any) -> Any:
        count, rows = super().get_list(*args, **kwargs)
        g.audit_listed_rows = len(rows) if rows is not None else 0
        return count, rows

    @expose("/")
    def index_view(self) -> Any:
        if not self.audit_reads:
            return super().index_view()
        with unit_of_work():
            # Rendered before the commit, which would expire the rows and reload each one.
            shown = super().index_view()
            if not isinstance(shown, Response):
                rows = g.get("audit_listed_rows", 0)
                detail = f"{self.endpoint} list, {rows} rows"
                record_audit_event(
                    current_actor(), "view", object_type=self.audit_reads, detail=detail
                )
            return shown

    @expose("/details/")
    def details_view(self) -> Any:
        if not self.audit_reads:
            return super().details_view()
        with unit_of_work():
            shown = super().details_view()
            if not isinstance(shown, Response):  # a missing row redirects to the list
                record_audit_event(
                    current_actor(),
                    "view",
                    object_type=self.audit_reads,
                    object_id=get_mdict_item_or_list(request.args, "id"),
                )
            return shown

    @expose("/ajax/update/", methods=("POST",))
    def ajax_update(self) -> Any:
        if not self.can_edit or not self.column_editable_list:
            abort(403)
        return super().ajax_update()


class ReadOnlyModelView(SecureModelView):
    """A list nobody can change through the app (the audit trail)."""

    can_create = False
    can_edit = False
    can_delete = False
    can_view_details = True
    action_disallowed_list = ["delete"]

    def create_model(self, form: Any) -> Any:
        abort(403)

    def update_model(self, form: Any, model: Any) -> Any:
        abort(403)

    def delete_model(self, model: Any) -> Any:
        abort(403)


def _pk(model: Any) -> Any:
    return getattr(model, "id", None) or getattr(model, "name", None)
