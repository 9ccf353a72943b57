"""Rights requests through HTTP as an admin handles them: log, verify, export (the task builds
the ZIP while the page shows progress), download through an expiring link, erase; and every
piece of bad input refused with nothing changed."""

from __future__ import annotations

import io
import json
import zipfile
from datetime import UTC, datetime, timedelta

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from crm import clock
from crm.extensions import db
from crm.intake.models import Contact
from crm.privacy import access
from crm.privacy.models import (
    AuditEvent,
    Erasure,
    RetentionPolicy,
    RightsRequest,
    SubjectAccessExport,
)
from tests.services.privacy_factories import EMAIL, NAME, PHONE, person_with_everything
from tests.web.conftest import audit_events, database_snapshot, page_csrf_token
from workers.privacy import build_export

NOW = datetime(2026, 12, 7, 11, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def pinned():  # type: ignore[no-untyped-def]
    with clock.pinned(NOW):
        yield


def _post(client: FlaskClient, path: str, data: dict[str, str], page: str):  # type: ignore[no-untyped-def]
    token = page_csrf_token(client, page)
    return client.post(path, data={"csrf_token": token, **data}, follow_redirects=True)


def _story(staff, kind: str = "access"):  # type: ignore[no-untyped-def]
    story = person_with_everything(kind, people=staff)
    db.session.commit()
    return story


def _verify(client: FlaskClient, request_id: int) -> str:
    page = f"/admin/rights-requests/{request_id}/"
    response = _post(client, f"{page}verify", {"method": "Photo ID by email"}, page)
    return response.get_data(as_text=True)


def test_log_a_request_from_the_form(client_for, staff) -> None:  # type: ignore[no-untyped-def]
    person_with_everything(people=staff)
    db.session.commit()
    admin = client_for("admin")
    response = _post(
        admin,
        "/admin/rights-requests/new",
        {
            "kind": "access",
            "received_via": "email",
            "received_at": "2026-12-07T09:30",
            "requester_name": NAME,
            "requester_email": EMAIL,
            "find": PHONE,
            "description": "What do you hold?",
        },
        "/admin/rights-requests/new",
    )
    body = response.get_data(as_text=True)
    assert "logged: due 07 Jan 2027" in body
    row = db.session.scalar(select(RightsRequest).order_by(RightsRequest.id.desc()))
    assert row is not None and row.kind == "access" and row.requester_email == EMAIL
    assert NAME in body and "not yet verified" in body


def test_bad_requests_are_refused_and_change_nothing(client_for, staff) -> None:  # type: ignore[no-untyped-def]
    story = _story(staff)
    admin = client_for("admin")
    page = f"/admin/rights-requests/{story.request.id}/"
    cases = [
        ("/admin/rights-requests/new",
         {"kind": "erasure", "received_via": "email", "received_at": "2026-12-07T09:30",
          "requester_name": "Nobody", "find": "07700 900999"}, "Nobody was found for"),
        ("/admin/rights-requests/new",
         {"kind": "erasure", "received_via": "email", "received_at": "2027-01-07T09:30",
          "requester_name": "Soon", "find": PHONE}, "cannot be received in the future"),
        (f"{page}export", {}, "no verified identity"),
        (f"{page}verify", {"method": "  "}, "Say how the requester"),
        (f"{page}extend", {"extended_to": "2027-02-01", "reason": ""}, "needs a reason"),
        (f"{page}extend", {"extended_to": "2027-03-07", "reason": "Many records"},
         "two months at most: the latest is 06 Mar 2027"),
        (f"{page}close", {"status": "completed", "outcome": "Sent"}, "no verified identity"),
    ]  # fmt: skip
    for path, data, message in cases:
        before = database_snapshot()
        before.pop("audit_events")
        body = _post(admin, path, data, page if "new" not in path else path).get_data(as_text=True)
        assert message in body, (path, message)
        after = database_snapshot()
        after.pop("audit_events")
        assert after == before, path


def test_export_download_and_expiry(client_for, staff) -> None:  # type: ignore[no-untyped-def]
    story = _story(staff)
    admin = client_for("admin")
    page = f"/admin/rights-requests/{story.request.id}/"
    assert "Identity verified." in _verify(admin, story.request.id)
    admin.get(f"/admin/leads/{story.leads[0].id}/")  # an admin opens her record: audited
    body = _post(admin, f"{page}export", {}, page).get_data(as_text=True)
    assert "The export is being built" in body and 'id="export-progress"' in body
    export = db.session.scalar(select(SubjectAccessExport))
    assert export is not None and export.status == "queued"
    export_id, admin_name = export.id, staff["admin"].name
    assert admin.get(f"{page}exports/{export_id}/progress").get_json()["finished"] is False

    build_export(export_id)  # what the worker runs

    progress = admin.get(f"{page}exports/{export_id}/progress").get_json()
    assert progress == {
        "status": "ready",
        "progress": 100,
        "stage": "Ready to download",
        "finished": True,
    }
    body = admin.get(page).get_data(as_text=True)
    link = body.split('data-testid="download-link"')[0].rsplit('href="', 1)[1].split('"')[0]
    response = admin.get(link)
    assert response.status_code == 200 and response.mimetype == "application/zip"
    archive = zipfile.ZipFile(io.BytesIO(response.data))
    assert sorted(archive.namelist()) == ["data.json", "summary.html"]
    data = json.loads(archive.read("data.json"))
    sections = data["sections"]
    assert sections["contacts"]["records"][0]["name"] == NAME
    assert NAME in sections["referrals"]["records"][0]["summary"]
    assert sections["referrals"]["records"][0]["clinic"] == "Harbour House Ltd — Harbour House"
    assert {c["purpose"] for c in sections["consents"]["records"]} >= {
        "contact",
        "share_with_provider",
    }
    assert all(
        c["wording"]
        for c in sections["consents"]["records"]
        if c["wording_version"] != "withdrawal"
    )
    assert {p["code"] for p in sections["purposes"]["records"] if "code" in p} == {
        "responding", "assessing", "sharing", "fee_accounting", "reporting"
    }  # fmt: skip
    assert len(sections["presented_options"]["records"]) == 2
    assert any(m["idempotency_key"].endswith(":summary") for m in sections["messages"]["records"])
    assert sections["fee_records"]["records"], "the ledger naming her reference"
    viewers = {(a["who"], a["did"]) for a in sections["audit_trail"]["records"]}
    assert (admin_name, "view") in viewers
    summary = archive.read("summary.html").decode()
    assert NAME in summary and "Who at the service viewed or changed your record" in summary
    assert [e.outcome for e in audit_events(action="download")] == ["success"]

    # A forged link, then the real one after it expired: refused, audited.
    assert admin.get(link[:-3] + "xyz").status_code == 410
    with clock.pinned(NOW + timedelta(days=8)):  # the nightly sweep deletes the ZIP
        assert access.expire_exports() == 1
        db.session.commit()
    refused = admin.get(link)
    assert refused.status_code == 410 and "expired" in refused.get_data(as_text=True)
    assert [e.outcome for e in audit_events(action="download")] == ["success", "failure", "failure"]


def test_erase_from_the_page_then_again(client_for, staff) -> None:  # type: ignore[no-untyped-def]
    story = _story(staff, "erasure")
    admin = client_for("admin")
    page = f"/admin/rights-requests/{story.request.id}/"
    _verify(admin, story.request.id)
    body = _post(admin, f"{page}erase", {}, page).get_data(as_text=True)
    assert "Tick the box to confirm" in body
    assert db.session.scalar(select(Erasure.id)) is None
    body = _post(admin, f"{page}erase", {"confirm": "yes"}, page).get_data(as_text=True)
    erasure = db.session.scalar(select(Erasure))
    assert erasure is not None and f"Erased as {erasure.pseudonym}." in body
    assert NAME not in body and PHONE not in body
    contact = db.session.get(Contact, story.leads[0].client_id)
    assert contact is not None and contact.anonymised_at is not None
    # A second erasure of the same person: a message, nothing changed (the request is closed).
    before = database_snapshot()
    before.pop("audit_events")
    body = _post(admin, f"{page}erase", {"confirm": "yes"}, page).get_data(as_text=True)
    assert "already erased" in body
    after = database_snapshot()
    after.pop("audit_events")
    assert after == before


def test_retention_periods_and_preview(client_for, staff) -> None:  # type: ignore[no-untyped-def]
    admin = client_for("admin")
    body = admin.get("/admin/retention/").get_data(as_text=True)
    assert "0 leads anonymised (0 never converted, 0 spam)" in body
    for bad in ("0", "-5", "ten", ""):
        before = database_snapshot()
        before.pop("audit_events")
        body = _post(
            admin, "/admin/retention/spam_leads", {"days": bad}, "/admin/retention/"
        ).get_data(as_text=True)
        assert "Nothing was changed" in body, bad
        after = database_snapshot()
        after.pop("audit_events")
        assert after == before
    body = _post(
        admin, "/admin/retention/spam_leads", {"days": "14"}, "/admin/retention/"
    ).get_data(as_text=True)
    assert "Spam: kept 14 days." in body
    days = db.session.scalar(
        select(RetentionPolicy.days).where(RetentionPolicy.code == "spam_leads")
    )
    assert days == 14
    assert db.session.scalar(
        select(AuditEvent.id).where(AuditEvent.object_type == "retention_policies")
    )


def test_only_admins_handle_rights_requests(client_for) -> None:  # type: ignore[no-untyped-def]
    for role in ("admissions", "manager"):
        client = client_for(role)
        for path in ("/admin/rights-requests/", "/admin/retention/", "/admin/purposes/"):
            assert client.get(path).status_code == 403, (role, path)
