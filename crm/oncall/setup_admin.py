"""Setting up on call: rotas, overrides, escalation policies, office hours, closures, contacts."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any

from flask import abort, current_app, flash, redirect, request, url_for
from flask_admin import expose
from sqlalchemy import select
from wtforms import SelectField
from wtforms.fields.choices import SelectChoice

from crm import clock
from crm.admin.secure import SecureBaseView, SecureModelView
from crm.auth.models import User
from crm.auth.permissions import Permission
from crm.database import unit_of_work
from crm.errors import DomainError
from crm.extensions import db
from crm.notify import services as notify
from crm.notify.models import ContactMethod
from crm.oncall import hours, policies, rotas
from crm.oncall.models import Closure, EscalationPolicy, OfficeHoursSpan, Rota
from crm.oncall.wallclock import LONDON, local_to_utc
from crm.requestctx import current_actor

MAX_MEMBERS = 8


def _staff() -> list[User]:
    return list(db.session.scalars(select(User).where(User.active.is_(True)).order_by(User.name)))


def _names() -> dict[int, str]:
    return {u.id: u.name for u in _staff()}


def _int(raw: str | None) -> int | None:
    return int(raw) if raw and raw.strip().lstrip("-").isdigit() else None


def _local(raw: str | None) -> datetime | None:
    """A datetime-local input read as UK wall-clock time."""
    try:
        naive = datetime.fromisoformat(raw or "")
    except ValueError:
        return None
    return local_to_utc(naive.date(), naive.time())


def _flash_error(exc: DomainError) -> None:
    details = "; ".join(m for ms in exc.field_errors.values() for m in ms)
    flash(exc.message + (f" {details}" if details else ""), "error")


class RotaSetupView(SecureBaseView):
    """Managers build rotas (members in order, shift length, handoff) and add overrides."""

    permission = Permission.MANAGE_ONCALL

    def __init__(self) -> None:
        super().__init__(name="Rotas", endpoint="rotas", url="/admin/rotas", category="Operations")

    @expose("/", methods=("GET", "POST"))
    def index(self) -> Any:
        return self._edit(None)

    @expose("/<int:rota_id>/", methods=("GET", "POST"))
    def edit(self, rota_id: int) -> Any:
        return self._edit(rota_id)

    def _edit(self, rota_id: int | None) -> Any:
        rota = db.session.get(Rota, rota_id) if rota_id else None
        if rota_id and rota is None:
            abort(404)
        if request.method == "POST":
            saved = self._save(rota_id)
            if saved is not None:
                return redirect(url_for(".edit", rota_id=saved))
        now = clock.now()
        return self.render(
            "oncall/rotas.html",
            rota=rota,
            rotas=db.session.scalars(select(Rota).order_by(Rota.name)).all(),
            staff=_staff(),
            max_members=MAX_MEMBERS,
            form=request.form,
            shifts=rotas.shifts(rota.id, now, now + timedelta(days=14)) if rota else [],
            names={u.id: u.name for u in _staff()},
            today=now.astimezone(LONDON).date(),
        )

    def _save(self, rota_id: int | None) -> int | None:
        f = request.form
        members = [m for m in (_int(f.get(f"member_{i}")) for i in range(MAX_MEMBERS)) if m]
        try:
            handoff = time.fromisoformat(f.get("handoff", ""))
            starts_on = date.fromisoformat(f.get("starts_on", ""))
        except ValueError:
            flash("Give the handoff time (HH:MM) and the first day (YYYY-MM-DD).", "error")
            return None
        try:
            with unit_of_work():
                rota = rotas.save_rota(
                    f.get("name", ""),
                    members,
                    _int(f.get("shift_days")) or 0,
                    handoff,
                    starts_on,
                    f.get("timezone") or "Europe/London",
                    current_actor(),
                    rota_id=rota_id,
                )
                saved_id = rota.id
        except DomainError as exc:
            _flash_error(exc)
            return None
        flash("Rota saved.", "success")
        return saved_id

    @expose("/<int:rota_id>/override", methods=("POST",))
    def override(self, rota_id: int) -> Any:
        f = request.form
        starts, ends = _local(f.get("starts_at")), _local(f.get("ends_at"))
        if starts is None or ends is None:
            flash("Give the start and end of the cover (UK time).", "error")
            return redirect(url_for(".edit", rota_id=rota_id))
        try:
            with unit_of_work():
                rotas.add_override(
                    rota_id,
                    _int(f.get("user_id")) or 0,
                    starts,
                    ends,
                    f.get("reason"),
                    current_actor(),
                )
        except DomainError as exc:
            _flash_error(exc)
        else:
            flash("Override added.", "success")
        return redirect(url_for(".edit", rota_id=rota_id))


class PolicySetupView(SecureBaseView):
    """Managers set escalation policies: ordered steps with a delay each, repeated."""

    permission = Permission.MANAGE_ONCALL

    def __init__(self) -> None:
        super().__init__(
            name="Escalation policies",
            endpoint="policies",
            url="/admin/policies",
            category="Operations",
        )

    @expose("/", methods=("GET", "POST"))
    def index(self) -> Any:
        return self._edit(None)

    @expose("/<int:policy_id>/", methods=("GET", "POST"))
    def edit(self, policy_id: int) -> Any:
        return self._edit(policy_id)

    def _edit(self, policy_id: int | None) -> Any:
        policy = db.session.get(EscalationPolicy, policy_id) if policy_id else None
        if policy_id and policy is None:
            abort(404)
        if request.method == "POST":
            saved = self._save(policy_id)
            if saved is not None:
                return redirect(url_for(".edit", policy_id=saved))
        return self.render(
            "oncall/policies.html",
            policy=policy,
            staff=_staff(),
            form=request.form,
            policies=db.session.scalars(
                select(EscalationPolicy).order_by(EscalationPolicy.name)
            ).all(),
            rotas=db.session.scalars(select(Rota).order_by(Rota.name)).all(),
            max_steps=policies.MAX_STEPS,
        )

    def _save(self, policy_id: int | None) -> int | None:
        f = request.form
        steps = [
            policies.StepInput(
                f.get(f"target_{i}", ""),
                _int(f.get(f"rota_{i}")),
                _int(f.get(f"user_{i}")),
                f.get(f"webhook_{i}"),
                _int(f.get(f"delay_{i}")),
            )
            for i in range(policies.MAX_STEPS)
            if f.get(f"target_{i}")
        ]
        allow_http = current_app.config["CRM_SETTINGS"].allow_http_webhooks
        try:
            with unit_of_work():
                policy = policies.save_policy(
                    f.get("name", ""),
                    _int(f.get("repeat_count")),
                    f.get("is_default") == "y",
                    steps,
                    current_actor(),
                    allow_http=allow_http,
                    policy_id=policy_id,
                )
                saved_id = policy.id
        except DomainError as exc:
            _flash_error(exc)
            return None
        flash("Escalation policy saved.", "success")
        return saved_id


class OfficeHoursView(SecureModelView):
    """Admins set the office hours (UK time). Outside them, callbacks page on call at once."""

    permission = Permission.MANAGE_CONFIG
    column_list = ("weekday", "opens_at", "closes_at")
    column_formatters = {"weekday": lambda v, c, m, n: hours.WEEKDAYS[m.weekday]}
    column_default_sort = "weekday"
    form_args = {"weekday": {"description": "0 = Monday … 6 = Sunday"}}

    def __init__(self) -> None:
        super().__init__(
            OfficeHoursSpan,
            db,
            name="Office hours",
            endpoint="office_hours",
            category="Administration",
        )

    def on_model_change(self, form: Any, model: Any, is_created: bool) -> None:
        try:
            hours.OpeningSpan(model.weekday, model.opens_at, model.closes_at)
            others = db.session.scalars(
                select(OfficeHoursSpan).where(OfficeHoursSpan.id != (model.id or 0))
            ).all()
            hours.check_spans(
                [hours.OpeningSpan(o.weekday, o.opens_at, o.closes_at) for o in others]
                + [hours.OpeningSpan(model.weekday, model.opens_at, model.closes_at)]
            )
        except (ValueError, TypeError) as exc:
            raise DomainError(str(exc)) from None
        super().on_model_change(form, model, is_created)


class ClosureView(SecureModelView):
    """Days the office is closed; England and Wales bank holidays can be loaded in one go."""

    permission = Permission.MANAGE_CONFIG
    column_list = ("day", "name", "source")
    column_default_sort = ("day", True)
    form_columns = ("day", "name")

    def __init__(self) -> None:
        super().__init__(
            Closure, db, name="Closures", endpoint="closures", category="Administration"
        )

    @expose("/bank-holidays", methods=("POST",))
    def load_bank_holidays(self) -> Any:
        year = clock.now().year
        with unit_of_work():
            known = set(db.session.scalars(select(Closure.day)))
            added = 0
            for day, name in hours.bank_holidays([year, year + 1]).items():
                if day not in known:
                    db.session.add(Closure(day=day, name=name, source="bank_holiday"))
                    added += 1
        flash(f"Loaded {added} England and Wales bank holidays for {year}-{year + 1}.", "success")
        return redirect(url_for(".index_view"))


class ContactMethodView(SecureModelView):
    """How each person is reached (email, SMS, chat webhook), in order, with delays."""

    permission = Permission.MANAGE_ONCALL
    can_edit = False  # remove and add again: every address is validated on the way in
    column_list = ("user_id", "channel", "address", "position", "delay_minutes")
    column_labels = {"user_id": "Staff member", "delay_minutes": "Delay (minutes)"}
    column_formatters = {"user_id": lambda v, c, m, n: _names().get(m.user_id, m.user_id)}
    column_default_sort = "user_id"
    form_columns = ("user_id", "channel", "address", "position", "delay_minutes")
    form_overrides = {"user_id": SelectField, "channel": SelectField}
    form_args = {
        "user_id": {"coerce": int, "label": "Staff member"},
        "channel": {
            "choices": [
                SelectChoice("email", "Email"),
                SelectChoice("sms", "SMS"),
                SelectChoice("webhook", "Chat webhook"),
            ]
        },
        "delay_minutes": {"label": "Delay before this method (minutes)"},
    }

    def create_form(self, obj: Any = None) -> Any:
        form = super().create_form(obj)
        form.user_id.choices = [(u.id, f"{u.name} ({u.role})") for u in _staff()]
        return form

    def __init__(self) -> None:
        super().__init__(
            ContactMethod,
            db,
            name="Contact methods",
            endpoint="contact_methods",
            category="Operations",
        )

    def create_model(self, form: Any) -> Any:
        allow_http = current_app.config["CRM_SETTINGS"].allow_http_webhooks
        try:
            with unit_of_work():
                method = notify.save_contact_method(
                    int(form.user_id.data or 0),
                    form.channel.data or "",
                    form.address.data or "",
                    int(form.position.data or 0),
                    int(form.delay_minutes.data or 0),
                    allow_http_webhooks=allow_http,
                )
        except (DomainError, ValueError) as exc:
            flash(getattr(exc, "message", str(exc)), "error")
            return False
        return method
