"""The engine health page for managers and admins."""

from __future__ import annotations

from typing import Any

from flask import current_app
from flask_admin import expose

from crm.admin.secure import SecureBaseView
from crm.auth.permissions import Permission
from crm.health.services import check_health


class EngineHealthView(SecureBaseView):
    permission = Permission.VIEW_ENGINE_HEALTH

    def __init__(self) -> None:
        super().__init__(name="Engine health", endpoint="engine_health", category="Operations")

    @expose("/")
    def index(self) -> Any:
        settings = current_app.config["CRM_SETTINGS"]
        report = check_health(settings.redis_url, settings.heartbeat_stale_seconds)
        return self.render("admin/engine_health.html", report=report)
