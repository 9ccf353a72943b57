"""Hand-built weeks of intake whose every report figure is known (tests of crm/reports).

"Last week" is Monday 16 to Sunday 22 November 2026 (GMT, so UK time is UTC), seen from
Monday 23 November; the week before is 9 to 15 November. Office hours are the defaults
(Monday to Friday, 09:00 to 17:30).

| lead | created (UK) | source, campaign | first connected call | then |
| --- | --- | --- | --- | --- |
| L1 | Mon 16 Nov 10:00 (in hours) | web form, winter | 10:05 (5 min) | admitted Tue 17 |
| L2 | Mon 16 Nov 22:00 (out of hours) | phone | 22:30 (30 min) | a repeat request Wed 18 |
| L3 | Sat 21 Nov 12:00 (out of hours) | web form | none | closed unreachable Sun 22 |
| L4 | Tue 17 Nov 11:00 (in hours) | web form | none | merged into L2 |
| L0 | Tue 10 Nov 10:00 (previous week) | web form | 10:20 (20 min) | |
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime

from crm import clock
from crm.auth.models import User
from crm.extensions import db
from crm.intake import pipeline
from crm.intake.models import Lead
from crm.intake.stages import Stage
from crm.privacy.services import Actor
from crm.reports import summary
from tests.web.intake_helpers import make_lead

TODAY = date(2026, 11, 23)
NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


def at(day: int, hour: int, minute: int = 0, month: int = 11) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=UTC)


@dataclass
class Week:
    l0: Lead
    l1: Lead
    l2: Lead
    l3: Lead
    l4: Lead


def called(lead: Lead, staff: User, when: datetime) -> None:
    with clock.pinned(when):
        pipeline.log_call(lead.id, Actor(staff.id), direction="outbound", outcome="connected")
        db.session.commit()


def hand_built_week(staff: User) -> Week:
    actor = Actor(staff.id)
    l0 = make_lead("Previous Week", "07700 900100", at=at(10, 10))
    called(l0, staff, at(10, 10, 20))
    l1 = make_lead("Ada Winter", "07700 900101", at=at(16, 10), utm_campaign="winter")
    called(l1, staff, at(16, 10, 5))
    with clock.pinned(at(17, 10)):
        pipeline.follow(db.session.get(Lead, l1.id), Stage.ADMITTED, actor, "test: admitted")
        db.session.commit()
    l2 = make_lead("Bea Night", "07700 900102", at=at(16, 22), source="phone")
    called(l2, staff, at(16, 22, 30))
    repeat = make_lead("Bea Night", "07700 900102", at=at(18, 9, 30))
    assert repeat.id == l2.id  # a repeat request on the open lead
    l3 = make_lead("Cy Weekend", "07700 900103", at=at(21, 12))
    with clock.pinned(at(22, 9)):
        pipeline.change_stage(l3.id, "closed", actor, close_reason="unreachable")
        db.session.commit()
    l4 = make_lead("Bea Nite", "07700 900104", at=at(17, 11))
    with clock.pinned(at(17, 12)):
        pipeline.merge_leads(l4.id, l2.id, actor)
        db.session.commit()
    refresh_summaries()
    return Week(l0, l1, l2, l3, l4)


def refresh_summaries(now: datetime = NOW) -> None:
    """What the engine does every minute: bring the report summaries up to date."""
    with clock.pinned(now):
        summary.refresh()
        db.session.commit()
