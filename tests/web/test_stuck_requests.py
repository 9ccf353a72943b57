"""Stuck requests: a callback request the engine could not record is shown to managers with
who asked, their phone and the error, flagged on the dashboard, and retried from the page."""

from __future__ import annotations

from sqlalchemy import func, select, update

from crm.extensions import db
from crm.intake import inbox
from crm.intake.models import CallbackInbox, Lead
from crm.privacy.models import AuditEvent
from tests.support.html import csrf_token
from tests.web.intake_helpers import (
    body,
    build_waiting_leads,
    issue_key,
    lead_by_reference,
    post_api,
)


def _stuck_request(client) -> str:
    """A real request through the API whose stored request no version can read, failed
    MAX_ATTEMPTS times by the real engine (each retry made due at once)."""
    secret = issue_key()
    response = post_api(client, body(name="Wren Ashdown", phone="07700 900654"), secret)
    assert response.status_code == 201
    reference = response.get_json()["reference"]
    good = db.session.scalar(
        select(CallbackInbox.request).where(CallbackInbox.reference == reference)
    )
    db.session.execute(
        update(CallbackInbox)
        .where(CallbackInbox.reference == reference)
        .values(request={**good, "shoe_size": 9})
    )
    db.session.commit()
    for _ in range(inbox.MAX_ATTEMPTS):
        db.session.execute(
            update(CallbackInbox)
            .where(CallbackInbox.reference == reference, CallbackInbox.status == "pending")
            .values(next_attempt_at=CallbackInbox.received_at)  # its backoff is over
        )
        db.session.commit()
        build_waiting_leads()
    row = db.session.scalars(
        select(CallbackInbox).where(CallbackInbox.reference == reference)
    ).one()
    assert row.status == "stuck"
    return reference


def test_managers_see_a_stuck_request_with_the_person_and_the_error_and_retry_it(
    client, client_for, staff
) -> None:
    reference = _stuck_request(client)
    manager = client_for("manager")

    dashboard = manager.get("/admin/").get_data(as_text=True)
    assert 'data-testid="stuck-requests"' in dashboard and "1 callback request" in dashboard

    last = db.session.scalar(select(func.max(AuditEvent.id))) or 0
    page = manager.get("/admin/stuck_requests/").get_data(as_text=True)
    assert reference in page and "Wren Ashdown" in page and "+447700900654" in page
    assert "ValueError: the stored request does not fit" in page and "stuck" in page
    audit = db.session.scalars(select(AuditEvent).where(AuditEvent.id > last)).all()
    assert [(a.action, a.object_type) for a in audit] == [("view", "callback_inbox")]
    assert lead_by_reference(reference) is None

    # The cause is fixed (here: the stored request mended), then Retry.
    db.session.execute(
        update(CallbackInbox)
        .where(CallbackInbox.reference == reference)
        .values(request={k: v for k, v in _stored(reference).items() if k != "shoe_size"})
    )
    db.session.commit()
    row_id = db.session.scalar(select(CallbackInbox.id).where(CallbackInbox.reference == reference))
    retried = manager.post(
        f"/admin/stuck_requests/{row_id}/retry",
        data={"csrf_token": csrf_token(page)},
        follow_redirects=True,
    ).get_data(as_text=True)
    assert f"Request {reference} is back with the engine" in retried

    lead = lead_by_reference(reference)  # the engine runs (as the kick would make it)
    assert lead is not None and lead.caller.name == "Wren Ashdown"
    after = manager.get("/admin/stuck_requests/").get_data(as_text=True)
    assert 'data-testid="no-stuck"' in after
    assert 'data-testid="stuck-requests"' not in manager.get("/admin/").get_data(as_text=True)

    again = manager.post(
        f"/admin/stuck_requests/{row_id}/retry",
        data={"csrf_token": csrf_token(after)},
        follow_redirects=True,
    ).get_data(as_text=True)
    assert "already recorded as a lead" in again
    assert db.session.scalar(select(func.count()).select_from(Lead)) == 1


def _stored(reference: str) -> dict:
    db.session.rollback()
    return dict(
        db.session.scalar(select(CallbackInbox.request).where(CallbackInbox.reference == reference))
    )


def test_admissions_staff_cannot_open_or_retry_stuck_requests(client, client_for, staff) -> None:
    reference = _stuck_request(client)
    advisor = client_for("admissions")
    row_id = db.session.scalar(select(CallbackInbox.id).where(CallbackInbox.reference == reference))
    token = csrf_token(advisor.get("/admin/").get_data(as_text=True))

    assert advisor.get("/admin/stuck_requests/").status_code == 403
    assert (
        advisor.post(
            f"/admin/stuck_requests/{row_id}/retry", data={"csrf_token": token}
        ).status_code
        == 403
    )
    db.session.rollback()
    assert db.session.get(CallbackInbox, row_id).status == "stuck"
    assert 'data-testid="stuck-requests"' not in advisor.get("/admin/").get_data(as_text=True)


def test_a_retry_without_a_csrf_token_or_of_an_unknown_row_changes_nothing(
    client, client_for, staff
) -> None:
    reference = _stuck_request(client)
    manager = client_for("manager")
    row_id = db.session.scalar(select(CallbackInbox.id).where(CallbackInbox.reference == reference))
    assert manager.post(f"/admin/stuck_requests/{row_id}/retry").status_code == 400
    page = manager.get("/admin/stuck_requests/").get_data(as_text=True)
    missing = manager.post(
        f"/admin/stuck_requests/{row_id + 999}/retry",
        data={"csrf_token": csrf_token(page)},
        follow_redirects=True,
    ).get_data(as_text=True)
    assert "No such request in the inbox." in missing
    db.session.rollback()
    assert db.session.get(CallbackInbox, row_id).status == "stuck"
