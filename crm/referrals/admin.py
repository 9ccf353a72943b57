"""The match page for a lead, presenting options, and each referral's page and actions."""

from __future__ import annotations

from collections import defaultdict
from datetime import date
from typing import Any

from flask import abort, flash, redirect, request, url_for
from flask_admin import expose
from sqlalchemy import select

from crm.admin.secure import SecureBaseView
from crm.auth.permissions import Permission
from crm.database import unit_of_work
from crm.errors import DomainError, ErrorKind
from crm.extensions import db
from crm.fees.admin import referral_fee_panel
from crm.intake import vocabulary
from crm.intake.models import Lead
from crm.intake.queries import names_of
from crm.privacy.services import record_audit_event
from crm.referrals import queries, referring, wording
from crm.referrals.lifecycle import (
    DECLINE_REASONS,
    DISCHARGE_OUTCOMES,
    FINAL,
    STATUS_LABELS,
    MoveRequest,
)
from crm.referrals.matching import Match
from crm.referrals.matching_filters import FILTER_LABELS
from crm.referrals.models import Referral
from crm.referrals.presenting import MAX_OPTIONS, OptionChoice, present_options
from crm.referrals.services import match_lead
from crm.requestctx import current_actor

SHOWN_PER_REASON = 50
SHOWN_ELIGIBLE = 30


def _flash_error(exc: DomainError) -> None:
    if exc.kind == ErrorKind.NOT_FOUND:
        abort(404)
    details = "; ".join(m for ms in exc.field_errors.values() for m in ms)
    flash(
        exc.message + (f" ({details})" if details and details not in exc.message else ""), "error"
    )


def excluded_by_reason(
    excluded: list[Match], shown: int = SHOWN_PER_REASON
) -> list[tuple[str, list[Match], int]]:
    """Excluded clinics grouped by the first filter they failed, biggest group first: each
    group's reason, its first ``shown`` clinics and how many it has.

    Only the shown ones go to the template: a rendered template's context lives in a reference
    cycle, and thousands of results held by it waited for the cyclic garbage collector (the
    match page's p95 was twice its median at 5,000 locations).
    """
    groups: dict[str, list[Match]] = defaultdict(list)
    for match in excluded:
        first = next(f for f in match.filters if not f.passed)
        groups[first.name].append(match)
    ordered = sorted(groups.items(), key=lambda item: (-len(item[1]), item[0]))
    return [(reason, matches[:shown], len(matches)) for reason, matches in ordered]


class MatchView(SecureBaseView):
    """``/admin/match/<lead id>/``: the ranked network for a lead, and presenting options."""

    permission = Permission.WORK_LEADS

    def __init__(self) -> None:
        super().__init__(name="Match", endpoint="match", url="/admin/match")

    def is_visible(self) -> bool:
        return False  # reached from the lead page

    @expose("/")
    def index(self) -> Any:
        return redirect(url_for("queue.index"))

    @expose("/<int:lead_id>/")
    def lead(self, lead_id: int) -> Any:
        if db.session.get(Lead, lead_id) is None:
            abort(404)
        with unit_of_work():
            record_audit_event(
                current_actor(), "view", object_type="leads", object_id=lead_id, detail="match"
            )
        try:
            outcome = match_lead(lead_id)
        except DomainError as exc:
            _flash_error(exc)
            return redirect(url_for("lead.details", lead_id=lead_id))
        return self.render(
            "referrals/match.html",
            lead=outcome.lead,
            eligible=outcome.eligible[:SHOWN_ELIGIBLE],
            eligible_count=len(outcome.eligible),
            excluded=excluded_by_reason(outcome.excluded),
            excluded_count=len(outcome.excluded),
            filter_labels=FILTER_LABELS,
            max_options=MAX_OPTIONS,
            wording=wording,
            vocab=vocabulary,
        )

    @expose("/<int:lead_id>/present", methods=("POST",))
    def present(self, lead_id: int) -> Any:
        form = request.form
        choices = []
        for raw in form.getlist("location_id"):
            if not raw.isdigit():
                abort(400)
            choices.append(
                OptionChoice(
                    int(raw),
                    consent_to_share=form.get(f"consent_{raw}") == "yes",
                    share_health_details=form.get(f"health_{raw}") == "yes",
                )
            )
        try:
            with unit_of_work():
                present_options(
                    lead_id,
                    choices,
                    disclosure_given=form.get("disclosure_given") == "yes",
                    channel=form.get("channel", ""),
                    actor=current_actor(),
                    note=form.get("note"),
                )
        except DomainError as exc:
            _flash_error(exc)
            return redirect(url_for(".lead", lead_id=lead_id))
        flash(f"{len(choices)} option(s) presented and recorded.", "success")
        return redirect(url_for("lead.details", lead_id=lead_id) + "#referrals")


def _date(value: str | None) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise DomainError("Enter the date as a calendar date.") from None


class ReferralView(SecureBaseView):
    """``/admin/referrals/``: referrals in progress, each referral's page and its moves."""

    permission = Permission.WORK_LEADS

    def __init__(self) -> None:
        super().__init__(name="Referrals", endpoint="referrals", url="/admin/referrals")

    @expose("/")
    def index(self) -> Any:
        status = request.args.get("status", "open")
        query = select(Referral).order_by(Referral.status_changed_at.desc()).limit(200)
        if status == "open":
            query = query.where(Referral.status.not_in([s.value for s in FINAL]))
        elif status in {s.value for s in STATUS_LABELS}:
            query = query.where(Referral.status == status)
        referrals = db.session.scalars(query).all()
        names = queries.clinic_names({r.location_id for r in referrals})
        leads = {
            lead.id: lead
            for lead in db.session.scalars(
                select(Lead).where(Lead.id.in_({r.lead_id for r in referrals}))
            )
        }
        with unit_of_work():
            record_audit_event(
                current_actor(),
                "view",
                object_type="referrals",
                detail=f"referrals, {len(referrals)} rows",
            )
            # Rendered before the commit, which would expire the rows and reload each one.
            return self.render(
                "referrals/index.html",
                referrals=referrals,
                names=names,
                leads=leads,
                status=status,
                labels=STATUS_LABELS,
            )

    @expose("/<int:referral_id>/")
    def details(self, referral_id: int) -> Any:
        referral = db.session.get(Referral, referral_id)
        if referral is None:
            abort(404)
        with unit_of_work():
            record_audit_event(
                current_actor(), "view", object_type="referrals", object_id=referral_id
            )
        referral = db.session.get(Referral, referral_id)
        if referral is None:
            abort(404)
        return self.render(
            "referrals/referral.html",
            referral=referral,
            lead=db.session.get(Lead, referral.lead_id),
            clinic=queries.clinic_names({referral.location_id}).get(
                referral.location_id, ("a clinic", False)
            ),
            events=referral.events,
            names=names_of({e.actor_id for e in referral.events}),
            next_statuses=queries.next_statuses(referral),
            labels=STATUS_LABELS,
            outcomes=DISCHARGE_OUTCOMES,
            decline_reasons=DECLINE_REASONS,
            fees=referral_fee_panel(referral),
        )

    @expose("/refer/<int:option_id>", methods=("POST",))
    def refer(self, option_id: int) -> Any:
        lead_id = request.form.get("lead_id", type=int)
        try:
            with unit_of_work():
                referral = referring.refer(option_id, current_actor())
                referral_id = referral.id
        except DomainError as exc:
            _flash_error(exc)
            if lead_id:
                return redirect(url_for("lead.details", lead_id=lead_id) + "#referrals")
            return redirect(url_for(".index"))
        flash("Referral sent: the summary is on its way to the clinic.", "success")
        return redirect(url_for(".details", referral_id=referral_id))

    @expose("/<int:referral_id>/move", methods=("POST",))
    def move(self, referral_id: int) -> Any:
        form = request.form
        try:
            move = MoveRequest(
                to_status=form.get("status", ""),
                reason=form.get("reason"),
                on_date=_date(form.get("on_date")),
                outcome=form.get("outcome") or None,
                decline_code=form.get("decline_code") or None,
            )
            with unit_of_work():
                referring.move_referral(referral_id, move, current_actor())
        except DomainError as exc:
            _flash_error(exc)
        else:
            flash("Referral updated.", "success")
        return redirect(url_for(".details", referral_id=referral_id))
