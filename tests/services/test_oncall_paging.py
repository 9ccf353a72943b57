"""Pages: one open page per subject, escalation step by step on a pinned clock, nobody on call,
repeat cycles, the final fallback to every active manager, acknowledge and resolve.

What is asserted is what the database holds: the page row, its events in order, and the
outbound messages queued for each person."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

import pytest

from crm import clock
from crm.auth.models import User
from crm.errors import DomainError, ErrorKind
from crm.extensions import db
from crm.intake import pipeline
from crm.notify.models import OutboundMessage
from crm.oncall import links, paging
from crm.oncall.models import Page, PageEvent
from crm.privacy.services import Actor
from tests.services.oncall_factories import (
    SUNDAY_NIGHT,
    count,
    deactivate,
    events,
    lead,
    messages,
    person,
    policy,
    rota,
    rota_step,
    user_step,
    webhook_step,
)

T0 = SUNDAY_NIGHT


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def advance(minutes: float) -> int:
    """Run due escalation steps at T0 + minutes, committed as a tick would."""
    with clock.pinned(at(minutes)):
        ran = paging.advance_due_pages()
        db.session.commit()
    return ran


def trigger(
    subject: str = "safeguarding:17", summary: str = "Safeguarding flag on KT4-ABC"
) -> Page:
    with clock.pinned(T0):
        page = paging.trigger_page(subject, summary)
        db.session.commit()
    return page


def recipients(page: Page) -> list[tuple[str, str]]:
    """(person's name, channel) for each message queued for the page, in order."""
    db.session.expire_all()
    names = {u.id: u.name for u in db.session.query(User)}
    return [(names[m.user_id], m.channel) for m in messages(page_id=page.id) if m.user_id]


@pytest.fixture
def people(db_session: Any) -> dict[str, User]:
    return {
        "alice": person(
            name="Alice Oncall",
            methods=(("sms", "+447700900001", 0), ("email", "alice@staff.example", 0)),
        ),
        "bob": person(name="Bob Backup", methods=(("email", "bob@staff.example", 0),)),
        "mandy": person("manager", name="Mandy Manager"),
        "max": person("manager", name="Max Manager", phone="+447700900009"),
        "former": person("manager", name="Former Manager", active=False),
    }


@pytest.fixture
def standard(people: dict[str, User]) -> None:
    """The on-call admissions person (a rota) for 5 minutes, then the backup for 10,
    the whole thing once more, then every active manager."""
    nights = rota([people["alice"]], shift_days=7, starts_on=date(2026, 11, 2))
    policy([rota_step(nights, 5), user_step(people["bob"], 10)], repeat_count=1)


def test_a_second_trigger_attaches_to_the_open_page(standard: None) -> None:
    first = trigger(summary="Out-of-hours callback request KT4-ABC")
    with clock.pinned(at(1)):
        again = paging.trigger_page("safeguarding:17", "Caller rang again")
        db.session.commit()
    assert again.id == first.id
    db.session.expire_all()
    page = db.session.get(Page, first.id)
    assert page is not None
    assert (page.trigger_count, page.status) == (2, "triggered")
    assert count(Page, Page.subject == "safeguarding:17") == 1
    assert events(page) == [
        ("triggered", "Out-of-hours callback request KT4-ABC"),
        ("retriggered", "Caller rang again"),
    ]
    # Another subject is another page.
    other = trigger("lead:99", "Another lead")
    assert other.id != first.id
    assert count(Page) == 2


def test_escalation_runs_step_by_step_repeats_then_pages_every_manager(
    people: dict[str, User], standard: None
) -> None:
    page = trigger()
    assert page.next_step_at == T0  # step 1 is due at once

    assert advance(0) == 1
    assert recipients(page) == [("Alice Oncall", "sms"), ("Alice Oncall", "email")]
    assert {m.due_at for m in messages(page_id=page.id)} == {T0}
    assert (page.step_index, page.cycle, page.next_step_at) == (1, 0, at(5))

    assert advance(4.99) == 0  # not yet: step 1's delay is 5 minutes
    assert count(OutboundMessage) == 2

    assert advance(5) == 1
    assert recipients(page)[2:] == [("Bob Backup", "email")]
    assert page.next_step_at == at(15)

    assert advance(15) == 1  # end of the steps: the policy repeats once
    assert recipients(page)[3:] == [("Alice Oncall", "sms"), ("Alice Oncall", "email")]
    assert (page.step_index, page.cycle, page.next_step_at) == (1, 1, at(20))

    assert advance(20) == 1
    assert recipients(page)[5:] == [("Bob Backup", "email")]

    assert advance(30) == 1  # repeats used up: every active manager, and stop
    assert recipients(page)[6:] == [
        ("Mandy Manager", "email"),
        ("Max Manager", "email"),
        ("Max Manager", "sms"),
    ]
    assert page.next_step_at is None
    assert page.status == "triggered"  # still open until someone acknowledges

    assert advance(600) == 0
    assert count(OutboundMessage) == 9
    assert events(page) == [
        ("triggered", "Safeguarding flag on KT4-ABC"),
        ("notified", "step 1: Alice Oncall"),
        ("notified", "step 2: Bob Backup"),
        ("repeating", "cycle 2 of 2"),
        ("notified", "step 1: Alice Oncall"),
        ("notified", "step 2: Bob Backup"),
        ("fallback", "every active manager: Mandy Manager, Max Manager"),
    ]
    times = [e.at for e in db.session.query(PageEvent).order_by(PageEvent.id)]
    assert times == [at(0), at(0), at(5), at(15), at(15), at(20), at(30)]
    # One idempotency key per page, cycle, step, person and address: none reused.
    keys = [m.idempotency_key for m in messages(page_id=page.id)]
    assert len(set(keys)) == len(keys)
    assert f"page:{page.id}:c1:s0:{people['alice'].id}:sms:+447700900001" in keys


def test_a_step_with_nobody_on_call_is_recorded_and_the_next_runs_at_once(
    people: dict[str, User],
) -> None:
    alice = people["alice"]
    nights = rota([alice], starts_on=date(2026, 11, 2))
    policy([rota_step(nights, 5), user_step(people["bob"], 10)], repeat_count=0)
    deactivate(alice)  # the only person on the rota has left
    page = trigger()
    assert advance(0) == 1
    assert recipients(page) == [("Bob Backup", "email")]
    assert page.next_step_at == at(10)  # the step that reached someone sets the delay
    assert events(page)[1:] == [
        ("nobody_on_call", "step 1: nobody to notify"),
        ("notified", "step 2: Bob Backup"),
    ]


def test_nobody_reachable_at_any_step_falls_straight_to_the_managers(
    people: dict[str, User],
) -> None:
    later = rota([people["alice"]], starts_on=date(2027, 1, 4))  # has not started yet
    policy([rota_step(later, 5)], repeat_count=2)
    page = trigger()
    assert advance(0) == 1
    assert recipients(page) == [
        ("Mandy Manager", "email"),
        ("Max Manager", "email"),
        ("Max Manager", "sms"),
    ]
    assert [kind for kind, _ in events(page)] == [
        "triggered",
        "nobody_on_call",
        "repeating",
        "nobody_on_call",
        "repeating",
        "nobody_on_call",
        "fallback",
    ]
    assert page.next_step_at is None


def test_without_any_policy_every_active_manager_is_paged(people: dict[str, User]) -> None:
    page = trigger()
    assert page.policy_id is None
    advance(0)
    assert [name for name, _ in recipients(page)] == ["Mandy Manager", "Max Manager", "Max Manager"]


def test_a_webhook_step_posts_to_the_chat_channel(people: dict[str, User]) -> None:
    policy([webhook_step("https://chat.example/hooks/admissions", 5)])
    page = trigger()
    advance(0)
    [message] = messages(page_id=page.id)
    assert (message.channel, message.address, message.user_id) == (
        "webhook",
        "https://chat.example/hooks/admissions",
        None,
    )
    assert message.idempotency_key == f"page:{page.id}:c0:s0:webhook"
    assert events(page)[-1] == ("notified", "step 1: chat webhook")


def test_a_page_message_carries_the_reference_and_a_signed_acknowledge_link(
    people: dict[str, User], standard: None
) -> None:
    page = trigger(summary="Out-of-hours callback request KT4-ABC")
    advance(0)
    email = messages(page_id=page.id, channel="email")[0]
    assert email.subject == "[Admissions CRM] Out-of-hours callback request KT4-ABC"
    assert email.body.startswith("Out-of-hours callback request KT4-ABC\n")
    link = next(word for word in email.body.split() if "/ack/" in word)
    assert link.startswith("http://127.0.0.1:5000/ack/")
    assert links.read_ack_token(link.rsplit("/", 1)[1]) == (page.id, people["alice"].id)
    assert f"http://127.0.0.1:5000/admin/pages/{page.id}/" in email.body


def test_acknowledging_stops_the_escalation_and_cancels_pending_messages(
    people: dict[str, User],
) -> None:
    alice, bob = people["alice"], people["bob"]
    delayed = person(
        name="Dana Delayed",
        methods=(("email", "dana@staff.example", 0), ("sms", "+447700900004", 3)),
    )
    policy([user_step(delayed, 5), user_step(bob, 5)])
    page = trigger()
    advance(0)
    assert [(m.channel, m.due_at) for m in messages(page_id=page.id)] == [
        ("email", at(0)),
        ("sms", at(3)),  # Dana's SMS only if she has not acknowledged within 3 minutes
    ]
    with clock.pinned(at(2)):
        acked = paging.acknowledge(page.id, alice.id, Actor(alice.id), via="back office")
        db.session.commit()
    db.session.expire_all()
    assert (acked.status, acked.acknowledged_at, acked.acknowledged_by_id) == (
        "acknowledged",
        at(2),
        alice.id,
    )
    assert acked.next_step_at is None
    assert [(m.status, m.error) for m in messages(page_id=page.id)] == [
        ("failed", "cancelled: acknowledged"),
        ("failed", "cancelled: acknowledged"),
    ]
    assert advance(10) == 0  # Bob's step never comes
    assert count(OutboundMessage) == 2
    assert events(page)[-1] == ("acknowledged", "by Alice Oncall via back office")

    with clock.pinned(at(3)), pytest.raises(DomainError) as second:
        paging.acknowledge(page.id, bob.id, Actor(bob.id))
    assert second.value.kind is ErrorKind.CONFLICT
    assert second.value.message == "This page is already acknowledged."
    db.session.rollback()
    assert [kind for kind, _ in events(page)].count("acknowledged") == 1
    refreshed = db.session.get(Page, page.id)
    assert refreshed is not None and refreshed.acknowledged_by_id == alice.id


def test_acknowledging_an_unknown_page_is_not_found(people: dict[str, User]) -> None:
    with pytest.raises(DomainError) as missing:
        paging.acknowledge(10**9, people["alice"].id, Actor(people["alice"].id))
    assert missing.value.kind is ErrorKind.NOT_FOUND


def test_resolving_closes_the_page_and_a_new_trigger_opens_a_new_one(
    people: dict[str, User], standard: None
) -> None:
    page = trigger()
    advance(0)
    mandy = people["mandy"]
    with clock.pinned(at(1)):
        paging.resolve(page.id, Actor(mandy.id), "handled by phone")
        db.session.commit()
    db.session.expire_all()
    resolved = db.session.get(Page, page.id)
    assert resolved is not None
    assert (resolved.status, resolved.resolved_at, resolved.resolved_by_id) == (
        "resolved",
        at(1),
        mandy.id,
    )
    assert {m.status for m in messages(page_id=page.id)} == {"failed"}  # never sent
    assert events(page)[-1] == ("resolved", "handled by phone")
    with pytest.raises(DomainError, match=r"already resolved") as again:
        paging.resolve(page.id, Actor(mandy.id), "twice")
    assert again.value.kind is ErrorKind.CONFLICT
    db.session.rollback()
    fresh = trigger()
    assert fresh.id != page.id
    assert (fresh.trigger_count, fresh.status) == (1, "triggered")


def test_a_connected_call_on_the_lead_resolves_its_page(
    people: dict[str, User], standard: None
) -> None:
    alice = people["alice"]
    enquiry = lead(T0)  # out of hours: the request pages on-call at once
    page = paging.open_page(f"lead:{enquiry.id}")
    assert page is not None and page.lead_id == enquiry.id
    advance(0)
    # A call that did not connect changes nothing.
    with clock.pinned(at(2)):
        pipeline.log_call(enquiry.id, Actor(alice.id), direction="outbound", outcome="no_answer")
        db.session.commit()
    assert paging.open_page(f"lead:{enquiry.id}") is not None
    with clock.pinned(at(3)):
        pipeline.log_call(enquiry.id, Actor(alice.id), direction="outbound", outcome="connected")
        db.session.commit()
    db.session.expire_all()
    closed = db.session.get(Page, page.id)
    assert closed is not None
    assert (closed.status, closed.resolved_at, closed.resolved_by_id) == (
        "resolved",
        at(3),
        alice.id,
    )
    assert events(closed)[-1] == ("resolved", "connected call logged")
    assert paging.open_page(f"lead:{enquiry.id}") is None
    assert advance(30) == 0  # the escalation is over
