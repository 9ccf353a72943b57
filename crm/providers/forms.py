"""Back-office forms for providers, locations, capacity and the CSV upload.

They render and collect; the rules live in ``crm.providers.rules`` (via the services), whose
field errors are put back on these fields by name.
"""

from __future__ import annotations

from typing import Any

from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import (
    BooleanField,
    DateField,
    DecimalField,
    EmailField,
    FloatField,
    IntegerField,
    SelectField,
    SelectMultipleField,
    StringField,
    TelField,
    TextAreaField,
    URLField,
    widgets,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import InputRequired, NumberRange, Optional

from crm.errors import DomainError
from crm.intake.vocabulary import MENTAL_HEALTH, REGIONS, SUBSTANCES
from crm.providers import rules
from crm.providers.vocabulary import (
    CONTRACT_STATUSES,
    FUNDING_ACCEPTED,
    LEVELS_OF_CARE,
    PROVIDER_STATUSES,
    RATINGS,
    REGULATORS,
    SINGLE_SEX,
)


def _choices(labels: dict[str, str], blank: str | None = None) -> list[SelectChoice]:
    first = [SelectChoice("", blank)] if blank is not None else []
    return first + [SelectChoice(key, label) for key, label in labels.items()]


class _Checkboxes(SelectMultipleField):  # type: ignore[misc]
    widget = widgets.ListWidget(prefix_label=False)
    option_widget = widgets.CheckboxInput()


class _Form(FlaskForm):  # type: ignore[misc]
    FIELDS: tuple[str, ...] = ()

    def values(self) -> dict[str, Any]:
        """The submitted values under the services' field names ("" as None)."""
        return {name: _blank_as_none(getattr(self, name).data) for name in self.FIELDS}

    def show(self, error: DomainError) -> None:
        """Put a refused save's field errors on the fields they name."""
        for name, problems in error.field_errors.items():
            field = getattr(self, name, None)
            if field is not None:
                field.errors = [*field.errors, *problems]


def _blank_as_none(value: Any) -> Any:
    return None if isinstance(value, str) and not value.strip() else value


class ProviderForm(_Form):
    FIELDS = rules.PROVIDER_FIELDS

    name = StringField("Name")
    regulator = SelectField("Regulator", choices=_choices(REGULATORS), default="cqc")
    regulator_provider_id = StringField(
        "Regulator provider id", description="CQC provider id, Care Inspectorate number …"
    )
    status = SelectField("Status", choices=_choices(PROVIDER_STATUSES), default="active")
    contract_status = SelectField("Contract", choices=_choices(CONTRACT_STATUSES), default="none")
    owned_or_affiliated = BooleanField(
        "Owned or affiliated with us",
        description="Shown on every screen and disclosed to the client when presented.",
    )
    affiliation_note = StringField("How we are connected")
    website = URLField("Website")


class LocationForm(_Form):
    FIELDS = rules.LOCATION_FIELDS

    name = StringField("Location name")
    regulator_location_id = StringField(
        "Regulator location id", description="The CSV import finds this location by it."
    )
    registration_status = StringField("Registration status")
    rating = SelectField("Latest rating", choices=_choices(RATINGS, "No rating"), default="")
    rating_date = DateField("Rating date", validators=[Optional()])
    address = StringField("Address")
    town = StringField("Town")
    postcode = StringField("Postcode", description="Required in the UK; optional abroad.")
    country = StringField("Country (ISO code)", default="GB")
    region = SelectField("Region", choices=_choices(REGIONS, "From the postcode"), default="")
    latitude = FloatField("Latitude", validators=[Optional()])
    longitude = FloatField(
        "Longitude", validators=[Optional()], description="Blank: placed by its postcode area."
    )
    levels_of_care = _Checkboxes("Levels of care", choices=_choices(LEVELS_OF_CARE))
    substances = _Checkboxes("Substances treated", choices=_choices(SUBSTANCES))
    dual_diagnosis = BooleanField("Dual diagnosis: accepts co-occurring mental health conditions")
    mental_health_accepted = _Checkboxes(
        "Mental health conditions accepted", choices=_choices(MENTAL_HEALTH)
    )
    exclusions = TextAreaField("Exclusions", description="For example: no active psychosis.")
    min_age = IntegerField("Minimum age", default=18, validators=[Optional()])
    max_age = IntegerField("Maximum age", validators=[Optional()])
    single_sex = SelectField("Single-sex", choices=_choices(SINGLE_SEX), default="mixed")
    accepts_pregnant = BooleanField("Accepts pregnant clients")
    wheelchair_accessible = BooleanField("Wheelchair accessible")
    funding_accepted = _Checkboxes("Funding accepted", choices=_choices(FUNDING_ACCEPTED))
    insurers = TextAreaField("Insurers (one per line)")
    price_per_week_min = DecimalField("Lowest price per week", validators=[Optional()])
    price_per_week_max = DecimalField("Highest price per week", validators=[Optional()])
    currency = StringField("Currency", default="GBP")
    minimum_stay_days = IntegerField("Minimum stay (days)", validators=[Optional()])
    status = SelectField("Status", choices=_choices(PROVIDER_STATUSES), default="active")
    admissions_phone = TelField("Admissions phone (24/7)")
    admissions_email = EmailField("Admissions email")

    def values(self) -> dict[str, Any]:
        values = super().values()
        values["insurers"] = [
            line.strip() for line in (self.insurers.data or "").splitlines() if line.strip()
        ]
        values["min_age"] = 18 if self.min_age.data is None else self.min_age.data
        values["currency"] = values["currency"] or "GBP"
        values["country"] = values["country"] or "GB"
        return values

    def fill(self, stored: dict[str, Any]) -> None:
        """Show a stored location (insurers as lines)."""
        self.process(data={**stored, "insurers": "\n".join(stored["insurers"])})


class CapacityForm(FlaskForm):  # type: ignore[misc]
    beds_available = IntegerField(
        "Beds available now", validators=[InputRequired(), NumberRange(min=0, max=1000)]
    )


class UploadForm(FlaskForm):  # type: ignore[misc]
    file = FileField("Directory CSV (UTF-8)")
