"""The callback inbox: one row before the 201, the lead built by the engine from it.

Through the real services and the real engine loop (``crm.oncall.engine.run_inbox``) on the
test database; a failing row is one whose stored request no version of the code can read.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select, text, update

from crm import (
    clock,
    models_registry,  # noqa: F401  (every table known)
)
from crm.auth.models import User
from crm.database import Base
from crm.errors import DomainError, ErrorKind
from crm.extensions import db
from crm.intake import inbox, services
from crm.intake.models import ApiKey, CallbackInbox, CallbackRequest, Contact, Lead
from crm.oncall.engine import run_inbox
from crm.oncall.models import Page, Reminder
from crm.privacy.models import AuditEvent, ConsentRecord, DisclosureRecord
from tests.services.intake_factories import (
    T0,
    actor_for,
    at,
    minutes_after_t0,
    request_data,
    team,
)

pytestmark = pytest.mark.usefixtures("db_session")


@pytest.fixture
def staff(db_session: object) -> dict[str, User]:
    return team()


@pytest.fixture
def key_id(staff: dict[str, User]) -> int:
    key, _ = services.issue_api_key("www.inbox-test.example", actor_for(staff["admin"]))
    db.session.commit()
    return key.id


def _accept(minutes: float = 0, key: int | None = None, idem: str | None = None, **changes):
    with minutes_after_t0(minutes):
        answer = inbox.accept(
            request_data(**changes),
            source="web_form",
            channel="web_form",
            target_minutes=15,
            api_key_id=key,
            idempotency_key=idem,
            request_hash=("h-" + idem) if idem else None,
            remote_addr="203.0.113.9",
            request_id="req-inbox-0001",
        )
        db.session.commit()
    return answer


def _build(minutes: float = 0):
    with minutes_after_t0(minutes):
        return run_inbox()


def _table_counts() -> dict[str, int]:
    db.session.expire_all()
    return {
        name: db.session.scalar(text(f"SELECT count(*) FROM {name}"))  # noqa: S608 (metadata)
        for name in sorted(Base.metadata.tables)
    }


def _row(reference: str) -> CallbackInbox:
    db.session.expire_all()
    return db.session.scalars(
        select(CallbackInbox).where(CallbackInbox.reference == reference)
    ).one()


def test_accepting_writes_one_inbox_row_and_nothing_else(key_id: int) -> None:
    before = _table_counts()
    answer = _accept(key=key_id, idem="k-1")
    after = _table_counts()

    changed = {name: after[name] - before[name] for name in after if after[name] != before[name]}
    assert changed == {"callback_inbox": 1}
    assert (answer.requested_again, answer.replayed) == (False, False)
    row = _row(answer.reference)
    assert (row.status, row.attempts, row.lead_id) == ("pending", 0, None)
    assert row.request["name"] == "Sam Smith" and row.phone == "+447700900123"
    assert (row.consent_wording_version, row.disclosure_wording_version) == (
        "callback-consent-2026-11",
        "commission-2026-11",
    )
    assert db.session.scalar(select(Lead.id).where(Lead.reference == answer.reference)) is None


def test_the_engine_builds_the_lead_as_a_synchronous_capture_would(key_id: int) -> None:
    answer = _accept(key=key_id, idem="k-2")
    report = _build(0.02)  # the engine runs about a second later

    assert report.leads == 1
    lead = db.session.scalars(select(Lead).where(Lead.reference == answer.reference)).one()
    # Dated from when the person asked, not when the engine ran.
    assert lead.created_at == T0 and lead.callback_due_at == T0 + timedelta(minutes=15)
    assert (lead.source, lead.stage, lead.caller.name) == ("web_form", "new", "Sam Smith")
    request_row = db.session.scalars(
        select(CallbackRequest).where(CallbackRequest.lead_id == lead.id)
    ).one()
    assert request_row.received_at == T0 and request_row.api_key_id == key_id
    assert request_row.substances == ["ketamine"]
    consents = db.session.scalars(select(ConsentRecord).where(ConsentRecord.lead_id == lead.id))
    assert {(c.purpose, c.given, c.wording_version, c.recorded_at) for c in consents} == {
        ("contact", True, "callback-consent-2026-11", T0),
        ("health_details", True, "callback-consent-2026-11", T0),
    }
    disclosure = db.session.scalars(
        select(DisclosureRecord).where(DisclosureRecord.lead_id == lead.id)
    ).one()
    assert disclosure.wording_version == "commission-2026-11"
    reminder = db.session.scalars(select(Reminder).where(Reminder.lead_id == lead.id)).one()
    assert (reminder.kind, reminder.due_at) == ("callback_due", lead.callback_due_at)
    audit = db.session.scalars(
        select(AuditEvent).where(AuditEvent.object_type == "leads", AuditEvent.action == "create")
    ).one()
    assert (audit.actor_email, audit.ip, audit.request_id) == (
        f"api-key:{key_id}",
        "203.0.113.9",
        "req-inbox-0001",
    )
    assert db.session.get(ApiKey, key_id).last_used_at is not None
    row = _row(answer.reference)
    assert (row.status, row.lead_id) == ("processed", lead.id)
    # The lead holds the request now; the inbox keeps only the answer it gave.
    assert (row.request, row.phone, row.email, row.remote_addr) == (None, None, None, None)
    assert _build(0.05).leads == 0, "a processed row is never built twice"


def test_a_replay_answers_from_the_row_and_a_different_body_is_a_conflict(key_id: int) -> None:
    first = _accept(key=key_id, idem="same")
    before = _table_counts()
    again = inbox.replay(key_id, "same", "h-same")
    assert again == inbox.InboxAnswer(first.reference, False, replayed=True)
    with pytest.raises(DomainError) as conflict:
        inbox.replay(key_id, "same", "h-other")
    assert conflict.value.kind == ErrorKind.CONFLICT
    assert "different request body" in conflict.value.message
    assert inbox.replay(key_id + 1, "same", "h-same") is None, "keys belong to one website"
    # A twin that got past the look-up is refused by the unique key, and writes nothing.
    with pytest.raises(DomainError) as twin:
        inbox.accept(
            request_data(),
            source="web_form",
            channel="web_form",
            target_minutes=15,
            api_key_id=key_id,
            idempotency_key="same",
            request_hash="h-other",
        )
    assert twin.value.kind == ErrorKind.CONFLICT
    db.session.rollback()
    assert _table_counts() == before


def test_a_repeat_sent_before_the_first_is_built_gets_the_same_reference() -> None:
    first = _accept(0)
    second = _accept(0.01, name="Sam S", email=...)  # same phone, no email
    assert (second.reference, second.requested_again) == (first.reference, True)
    assert _build(0.05).leads == 2
    lead = db.session.scalars(select(Lead).where(Lead.reference == first.reference)).one()
    assert lead.request_count == 2
    assert db.session.scalar(select(func.count()).select_from(Lead)) == 1
    rows = db.session.scalars(
        select(CallbackInbox).where(CallbackInbox.reference == lead.reference)
    )
    assert [(r.status, r.lead_id, r.requested_again) for r in rows] == [
        ("processed", lead.id, False),
        ("processed", lead.id, True),
    ]


def test_a_repeat_of_an_open_lead_is_answered_with_its_reference() -> None:
    first = _accept(0)
    _build(0.02)
    second = _accept(5, phone="+44 7700 900123")
    assert (second.reference, second.requested_again) == (first.reference, True)


def test_a_candidate_reference_a_lead_already_has_is_never_given(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    first = _accept(0)
    _build(0.02)
    # The next random candidates are Sam's lead's reference: the one statement inserts nothing,
    # and the two-statement path gives an unused reference instead.
    fresh = iter(["L-FRESH2"])
    monkeypatch.setattr(inbox, "new_reference", lambda: first.reference)
    monkeypatch.setattr(services, "new_reference", lambda: next(fresh))
    answer = _accept(1, name="Jo", phone="07700 900999", email="jo@example.com")
    assert (answer.reference, answer.requested_again) == ("L-FRESH2", False)
    rows = db.session.scalars(select(CallbackInbox).order_by(CallbackInbox.id)).all()
    assert [r.reference for r in rows] == [first.reference, "L-FRESH2"]


def test_a_reference_taken_in_between_gets_a_fresh_one_and_the_row_points_to_the_lead() -> None:
    answer = _accept(0)
    other = _accept(0.01, name="Jo", phone="07700 900999", email="jo@example.com")
    # Jo's lead is built first and, by chance, takes the reference Sam was given.
    db.session.execute(
        update(CallbackInbox)
        .where(CallbackInbox.reference == other.reference)
        .values(reference=answer.reference)
    )
    db.session.execute(
        update(CallbackInbox)
        .where(CallbackInbox.phone == "+447700900123")
        .values(next_attempt_at=at(1))
    )
    db.session.commit()
    _build(0.05)
    _build(2)
    rows = db.session.scalars(select(CallbackInbox).order_by(CallbackInbox.id)).all()
    leads = {lead.id: lead for lead in db.session.scalars(select(Lead))}
    assert len(leads) == 2 and {r.status for r in rows} == {"processed"}
    sam_lead = leads[rows[0].lead_id]
    assert sam_lead.caller.name == "Sam Smith" and sam_lead.reference != answer.reference
    assert leads[rows[1].lead_id].reference == answer.reference


def _break(reference: str) -> None:
    """A row whose stored request this version cannot read (as after a careless upgrade)."""
    db.session.execute(
        update(CallbackInbox)
        .where(CallbackInbox.reference == reference)
        .values(request={"name": "Broken Row", "shoe_size": 9})
    )
    db.session.commit()


def test_a_failing_row_is_retried_with_backoff_and_does_not_block_the_rows_after_it(
    staff: dict[str, User],
) -> None:
    broken = _accept(0, name="Broken", phone="07700 900001", email=...)
    _break(broken.reference)
    good = [_accept(0.01, name=f"Caller {n}", phone=f"07700 90020{n}", email=...) for n in range(3)]

    report = _build(0.02)

    assert (report.leads, report.inbox_failures) == (3, 1)
    for answer in good:
        assert db.session.scalar(select(Lead.id).where(Lead.reference == answer.reference))
    row = _row(broken.reference)
    assert (row.status, row.attempts) == ("pending", 1)
    assert row.last_error.startswith("ValueError: the stored request does not fit")
    assert row.next_attempt_at == at(0.02) + timedelta(seconds=inbox.BACKOFF_SECONDS[0])
    assert _build(0.03).inbox_failures == 0, "not retried before its backoff"

    instant = at(0.02)
    for attempt in range(2, inbox.MAX_ATTEMPTS + 1):
        instant = _row(broken.reference).next_attempt_at
        with clock.pinned(instant):
            assert run_inbox().inbox_failures == 1
        assert _row(broken.reference).attempts == attempt
    row = _row(broken.reference)
    assert row.status == "stuck" and row.request is not None, "stuck, never dropped"
    page = db.session.scalars(select(Page).where(Page.subject == f"inbox:{row.id}")).one()
    assert page.policy_id is None and broken.reference in page.summary
    with clock.pinned(instant + timedelta(hours=1)):
        assert run_inbox().inbox_failures == 0, "a stuck row waits for a manager"
    assert inbox.count_stuck() == 1
    assert [r.reference for r in inbox.troubled()] == [broken.reference]

    # A manager fixes the cause and retries: the row is built at the next run.
    db.session.execute(
        update(CallbackInbox)
        .where(CallbackInbox.id == row.id)
        .values(request=inbox.stored_request(request_data(name="Broken", phone="07700 900001")))
    )
    with minutes_after_t0(80):
        inbox.retry(row.id, actor_for(staff["manager"]))
    db.session.commit()
    assert _build(90).leads == 1
    assert _row(broken.reference).status == "processed"
    assert inbox.count_stuck() == 0
    with pytest.raises(DomainError, match="already recorded"):
        inbox.retry(row.id, actor_for(staff["manager"]))


def test_the_error_shown_leaves_out_the_database_s_detail_lines() -> None:
    from sqlalchemy.exc import IntegrityError

    orig = Exception(
        'duplicate key value violates unique constraint "uq"\nDETAIL: Key (phone)=(+447700900123)'
    )
    error = IntegrityError("INSERT INTO contacts ...", {"phone": "+447700900123"}, orig)
    described = inbox.describe(error)
    assert described == 'IntegrityError: duplicate key value violates unique constraint "uq"'
    assert "+447700900123" not in described


def test_a_revoked_key_is_refused_within_seconds_in_every_process(
    staff: dict[str, User],
) -> None:
    key, secret = services.issue_api_key("site", actor_for(staff["admin"]))
    db.session.commit()
    with minutes_after_t0(0):
        assert services.authenticate_api_key(secret).id == key.id
    # Another process revokes it: this one's cached copy is not told.
    db.session.execute(update(ApiKey).where(ApiKey.id == key.id).values(revoked_at=T0))
    db.session.commit()
    with clock.pinned(T0 + timedelta(seconds=2)):
        assert services.authenticate_api_key(secret) is not None, "served from the cache"
    with clock.pinned(T0 + services.API_KEY_CACHE):
        assert services.authenticate_api_key(secret) is None
    # Revoked in this process: refused at once.
    key2, secret2 = services.issue_api_key("site 2", actor_for(staff["admin"]))
    db.session.commit()
    assert services.authenticate_api_key(secret2) is not None
    services.revoke_api_key(key2.id, actor_for(staff["admin"]))
    db.session.commit()
    assert services.authenticate_api_key(secret2) is None


def test_the_hosted_form_s_requests_are_built_as_anonymous_web_form_requests() -> None:
    answer = _accept(0)
    _build(0.02)
    lead = db.session.scalars(select(Lead).where(Lead.reference == answer.reference)).one()
    audit = db.session.scalars(
        select(AuditEvent).where(AuditEvent.object_type == "leads", AuditEvent.action == "create")
    ).one()
    assert (audit.actor_email, audit.ip) == (None, "203.0.113.9")
    assert db.session.scalar(select(func.count()).select_from(Contact)) == 1
    assert lead.source == "web_form"
