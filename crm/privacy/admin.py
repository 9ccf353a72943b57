"""The audit trail, readable by admins; nobody can change or delete it through the app."""

from __future__ import annotations

from flask_admin.contrib.sqla import filters

from crm.admin.secure import ReadOnlyModelView
from crm.auth.permissions import Permission
from crm.extensions import db
from crm.privacy.models import AuditEvent


class AuditTrailView(ReadOnlyModelView):
    permission = Permission.READ_AUDIT
    column_list = (
        "occurred_at",
        "actor_email",
        "actor_role",
        "action",
        "outcome",
        "object_type",
        "object_id",
        "ip",
        "detail",
    )
    column_details_list = (*column_list, "request_id", "actor_id")
    column_default_sort = ("occurred_at", True)
    column_filters = (
        "action",
        "outcome",
        "actor_email",
        "object_type",
        "object_id",
        filters.DateTimeBetweenFilter(AuditEvent.occurred_at, "Occurred (UTC)"),
    )

    def __init__(self) -> None:
        super().__init__(
            AuditEvent, db, name="Audit trail", endpoint="audit", category="Administration"
        )
