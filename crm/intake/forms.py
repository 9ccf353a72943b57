"""The hosted "Receive a callback" form and the staff "log an enquiry" form."""

from __future__ import annotations

from typing import Any

from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    EmailField,
    RadioField,
    SelectField,
    SelectMultipleField,
    StringField,
    TelField,
    TextAreaField,
    widgets,
)
from wtforms.fields.choices import SelectChoice

from crm.intake.vocabulary import RELATIONSHIPS, SOURCES, SUBSTANCES
from crm.intake.wording import CONSENT_CONTACT_TEXT, CONSENT_HEALTH_TEXT

# SelectChoice, not tuples: tuple choices are deprecated in WTForms 3.3 (removed in 3.4).
_OTHERS = [SelectChoice("", "Choose…")] + [
    SelectChoice(k, v) for k, v in RELATIONSHIPS.items() if k != "self"
]


class _Checkboxes(SelectMultipleField):  # type: ignore[misc]
    widget = widgets.ListWidget(prefix_label=False)
    option_widget = widgets.CheckboxInput()


class CallbackForm(FlaskForm):  # type: ignore[misc]
    """Field validation lives in crm.intake.callback; this only renders and collects."""

    name = StringField("Your name")
    phone = TelField("Phone number", description="A UK mobile or landline, or +country code.")
    email = EmailField("Email (optional)")
    best_time_to_call = StringField(
        "Best time to call (optional)", description="For example: weekday evenings, any time."
    )
    for_whom = RadioField(
        "Who is the help for?",
        choices=[SelectChoice("self", "Me"), SelectChoice("someone_else", "Someone else")],
        default="self",
    )
    relationship = SelectField("How do you know them?", choices=_OTHERS, default="")
    client_name = StringField("Their first name (optional)")
    substances = _Checkboxes(
        "What are you worried about? (optional)",
        choices=[SelectChoice(k, v) for k, v in SUBSTANCES.items()],
    )
    message = TextAreaField("Anything you want us to know (optional)")
    consent_to_contact = BooleanField(CONSENT_CONTACT_TEXT)
    consent_to_health_details = BooleanField(CONSENT_HEALTH_TEXT)
    # Honeypot: hidden from people by CSS; bots fill it in.
    website = StringField("Leave this empty", render_kw={"tabindex": "-1", "autocomplete": "off"})

    def payload(self) -> dict[str, Any]:
        return {
            "name": self.name.data,
            "phone": self.phone.data,
            "email": self.email.data,
            "best_time_to_call": self.best_time_to_call.data,
            "for_whom": self.for_whom.data,
            "relationship": self.relationship.data or None,
            "client_name": self.client_name.data,
            "substances": self.substances.data or [],
            "message": self.message.data,
            "consent_to_contact": bool(self.consent_to_contact.data),
            "consent_to_health_details": bool(self.consent_to_health_details.data),
        }


class EnquiryForm(CallbackForm):
    """Staff log an enquiry that came by phone, email or from a partner."""

    source = SelectField(
        "Came in by",
        choices=[SelectChoice(k, v) for k, v in SOURCES.items() if k != "web_form"],
        default="phone",
    )
    consent_to_contact = BooleanField("The caller agreed to be contacted about this enquiry.")
    consent_to_health_details = BooleanField(
        "The caller agreed to us using the health details they gave (read them the wording)."
    )
    disclosure_read = BooleanField(
        "I told the caller we are a referral service paid by the clinics we refer to."
    )
