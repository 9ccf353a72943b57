"""The match page, presenting options and the referral pages, through HTTP as staff use them."""

from __future__ import annotations

import html

import pytest
from sqlalchemy import func, select

from crm import clock
from crm.extensions import db
from crm.privacy.models import AuditEvent
from crm.referrals.models import Presentation, PresentedOption, Referral
from tests.conftest import login
from tests.services.referral_factories import NOW, assessed_lead, location
from tests.support.html import csrf_token

XSS = '<script>alert("x")</script><img src=x onerror=alert(1)>'


@pytest.fixture
def setting(client, staff):
    """An advisor logged in, an assessed lead and three clinics (one ours, one far away)."""
    login(client, staff["admissions"])
    with clock.pinned(NOW):
        dales = location("Dales Recovery")
        ours = location("Our House", owned_or_affiliated=True, provider_name=f"Ours {XSS}")
        far = location("Seaside Retreat", latitude=50.1, longitude=-5.5)
        lead = assessed_lead(staff["admissions"])
        db.session.commit()
    return {"lead": lead, "dales": dales, "ours": ours, "far": far}


def _page(client, url):
    with clock.pinned(NOW):
        response = client.get(url)
    assert response.status_code == 200, response.status_code
    return response.get_data(as_text=True)


def _count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model)) or 0


def test_the_match_page_ranks_labels_and_explains_and_its_opening_is_audited(client, setting):
    lead = setting["lead"]
    page = _page(client, f"/admin/match/{lead.id}/")
    assert page.count('data-testid="match-row"') == 2
    assert "Dales Recovery" in page and "Owned/affiliated with us" in page
    assert "Within the travel distance" in page and "Seaside Retreat" in page
    assert "the client will travel up to 60" in page or "60 miles" in page
    assert XSS not in page and html.escape(XSS, quote=False) in page.replace("&#34;", '"')
    assert "the fees clinics pay play no part" in page
    audit = db.session.scalar(
        select(AuditEvent).where(AuditEvent.detail == "match").order_by(AuditEvent.id.desc())
    )
    assert audit.object_id == str(lead.id) and audit.action == "view"


def _present(client, setting, *, disclosure: bool, consent: bool = True):
    lead, dales = setting["lead"], setting["dales"]
    page = _page(client, f"/admin/match/{lead.id}/")
    form = {"csrf_token": csrf_token(page), "location_id": [str(dales.id)], "channel": "phone"}
    if disclosure:
        form["disclosure_given"] = "yes"
    if consent:
        form[f"consent_{dales.id}"] = "yes"
    with clock.pinned(NOW):
        return client.post(f"/admin/match/{lead.id}/present", data=form, follow_redirects=True)


def test_presenting_without_the_disclosure_is_refused_and_records_nothing(client, setting):
    response = _present(client, setting, disclosure=False)
    assert "paid by the clinics we refer to" in response.get_data(as_text=True)
    assert (_count(Presentation), _count(PresentedOption)) == (0, 0)


def test_presenting_then_referring_then_recording_the_answer(client, setting):
    lead = setting["lead"]
    page = _present(client, setting, disclosure=True).get_data(as_text=True)
    assert "1 option(s) presented" in page
    assert 'data-testid="refer-button"' in page
    option = db.session.scalar(select(PresentedOption))
    with clock.pinned(NOW):
        referred = client.post(
            f"/admin/referrals/refer/{option.id}",
            data={"csrf_token": csrf_token(page), "lead_id": lead.id},
            follow_redirects=True,
        )
    text = referred.get_data(as_text=True)
    assert "Referral sent" in text and "We are referring a client to you" in text
    referral = db.session.scalar(select(Referral))
    with clock.pinned(NOW):
        wrong = client.post(
            f"/admin/referrals/{referral.id}/move",
            data={"csrf_token": csrf_token(text), "status": "admitted", "on_date": "2026-11-25"},
            follow_redirects=True,
        )
    assert "cannot become admitted" in wrong.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(Referral, referral.id).status == "sent"
    with clock.pinned(NOW):
        ok = client.post(
            f"/admin/referrals/{referral.id}/move",
            data={"csrf_token": csrf_token(text), "status": "accepted"},
            follow_redirects=True,
        )
    assert 'data-testid="referral-status">accepted' in ok.get_data(as_text=True)
    listing = _page(client, "/admin/referrals/")
    assert lead.reference in listing and "Dales Recovery" in listing
    provider_page = _page(client, f"/admin/directory/providers/{setting['dales'].provider_id}/")
    assert "1 sent · 1 accepted · 0 declined · 0 admitted" in provider_page
    assert provider_page.count('data-testid="provider-referral"') == 1
    assert lead.reference in provider_page and f"/admin/referrals/{referral.id}/" in provider_page


def test_a_lead_without_a_completed_assessment_is_sent_back_with_why(client, staff):
    login(client, staff["admissions"])
    from tests.services.intake_factories import capture

    lead = capture(0).lead
    db.session.commit()
    response = client.get(f"/admin/match/{lead.id}/", follow_redirects=True)
    assert "Complete the assessment before matching" in response.get_data(as_text=True)


def test_unknown_leads_and_referrals_are_not_found(client, staff):
    login(client, staff["admissions"])
    assert client.get("/admin/match/999999/").status_code == 404
    assert client.get("/admin/referrals/999999/").status_code == 404


def test_declining_from_the_referral_page_needs_a_listed_reason(client, setting):
    lead = setting["lead"]
    page = _present(client, setting, disclosure=True).get_data(as_text=True)
    option = db.session.scalar(select(PresentedOption))
    with clock.pinned(NOW):
        text = client.post(
            f"/admin/referrals/refer/{option.id}",
            data={"csrf_token": csrf_token(page), "lead_id": lead.id},
            follow_redirects=True,
        ).get_data(as_text=True)
    referral = db.session.scalar(select(Referral))
    url = f"/admin/referrals/{referral.id}/move"
    token = csrf_token(text)
    with clock.pinned(NOW):
        unknown = client.post(
            url,
            data={"csrf_token": token, "status": "declined", "decline_code": "full"},
            follow_redirects=True,
        ).get_data(as_text=True)
    assert "Unknown decline reason &#39;full&#39;" in unknown
    db.session.expire_all()
    assert db.session.get(Referral, referral.id).status == "sent"
    with clock.pinned(NOW):
        ok = client.post(
            url,
            data={
                "csrf_token": token,
                "status": "declined",
                "decline_code": "no_bed",
                "reason": "No female beds until February",
            },
            follow_redirects=True,
        ).get_data(as_text=True)
    assert 'data-testid="referral-status">declined' in ok
    assert "No bed or place available: No female beds until February" in ok
    db.session.expire_all()
    assert db.session.get(Referral, referral.id).decline_code == "no_bed"
