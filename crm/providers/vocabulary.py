"""The words of the provider directory (DOMAIN.md "Providers") with their labels. Pure."""

from __future__ import annotations

LEVELS_OF_CARE: dict[str, str] = {
    "residential_rehab": "Residential rehab",
    "medical_detox": "Medical detox",
    "outpatient": "Outpatient / day programme",
    "home_detox": "Home detox",
    "aftercare": "Aftercare",
}
FUNDING_ACCEPTED: dict[str, str] = {
    "self_funded": "Self-funded",
    "private_insurance": "Private insurance",
    "nhs_or_local_authority": "NHS or local authority",
}
REGULATORS: dict[str, str] = {
    "cqc": "CQC (England)",
    "care_inspectorate": "Care Inspectorate (Scotland)",
    "rqia": "RQIA (Northern Ireland)",
    "hiqa": "HIQA (Ireland)",
    "other": "Other",
}
PROVIDER_STATUSES: dict[str, str] = {"active": "Active", "paused": "Paused", "closed": "Closed"}
CONTRACT_STATUSES: dict[str, str] = {
    "none": "None",
    "negotiating": "Negotiating",
    "active": "Active",
    "suspended": "Suspended",
    "ended": "Ended",
}
SINGLE_SEX: dict[str, str] = {
    "mixed": "Mixed",
    "female_only": "Women only",
    "male_only": "Men only",
}
RATINGS: dict[str, str] = {
    "outstanding": "Outstanding",
    "good": "Good",
    "requires_improvement": "Requires improvement",
    "inadequate": "Inadequate",
    "not_rated": "Not rated",
}
# Countries whose addresses carry a UK-format postcode: the UK and the Crown Dependencies.
UK_POSTCODE_COUNTRIES = frozenset({"GB", "GG", "JE", "IM"})
OWNED_LABEL = "Owned/affiliated with us"
