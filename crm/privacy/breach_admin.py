"""The breach register (admins only): every incident with its 72-hour ICO countdown, a form
for a new one, and an incident page that walks it through assessment, both notification
decisions, the notifications themselves, actions and closing."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import abort, flash, redirect, request, url_for
from flask_admin import expose
from sqlalchemy import select

from crm import clock
from crm.admin.secure import SecureBaseView
from crm.auth.models import User
from crm.auth.permissions import Permission
from crm.database import unit_of_work
from crm.errors import DomainError, ErrorKind
from crm.extensions import db
from crm.privacy import breach_forms as f
from crm.privacy import breaches
from crm.privacy.models import Breach
from crm.requestctx import current_actor


def _forms_for(breach: Breach) -> dict[str, f.StepForm]:
    """Every step's form, filled with what the incident already holds."""
    return {
        "assessment": f.AssessmentForm(
            formdata=None,
            risk_level=breach.risk_level,
            risk_assessment=breach.risk_assessment,
            data_involved=breach.data_involved,
            people_affected=breach.people_affected,
            special_category=breach.special_category,
        ),
        "ico_decision": f.IcoDecisionForm(
            formdata=None,
            ico_notify=f.decision_value(breach.notify_ico),
            ico_reason=breach.ico_reason or "",
        ),
        "ico_notified": f.IcoNotifiedForm(
            formdata=None,
            ico_notified_at=f.as_local(breach.ico_notified_at),
            ico_reference=breach.ico_reference or "",
        ),
        "people_decision": f.PeopleDecisionForm(
            formdata=None,
            people_notify=f.decision_value(breach.notify_people),
            people_reason=breach.people_reason or "",
        ),
        "people_notified": f.PeopleNotifiedForm(
            formdata=None, people_notified_at=f.as_local(breach.people_notified_at)
        ),
        "action": f.ActionForm(formdata=None),
        "close": f.CloseForm(formdata=None),
    }


def _names(ids: set[int | None]) -> dict[int, str]:
    wanted = {i for i in ids if i}
    if not wanted:
        return {}
    return dict(db.session.execute(select(User.id, User.name).where(User.id.in_(wanted))).all())


class BreachRegisterView(SecureBaseView):
    """``/admin/breaches/``: the register of personal data breaches."""

    permission = Permission.MANAGE_DATA_PROTECTION

    def __init__(self) -> None:
        super().__init__(
            name="Breach register",
            endpoint="breaches",
            url="/admin/breaches",
            category="Data protection",
        )

    @expose("/")
    def index(self) -> Any:
        rows = breaches.list_breaches()
        return self.render(
            "privacy/breaches.html",
            rows=rows,
            open_count=sum(1 for r in rows if r.breach.status == "open"),
        )

    @expose("/new", methods=("GET", "POST"))
    def new(self) -> Any:
        form = f.IncidentForm()
        if request.method == "GET":
            form.discovered_at.data = f.as_local(clock.now().replace(second=0, microsecond=0))
        elif form.validate_on_submit():
            try:
                with unit_of_work():
                    breach_id = breaches.record_breach(_incident(form), current_actor()).id
            except DomainError as exc:
                form.show(exc)
                flash(exc.message, "error")
            else:
                flash(
                    "Incident recorded. The ICO must hear within 72 hours of discovery.", "success"
                )
                return redirect(url_for(".incident", breach_id=breach_id))
        else:
            flash("The incident was not saved: check the highlighted fields.", "error")
        return self.render("privacy/breach_form.html", form=form)

    @expose("/<int:breach_id>/")
    def incident(self, breach_id: int) -> Any:
        return self._page(self._breach(breach_id))

    @expose("/<int:breach_id>/assessment", methods=("POST",))
    def assessment(self, breach_id: int) -> Any:
        form = f.AssessmentForm()
        return self._step(
            breach_id,
            "assessment",
            form,
            lambda: breaches.update_assessment(
                breach_id,
                breaches.Assessment(
                    risk_level=form.risk_level.data or "",
                    risk_assessment=form.risk_assessment.data or "",
                    data_involved=form.data_involved.data or "",
                    people_affected=form.people_affected.data,
                    special_category=bool(form.special_category.data),
                ),
                current_actor(),
            ),
            "Risk assessment saved.",
        )

    @expose("/<int:breach_id>/ico-decision", methods=("POST",))
    def ico_decision(self, breach_id: int) -> Any:
        form = f.IcoDecisionForm()
        return self._step(
            breach_id,
            "ico_decision",
            form,
            lambda: breaches.decide_ico(
                breach_id,
                f.decision(form.ico_notify.data),
                form.ico_reason.data or "",
                current_actor(),
            ),
            "Decision about notifying the ICO saved.",
        )

    @expose("/<int:breach_id>/ico-notified", methods=("POST",))
    def ico_notified(self, breach_id: int) -> Any:
        form = f.IcoNotifiedForm()
        return self._step(
            breach_id,
            "ico_notified",
            form,
            lambda: breaches.record_ico_notified(
                breach_id,
                f.as_utc(form.ico_notified_at.data),
                form.ico_reference.data or "",
                current_actor(),
            ),
            "ICO notification recorded: the countdown has stopped.",
        )

    @expose("/<int:breach_id>/people-decision", methods=("POST",))
    def people_decision(self, breach_id: int) -> Any:
        form = f.PeopleDecisionForm()
        return self._step(
            breach_id,
            "people_decision",
            form,
            lambda: breaches.decide_people(
                breach_id,
                f.decision(form.people_notify.data),
                form.people_reason.data or "",
                current_actor(),
            ),
            "Decision about notifying the people affected saved.",
        )

    @expose("/<int:breach_id>/people-notified", methods=("POST",))
    def people_notified(self, breach_id: int) -> Any:
        form = f.PeopleNotifiedForm()
        return self._step(
            breach_id,
            "people_notified",
            form,
            lambda: breaches.record_people_notified(
                breach_id, f.as_utc(form.people_notified_at.data), current_actor()
            ),
            "Notification of the people affected recorded.",
        )

    @expose("/<int:breach_id>/actions", methods=("POST",))
    def action(self, breach_id: int) -> Any:
        form = f.ActionForm()
        return self._step(
            breach_id,
            "action",
            form,
            lambda: breaches.add_action(breach_id, form.action_text.data or "", current_actor()),
            "Action added.",
        )

    @expose("/<int:breach_id>/close", methods=("POST",))
    def close(self, breach_id: int) -> Any:
        form = f.CloseForm()
        return self._step(
            breach_id,
            "close",
            form,
            lambda: breaches.close_breach(breach_id, current_actor()),
            "Incident closed.",
        )

    # --- helpers -----------------------------------------------------------------------------

    @staticmethod
    def _breach(breach_id: int) -> Breach:
        try:
            return breaches.get_breach(breach_id)
        except DomainError:
            abort(404)

    def _step(
        self, breach_id: int, name: str, form: f.StepForm, action: Callable[[], Breach], done: str
    ) -> Any:
        """Run one step in a transaction; refused, show the page again with the problems."""
        self._breach(breach_id)
        if form.validate_on_submit():
            try:
                with unit_of_work():
                    action()
            except DomainError as exc:
                if exc.kind is ErrorKind.NOT_FOUND:
                    abort(404)
                form.show(exc)
                flash(exc.message, "error")
            else:
                flash(done, "success")
                return redirect(url_for(".incident", breach_id=breach_id))
        else:
            flash("Nothing was saved: check the highlighted fields.", "error")
        return self._page(self._breach(breach_id), {name: form})

    def _page(self, breach: Breach, bound: dict[str, f.StepForm] | None = None) -> Any:
        forms = {**_forms_for(breach), **(bound or {})}
        return self.render(
            "privacy/breach.html",
            breach=breach,
            row=breaches.register_row(breach),
            forms=forms,
            names=_names({breach.created_by_id, breach.updated_by_id}),
        )


def _incident(form: f.IncidentForm) -> breaches.IncidentDetails:
    return breaches.IncidentDetails(
        title=form.title.data or "",
        discovered_at=f.as_utc(form.discovered_at.data),
        occurred_at=f.as_utc(form.occurred_at.data),
        description=form.description.data or "",
        data_involved=form.data_involved.data or "",
        people_affected=form.people_affected.data,
        special_category=bool(form.special_category.data),
    )
