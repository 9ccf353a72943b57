"""The HTTP channels' connections: the engine's sender threads share keep-alive connections,
reuse one only while it is known good, and a request that got no answer is never sent again.

Against a real local HTTP server (``tests/support/raw_http.py``) that notes which connection
carried each request and misbehaves on purpose."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from crm import clock
from crm.extensions import db
from crm.notify import services as notify
from crm.notify.channels import Connections, DeliveryError, Message, TwilioSms
from crm.notify.models import OutboundMessage
from tests.services.oncall_factories import messages
from tests.support.raw_http import Mode, RawHttpServer

NOW = datetime(2026, 11, 29, 2, 40, tzinfo=UTC)


@pytest.fixture
def server(request: pytest.FixtureRequest) -> Iterator[RawHttpServer]:
    mode: Mode = getattr(request, "param", "keep")
    running = RawHttpServer(mode)
    yield running
    running.stop()


def sms(server: RawHttpServer) -> TwilioSms:
    return TwilioSms("AC0123", "token", "+447700900999", server.url)


def text(i: int) -> Message:
    return Message("+447700900123", "", f"message {i}")


def wait_until(condition: Callable[[], bool], seconds: float = 5.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "the server never got there"
        time.sleep(0.01)


def bodies(server: RawHttpServer) -> list[str]:
    return [body.decode() for _, body in server.requests]


def test_one_senders_pool_posts_many_messages_on_one_connection_and_closes_it(
    server: RawHttpServer,
) -> None:
    with notify.Senders(threads=1) as senders:
        results = senders.send_all([(sms(server), text(i)) for i in range(5)])
    assert results == ["SMraw"] * 5
    assert [number for number, _ in server.requests] == [1] * 5
    assert all(f"message+{i}" in body for i, body in enumerate(bodies(server)))
    wait_until(lambda: server.closed_by_client == 1)  # closing the pool closed the connection


def test_a_send_outside_a_pool_asks_the_server_to_close(server: RawHttpServer) -> None:
    assert sms(server).send(text(1)) == "SMraw"
    assert sms(server).send(text(2)) == "SMraw"
    assert [number for number, _ in server.requests] == [1, 2]


@pytest.mark.parametrize("server", ["close_after_answer"], indirect=True)
def test_a_connection_the_server_closed_while_idle_is_not_reused(server: RawHttpServer) -> None:
    """The server closed it without saying so (no ``Connection: close``): reusing it would send
    into a dead socket and leave the message unknown. The pool notices and connects again."""
    connections = Connections()
    try:
        for i in range(3):
            assert sms(server).send(text(i), connections) == "SMraw"
            wait_until(lambda n=i + 1: server.closed_by_server == n)  # its FIN is on the way
            time.sleep(0.05)
    finally:
        connections.close()
    assert [number for number, _ in server.requests] == [1, 2, 3]


def test_an_idle_connection_is_not_reused_after_the_keep_alive_time(
    server: RawHttpServer,
) -> None:
    connections = Connections(keep_alive_seconds=1.0)
    try:
        assert sms(server).send(text(1), connections) == "SMraw"
        assert sms(server).send(text(2), connections) == "SMraw"  # straight away: reused
        time.sleep(1.3)
        assert sms(server).send(text(3), connections) == "SMraw"  # idle too long: a new one
    finally:
        connections.close()
    assert [number for number, _ in server.requests] == [1, 1, 2]


@pytest.mark.parametrize("server", ["drop"], indirect=True)
def test_a_request_that_got_no_answer_may_have_been_delivered(server: RawHttpServer) -> None:
    with pytest.raises(DeliveryError) as failure:
        sms(server).send(text(1))
    assert failure.value.maybe_sent and not failure.value.transient
    assert "may have been delivered" in str(failure.value)
    assert len(server.requests) == 1


def test_a_refused_connection_sent_nothing_and_can_be_tried_again() -> None:
    stopped = RawHttpServer()
    stopped.stop()  # nothing listens on its port now
    with pytest.raises(DeliveryError) as failure:
        sms(stopped).send(text(1), Connections())
    assert failure.value.transient and not failure.value.maybe_sent
    assert "could not reach provider" in str(failure.value)


@pytest.mark.parametrize("server", ["drop"], indirect=True)
def test_an_sms_with_no_answer_is_recorded_unknown_and_never_resent(
    db_session: Any, server: RawHttpServer
) -> None:
    """The provider took the request and the connection dropped before it answered: the text
    may be on someone's phone, so sending it again could page them twice (ARCHITECTURE.md
    rule 5). The message is ``unknown``; escalation, not a resend, covers a lost page."""
    channels = notify.Channels({"sms": sms(server)}, hold=False)
    with clock.pinned(NOW):
        assert notify.queue_message("k-drop", "sms", "+447700900123", "Page", "Wake up")
        db.session.commit()
        [claimed] = notify.claim_messages()
        db.session.commit()
        with notify.Senders() as senders:
            assert notify.deliver_claimed([claimed], channels, senders) == ["unknown"]
        db.session.commit()
    [row] = messages(idempotency_key="k-drop")
    db.session.refresh(row)
    assert row.status == "unknown" and "may have been delivered" in str(row.error)
    for later in (timedelta(seconds=30), timedelta(minutes=5), timedelta(hours=1)):
        with clock.pinned(NOW + later):
            assert notify.claim_messages() == []
            db.session.commit()
    assert len(server.requests) == 1
    assert db.session.get(OutboundMessage, row.id) is not None
