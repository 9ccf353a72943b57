"""The engine's message phase: a pipeline that keeps the sender pool busy.

Every claim is committed before its sends start, and never for more messages than the pool
has free threads, so at any instant at most ``senders.threads`` messages are claimed and not
yet recorded: a worker killed mid-send leaves no more than that ``sending`` (later
``unknown``, never resent; ARCHITECTURE.md rule 5). As sends finish, one transaction records
their outcomes and claims as many new messages as threads came free; the next sends start
while the others are still at the provider, so no batch waits for its slowest send.

A page's messages are sent at once in their own transaction, holding the page's row, so an
acknowledgement racing them waits (``crm.notify.delivery.deliver_claimed``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, wait

from crm.database import unit_of_work
from crm.notify import services as notify
from crm.notify.delivery import Outcome, outcome_of, plan, record_and_claim, with_attachments


class _Pipeline:
    def __init__(
        self,
        channels: notify.Channels,
        senders: notify.Senders,
        on_backlog: Callable[[], None],
    ) -> None:
        self.channels = channels
        self.senders = senders
        self.on_backlog = on_backlog
        self.in_flight: dict[Future[str | Exception], notify.Claimed] = {}
        self.finished: dict[int, Outcome] = {}  # outcomes not yet written
        self.statuses: list[str] = []

    def room(self) -> int:
        return self.senders.threads - len(self.in_flight)

    def refill(self, claim: bool) -> bool:
        """One transaction: write the finished outcomes and claim as many messages as there are
        free threads. True when the claim was full (more may be due)."""
        wanted = self.room() if claim else 0
        with unit_of_work():
            claimed = with_attachments(record_and_claim(self.finished, wanted))
            if claimed and len(claimed) == self.senders.threads:
                self.on_backlog()
        self.statuses += [outcome.status for outcome in self.finished.values()]
        self.finished = {}
        self._start([m for m in claimed if m.page_id is None])
        pages = [m for m in claimed if m.page_id is not None]
        if pages:
            with unit_of_work():
                self.statuses += notify.deliver_claimed(pages, self.channels, self.senders)
        return bool(wanted) and len(claimed) == wanted

    def _start(self, claimed: list[notify.Claimed]) -> None:
        sends = plan(claimed, self.channels, set())
        self.finished.update(sends.outcomes)  # held or unsendable: written with the next batch
        for message, adapter in sends.to_send:
            self.in_flight[self.senders.submit(adapter, message.message)] = message

    def collect(self) -> None:
        """Wait for at least one send to finish; keep the outcomes of all that have."""
        done, _ = wait(self.in_flight, return_when=FIRST_COMPLETED)
        for future in done:
            message = self.in_flight.pop(future)
            self.finished[message.id] = outcome_of(message, future.result())

    def settled(self) -> bool:
        return not self.in_flight and not self.finished


def send_due_messages(
    channels: notify.Channels,
    senders: notify.Senders,
    deadline: float,
    on_backlog: Callable[[], None] = lambda: None,
) -> list[str]:
    """Send every due message (until ``deadline``, by ``time.monotonic()``), recording each
    outcome; returns the statuses written. ``on_backlog`` runs inside a claim's transaction
    when the claim filled the whole pool."""
    pipeline = _Pipeline(channels, senders, on_backlog)
    more = True
    while True:
        if pipeline.in_flight:
            pipeline.collect()
            # Claim again once half the pool is free (one round trip for several sends); with
            # nothing more to claim, write the outcomes when the last send is back.
            if pipeline.in_flight and (not more or 2 * pipeline.room() < senders.threads):
                continue
        more = pipeline.refill(claim=more and time.monotonic() < deadline)
        if not more and pipeline.settled():
            return pipeline.statuses
