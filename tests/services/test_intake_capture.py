"""Capturing callback requests: records made, de-duplication, round-robin, API keys, idempotency."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest
from sqlalchemy import select

from crm.auth.models import User
from crm.errors import DomainError, ErrorKind
from crm.extensions import db
from crm.intake import pipeline, services
from crm.intake.models import (
    ApiKey,
    Assignment,
    CallbackRequest,
    Contact,
    Lead,
    StageChange,
)
from crm.privacy.models import AuditEvent, ConsentRecord, DisclosureRecord
from tests.services.intake_factories import (
    T0,
    WEBSITE,
    actor_for,
    admissions,
    at,
    capture,
    counts,
    minutes_after_t0,
    reload,
    request_data,
    staff_member,
    team,
    without_health_consent,
)

pytestmark = pytest.mark.usefixtures("db_session")


@pytest.fixture
def staff(db_session: object) -> dict[str, User]:
    return team()


def _rows(model: type, lead_id: int) -> list:  # type: ignore[type-arg]
    return list(db.session.scalars(select(model).where(model.lead_id == lead_id)))


def test_capture_records_contact_lead_request_consents_disclosure_and_audit() -> None:
    result = capture(0, target_minutes=15, email="Sam@Example.COM")
    assert result.created and not result.replayed
    lead = reload(result.lead)
    contact = lead.caller
    assert (contact.name, contact.phone, contact.email, contact.preferred_contact_times) == (
        "Sam Smith",
        "+447700900123",
        "sam@example.com",
        "after 6pm",
    )
    assert lead.client_id == lead.caller_id == contact.id
    assert (lead.stage, lead.source, lead.caller_relationship, lead.close_reason) == (
        "new",
        "web_form",
        "self",
        None,
    )
    assert lead.reference.startswith("L-") and len(lead.reference) == 8
    assert (lead.created_at, lead.callback_due_at) == (T0, T0 + timedelta(minutes=15))
    assert (lead.request_count, lead.is_returning, lead.previous_lead_id) == (1, False, None)
    assert lead.utm == {"utm_source": "google"}
    assert lead.first_contact_at is None and lead.speed_to_lead_seconds is None

    [request] = _rows(CallbackRequest, lead.id)
    assert (request.received_at, request.source, request.repeat) == (T0, "web_form", False)
    assert (request.substances, request.message) == (["ketamine"], "Struggling since the summer.")
    assert request.page_url == "https://rehab.example/help"

    consents = {c.purpose: c for c in _rows(ConsentRecord, lead.id)}
    assert set(consents) == {"contact", "health_details"}
    for consent in consents.values():
        assert (consent.contact_id, consent.given, consent.channel, consent.recorded_at) == (
            contact.id,
            True,
            "web_form",
            T0,
        )
        assert consent.wording_version == "callback-consent-2026-11"
    [disclosure] = _rows(DisclosureRecord, lead.id)
    assert (disclosure.kind, disclosure.wording_version, disclosure.channel) == (
        "commission",
        "commission-2026-11",
        "web_form",
    )
    [change] = _rows(StageChange, lead.id)
    assert (change.from_stage, change.to_stage, change.changed_at) == (None, "new", T0)
    [audit] = db.session.scalars(
        select(AuditEvent).where(
            AuditEvent.object_type == "leads", AuditEvent.object_id == str(lead.id)
        )
    )
    assert (audit.action, audit.actor_email, audit.detail) == (
        "create",
        "api-key:test",
        "callback request",
    )


def test_the_callback_target_is_configurable() -> None:
    lead = capture(0, target_minutes=30).lead
    assert reload(lead).callback_due_at == T0 + timedelta(minutes=30)


@pytest.mark.parametrize(
    "again", ["+44 7700 900123", "447700900123", "07700-900-123", "0044 (0)7700 900123"]
)
def test_a_second_request_from_the_same_phone_attaches_to_the_open_lead(again: str) -> None:
    first = capture(0, phone="07700 900123").lead
    before = counts()
    second = capture(7, phone=again, email=..., best_time_to_call="mornings")
    assert not second.created and second.lead.id == first.id
    lead = reload(first)
    assert (lead.request_count, lead.last_request_at, lead.updated_at) == (2, at(7), at(7))
    assert lead.callback_due_at == T0 + timedelta(minutes=15), "the deadline does not move"
    after = counts()
    assert after["leads"] == before["leads"] and after["contacts"] == before["contacts"]
    assert after["stage_changes"] == before["stage_changes"]
    requests = sorted(_rows(CallbackRequest, lead.id), key=lambda r: r.received_at)
    assert [r.repeat for r in requests] == [False, True]
    assert lead.caller.preferred_contact_times == "mornings"
    details = db.session.scalars(
        select(AuditEvent.detail)
        .where(AuditEvent.object_id == str(lead.id))
        .order_by(AuditEvent.id)
    ).all()
    assert details[-1] == "callback request (requested again)"


def test_a_second_request_with_the_same_email_attaches_too() -> None:
    first = capture(0, phone="07700 900123", email="sam@example.com").lead
    second = capture(3, phone="07700 900456", email="SAM@example.com")
    assert not second.created and second.lead.id == first.id
    lead = reload(first)
    assert lead.request_count == 2
    assert lead.caller.phone == "+447700900123", "a known phone is not overwritten"
    assert counts()["contacts"] == 1


def test_after_the_lead_closes_a_new_request_starts_a_returning_lead(staff: dict) -> None:
    first = capture(0).lead
    with minutes_after_t0(60):
        pipeline.change_stage(
            first.id, "closed", actor_for(staff["manager"]), close_reason="not_ready"
        )
    again = capture(60 * 24 * 90, phone="+447700900123")
    assert again.created and again.lead.id != first.id
    lead = reload(again.lead)
    assert (lead.is_returning, lead.previous_lead_id) == (True, first.id)
    assert lead.caller_id == lead.client_id == first.caller_id
    assert lead.reference != first.reference
    assert lead.stage == "new" and lead.created_at == at(60 * 24 * 90)
    assert counts()["contacts"] == 1


def test_health_details_are_not_stored_without_consent() -> None:
    data = without_health_consent(request_data())
    lead = reload(capture(0, data=data).lead)
    [request] = _rows(CallbackRequest, lead.id)
    assert (request.substances, request.message) == (None, None)
    assert request.best_time_to_call == "after 6pm"
    given = {c.purpose: c.given for c in _rows(ConsentRecord, lead.id)}
    assert given == {"contact": True, "health_details": False}


def test_someone_else_gets_a_separate_client_contact() -> None:
    result = capture(0, for_whom="someone_else", relationship="family", client_name="Alex")
    lead = reload(result.lead)
    assert lead.client_id != lead.caller_id
    assert (lead.caller.name, lead.caller.phone) == ("Sam Smith", "+447700900123")
    assert (lead.client.name, lead.client.phone, lead.client.email) == ("Alex", None, None)
    assert lead.caller_relationship == "family"
    again = capture(5, for_whom="someone_else", relationship="family", client_name="Alex")
    assert not again.created and again.lead.id == lead.id
    assert counts()["contacts"] == 2


def test_someone_else_without_a_name_is_described() -> None:
    lead = reload(capture(0, for_whom="someone_else", relationship="partner").lead)
    assert lead.client.name == "(someone Sam Smith knows)"


def test_round_robin_rotates_among_available_active_admissions_staff() -> None:
    ann, bob = admissions("Ann Able"), admissions("Bob Busy")
    admissions("Cat Gone", active=False)
    admissions("Dan Away", available=False)
    staff_member("manager", "Meg Manager", available=True)
    staff_member("admin", "Ada Admin", available=True)
    owners = [capture(i, phone=f"07700 900{100 + i}", email=...).lead.owner_id for i in range(5)]
    assert owners == [ann.id, bob.id, ann.id, bob.id, ann.id]
    assert (ann.last_assigned_at, bob.last_assigned_at) == (at(4), at(3))
    first = db.session.scalars(select(Lead).order_by(Lead.created_at)).first()
    [assignment] = _rows(Assignment, first.id)
    assert (assignment.from_user_id, assignment.to_user_id, assignment.reason) == (
        None,
        ann.id,
        "round-robin",
    )
    ann.available = False
    db.session.flush()
    assert capture(10, phone="07700 900200", email=...).lead.owner_id == bob.id


def test_round_robin_starts_with_whoever_waited_longest() -> None:
    ann, bob = admissions("Ann Able"), admissions("Bob Busy")
    ann.last_assigned_at, bob.last_assigned_at = at(-10), at(-60)
    newcomer = admissions("Nia New")
    db.session.flush()
    owners = [capture(i, phone=f"07700 900{300 + i}", email=...).lead.owner_id for i in range(3)]
    assert owners == [newcomer.id, bob.id, ann.id]


def test_with_nobody_available_the_lead_is_unassigned() -> None:
    admissions("Dan Away", available=False)
    admissions("Cat Gone", active=False)
    lead = reload(capture(0).lead)
    assert lead.owner_id is None
    assert _rows(Assignment, lead.id) == []


def test_staff_logging_an_enquiry_own_it_when_nobody_is_available(staff: dict) -> None:
    advisor = staff["admissions"]
    with minutes_after_t0(0):
        result = services.log_enquiry(
            request_data(), source="phone", target_minutes=15, actor=actor_for(advisor)
        )
    lead = reload(result.lead)
    assert (lead.source, lead.owner_id) == ("phone", advisor.id)
    assert {c.channel for c in _rows(ConsentRecord, lead.id)} == {"phone"}
    [assignment] = _rows(Assignment, lead.id)
    assert (assignment.actor_id, assignment.reason) == (advisor.id, "logged the enquiry")


def test_an_admin_logging_an_enquiry_does_not_become_its_owner(staff: dict) -> None:
    with minutes_after_t0(0):
        result = services.log_enquiry(
            request_data(),
            source="partner_referral",
            target_minutes=15,
            actor=actor_for(staff["admin"]),
        )
    lead = reload(result.lead)
    assert (lead.source, lead.owner_id) == ("partner_referral", None)
    assert {d.channel for d in _rows(DisclosureRecord, lead.id)} == {"other"}


# --- API keys and idempotency ----------------------------------------------------------------


def test_an_api_key_secret_is_shown_once_and_only_its_hash_is_stored(staff: dict) -> None:
    key, secret = services.issue_api_key(" rehab.example ", actor_for(staff["admin"]))
    db.session.flush()
    stored = db.session.get(ApiKey, key.id)
    assert stored.name == "rehab.example" and stored.active
    assert stored.key_hash == hashlib.sha256(secret.encode()).hexdigest()
    assert secret.startswith(f"crm_{stored.prefix}_") and len(secret) > 40
    assert secret not in (stored.name, stored.prefix, stored.key_hash)
    assert services.authenticate_api_key(secret).id == key.id
    audit = db.session.scalars(select(AuditEvent).where(AuditEvent.object_type == "api_keys"))
    assert [(a.action, a.object_id) for a in audit] == [("create", str(key.id))]


def test_malformed_and_wrong_secrets_do_not_authenticate(staff: dict) -> None:
    _key, secret = services.issue_api_key("site", actor_for(staff["admin"]))
    prefix = secret.split("_")[1]
    for wrong in (
        None,
        "",
        "crm_",
        "crm_x",
        secret[:-1],
        secret + "x",
        secret.upper(),
        f"crm_{prefix}_guess",
        "Bearer " + secret,
        secret + "a" * 100,
        secret.replace("crm_", "xyz_"),
    ):
        assert services.authenticate_api_key(wrong) is None, wrong


def test_a_revoked_key_no_longer_authenticates(staff: dict) -> None:
    admin = actor_for(staff["admin"])
    key, secret = services.issue_api_key("site", admin)
    with minutes_after_t0(0):
        services.revoke_api_key(key.id, admin)
    with minutes_after_t0(5):
        services.revoke_api_key(key.id, admin)  # revoking twice keeps the first time
    db.session.flush()
    assert db.session.get(ApiKey, key.id).revoked_at == T0
    assert services.authenticate_api_key(secret) is None
    actions = db.session.scalars(
        select(AuditEvent.detail).where(
            AuditEvent.object_type == "api_keys", AuditEvent.action == "update"
        )
    ).all()
    assert actions == ["revoked"]
    with pytest.raises(DomainError) as missing:
        services.revoke_api_key(key.id + 1000, admin)
    assert missing.value.kind == ErrorKind.NOT_FOUND


@pytest.mark.parametrize("name", ["", "   ", "x" * 121])
def test_an_api_key_needs_a_name_and_nothing_is_written(staff: dict, name: str) -> None:
    before = db.session.scalar(select(ApiKey.id).limit(1))
    with pytest.raises(DomainError) as refused:
        services.issue_api_key(name, actor_for(staff["admin"]))
    assert refused.value.field_errors == {"name": ["Required, up to 120 characters."]}
    assert db.session.scalar(select(ApiKey.id).limit(1)) == before is None


def test_find_contact_prefers_the_phone_then_the_email() -> None:
    sam = reload(capture(0).lead).caller
    jo = reload(capture(1, name="Jo", phone="07700 900999", email="jo@example.com").lead).caller
    assert services.find_contact("+447700900123", "jo@example.com").id == sam.id
    assert services.find_contact("+447700900555", "jo@example.com").id == jo.id
    assert services.find_contact("+447700900555", None) is None
    assert services.find_contact(None, None) is None
    assert services.open_lead_for(jo).caller_id == jo.id
    assert db.session.get(Contact, sam.id).email == "sam@example.com"
    assert WEBSITE.user_id is None


def test_a_key_s_last_use_is_kept_to_the_minute_so_requests_do_not_queue_on_its_row(
    staff: dict,
) -> None:
    key, _ = services.issue_api_key("site", actor_for(staff["admin"]))

    def last_used():
        db.session.flush()
        db.session.expire_all()
        return db.session.get(ApiKey, key.id).last_used_at

    for minutes, expected in ((0, at(0)), (0.98, at(0)), (1, at(1)), (1.5, at(1))):
        with minutes_after_t0(minutes):
            services.note_api_key_used(key.id)
        assert last_used() == expected, minutes


def test_a_request_attaches_to_the_open_lead_not_an_older_closed_one(staff: dict) -> None:
    first = capture(0).lead
    with minutes_after_t0(60):
        pipeline.change_stage(
            first.id, "closed", actor_for(staff["manager"]), close_reason="not_ready"
        )
    second = capture(120).lead
    third = capture(180)
    assert (third.created, third.lead.id) == (False, second.id)
    assert reload(second).request_count == 2
