"""Staff accounts in the back office: admins create, edit and deactivate (never delete)."""

from __future__ import annotations

from typing import Any

from flask import flash
from flask_admin.form import BaseForm
from wtforms import BooleanField, PasswordField, SelectField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import Length, Optional

from crm.admin.secure import SecureModelView
from crm.auth import services
from crm.auth.models import User
from crm.auth.permissions import Permission, Role
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


class StaffView(SecureModelView):
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
    )
    column_details_list = (*column_list, "password_changed_at")
    column_labels = {
        "last_login_at": "Last login",
        "created_at": "Created",
        "password_changed_at": "Password changed",
        "available": "Takes new leads",
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
