"""The back-office intake screens as admissions staff and managers use them."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from crm import clock
from crm.extensions import db
from crm.intake.models import Assessment, Assignment, Lead
from crm.privacy.models import AuditEvent, ConsentRecord, DisclosureRecord
from tests.conftest import create_staff, login
from tests.support.html import csrf_token
from tests.web.intake_helpers import (
    ASSESSMENT,
    XSS_MESSAGE,
    XSS_NAME,
    act,
    assess,
    audit_rows_after,
    body,
    connect,
    counts,
    give,
    issue_key,
    last_audit_id,
    lead_by_reference,
    lead_page,
    make_lead,
    on_shift,
    post_api,
    row_of,
    stage_of,
)


@pytest.fixture
def advisor(client, staff):
    """The client, logged in as the admissions advisor, who is on shift."""
    login(client, staff["admissions"])
    return on_shift(staff["admissions"])


# --- the queue ----------------------------------------------------------------------------


def test_queue_shows_reference_first_name_source_and_owner_but_not_the_surname(client, advisor):
    lead = make_lead("Marigold Featherstone")

    html = client.get("/admin/queue/").get_data(as_text=True)

    row = row_of(html, lead.reference)
    assert "<td>Marigold</td>" in row
    assert "web form" in row
    assert f"<td>{advisor.name}</td>" in row
    assert 'class="countdown' in row
    assert "Featherstone" not in html


def test_an_overdue_lead_comes_before_one_with_time_left(client, advisor):
    now = clock.now()
    # Older, but with a long target: time left. Newer, short target: already overdue.
    waiting = make_lead(
        "Bea Early", "07700 900401", at=now - timedelta(minutes=20), target_minutes=60
    )
    overdue = make_lead("Abe Late", "07700 900402", at=now - timedelta(minutes=18))

    with clock.pinned(now):  # the page is read at the instant the leads were set up for
        html = client.get("/admin/queue/").get_data(as_text=True)

    assert html.index(overdue.reference) < html.index(waiting.reference)
    assert "overdue 3 min" in row_of(html, overdue.reference)
    assert "40:00" in row_of(html, waiting.reference)
    assert "overdue" not in row_of(html, waiting.reference)


def test_queue_filters_mine_and_unassigned(client, advisor):
    colleague = create_staff("admissions", name="Colleague Person")
    mine = make_lead("Mine Lead", "07700 900411")
    theirs = make_lead("Theirs Lead", "07700 900412")
    nobodys = make_lead("Nobody Lead", "07700 900413")
    give(mine, advisor)
    give(theirs, colleague)
    give(nobodys, None)

    shown = {}
    for which in ("mine", "unassigned", "all"):
        html = client.get(f"/admin/queue/?show={which}").get_data(as_text=True)
        shown[which] = {x.reference for x in (mine, theirs, nobodys) if x.reference in html}

    assert shown == {
        "mine": {mine.reference},
        "unassigned": {nobodys.reference},
        "all": {mine.reference, theirs.reference, nobodys.reference},
    }
    assert "unassigned" in row_of(
        client.get("/admin/queue/").get_data(as_text=True), nobodys.reference
    )


def test_queue_rows_endpoint_returns_just_the_rows(client, advisor):
    lead = make_lead()
    response = client.get("/admin/queue/rows?show=all")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert html.strip().startswith("<tr")
    assert f'<tr data-lead="{lead.reference}">' in html
    for outside in ("<html", "<table", "<nav", "<script"):
        assert outside not in html


# --- the lead page and search ----------------------------------------------------------------


def test_lead_page_shows_the_person_consent_disclosure_and_timeline_and_audits_the_read(
    client, advisor
):
    lead = make_lead(email="marigold@example.com")
    before = last_audit_id()

    html = lead_page(client, lead.id)

    assert 'data-testid="caller-name">Marigold Featherstone<' in html
    assert "+447700900123" in html and "marigold@example.com" in html
    assert "✔ contact · web form · callback-consent-2026-11" in html
    assert "✘ health details · web form" in html
    assert "✔ commission disclosed · web form · commission-2026-11" in html
    timeline = html.split('data-testid="timeline"', 1)[1]
    for entry in ("Callback requested", "Stage: — → new", f"Assigned to {advisor.name}"):
        assert entry in timeline
    views = [r for r in audit_rows_after(before) if r.action == "view"]
    assert [(r.object_type, r.object_id, r.actor_id) for r in views] == [
        ("leads", str(lead.id), advisor.id)
    ]


def test_search_is_audited_but_the_searched_words_are_never_stored(client, advisor):
    lead = make_lead()
    before = last_audit_id()

    for term in ("Featherstone", "07700 900123"):
        html = client.get("/admin/search/", query_string={"q": term}).get_data(as_text=True)
        assert lead.reference in html

    rows = audit_rows_after(before)
    assert [(r.action, r.object_type, r.actor_id) for r in rows] == [
        ("search", "leads", advisor.id)
    ] * 2
    stored = " ".join(
        str(getattr(r, c.key)) for r in rows for c in AuditEvent.__table__.columns
    ).lower()
    for secret in ("featherstone", "07700", "900123", "447700"):
        assert secret not in stored


@pytest.mark.parametrize(
    "term",
    [
        "{reference}",
        "{reference_typed}",
        "+44 7700 900123",
        "07700900123",
        "0044 7700 900123",
        "07700 9001",
        "Marigold",
        "eathersto",
        "MARIGOLD@Example.com",
    ],
)
def test_search_finds_a_lead_by_reference_phone_name_or_email(client, advisor, term):
    lead = make_lead(email="marigold@example.com")
    other = make_lead("Someone Different", "07911 123456", email="other@example.com")
    typed = lead.reference.lower().replace("-", " ")
    query = term.format(reference=lead.reference, reference_typed=typed)

    html = client.get("/admin/search/", query_string={"q": query}).get_data(as_text=True)

    assert f'href="/admin/leads/{lead.id}/"' in html
    assert other.reference not in html


def test_search_without_a_match_says_so(client, advisor):
    make_lead()
    html = client.get("/admin/search/?q=Nonexistent").get_data(as_text=True)
    assert 'data-testid="no-results"' in html


# --- working a lead --------------------------------------------------------------------------


def test_logging_a_connected_call_moves_the_lead_to_contacted(client, advisor):
    lead = make_lead()

    html = connect(client, lead.id)

    assert "Call logged." in html
    assert 'data-testid="lead-stage">contacted<' in html
    assert "Outbound call: connected (5 min)" in html
    assert "Stage: new → contacted" in html and "Spoke to the caller." in html
    db.session.rollback()
    stored = db.session.get(Lead, lead.id)
    assert stored.stage == "contacted" and stored.first_contact_at is not None


def test_completing_the_assessment_moves_the_lead_to_assessed(client, advisor):
    lead = make_lead()
    connect(client, lead.id)

    response = assess(client, lead.id, complete="1", **ASSESSMENT)

    html = response.get_data(as_text=True)
    assert "Assessment completed." in html
    assert 'data-testid="lead-stage">assessed<' in html
    assert "Stage: contacted → assessed" in html
    assert "Primary substance: Alcohol" in html
    assert stage_of(lead.id) == "assessed"
    row = db.session.scalar(select(Assessment).where(Assessment.lead_id == lead.id))
    assert row.completed_at is not None and row.completed_by_id == advisor.id
    assert row.answers["home_postcode"] == "LS1 4AP"
    assert row.answers["withdrawal"] is True and row.answers["depression"] is False
    assert row.funding == "self_funded" and row.answers["budget_band"] == "1000_1500"


def test_completing_an_unfinished_assessment_says_what_is_missing(client, advisor):
    lead = make_lead()
    connect(client, lead.id)
    response = assess(client, lead.id, complete="1", substances="alcohol")
    html = response.get_data(as_text=True)
    assert "To complete the assessment, answer: primary_substance" in html
    assert stage_of(lead.id) == "contacted"


def test_immediate_danger_shows_emergency_signposting_and_alerts_managers_only(
    app, client, advisor, staff
):
    lead = make_lead()
    connect(client, lead.id)

    response = assess(
        client,
        lead.id,
        complete="0",
        immediate_danger="y",
        risk_notes="Talked about ending it tonight.",
    )

    html = response.get_data(as_text=True)
    signposting = html.split('data-testid="emergency-signposting"', 1)[1].split("</div>", 1)[0]
    for words in ("999", "NHS 111", "116 123"):
        assert words in signposting
    db.session.rollback()
    assert db.session.get(Lead, lead.id).safeguarding_flagged_at is not None
    assert 'data-testid="safeguarding-banner"' in lead_page(client, lead.id)
    assert 'data-testid="safeguarding"' not in client.get("/admin/queue/").get_data(as_text=True)
    manager = app.test_client()
    login(manager, staff["manager"])
    alert = manager.get("/admin/queue/").get_data(as_text=True)
    assert lead.reference in alert.split('data-testid="safeguarding"', 1)[1].split("</div>", 1)[0]


def test_closing_needs_a_reason(client, advisor):
    lead = make_lead()

    refused = act(client, lead.id, "stage", stage="closed", close_reason="")
    assert "Closing needs a reason" in refused
    assert stage_of(lead.id) == "new"

    closed = act(
        client,
        lead.id,
        "stage",
        stage="closed",
        close_reason="not_ready",
        note="Will call back in spring.",
    )
    assert "Stage changed." in closed
    assert "Stage: new → closed (not ready)" in closed
    db.session.rollback()
    stored = db.session.get(Lead, lead.id)
    assert (stored.stage, stored.close_reason) == ("closed", "not_ready")


def test_moving_back_needs_a_reason(client, advisor):
    lead = make_lead()
    connect(client, lead.id)

    refused = act(client, lead.id, "stage", stage="new", reason="")
    assert "Moving back from contacted to new needs a reason." in refused
    assert stage_of(lead.id) == "contacted"

    moved = act(client, lead.id, "stage", stage="new", reason="Call was with a wrong person")
    assert "Stage: contacted → new" in moved and "Call was with a wrong person" in moved
    assert stage_of(lead.id) == "new"


def test_only_managers_reassign(app, client, advisor, staff):
    lead = make_lead()
    colleague = create_staff("admissions", name="Colleague Person")
    token = csrf_token(lead_page(client, lead.id))
    assert "Reassign" not in lead_page(client, lead.id)

    refused = client.post(
        f"/admin/leads/{lead.id}/reassign",
        data={"csrf_token": token, "owner_id": str(colleague.id)},
    )
    assert refused.status_code == 403
    db.session.rollback()
    assert db.session.get(Lead, lead.id).owner_id == advisor.id

    manager = app.test_client()
    login(manager, staff["manager"])
    html = act(manager, lead.id, "reassign", owner_id=str(colleague.id), reason="Covering shift")
    assert "Lead reassigned." in html
    assert "Assigned to Colleague Person" in html and "Covering shift" in html
    db.session.rollback()
    assert db.session.get(Lead, lead.id).owner_id == colleague.id


def test_a_note_is_added_to_the_timeline_and_an_empty_one_is_refused(client, advisor):
    lead = make_lead()
    html = act(client, lead.id, "note", body="Prefers a call after 6pm.")
    assert "Note added." in html
    assert "Prefers a call after 6pm." in html.split('data-testid="timeline"', 1)[1]

    refused = act(client, lead.id, "note", body="   ")
    assert "Note is required." in refused


def test_merging_two_leads_keeps_the_history_and_closes_the_duplicate(client, advisor):
    keep = make_lead("Marigold Featherstone", "07700 900123")
    duplicate = make_lead("Marigold Featherstone", "07700 900124")
    assert duplicate.reference in lead_page(client, keep.id).split("Possible duplicates", 1)[1]

    html = act(client, keep.id, "merge", duplicate_id=str(duplicate.id))

    assert "Leads merged; the duplicate is closed." in html
    assert f"Merged {duplicate.reference} into this lead" in html
    assert html.split('data-testid="timeline"', 1)[1].count("Callback requested") == 2
    db.session.rollback()
    gone = db.session.get(Lead, duplicate.id)
    assert (gone.stage, gone.close_reason, gone.merged_into_id) == ("closed", "duplicate", keep.id)
    assert db.session.get(Lead, keep.id).request_count == 2


# --- stored scripts and the staff enquiry form -------------------------------------------------


def test_stored_script_and_img_payloads_render_inert_on_every_screen(app, client, advisor):
    website = app.test_client()
    response = post_api(
        website,
        body(name=XSS_NAME, message=XSS_MESSAGE, consent_to_health_details=True),
        issue_key(),
    )
    lead = lead_by_reference(response.get_json()["reference"])  # once the engine built it
    escaped_name = "&lt;script&gt;alert(1)&lt;/script&gt;"
    escaped_message = "&lt;img src=x onerror=alert(1)&gt;"
    screens = {
        "queue": (client.get("/admin/queue/"), [escaped_name]),
        "queue rows": (client.get("/admin/queue/rows"), [escaped_name]),
        "lead": (client.get(f"/admin/leads/{lead.id}/"), [escaped_name, escaped_message]),
        "search": (client.get("/admin/search/", query_string={"q": XSS_NAME}), [escaped_name]),
        "assessment": (client.get(f"/admin/leads/{lead.id}/assessment"), []),
    }
    for screen, (page, escaped) in screens.items():
        html = page.get_data(as_text=True)
        assert page.status_code == 200, screen
        assert "<script>alert" not in html, screen
        assert "<img src=x" not in html, screen
        for text in escaped:
            assert text in html, screen
    search_html = screens["search"][0].get_data(as_text=True)
    assert f'href="/admin/leads/{lead.id}/"' in search_html


def test_logging_an_enquiry_needs_the_disclosure_and_gives_the_lead_to_whoever_logged_it(
    client, advisor
):
    make_lead("Earlier Caller", "07700 900501")  # the advisor was given a lead a moment ago
    colleague = on_shift(create_staff("admissions", name="Colleague Person"))  # next in turn
    page = client.get("/admin/enquiry/").get_data(as_text=True)
    assert "referral service" in page
    form = {
        "csrf_token": csrf_token(page),
        "source": "phone",
        "name": "Priya Shah",
        "phone": "0161 496 0000",
        "for_whom": "self",
        "consent_to_contact": "y",
    }
    before = counts()

    refused = client.post("/admin/enquiry/", data=form)
    assert refused.status_code == 200
    assert "Tell the caller about the commission first." in refused.get_data(as_text=True)
    assert counts() == before

    saved = client.post("/admin/enquiry/", data={**form, "disclosure_read": "y"})
    assert saved.status_code == 302
    lead_id = int(saved.headers["Location"].rstrip("/").rsplit("/", 1)[1])
    db.session.rollback()
    lead = db.session.get(Lead, lead_id)
    assert lead.source == "phone" and lead.caller.phone == "+441614960000"
    assert lead.owner_id == advisor.id
    owners = db.session.scalars(select(Assignment.to_user_id).where(Assignment.lead_id == lead_id))
    assert colleague.id not in set(owners)
    consent = db.session.scalar(
        select(ConsentRecord).where(
            ConsentRecord.lead_id == lead_id, ConsentRecord.purpose == "contact"
        )
    )
    assert (consent.given, consent.channel) == (True, "phone")
    disclosure = db.session.scalar(
        select(DisclosureRecord).where(DisclosureRecord.lead_id == lead_id)
    )
    assert disclosure.channel == "phone"
    assert "Enquiry recorded as" in client.get(saved.headers["Location"]).get_data(as_text=True)
