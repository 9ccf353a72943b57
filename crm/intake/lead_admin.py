"""The lead page: the person, consent, the assessment and one timeline, with every action."""

from __future__ import annotations

from datetime import date, datetime, time
from typing import Any

from flask import abort, flash, redirect, request, url_for
from flask_admin import expose
from flask_login import current_user
from sqlalchemy import select

from crm import clock
from crm.admin.secure import SecureBaseView
from crm.auth.models import User
from crm.auth.permissions import Permission, has_permission
from crm.database import unit_of_work
from crm.errors import DomainError, ErrorKind
from crm.extensions import db
from crm.intake import pipeline, queries, vocabulary
from crm.intake.assessment import CHOICES, FLAGS, MULTI, TEXTS
from crm.intake.models import Assessment, CallbackRequest, Lead
from crm.intake.stages import CLOSE_REASON_LABELS, PIPELINE, Stage
from crm.oncall import reminders
from crm.oncall.models import Reminder
from crm.privacy.services import record_audit_event
from crm.referrals import queries as referral_queries
from crm.requestctx import current_actor


def _parse_local(value: str | None) -> datetime | None:
    """A ``datetime-local`` input, read as Europe/London wall-clock time."""
    if not value:
        return None
    try:
        naive = datetime.fromisoformat(value)
    except ValueError:
        raise DomainError(
            "Enter the call's start as a date and time.",
            field_errors={"started_at": ["Not a date and time."]},
        ) from None
    if naive.tzinfo is not None:
        return naive
    return naive.replace(tzinfo=clock.LONDON)


class LeadView(SecureBaseView):
    """``/admin/leads/<id>/``: opening it is an audited read of a client record."""

    permission = Permission.WORK_LEADS

    def __init__(self) -> None:
        super().__init__(name="Lead", endpoint="lead", url="/admin/leads")

    def is_visible(self) -> bool:
        return False  # reached from the queue and search, not the menu

    def _lead(self, lead_id: int) -> Lead:
        lead = db.session.get(Lead, lead_id)
        if lead is None:
            abort(404)
        return lead

    @expose("/")
    def index(self) -> Any:
        return redirect(url_for("queue.index"))

    @expose("/<int:lead_id>/")
    def details(self, lead_id: int) -> Any:
        lead = self._lead(lead_id)
        with unit_of_work():
            record_audit_event(current_actor(), "view", object_type="leads", object_id=lead_id)
        lead = self._lead(lead_id)
        assessment = db.session.scalar(select(Assessment).where(Assessment.lead_id == lead_id))
        staff = db.session.scalars(
            select(User).where(User.active.is_(True), User.role != "admin").order_by(User.name)
        ).all()
        return self.render(
            "intake/lead.html",
            lead=lead,
            assessment=assessment,
            timeline=sorted(
                [*queries.timeline(lead_id), *referral_queries.timeline_entries(lead_id)],
                key=lambda e: e.at,
                reverse=True,
            ),
            options=referral_queries.latest_options(lead_id),
            referrals=referral_queries.lead_referrals(lead_id),
            consents=queries.consents(lead_id),
            disclosures=queries.disclosures(lead_id),
            duplicates=queries.possible_duplicates(lead),
            staff=staff,
            owner=db.session.get(User, lead.owner_id) if lead.owner_id else None,
            pipeline=PIPELINE,
            close_reasons=CLOSE_REASON_LABELS,
            vocab=vocabulary,
            can_reassign=has_permission(current_user.role, Permission.REASSIGN_LEADS),
            reminders=db.session.scalars(
                select(Reminder)
                .where(Reminder.lead_id == lead_id)
                .order_by(Reminder.due_at.desc())
                .limit(20)
            ).all(),
            now=clock.now(),
        )

    def _act(self, lead_id: int, action: Any, success: str) -> Any:
        try:
            with unit_of_work():
                action()
        except DomainError as exc:
            if exc.kind == ErrorKind.NOT_FOUND:
                abort(404)
            details = "; ".join(m for ms in exc.field_errors.values() for m in ms)
            flash(exc.message + (f" ({details})" if details else ""), "error")
        else:
            flash(success, "success")
        return redirect(url_for(".details", lead_id=lead_id))

    @expose("/<int:lead_id>/call", methods=("POST",))
    def log_call(self, lead_id: int) -> Any:
        f = request.form

        def act() -> None:
            pipeline.log_call(
                lead_id,
                current_actor(),
                direction=f.get("direction", ""),
                outcome=f.get("outcome", ""),
                started_at=_parse_local(f.get("started_at")),
                duration_seconds=_minutes_to_seconds(f.get("duration_minutes")),
                notes=f.get("notes"),
            )

        return self._act(lead_id, act, "Call logged.")

    @expose("/<int:lead_id>/stage", methods=("POST",))
    def change_stage(self, lead_id: int) -> Any:
        f = request.form
        return self._act(
            lead_id,
            lambda: pipeline.change_stage(
                lead_id,
                f.get("stage", ""),
                current_actor(),
                reason=f.get("reason"),
                close_reason=f.get("close_reason"),
                note=f.get("note"),
            ),
            "Stage changed.",
        )

    @expose("/<int:lead_id>/note", methods=("POST",))
    def add_note(self, lead_id: int) -> Any:
        return self._act(
            lead_id,
            lambda: pipeline.add_note(lead_id, request.form.get("body", ""), current_actor()),
            "Note added.",
        )

    @expose("/<int:lead_id>/reassign", methods=("POST",))
    def reassign(self, lead_id: int) -> Any:
        if not has_permission(current_user.role, Permission.REASSIGN_LEADS):
            abort(403)
        raw = request.form.get("owner_id", "")
        owner_id = int(raw) if raw.isdigit() else None
        return self._act(
            lead_id,
            lambda: pipeline.reassign(
                lead_id, owner_id, current_actor(), request.form.get("reason")
            ),
            "Lead reassigned.",
        )

    @expose("/<int:lead_id>/follow-up", methods=("POST",))
    def follow_up(self, lead_id: int) -> Any:
        """Staff's "call back Tuesday at 10:00" (UK time): a follow_up reminder in UTC."""
        f = request.form
        try:
            day = date.fromisoformat(f.get("day", ""))
            at = time.fromisoformat(f.get("time", ""))
        except ValueError:
            flash("Choose the day and time for the follow-up.", "error")
            return redirect(url_for(".details", lead_id=lead_id))
        self._lead(lead_id)
        return self._act(
            lead_id,
            lambda: reminders.schedule_follow_up(lead_id, day, at, f.get("note"), current_actor()),
            f"Follow-up set for {day:%a %d %b} at {at:%H:%M} (UK time).",
        )

    @expose("/<int:lead_id>/merge", methods=("POST",))
    def merge(self, lead_id: int) -> Any:
        raw = request.form.get("duplicate_id", "")
        if not raw.isdigit():
            flash("Choose the duplicate lead to merge in.", "error")
            return redirect(url_for(".details", lead_id=lead_id))
        return self._act(
            lead_id,
            lambda: pipeline.merge_leads(int(raw), lead_id, current_actor()),
            "Leads merged; the duplicate is closed.",
        )

    @expose("/<int:lead_id>/assessment", methods=("GET", "POST"))
    def assessment(self, lead_id: int) -> Any:
        lead = self._lead(lead_id)
        row = db.session.scalar(select(Assessment).where(Assessment.lead_id == lead_id))
        answers: dict[str, Any] = dict(row.answers) if row else _from_requests(lead_id)
        errors: dict[str, list[str]] = {}
        if request.method == "POST":
            answers = _form_answers()
            complete = request.form.get("complete") == "1"
            try:
                with unit_of_work():
                    saved = pipeline.save_assessment(
                        lead_id, answers, current_actor(), complete=complete
                    )
                    danger = saved.immediate_danger
            except DomainError as exc:
                flash(exc.message, "error")
                errors = exc.field_errors
            else:
                if danger:
                    flash(
                        "Immediate danger recorded: managers have been alerted. Follow the "
                        "emergency guidance now.",
                        "error",
                    )
                flash(
                    "Assessment completed." if complete else "Assessment saved as a draft.",
                    "success",
                )
                return redirect(url_for(".assessment" if danger else ".details", lead_id=lead_id))
        with unit_of_work():
            record_audit_event(
                current_actor(), "view", object_type="assessments", object_id=lead_id
            )
        return self.render(
            "intake/assessment.html",
            lead=self._lead(lead.id),
            answers=answers,
            errors=errors,
            vocab=vocabulary,
            choices=CHOICES,
            multi=MULTI,
            flags=FLAGS,
            texts=TEXTS,
            row=row,
            stage_new=Stage.NEW.value,
        )


def _from_requests(lead_id: int) -> dict[str, Any]:
    """A new assessment starts from the substances the person already told us about."""
    given: list[str] = []
    for substances in db.session.scalars(
        select(CallbackRequest.substances).where(CallbackRequest.lead_id == lead_id)
    ):
        given.extend(s for s in substances or [] if s not in given)
    return {"substances": given, "primary_substance": given[0] if len(given) == 1 else None}


def _minutes_to_seconds(raw: str | None) -> int | str:
    if not raw:
        return 0
    try:
        return round(float(raw) * 60)
    except (ValueError, OverflowError):
        return raw  # the service reports it as a bad duration ("inf", "nan", words)


def _form_answers() -> dict[str, Any]:
    form = request.form
    answers: dict[str, Any] = {}
    for name in (*CHOICES, *TEXTS, "age", "max_travel_miles", "home_postcode"):
        answers[name] = form.get(name)
    for name in MULTI:
        answers[name] = form.getlist(name)
    for name in FLAGS:
        answers[name] = form.get(name) == "y"
    return answers
