"""Hand-built referrals whose every referrals-report figure is known (tests of
crm/reports/referrals.py).

Last week is Monday 16 to Sunday 22 November 2026 (UK time is UTC in November):

| referral | lead | clinic | sent | then |
| --- | --- | --- | --- | --- |
| R0 | E | Harbour | Tue 10 Nov 09:00 (before) | accepted 09:00, admitted 11, left early Wed 18 |
| R1 | A | Harbour | Mon 16 09:00 | accepted 15:00 (6 h), admitted 17, completed Fri 20 |
| R2 | B | Harbour | Tue 17 10:00 | declined "no bed" Wed 18 13:00 (27 h) |
| R3 | B | Dales | Tue 17 10:30 | waitlisted Thu 19 10:30 (48 h), accepted Fri 20 |
| R4 | C | Dales | Sat 21 12:00 | no answer yet |
| R5 | D | Dales | Wed 18 09:00 | withdrawn 16:00 |
"""

from __future__ import annotations

from datetime import UTC, date, datetime

from crm import clock
from crm.auth.models import User
from crm.extensions import db
from crm.intake.models import Lead
from crm.providers.models import ProviderLocation
from crm.referrals import referring
from crm.referrals.lifecycle import MoveRequest
from crm.referrals.models import Referral
from tests.services.intake_factories import actor_for
from tests.services.referral_factories import assessed_lead, location, present
from tests.services.report_factories import refresh_summaries

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
DALES = "Dales Recovery Group — Dales Recovery"
HARBOUR = "Harbour House Ltd — Harbour House"


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=UTC)


def send(lead: Lead, clinic: ProviderLocation, advisor: User, when: datetime) -> Referral:
    [option_id] = present(lead, advisor, clinic)
    with clock.pinned(when):
        referral = referring.refer(option_id, actor_for(advisor))
        db.session.flush()
    return referral


def move(referral: Referral, advisor: User, when: datetime, status: str, **fields: object) -> None:
    with clock.pinned(when):
        referring.move_referral(referral.id, MoveRequest(status, **fields), actor_for(advisor))  # type: ignore[arg-type]
        db.session.flush()


def referral_story(advisor: User) -> dict[str, object]:
    """The referrals of the table above, committed."""
    harbour = location("Harbour House", provider_name="Harbour House Ltd")
    dales = location("Dales Recovery")
    a, b, c, d, e = (
        assessed_lead(advisor, phone=f"07700 90020{i}", email=f"p{i}@example.com") for i in range(5)
    )
    r0 = send(e, harbour, advisor, at(10, 9))
    move(r0, advisor, at(10, 9), "accepted")
    move(r0, advisor, at(11, 9), "admission_planned", on_date=date(2026, 11, 11))
    move(r0, advisor, at(11, 12), "admitted", on_date=date(2026, 11, 11))
    move(r0, advisor, at(18, 12), "discharged", on_date=date(2026, 11, 18), outcome="early")
    r1 = send(a, harbour, advisor, at(16, 9))
    move(r1, advisor, at(16, 15), "accepted")
    move(r1, advisor, at(17, 9), "admission_planned", on_date=date(2026, 11, 17))
    move(r1, advisor, at(17, 12), "admitted", on_date=date(2026, 11, 17))
    move(r1, advisor, at(20, 12), "discharged", on_date=date(2026, 11, 20), outcome="completed")
    r2 = send(b, harbour, advisor, at(17, 10))
    move(r2, advisor, at(18, 13), "declined", decline_code="no_bed", reason="Full until March")
    r3 = send(b, dales, advisor, at(17, 10, 30))
    move(r3, advisor, at(19, 10, 30), "waitlisted")
    move(r3, advisor, at(20, 10), "accepted")
    send(c, dales, advisor, at(21, 12))
    r5 = send(d, dales, advisor, at(18, 9))
    move(r5, advisor, at(18, 16), "withdrawn", reason="Chose an NHS place")
    db.session.commit()
    refresh_summaries(NOW)
    return {"leads": (a, b, c, d, e), "harbour": harbour, "dales": dales}
