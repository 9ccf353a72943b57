"""The breach register through HTTP as an admin uses it: record an incident, walk it through
every step to closed while the ICO countdown shows; managers and admissions staff are refused;
each bad input is refused with a clear message and leaves the database as it was.

The clock is pinned at Friday 4 December 2026, 10:18 UK (GMT) for every request.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from crm import clock
from crm.extensions import db
from crm.privacy.models import AuditEvent, Breach
from tests.web.conftest import audit_events, database_snapshot
from tests.web.fees_support import post, text_of

Clients = Callable[..., FlaskClient]
NOW = datetime(2026, 12, 4, 10, 18, tzinfo=UTC)
REGISTER = "/admin/breaches/"
DENIED = "You do not have access to this page"
INCIDENT = {
    "title": "Assessment emailed to the wrong clinic",
    "discovered_at": "2026-12-03T09:30",  # 24 h 48 min before NOW: 47 h 12 min left
    "occurred_at": "2026-12-03T08:05",
    "description": "A summary went to another provider's admissions inbox.",
    "data_involved": "Name, phone number, substance use",
    "people_affected": "1",
    "special_category": "y",
}


@pytest.fixture(autouse=True)
def web_time() -> Iterator[None]:
    with clock.pinned(NOW):
        yield


@pytest.fixture
def admin(client_for: Clients) -> FlaskClient:
    return client_for("admin")


def _record(admin: FlaskClient, **changes: str) -> int:
    response = post(admin, f"{REGISTER}new", {**INCIDENT, **changes}, follow=False)
    assert response.status_code == 302, text_of(response)
    return int(response.headers["Location"].rstrip("/").split("/")[-1])


def _row(breach_id: int) -> tuple[Any, ...]:
    db.session.expire_all()
    return tuple(db.session.execute(select(Breach.__table__).where(Breach.id == breach_id)).one())


def _page(client: FlaskClient, path: str) -> str:
    response = client.get(path)
    assert response.status_code == 200, (path, response.status_code)
    return text_of(response)


def _step(admin: FlaskClient, breach_id: int, step: str, data: dict[str, str]) -> str:
    response = post(admin, f"{REGISTER}{breach_id}/{step}", data)
    assert response.status_code == 200
    return text_of(response)


def test_an_admin_walks_an_incident_from_discovery_to_closed(admin: FlaskClient) -> None:
    form = _page(admin, f"{REGISTER}new")
    assert "Record an incident" in form and 'value="2026-12-04T10:18"' in form
    breach_id = _record(admin)
    breach = db.session.get(Breach, breach_id)
    assert breach is not None
    assert breach.discovered_at == datetime(2026, 12, 3, 9, 30, tzinfo=UTC)
    assert breach.occurred_at == datetime(2026, 12, 3, 8, 5, tzinfo=UTC)
    assert (breach.people_affected, breach.special_category, breach.status) == (1, True, "open")

    register = _page(admin, REGISTER)
    assert INCIDENT["title"] in register
    assert "47 h 12 min left" in register and "06 Dec 2026 09:30" in register

    page = _step(
        admin,
        breach_id,
        "assessment",
        {
            "risk_level": "high",
            "risk_assessment": "Health details; the clinic could contact the client.",
            "data_involved": "Name, phone, substance use",
            "people_affected": "1",
            "special_category": "y",
        },
    )
    assert "Risk assessment saved." in page and "High: Health details" in page
    page = _step(
        admin,
        breach_id,
        "ico-decision",
        {"ico_notify": "yes", "ico_reason": "Special category data: a risk to the client."},
    )
    assert "Decision about notifying the ICO saved." in page
    assert "47 h 12 min left" in page  # deciding to notify does not stop the clock
    page = _step(
        admin,
        breach_id,
        "ico-notified",
        {"ico_notified_at": "2026-12-04T09:50", "ico_reference": "IC-123456"},
    )
    assert "ICO notified 04 Dec 09:50" in page and "reference IC-123456" in page
    page = _step(
        admin,
        breach_id,
        "people-decision",
        {"people_notify": "yes", "people_reason": "High risk: they should expect contact."},
    )
    assert "Notify: High risk: they should expect contact." in page
    page = _step(admin, breach_id, "people-notified", {"people_notified_at": "2026-12-04T10:00"})
    assert "Notification of the people affected recorded." in page
    page = _step(admin, breach_id, "actions", {"action_text": "Clinic confirmed it deleted it."})
    assert "04 Dec 2026 10:18 Test Admin: Clinic confirmed it deleted it." in page
    page = _step(admin, breach_id, "close", {})
    assert "Incident closed." in page and "Close the incident" not in page

    breach = db.session.get(Breach, breach_id)
    db.session.refresh(breach)
    assert breach is not None
    assert (breach.status, breach.closed_at) == ("closed", NOW)
    assert (breach.notify_ico, breach.ico_reference) == (True, "IC-123456")
    assert breach.ico_notified_at == datetime(2026, 12, 4, 9, 50, tzinfo=UTC)
    assert breach.people_notified_at == datetime(2026, 12, 4, 10, 0, tzinfo=UTC)
    events = audit_events(object_type="breaches", object_id=str(breach_id))
    assert [(e.action, e.detail) for e in events] == [
        ("create", None),
        ("update", "assessment"),
        ("update", "ico_decision"),
        ("update", "ico_notified"),
        ("update", "people_decision"),
        ("update", "people_notified"),
        ("update", "action_added"),
        ("close", "closed"),
    ]
    assert {e.actor_role for e in events} == {"admin"}


def test_summer_times_are_typed_in_uk_time(admin: FlaskClient) -> None:
    with clock.pinned(datetime(2026, 7, 6, 12, 0, tzinfo=UTC)):
        breach_id = _record(admin, discovered_at="2026-07-05T14:02", occurred_at="")
        page = _page(admin, f"{REGISTER}{breach_id}/")
    breach = db.session.get(Breach, breach_id)
    assert breach is not None and breach.discovered_at == datetime(2026, 7, 5, 13, 2, tzinfo=UTC)
    assert breach.occurred_at is None
    assert "05 Jul 2026 14:02" in page and "49 h 2 min left" in page


def test_the_countdown_turns_red_inside_the_last_24_hours_and_when_overdue(
    admin: FlaskClient,
) -> None:
    calm = _record(admin, title="Calm", discovered_at="2026-12-04T09:00", occurred_at="")
    _record(admin, title="Close", discovered_at="2026-12-02T09:00", occurred_at="")
    late = _record(admin, title="Late", discovered_at="2026-12-01T07:18", occurred_at="")
    register = _page(admin, REGISTER)
    rows = register.split('data-testid="breach-row"')[1:]
    assert ["Late" in rows[0], "Close" in rows[1], "Calm" in rows[2]] == [True] * 3
    assert "overdue by 3 h 0 min" in rows[0] and "table-danger" in rows[0]
    assert "22 h 42 min left" in rows[1] and "badge-danger" in rows[1]
    assert "70 h 42 min left" in rows[2] and "badge-danger" not in rows[2]
    page = _page(admin, f"{REGISTER}{late}/")
    assert "overdue by 3 h 0 min" in page and "alert-danger" in page
    assert "alert-danger" not in _page(admin, f"{REGISTER}{calm}/")


@pytest.mark.parametrize("role", ["manager", "admissions"])
def test_managers_and_admissions_staff_are_refused(
    client_for: Clients, admin: FlaskClient, role: str
) -> None:
    breach_id = _record(admin)
    client = client_for(role)
    assert "Breach register" not in _page(client, "/admin/")
    for path in (REGISTER, f"{REGISTER}new", f"{REGISTER}{breach_id}/"):
        response = client.get(path)
        assert response.status_code == 403 and DENIED in text_of(response)
    before = database_snapshot()
    before.pop("audit_events")
    for step, data in [
        ("new", INCIDENT),
        (f"{breach_id}/actions", {"action_text": "should not appear"}),
        (f"{breach_id}/close", {}),
    ]:
        response = post(client, f"{REGISTER}{step}", data, follow=False)
        assert response.status_code == 403
    after = database_snapshot()
    after.pop("audit_events")
    assert after == before


def test_the_menu_shows_the_register_to_admins(admin: FlaskClient) -> None:
    dashboard = _page(admin, "/admin/")
    assert "Data protection" in dashboard and 'href="/admin/breaches/"' in dashboard


def test_an_unknown_incident_is_not_found(admin: FlaskClient) -> None:
    assert admin.get(f"{REGISTER}987654/").status_code == 404
    response = post(admin, f"{REGISTER}987654/actions", {"action_text": "x"}, follow=False)
    assert response.status_code == 404


def _refused(admin: FlaskClient, path: str, data: dict[str, str], *messages: str) -> str:
    """POST ``data``; the page shows every message and not one row anywhere changed."""
    before = database_snapshot()
    response = post(admin, path, data)
    page = text_of(response)
    assert response.status_code == 200
    for message in messages:
        assert message in page, (message, page[:2000])
    assert database_snapshot() == before
    return page


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"title": " "}, "Give the incident a short title."),
        ({"discovered_at": "2026-12-04T10:19"}, "The discovery time cannot be in the future."),
        ({"discovered_at": ""}, "Enter when the breach was discovered."),
        ({"occurred_at": "2026-12-03T09:31"}, "It cannot have happened after it was discovered."),
        ({"people_affected": "-4"}, "The number of people affected cannot be negative."),
        ({"people_affected": "many"}, "Not a valid integer value."),
        ({"discovered_at": "yesterday"}, "Not a valid datetime value."),
    ],
)
def test_a_bad_new_incident_is_refused_and_nothing_is_saved(
    admin: FlaskClient, changes: dict[str, str], message: str
) -> None:
    page = _refused(admin, f"{REGISTER}new", {**INCIDENT, **changes}, message)
    assert "was not saved" in page
    assert db.session.scalars(select(Breach)).all() == []


def test_bad_steps_are_refused_and_change_nothing(admin: FlaskClient) -> None:
    breach_id = _record(admin)
    at = f"{REGISTER}{breach_id}"
    _refused(
        admin,
        f"{at}/assessment",
        {"risk_level": "medium", "risk_assessment": "ok", "people_affected": "-1"},
        "The number of people affected cannot be negative.",
    )
    _refused(
        admin,
        f"{at}/assessment",
        {"risk_level": "high", "risk_assessment": "", "people_affected": "1"},
        "Say why the risk is at this level.",
    )
    _refused(
        admin,
        f"{at}/ico-decision",
        {"ico_notify": "yes", "ico_reason": "  "},
        "Give the reason for the decision about notifying the ICO.",
    )
    _refused(
        admin,
        f"{at}/ico-decision",
        {"ico_reason": "a reason"},
        "Choose whether to notify the ICO.",
    )
    _refused(
        admin,
        f"{at}/people-decision",
        {"people_notify": "no", "people_reason": ""},
        "Give the reason for the decision about notifying the people affected.",
    )
    _refused(
        admin,
        f"{at}/close",
        {},
        "The incident cannot be closed yet: Decide whether to notify the ICO.",
        "Decide whether to notify the people affected.",
    )
    _refused(admin, f"{at}/actions", {"action_text": " "}, "Describe the action taken.")
    _refused(
        admin,
        f"{at}/ico-notified",
        {"ico_notified_at": "2026-12-04T09:00"},
        "first record the decision to notify the ICO",
    )

    _step(admin, breach_id, "ico-decision", {"ico_notify": "yes", "ico_reason": "High risk."})
    _refused(
        admin,
        f"{at}/ico-notified",
        {"ico_notified_at": "2026-12-03T09:29"},
        "They cannot have been notified before it was discovered.",
    )
    _refused(
        admin,
        f"{at}/ico-notified",
        {"ico_notified_at": "2026-12-04T11:00"},
        "The notification time cannot be in the future.",
    )
    _refused(admin, f"{at}/close", {}, "Record when the ICO was notified.")
    _step(admin, breach_id, "people-decision", {"people_notify": "yes", "people_reason": "High."})
    _refused(
        admin,
        f"{at}/people-notified",
        {"people_notified_at": "2026-12-02T10:00"},
        "They cannot have been notified before it was discovered.",
    )


def test_a_closed_incident_shows_no_forms_and_refuses_changes(admin: FlaskClient) -> None:
    breach_id = _record(admin)
    _step(admin, breach_id, "ico-decision", {"ico_notify": "no", "ico_reason": "Encrypted."})
    _step(admin, breach_id, "people-decision", {"people_notify": "no", "people_reason": "Low."})
    page = _step(admin, breach_id, "close", {})
    assert "decided not to notify" in page and "Add action" not in page
    before = _row(breach_id)
    _refused(
        admin,
        f"{REGISTER}{breach_id}/actions",
        {"action_text": "late"},
        "This incident is closed",
    )
    assert _row(breach_id) == before


def test_the_audit_trail_holds_no_breach_text(admin: FlaskClient) -> None:
    breach_id = _record(admin)
    _step(admin, breach_id, "actions", {"action_text": "Phoned J. Smith about the detox notes"})
    details = db.session.scalars(
        select(AuditEvent.detail).where(AuditEvent.object_type == "breaches")
    ).all()
    assert details and not any(d and ("Smith" in d or "wrong clinic" in d) for d in details)
