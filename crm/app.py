"""create_app(): the table of contents of the web process, one init per subsystem."""

from __future__ import annotations

import gc
import logging
from datetime import datetime
from typing import Any

from flask import Flask, redirect, render_template, request, url_for
from werkzeug.middleware.proxy_fix import ProxyFix

from config import ROOT, Settings, load_settings
from crm import clock, models_registry  # noqa: F401  (every table known to SQLAlchemy and Alembic)
from crm.admin import init_admin
from crm.auth import mfa_views
from crm.auth.access import public
from crm.auth.views import init_auth, rate_limited_login
from crm.cli import init_cli
from crm.database import configure_sqlite, include_in_migrations, render_migration_item
from crm.extensions import csrf, db, limiter, migrate
from crm.fees.arithmetic import format_money
from crm.health.views import bp as health_bp
from crm.intake import api as intake_api
from crm.intake import views as callback_views
from crm.intake.api import init_intake_api
from crm.intake.views import init_callback_form
from crm.oncall.views import init_oncall_views
from crm.queue import init_queue
from crm.requestctx import init_request_context
from crm.security import init_security_headers


def settle_startup_objects() -> None:
    """Take what the process built at start-up (modules, the app, its views and templates) out
    of the cyclic garbage collector's full passes: ``gc.collect()`` then ``gc.freeze()``.

    Those ~170,000 objects live as long as the process, yet a full collection walked them all,
    and a page that allocates a lot (the match page ranks 5,000 clinics) set one off every few
    requests: its p95 was twice its median. Call once, after ``create_app``, in the serving
    process (``wsgi.py``); objects made later are collected as before.
    """
    gc.collect()
    gc.freeze()


def create_app(settings: Settings | None = None, **overrides: Any) -> Flask:
    """Build the web application from ``settings`` (default: the environment)."""
    settings = settings or load_settings()
    app = Flask(
        "crm",
        template_folder=str(ROOT / "templates"),
        static_folder=str(ROOT / "crm" / "static"),
        instance_path=str(ROOT / "instance"),
    )
    app.config.update(settings.flask_config())
    app.config.update(overrides)
    logging.basicConfig(level=settings.log_level)
    if settings.trusted_proxies:
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app, x_for=settings.trusted_proxies, x_proto=settings.trusted_proxies
        )

    db.init_app(app)
    with app.app_context():
        configure_sqlite(db.engine)
    migrate.init_app(
        app,
        db,
        directory=str(ROOT / "migrations"),
        render_as_batch=True,
        compare_type=True,
        render_item=render_migration_item,
        include_object=include_in_migrations,
    )
    csrf.init_app(app)
    limiter.init_app(app)
    init_request_context(app)
    init_security_headers(app, hsts=settings.env == "production")
    init_auth(app)
    init_admin(app)
    init_queue(app)
    init_intake_api(app)
    init_callback_form(app)
    init_oncall_views(app)
    app.register_blueprint(health_bp)
    init_cli(app)
    _init_pages(app)
    return app


def _local_time(instant: datetime | None, fmt: str = "%d %b %Y %H:%M") -> str:
    """An instant as UK wall-clock time, which is what staff read and say on the phone."""
    if instant is None:
        return "—"
    return instant.astimezone(clock.LONDON).strftime(fmt)


def _init_pages(app: Flask) -> None:
    app.jinja_env.filters["local"] = _local_time
    app.jinja_env.filters["money"] = format_money

    @app.get("/")
    @public
    def home() -> Any:
        return redirect(url_for("admin.index"))

    @app.errorhandler(429)
    def too_many_requests(error: Any) -> Any:
        if request.blueprint == "intake_api":
            return intake_api.too_many_requests()
        if request.blueprint == "callback":
            return callback_views.too_many_requests()
        if request.endpoint in mfa_views.LIMITED_ENDPOINTS:
            return mfa_views.too_many_codes()
        return rate_limited_login(error)

    def error_page(error: Any) -> Any:
        status = getattr(error, "code", 500) or 500
        if request.path.startswith("/api/"):
            return intake_api.problem(status, getattr(error, "name", "Error"))
        return render_template("errors/error.html", status=status), status

    for status in (400, 403, 404, 405, 413, 500):
        app.register_error_handler(status, error_page)
