"""The breach register's forms: one for a new incident and one for each later step.

They parse and render; the rules live in ``crm.privacy.breach_rules`` (through the services),
whose field errors are put back on these fields. Date-times are typed as UK wall-clock time.
"""

from __future__ import annotations

from datetime import datetime

from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    DateTimeLocalField,
    IntegerField,
    RadioField,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import Optional

from crm.errors import DomainError
from crm.oncall.wallclock import LONDON, local_to_utc
from crm.privacy import breach_rules

# What a datetime-local input sends (and must be given back): no seconds, a "T".
LOCAL_FORMATS = ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M"]
DECISIONS = [SelectChoice("yes", "Notify"), SelectChoice("no", "Do not notify")]
RISK_CHOICES = [SelectChoice(level, level.capitalize()) for level in breach_rules.RISK_LEVELS]


def _when(label: str, description: str = "") -> DateTimeLocalField:
    return DateTimeLocalField(
        label, format=LOCAL_FORMATS, validators=[Optional()], description=description
    )


def as_utc(local: datetime | None) -> datetime | None:
    """A typed UK wall-clock time as its UTC instant (right across the clock changes)."""
    if local is None:
        return None
    return local_to_utc(local.date(), local.time().replace(tzinfo=None))


def as_local(instant: datetime | None) -> datetime | None:
    """An instant as the naive UK wall-clock time a datetime-local input shows."""
    return None if instant is None else instant.astimezone(LONDON).replace(tzinfo=None)


def decision(value: str | None) -> bool | None:
    return {"yes": True, "no": False}.get(value or "")


def decision_value(notify: bool | None) -> str | None:
    return None if notify is None else ("yes" if notify else "no")


class StepForm(FlaskForm):  # type: ignore[misc]
    # The services name a problem by their own field names; each form says which of its
    # fields that is.
    RENAMES: dict[str, str] = {}

    def show(self, error: DomainError) -> None:
        """Put a refused step's field errors on the fields they name."""
        for name, problems in error.field_errors.items():
            field = getattr(self, self.RENAMES.get(name, name), None)
            if field is not None:
                field.errors = [*field.errors, *problems]


class IncidentForm(StepForm):
    title = StringField("Title", description="A short name for the incident, no client names.")
    discovered_at = _when("Discovered at (UK time)", "The 72-hour ICO clock starts here.")
    occurred_at = _when("Happened at (UK time), if known")
    description = TextAreaField("What happened")
    data_involved = TextAreaField(
        "What data was involved", description="Kinds of data, not the data."
    )
    people_affected = IntegerField(
        "How many people are affected", default=0, validators=[Optional()]
    )
    special_category = BooleanField("Special category data (health, including substance use)")


class AssessmentForm(StepForm):
    risk_level = SelectField("Risk to the people affected", choices=RISK_CHOICES)
    risk_assessment = TextAreaField("Why this level")
    data_involved = TextAreaField("What data was involved")
    people_affected = IntegerField("How many people are affected", validators=[Optional()])
    special_category = BooleanField("Special category data (health, including substance use)")


class IcoDecisionForm(StepForm):
    RENAMES = {"notify": "ico_notify", "reason": "ico_reason"}

    ico_notify = RadioField("Notify the ICO?", choices=DECISIONS, validate_choice=False)
    ico_reason = TextAreaField("Reason for the decision")


class IcoNotifiedForm(StepForm):
    RENAMES = {"notified_at": "ico_notified_at", "reference": "ico_reference"}

    ico_notified_at = _when("ICO notified at (UK time)")
    ico_reference = StringField("ICO reference")


class PeopleDecisionForm(StepForm):
    RENAMES = {"notify": "people_notify", "reason": "people_reason"}

    people_notify = RadioField(
        "Notify the people affected?", choices=DECISIONS, validate_choice=False
    )
    people_reason = TextAreaField("Reason for the decision")


class PeopleNotifiedForm(StepForm):
    RENAMES = {"notified_at": "people_notified_at"}

    people_notified_at = _when("People notified at (UK time)")


class ActionForm(StepForm):
    RENAMES = {"text": "action_text"}

    action_text = StringField("Action taken")


class CloseForm(StepForm):
    pass
