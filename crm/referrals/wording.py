"""Versioned words read to a client when options are presented, so records say what was said."""

from __future__ import annotations

DISCLOSURE_VERSION = "presenting-commission-2026-11"
DISCLOSURE_TEXT = (
    "Before I go through these clinics: we are a referral service, not a clinic, and the "
    "clinics we refer people to pay us a fee if you are admitted. That fee plays no part in "
    "which clinics I suggest; they are chosen for your needs only."
)
AFFILIATION_VERSION = "presenting-affiliation-2026-11"
AFFILIATION_TEXT = "{clinic} is owned by or affiliated with our service."
SHARE_VERSION = "share-with-provider-2026-11"
SHARE_TEXT = "Do you agree to us sending your name, contact details and situation to {clinic}?"
SHARE_HEALTH_TEXT = (
    "And may we include the health details you told us about (substances, mental health) "
    "in what we send to {clinic}?"
)
