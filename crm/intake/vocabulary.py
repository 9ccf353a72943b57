"""The words of intake (DOMAIN.md) as value lists shared by forms, API and matching. Pure."""

from __future__ import annotations

SUBSTANCES: dict[str, str] = {
    "alcohol": "Alcohol",
    "ketamine": "Ketamine",
    "cocaine": "Cocaine",
    "opioids": "Opioids (heroin, painkillers)",
    "benzodiazepines": "Benzodiazepines",
    "cannabis": "Cannabis",
    "amphetamines": "Amphetamines",
    "prescription_drugs": "Other prescription drugs",
    "gambling": "Gambling",
    "other": "Other",
}
RELATIONSHIPS: dict[str, str] = {
    "self": "Themselves",
    "family": "Family member",
    "partner": "Partner",
    "friend": "Friend",
    "professional": "Professional",
}
SOURCES: dict[str, str] = {
    "web_form": "Website form",
    "phone": "Phone call",
    "email": "Email",
    "partner_referral": "Partner referral",
    "other": "Other",
}
CALL_DIRECTIONS: dict[str, str] = {"inbound": "Inbound", "outbound": "Outbound"}
CALL_OUTCOMES: dict[str, str] = {
    "connected": "Connected",
    "no_answer": "No answer",
    "voicemail": "Voicemail",
    "wrong_number": "Wrong number",
    "busy": "Busy",
    "callback_requested": "Callback requested",
}
TREATMENTS: dict[str, str] = {
    "residential_rehab": "Residential rehab",
    "medical_detox": "Medical detox",
    "outpatient": "Outpatient / day programme",
    "home_detox": "Home detox",
    "unsure": "Unsure",
}
FUNDING: dict[str, str] = {
    "self_funded": "Self-funded",
    "private_insurance": "Private insurance",
    "nhs_or_local_authority": "NHS or local authority",
    "unsure": "Unsure",
}
BUDGET_BANDS: dict[str, str] = {
    "under_1000": "Under £1,000 a week",
    "1000_1500": "£1,000–£1,500 a week",
    "1500_2500": "£1,500–£2,500 a week",
    "2500_5000": "£2,500–£5,000 a week",
    "over_5000": "Over £5,000 a week",
}
TIMEFRAMES: dict[str, str] = {
    "immediately": "Immediately",
    "within_a_week": "Within a week",
    "within_a_month": "Within a month",
    "exploring": "Just exploring",
}
USAGE_DURATIONS: dict[str, str] = {
    "under_6_months": "Under 6 months",
    "6_to_12_months": "6–12 months",
    "1_to_5_years": "1–5 years",
    "over_5_years": "Over 5 years",
}
USAGE_FREQUENCIES: dict[str, str] = {
    "daily": "Daily",
    "several_times_a_week": "Several times a week",
    "weekly": "Weekly",
    "less_often": "Less often",
}
GENDERS: dict[str, str] = {
    "female": "Female",
    "male": "Male",
    "non_binary": "Non-binary",
    "prefer_not_to_say": "Prefer not to say",
}
REGIONS: dict[str, str] = {
    "london": "London",
    "south_east": "South East",
    "south_west": "South West",
    "east_of_england": "East of England",
    "east_midlands": "East Midlands",
    "west_midlands": "West Midlands",
    "yorkshire": "Yorkshire and the Humber",
    "north_west": "North West",
    "north_east": "North East",
    "wales": "Wales",
    "scotland": "Scotland",
    "northern_ireland": "Northern Ireland",
}
DEPENDENCE_SIGNS: dict[str, str] = {
    "cravings": "Cravings",
    "withdrawal": "Withdrawal symptoms",
    "tolerance": "Tolerance",
    "loss_of_control": "Loss of control",
    "neglecting_responsibilities": "Neglecting responsibilities",
}
MENTAL_HEALTH: dict[str, str] = {
    "depression": "Depression",
    "anxiety": "Anxiety",
    "chronic_emotional_pain": "Chronic emotional pain",
    "trauma_symptoms": "Trauma-related symptoms",
}
