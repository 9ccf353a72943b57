"""Versioned wording shown to people, so consent records say exactly what was agreed."""

from __future__ import annotations

DISCLOSURE_VERSION = "commission-2026-11"
DISCLOSURE_TEXT = (
    "We are a referral service, not a clinic. The clinics we refer people to pay us a fee "
    "when someone is admitted. The fee never decides which clinics we suggest: we match "
    "clinics to your needs only."
)
CONSENT_VERSION = "callback-consent-2026-11"
CONSENT_CONTACT_TEXT = (
    "I agree to be contacted by phone (and email, if I gave one) about this request."
)
CONSENT_HEALTH_TEXT = (
    "I agree to you using the health details I give here (substances, my situation) to help "
    "find treatment. Leave unticked to just ask for a call."
)
CRISIS_TEXT = (
    "If you or someone else is in immediate danger, call 999. For urgent medical help call "
    "NHS 111. Samaritans are there day or night on 116 123."
)
