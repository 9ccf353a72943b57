"""On-call screens: who is on call, rota calendar, open pages and their history, dev outbox."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask import abort, current_app, flash, redirect, request, url_for
from flask_admin import expose
from flask_login import current_user
from sqlalchemy import select

from crm import clock
from crm.admin.secure import ReadOnlyModelView, SecureBaseView
from crm.auth.models import User
from crm.auth.permissions import Permission, has_permission
from crm.database import unit_of_work
from crm.errors import DomainError
from crm.extensions import db
from crm.health.services import check_health
from crm.notify.models import OutboundMessage
from crm.oncall import calendar, paging, rotas
from crm.oncall.models import Page, PageEvent, Reminder, Rota
from crm.privacy.services import record_audit_event
from crm.requestctx import current_actor


class OnCallView(SecureBaseView):
    """Now and next per rota, gaps ahead, open pages, overdue reminders, engine health."""

    permission = Permission.VIEW_ONCALL

    def __init__(self) -> None:
        super().__init__(
            name="On call", endpoint="oncall", url="/admin/oncall", category="Operations"
        )

    @expose("/")
    def index(self) -> Any:
        now = clock.now()
        board = []
        for rota in db.session.scalars(select(Rota).order_by(Rota.name)):
            upcoming = rotas.shifts(rota.id, now, now + timedelta(days=14))
            names = _names({s.user_id for s in upcoming})
            board.append(
                {
                    "rota": rota,
                    "shifts": upcoming,
                    "names": names,
                    "now": upcoming[0] if upcoming else None,
                    "next": upcoming[1] if len(upcoming) > 1 else None,
                }
            )
        settings = current_app.config["CRM_SETTINGS"]
        pages = db.session.scalars(
            select(Page)
            .where(Page.status != "resolved")
            .order_by(Page.triggered_at.desc())
            .limit(50)
        ).all()
        overdue = db.session.scalars(
            select(Reminder)
            .where(Reminder.status.in_(("pending", "notified", "escalated")), Reminder.due_at < now)
            .order_by(Reminder.due_at)
            .limit(50)
        ).all()
        with unit_of_work():
            if pages or overdue:  # page summaries name leads by reference; reminders link them
                record_audit_event(
                    current_actor(),
                    "view",
                    object_type="pages",
                    detail=f"on-call board, {len(pages)} open pages, "
                    f"{len(overdue)} overdue reminders",
                )
            # Rendered before the commit, which would expire the rows and reload each one.
            return self.render(
                "oncall/dashboard.html",
                board=board,
                gaps=rotas.gap_check(now=now),
                pages=pages,
                overdue=overdue,
                health=check_health(settings.redis_url, settings.heartbeat_stale_seconds),
                my_feed=url_for(
                    "calendar.person_feed",
                    token=calendar.person_token(current_user.id),
                    _external=True,
                ),
                can_manage=has_permission(current_user.role, Permission.MANAGE_ONCALL),
            )


def _names(ids: set[int | None]) -> dict[int, str]:
    wanted = {i for i in ids if i}
    if not wanted:
        return {}
    return dict(db.session.execute(select(User.id, User.name).where(User.id.in_(wanted))).all())


class PagesView(SecureBaseView):
    """A page and every event on it; acknowledge or resolve from here."""

    permission = Permission.VIEW_ONCALL

    def __init__(self) -> None:
        super().__init__(name="Pages", endpoint="pages", url="/admin/pages", category="Operations")

    @expose("/")
    def index(self) -> Any:
        pages = db.session.scalars(select(Page).order_by(Page.triggered_at.desc()).limit(100)).all()
        with unit_of_work():
            record_audit_event(
                current_actor(), "view", object_type="pages", detail=f"pages, {len(pages)} rows"
            )
            return self.render("oncall/pages.html", pages=pages)

    @expose("/<int:page_id>/")
    def details(self, page_id: int) -> Any:
        page = db.session.get(Page, page_id) or abort(404)
        events = db.session.scalars(
            select(PageEvent)
            .where(PageEvent.page_id == page_id)
            .order_by(PageEvent.at, PageEvent.id)
        ).all()
        messages = db.session.scalars(
            select(OutboundMessage)
            .where(OutboundMessage.page_id == page_id)
            .order_by(OutboundMessage.created_at)
        ).all()
        names = _names({e.actor_id for e in events} | {page.acknowledged_by_id})
        with unit_of_work():
            record_audit_event(current_actor(), "view", object_type="pages", object_id=page_id)
            return self.render(
                "oncall/page.html", page=page, events=events, messages=messages, names=names
            )

    @expose("/<int:page_id>/acknowledge", methods=("POST",))
    def acknowledge(self, page_id: int) -> Any:
        try:
            with unit_of_work():
                paging.acknowledge(page_id, current_user.id, current_actor())
        except DomainError as exc:
            flash(exc.message, "error")
        else:
            flash("Acknowledged: the escalation has stopped.", "success")
        return redirect(url_for(".details", page_id=page_id))

    @expose("/<int:page_id>/resolve", methods=("POST",))
    def resolve(self, page_id: int) -> Any:
        try:
            with unit_of_work():
                paging.resolve(
                    page_id, current_actor(), (request.form.get("why") or "resolved by hand")[:200]
                )
        except DomainError as exc:
            flash(exc.message, "error")
        else:
            flash("Resolved.", "success")
        return redirect(url_for(".details", page_id=page_id))


class DevOutboxView(ReadOnlyModelView):
    """What would have been sent. Shown while NOTIFY_DELIVERY=dev_outbox: nothing left here."""

    # Referral summaries (name, phone, health details) and page messages: client data.
    audit_reads = "outbound_messages"
    column_list = ("created_at", "status", "channel", "address", "subject", "body", "page_id")
    column_default_sort = ("created_at", True)
    column_filters = ("status", "channel")
    can_view_details = True

    def __init__(self) -> None:
        super().__init__(
            OutboundMessage, db, name="Dev outbox", endpoint="outbox", category="Operations"
        )

    @property
    def permission(self) -> Permission:  # type: ignore[override]
        # Messages hold acknowledge links: outside the dev outbox only managers may read them.
        # Declared here (not in is_accessible) so the menu and the access matrix see the rule.
        if current_app.config["CRM_SETTINGS"].notify_delivery == "dev_outbox":
            return Permission.VIEW_ONCALL
        return Permission.MANAGE_ONCALL
