"""The hosted "Receive a callback" form at /callback, as a person (or a bot) uses it."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from crm.extensions import db
from crm.intake import wording
from crm.intake.models import CallbackRequest
from crm.privacy.models import ConsentRecord, DisclosureRecord
from tests.support.html import csrf_token
from tests.web.intake_helpers import (
    control,
    counts,
    lead_by_reference,
    parse_page,
    settings_changed,
)

URL = "/callback"


def fill(client, **changes):
    """The form as a person fills it in: a fresh page's CSRF token and typed answers."""
    token = csrf_token(client.get(URL).get_data(as_text=True))
    data = {
        "csrf_token": token,
        "name": "Marigold Featherstone",
        "phone": "07700 900123",
        "email": "marigold@example.com",
        "best_time_to_call": "After 6pm",
        "for_whom": "self",
        "relationship": "",
        "client_name": "",
        "message": "",
        "consent_to_contact": "y",
        "website": "",
    }
    data.update(changes)
    return {k: v for k, v in data.items() if v is not None}


def reference_on(html: str) -> str | None:
    marker = 'data-testid="reference">'
    if marker not in html:
        return None
    return html.split(marker, 1)[1].split("<", 1)[0]


def test_the_page_tells_people_who_we_are_and_asks_for_consent_separately(client):
    response = client.get(URL)
    html = response.get_data(as_text=True)
    assert response.status_code == 200

    disclosure = html.split('data-testid="disclosure"', 1)[1].split("</div>", 1)[0]
    assert "referral service" in disclosure
    assert "pay us a fee" in disclosure
    assert "<small" not in disclosure  # in plain words, not small print
    for number in ("999", "111", "116 123"):
        assert number in html
    assert 'href="tel:999"' in html and 'href="tel:116123"' in html

    page = parse_page(html)
    contact = control(html, "consent_to_contact")
    health = control(html, "consent_to_health_details")
    assert contact["type"] == health["type"] == "checkbox"
    assert contact["id"] != health["id"]
    assert "checked" not in contact and "checked" not in health  # nothing pre-ticked
    visible = [
        c
        for c in page.controls
        if c.get("type") not in ("hidden", "submit") and c["tag"] != "button"
    ]
    assert {c["name"] for c in visible} >= {
        "name",
        "phone",
        "email",
        "best_time_to_call",
        "for_whom",
        "relationship",
        "client_name",
        "substances",
        "message",
        "consent_to_contact",
        "consent_to_health_details",
        "website",
    }
    unlabelled = [c["name"] for c in visible if not c.get("id") or c["id"] not in page.label_for]
    assert unlabelled == []
    assert control(html, "phone")["type"] == "tel"
    assert control(html, "phone")["autocomplete"] == "tel"
    viewport = [m for m in page.meta if m.get("name") == "viewport"]
    assert viewport and "width=device-width" in str(viewport[0]["content"])
    honeypot = control(html, "website")
    assert honeypot["tabindex"] == "-1"
    assert 'class="form-group hp" aria-hidden="true"' in html


def test_a_valid_request_thanks_the_person_with_their_reference_and_saves_the_lead(client):
    before = counts()
    response = client.post(URL, data=fill(client))

    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "Thank you" in html
    reference = reference_on(html)
    assert reference and reference.startswith("L-")
    lead = lead_by_reference(reference)
    assert lead is not None
    assert lead.source == "web_form"
    assert lead.caller.phone == "+447700900123"
    assert lead.caller.preferred_contact_times == "After 6pm"
    consents = {
        c.purpose: c
        for c in db.session.scalars(select(ConsentRecord).where(ConsentRecord.lead_id == lead.id))
    }
    assert consents["contact"].given is True
    assert consents["contact"].wording_version == wording.CONSENT_VERSION
    assert consents["contact"].channel == "web_form"
    assert consents["health_details"].given is False
    disclosure = db.session.scalar(
        select(DisclosureRecord).where(DisclosureRecord.lead_id == lead.id)
    )
    assert disclosure.wording_version == wording.DISCLOSURE_VERSION
    assert counts()["leads"] == before["leads"] + 1


def test_someone_asking_for_another_person_with_health_details_and_consent(client):
    data = fill(
        client,
        for_whom="someone_else",
        relationship="family",
        client_name="Rowan",
        message="My brother drinks every day.",
        consent_to_health_details="y",
    )
    data["substances"] = ["alcohol", "cocaine"]
    response = client.post(URL, data=data)

    lead = lead_by_reference(reference_on(response.get_data(as_text=True)))
    assert lead.caller_relationship == "family"
    assert lead.client.name == "Rowan"
    assert lead.caller.name == "Marigold Featherstone"
    request_row = db.session.scalar(
        select(CallbackRequest).where(CallbackRequest.lead_id == lead.id)
    )
    assert request_row.substances == ["alcohol", "cocaine"]
    assert request_row.message == "My brother drinks every day."


def test_an_invalid_phone_is_explained_and_what_was_typed_is_kept(client):
    before = counts()
    response = client.post(URL, data=fill(client, phone="12345"))

    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "Please check the highlighted answers" in html
    phone = control(html, "phone")
    assert "is-invalid" in str(phone["class"])
    assert phone["value"] == "12345"
    error = html.split(f'id="{phone["aria-describedby"]}"', 1)[1].split("</div>", 1)[0]
    assert "Enter a valid phone number, like 07700 900123." in error
    assert control(html, "name")["value"] == "Marigold Featherstone"
    assert control(html, "email")["value"] == "marigold@example.com"
    assert control(html, "best_time_to_call")["value"] == "After 6pm"
    assert "checked" in control(html, "consent_to_contact")
    assert counts() == before


def test_health_details_without_health_consent_are_refused_and_kept_on_screen(client):
    before = counts()
    data = fill(client, message="I use ketamine most weekends.")
    data["substances"] = ["ketamine"]
    response = client.post(URL, data=data)

    html = response.get_data(as_text=True)
    assert response.status_code == 422
    health = control(html, "consent_to_health_details")
    assert "is-invalid" in str(health["class"])
    assert "agree to us using them" in html
    assert parse_page(html).textareas["message"].strip() == "I use ketamine most weekends."
    assert "checked" in control(html, "substances", "ketamine")
    assert counts() == before


def test_without_consent_to_be_contacted_nothing_is_saved(client):
    before = counts()
    response = client.post(URL, data=fill(client, consent_to_contact=None))

    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "We can only call you back if you agree to be contacted." in html
    assert counts() == before


def test_a_bot_filling_the_honeypot_is_thanked_but_nothing_is_saved(client):
    before = counts()
    response = client.post(URL, data=fill(client, website="http://spam.example"))

    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "Thank you" in html
    assert reference_on(html) is None
    assert counts() == before


@pytest.mark.parametrize("token", [None, "forged-token"], ids=["missing", "forged"])
def test_a_post_without_a_valid_csrf_token_is_refused_and_saves_nothing(client, token):
    before = counts()
    response = client.post(URL, data=fill(client, csrf_token=token))

    assert response.status_code == 400
    assert "may have expired" in response.get_data(as_text=True)
    assert counts() == before


def test_too_many_posts_from_one_address_get_a_429_page(app, client):
    with settings_changed(app, intake_per_ip_per_minute=2):
        for n in range(2):
            ok = client.post(URL, data=fill(client, phone=f"07700 90030{n}"))
            assert ok.status_code == 200 and reference_on(ok.get_data(as_text=True))
        before = counts()
        limited = client.post(URL, data=fill(client, phone="07700 900309"))
        html = limited.get_data(as_text=True)
        assert limited.status_code == 429
        assert "Too many requests from your connection" in html
        assert "call us" in html
        assert counts() == before
        assert client.get(URL).status_code == 200  # reading the page is not limited


def _frame_ancestors(response) -> str:
    policy = response.headers["Content-Security-Policy"]
    return next(p for p in policy.split("; ") if p.startswith("frame-ancestors")).split(" ", 1)[1]


def test_the_form_may_be_framed_by_the_website_and_nothing_else_may(app, client):
    page = client.get(URL)
    assert _frame_ancestors(page) == "'self'"
    assert "X-Frame-Options" not in page.headers
    thanks = client.post(URL, data=fill(client))
    assert _frame_ancestors(thanks) == "'self'"
    assert "X-Frame-Options" not in thanks.headers

    for other in ("/login", "/api/v1/openapi.json", "/admin/"):
        response = client.get(other)
        assert _frame_ancestors(response) == "'none'", other
        assert response.headers["X-Frame-Options"] == "DENY", other

    website = "https://www.example-rehab-help.co.uk"
    with settings_changed(app, callback_frame_ancestors=website):
        assert _frame_ancestors(client.get(URL)) == website
        invalid = client.post(URL, data=fill(client, phone="12"))
        assert invalid.status_code == 422
        assert _frame_ancestors(invalid) == website
        assert _frame_ancestors(client.get("/login")) == "'none'"
