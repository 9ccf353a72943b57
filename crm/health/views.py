"""GET /healthz: web, database, broker and the engine's last tick, for load balancers."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, jsonify

from crm.auth.access import public
from crm.health.services import check_health

bp = Blueprint("health", __name__)


@bp.get("/healthz")
@public
def healthz() -> Any:
    settings = current_app.config["CRM_SETTINGS"]
    report = check_health(settings.redis_url, settings.heartbeat_stale_seconds)
    age = report.last_tick_seconds_ago
    body = {
        "status": "ok" if report.healthy else "unhealthy",
        "web": "ok",
        "database": "ok" if report.database else "unreachable",
        "broker": "ok" if report.broker else "unreachable",
        "engine": {
            "status": "ok" if report.engine else ("never ticked" if age is None else "stale"),
            "last_tick_seconds_ago": None if age is None else round(age, 1),
            "stale_after_seconds": report.tick_stale_after,
        },
    }
    return jsonify(body), 200 if report.healthy else 503
