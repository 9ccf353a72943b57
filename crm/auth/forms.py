"""Login and password forms (Flask-WTF, so every POST carries a CSRF token)."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import EmailField, PasswordField
from wtforms.validators import DataRequired, Length


class LoginForm(FlaskForm):  # type: ignore[misc]
    email = EmailField("Email", validators=[DataRequired(), Length(max=254)])
    password = PasswordField("Password", validators=[DataRequired(), Length(max=1024)])


class ChangePasswordForm(FlaskForm):  # type: ignore[misc]
    current_password = PasswordField("Current password", validators=[DataRequired()])
    new_password = PasswordField(
        "New password",
        validators=[DataRequired(), Length(max=1024)],
        description="At least 12 characters. Several random words make a strong password.",
    )


class LogoutForm(FlaskForm):  # type: ignore[misc]
    """Logging out is a POST with a CSRF token, so another site cannot log staff out."""
