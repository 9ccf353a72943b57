"""Staff accounts in the back office: admins create, edit and deactivate (never delete)."""

from __future__ import annotations

from typing import Any

from flask import flash, redirect, url_for
from flask_admin import expose
from flask_admin.form import BaseForm
from flask_wtf.csrf import generate_csrf
from markupsafe import Markup, escape
from wtforms import BooleanField, PasswordField, SelectField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import Length, Optional

from crm.admin.secure import SecureModelView
from crm.auth import factors, services
from crm.auth.models import User
from crm.auth.permissions import Permission, Role
from crm.database import unit_of_work
from crm.errors import DomainError
from crm.extensions import db
from crm.requestctx import current_actor


class StaffForm(BaseForm):  # type: ignore[misc]
    name = StringField("Name", validators=[Length(max=120)])
    email = StringField("Email", validators=[Length(max=254)])
    role = SelectField("Role", choices=[SelectChoice(r.value, r.value.title()) for r in Role])
    phone = StringField("Phone (for on-call SMS)", validators=[Optional(), Length(max=40)])
    active = BooleanField("Active", default=True)
    available = BooleanField(
        "Takes new leads",
        description="New leads are shared round-robin among available admissions staff.",
    )
    password = PasswordField(
        "Password",
        description="Required for a new account; leave blank to keep the current one. "
        "At least 12 characters; tell the person in person, not by email.",
    )


class _ResetFactors:
    """Mixin for StaffView: an admin resets another person's second factors (a lost phone)."""

    @expose("/<int:user_id>/reset-factors", methods=("POST",))
    def reset_factors(self, user_id: int) -> Any:
        refused = ""
        with unit_of_work():  # a refusal's audit event is kept
            try:
                factors.reset_factors(user_id, current_actor())
            except DomainError as exc:
                refused = exc.message
        if refused:
            flash(refused, "error")
        else:
            flash(
                "Their second factors were reset and their sessions ended: they set them up "
                "again at their next sign-in.",
                "success",
            )
        return redirect(url_for(".index_view"))


def _factors_cell(user: User) -> Markup:
    """What the person has enrolled, and the reset button (a POST with its CSRF token)."""
    have = factors.factors_of(user.id)
    parts = (["app"] if have.totp else []) + (
        [f"{have.passkeys} passkey(s)"] if have.passkeys else []
    )
    text = ", ".join(parts) or "none"
    if not have.any:
        return escape(text)
    # Markup.format escapes every argument: only the literal markup is trusted.
    return Markup(
        '{} <form method="post" action="{}" class="d-inline">'
        '<input type="hidden" name="csrf_token" value="{}">'
        '<button class="btn btn-link btn-sm p-0 text-danger" type="submit" '
        'data-testid="reset-factors-{}">reset</button></form>'
    ).format(text, url_for(".reset_factors", user_id=user.id), generate_csrf(), user.id)


class StaffView(_ResetFactors, SecureModelView):
    """Admins manage personal staff accounts; deactivation ends the person's sessions."""

    permission = Permission.MANAGE_STAFF
    can_delete = False
    can_view_details = True
    column_list = (
        "name",
        "email",
        "role",
        "active",
        "available",
        "phone",
        "last_login_at",
        "created_at",
        "second_factors",
    )
    column_details_list = (*column_list, "password_changed_at")
    column_formatters = {"second_factors": lambda view, context, model, name: _factors_cell(model)}
    column_labels = {
        "last_login_at": "Last login",
        "created_at": "Created",
        "password_changed_at": "Password changed",
        "available": "Takes new leads",
        "second_factors": "Second factors",
    }
    column_searchable_list = ("name", "email")
    column_filters = ("role", "active")
    column_default_sort = "name"
    form = StaffForm

    def __init__(self) -> None:
        super().__init__(User, db, name="Staff", endpoint="staff", category="Administration")

    def _details(self, form: Any) -> services.StaffDetails:
        return services.StaffDetails(
            name=form.name.data,
            email=form.email.data,
            role=form.role.data,
            phone=form.phone.data,
            active=bool(form.active.data),
            available=bool(form.available.data),
        )

    @staticmethod
    def _show_errors(form: Any, error: DomainError) -> None:
        # Flask-Admin's templates show field errors but never form.form_errors: flash the message.
        flash(error.message, "error")
        for name, problems in error.field_errors.items():
            field = getattr(form, name, None)
            if field is not None:
                field.errors = [*field.errors, *problems]

    def create_model(self, form: Any) -> Any:
        try:
            user = services.create_user(self._details(form), form.password.data, current_actor())
            db.session.commit()
        except DomainError as exc:
            db.session.rollback()
            self._show_errors(form, exc)
            return False
        return user

    def update_model(self, form: Any, model: Any) -> bool:
        try:
            services.update_user(
                model.id, self._details(form), form.password.data or None, current_actor()
            )
            db.session.commit()
        except DomainError as exc:
            db.session.rollback()
            self._show_errors(form, exc)
            return False
        return True

    def on_form_prefill(self, form: Any, id: Any) -> None:
        form.password.data = ""
