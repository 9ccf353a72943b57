"""Reports (managers and admins): one page per report, the drill-down behind each figure, and
CSV/XLSX exports of its tables (audited). Admissions staff get 403."""

from __future__ import annotations

import json
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from flask import Response, abort, current_app, redirect, request, url_for
from flask_admin import expose
from flask_login import current_user
from sqlalchemy import select

from crm import clock
from crm.admin.secure import SecureBaseView
from crm.auth.mfa_views import fresh_second_factor
from crm.auth.models import User
from crm.auth.permissions import Permission, has_permission
from crm.database import unit_of_work
from crm.extensions import db
from crm.fees import exports
from crm.intake.models import Lead
from crm.intake.stages import STAGE_LABELS
from crm.intake.vocabulary import SOURCES
from crm.oncall.wallclock import LONDON, local_date
from crm.privacy.services import record_audit_event
from crm.providers.models import Provider
from crm.reports import fees, intake, oncall, referrals, staff, summary
from crm.reports.leads import Filters
from crm.reports.model import Chart, Report
from crm.reports.periods import PRESETS, Period, PeriodError, read_period
from crm.requestctx import current_actor

CATEGORY = "Reports"
DRILL_LIMIT = 5000


class ReportInputError(ValueError):
    pass


@dataclass(frozen=True)
class Request:
    preset: str
    period: Period
    filters: Filters

    def args(self) -> dict[str, str]:
        out = {"preset": self.preset}
        if self.preset == "custom":
            out |= {"start": self.period.start.isoformat(), "end": self.period.end.isoformat()}
        if self.filters.source:
            out["source"] = self.filters.source
        if self.filters.owner_id:
            out["staff"] = str(self.filters.owner_id)
        if self.filters.provider_id:
            out["provider"] = str(self.filters.provider_id)
        return out


def report_nav() -> list[tuple[str, str]]:
    """The reports the signed-in person may open, in menu order."""
    return [
        (view.report_key, view.title)
        for view in REPORT_VIEWS
        if has_permission(current_user.role, view.permission)
    ]


def _number(value: Any) -> float:
    """Decimals (money) in chart data, as JSON numbers."""
    if isinstance(value, Decimal):
        return float(value)
    raise TypeError(f"{type(value).__name__} in chart data")


def _staff() -> list[tuple[int, str]]:
    return [(u.id, u.name) for u in db.session.scalars(select(User).order_by(User.name))]


def _providers() -> list[tuple[int, str]]:
    return [
        (p.id, p.name)
        for p in db.session.execute(select(Provider.id, Provider.name).order_by(Provider.name))
    ]


def read_request(filters_allowed: tuple[str, ...]) -> Request:
    args = request.args
    try:
        preset, period = read_period(
            args.get("preset"), args.get("start"), args.get("end"), local_date(clock.now())
        )
    except PeriodError as exc:
        raise ReportInputError(str(exc)) from None
    source = args.get("source") or None
    if source is not None and "source" not in filters_allowed:
        raise ReportInputError("This report has no source filter.")
    if source is not None and source not in SOURCES:
        raise ReportInputError(f"Unknown source {source!r}: choose one of {', '.join(SOURCES)}.")
    staff = args.get("staff") or None
    owner_id = None
    if staff is not None and "staff" not in filters_allowed:
        raise ReportInputError("This report has no staff filter.")
    if staff is not None:
        if not staff.isdigit() or db.session.get(User, int(staff)) is None:
            raise ReportInputError(f"Unknown staff member {staff!r}.")
        owner_id = int(staff)
    provider = args.get("provider") or None
    provider_id = None
    if provider is not None and "provider" not in filters_allowed:
        raise ReportInputError("This report has no provider filter.")
    if provider is not None:
        if not provider.isdigit() or db.session.get(Provider, int(provider)) is None:
            raise ReportInputError(f"Unknown provider {provider!r}.")
        provider_id = int(provider)
    filters = Filters(source=source, owner_id=owner_id, provider_id=provider_id)
    return Request(preset, period, filters)


class _ReportView(SecureBaseView):
    permission = Permission.VIEW_REPORTS
    report_key = ""
    title = ""
    filters_allowed: tuple[str, ...] = ()
    # A report whose page lists leads (by reference) makes each opening an audited read.
    lists_leads = False

    def __init__(self) -> None:
        super().__init__(
            name=self.title,
            endpoint=f"report_{self.report_key}",
            url=f"/admin/reports/{self.report_key}",
            category=CATEGORY,
        )

    def render(self, template: str, **kwargs: Any) -> Any:
        return super().render(template, report_nav=report_nav, chart_json=self.chart_json, **kwargs)

    def chart_json(self, chart: Chart, req: Request) -> str:
        """What reports.js draws: labels, series and, per segment, the drill-down's address."""
        return json.dumps(
            {
                "kind": chart.kind,
                "labels": chart.labels,
                "series": [
                    {
                        "label": s.label,
                        "values": s.values,
                        "links": [self.drill_url(req, k) if k else None for k in s.drills]
                        if s.drills
                        else None,
                    }
                    for s in chart.series
                ],
            },
            default=_number,
        )

    # What each report supplies.
    def build(self, req: Request) -> Report:  # pragma: no cover - abstract
        raise NotImplementedError

    def sets(self, req: Request) -> dict[str, list[int]]:  # pragma: no cover - abstract
        raise NotImplementedError

    def _target(self) -> int:
        return int(current_app.config["CRM_SETTINGS"].callback_target_minutes)

    def _form(self, req: Request | None, error: str | None) -> dict[str, Any]:
        return {
            "presets": PRESETS,
            "sources": SOURCES,
            "staff": _staff() if "staff" in self.filters_allowed else [],
            "providers": _providers() if "provider" in self.filters_allowed else [],
            "filters_allowed": self.filters_allowed,
            "req": req,
            "error": error,
            "args": req.args() if req else {},
        }

    def _refused(self, req: Request | None, message: str) -> Any:
        """The report's page with the message and no figures: 400, nothing else done."""
        return self.render("reports/report.html", report=None, **self._form(req, message)), 400

    @expose("/")
    def index(self) -> Any:
        try:
            req = read_request(self.filters_allowed)
        except ReportInputError as exc:
            return self._refused(None, str(exc))
        report = self.build(req)
        with unit_of_work():
            if self.lists_leads:
                record_audit_event(
                    current_actor(),
                    "view",
                    object_type="reports",
                    object_id=self.report_key,
                    detail=f"report page; {req.period.start.isoformat()}.."
                    f"{req.period.end.isoformat()}",
                )
            # Rendered before the commit, which would expire the rows and reload each one.
            return self.render("reports/report.html", report=report, **self._form(req, None))

    @expose("/refresh", methods=("POST",))
    def refresh(self) -> Any:
        """Bring the report summaries up to date now, then show the report again."""
        with unit_of_work():
            outcome = summary.refresh()
            record_audit_event(
                current_actor(),
                "report_refresh",
                object_type="reports",
                object_id=self.report_key,
                detail=f"{outcome.days} day(s) of leads, {outcome.fact_days} of report facts "
                "rebuilt" + (" (full)" if outcome.full else ""),
            )
        kept = ("preset", "start", "end", "source", "staff", "provider")
        args: dict[str, Any] = {k: v for k, v in request.args.items() if k in kept}
        return redirect(url_for(".index", **args))

    @expose("/leads")
    def leads(self) -> Any:
        try:
            req = read_request(self.filters_allowed)
        except ReportInputError as exc:
            return self._refused(None, str(exc))
        key = request.args.get("set", "")
        if key not in self.build(req).drill_keys():
            return self._refused(req, f"Unknown figure {key!r} for this report and period.")
        sets = self.sets(req)
        ids = sets.get(key, [])
        shown = ids[:DRILL_LIMIT]
        found = {
            row.id: row
            for row in db.session.execute(
                select(Lead.id, Lead.reference, Lead.stage, Lead.created_at).where(
                    Lead.id.in_(set(shown))
                )
            )
        }
        # One row per id in the set: a referral figure lists a person once per referral.
        leads = sorted((found[i] for i in shown if i in found), key=lambda r: (r.created_at, r.id))
        with unit_of_work():
            record_audit_event(
                current_actor(),
                "report_drill_down",
                object_type="reports",
                object_id=self.report_key,
                detail=f"{key}; {req.period.start.isoformat()}..{req.period.end.isoformat()}; "
                f"{len(ids)} lead(s)",
            )
        return self.render(
            "reports/leads.html",
            key=key,
            count=len(ids),
            leads=leads,
            limit=DRILL_LIMIT,
            stage_labels=STAGE_LABELS,
            london=LONDON,
            **self._form(req, None),
        )

    @expose("/export.<fmt>")
    @fresh_second_factor
    def export(self, fmt: str) -> Any:
        if fmt not in ("csv", "xlsx"):
            abort(404)
        try:
            req = read_request(self.filters_allowed)
        except ReportInputError as exc:
            return self._refused(None, str(exc))
        report = self.build(req)
        body, mimetype = export_report(report, req, fmt)
        with unit_of_work():
            record_audit_event(
                current_actor(),
                "export",
                object_type="reports",
                object_id=self.report_key,
                detail=f"{fmt}; {req.period.start.isoformat()}..{req.period.end.isoformat()}; "
                + ", ".join(f"{k}={v}" for k, v in req.args().items()),
            )
        name = f"{self.report_key}-{req.period.start.isoformat()}-{req.period.end.isoformat()}"
        return Response(
            body,
            mimetype=mimetype,
            headers={"Content-Disposition": f'attachment; filename="{name}.{fmt}"'},
        )

    def drill_url(self, req: Request, key: str) -> str:
        args: dict[str, Any] = {"set": key, **req.args()}
        return url_for(".leads", **args)


def _cell(value: Any) -> exports.Cell:
    if isinstance(value, float):
        return round(value, 4)
    return value  # type: ignore[no-any-return]


def export_report(report: Report, req: Request, fmt: str) -> tuple[bytes, str]:
    """Every table of the report, one after another (CSV) or one sheet each (XLSX)."""
    title = [
        f"{report.title} report",
        f"Period: {report.period.start.isoformat()} to {report.period.end.isoformat()} (UK days)",
        f"Previous period: {report.previous.start.isoformat()} to "
        f"{report.previous.end.isoformat()}",
        "Filters: "
        + (", ".join(f"{k}={v}" for k, v in req.args().items() if k != "preset") or "none"),
        f"Figures as of {report.as_of.astimezone(LONDON):%Y-%m-%d %H:%M} UK time",
    ]
    headline = exports_table_of_figures(report)
    tables = [("Figures", ["Figure", "This period", "Previous period"], headline)] + [
        (t.title, t.columns, [[_cell(v) for v in row] for row in t.rows]) for t in report.tables
    ]
    if fmt == "csv":
        parts = []
        for name, header, rows in tables:
            parts.append(exports.to_csv([*title, name], header, rows))
        return b"".join(parts), "text/csv"
    return exports.to_xlsx_sheets(title, tables), (
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    )


def exports_table_of_figures(report: Report) -> list[list[exports.Cell]]:
    return [[f.label, _cell(f.value), _cell(f.previous)] for f in report.figures]


class IntakeReportView(_ReportView):
    report_key, title, filters_allowed = "intake", "Intake", ("source",)

    def build(self, req: Request) -> Report:
        return intake.intake_report(req.period, req.filters, self._target())

    def sets(self, req: Request) -> dict[str, list[int]]:
        return intake.intake_sets_for(req.period, req.filters, self._target())


class FunnelReportView(_ReportView):
    report_key, title, filters_allowed = "funnel", "Funnel", ("source",)

    def build(self, req: Request) -> Report:
        return intake.funnel_report(req.period, req.filters)

    def sets(self, req: Request) -> dict[str, list[int]]:
        return intake.funnel_sets_for(req.period, req.filters)


class SpeedReportView(_ReportView):
    report_key, title, filters_allowed = "speed", "Speed to lead", ("source",)
    lists_leads = True  # "The slowest 20", by lead reference

    def build(self, req: Request) -> Report:
        return intake.speed_report(req.period, req.filters, self._target())

    def sets(self, req: Request) -> dict[str, list[int]]:
        return intake.speed_sets_for(req.period, req.filters, self._target())


class ReferralsReportView(_ReportView):
    report_key, title = "referrals", "Referrals and providers"
    filters_allowed = ("source", "provider")

    def build(self, req: Request) -> Report:
        return referrals.referrals_report(req.period, req.filters)

    def sets(self, req: Request) -> dict[str, list[int]]:
        return referrals.referral_sets_for(req.period, req.filters)


class OnCallReportView(_ReportView):
    report_key, title, filters_allowed = "oncall", "On call", ("source", "staff")

    def build(self, req: Request) -> Report:
        return oncall.oncall_report(req.period, req.filters)

    def sets(self, req: Request) -> dict[str, list[int]]:
        return oncall.oncall_sets_for(req.period, req.filters)


class FeesReportView(_ReportView):
    """Fee figures: only for those with the fee permission (never admissions staff)."""

    permission = Permission.VIEW_FEES
    report_key, title, filters_allowed = "fees", "Fees", ()

    def build(self, req: Request) -> Report:
        return fees.fees_report(req.period, req.filters)

    def sets(self, req: Request) -> dict[str, list[int]]:
        return fees.fees_sets_for(req.period, req.filters)


class StaffReportView(_ReportView):
    report_key, title, filters_allowed = "staff", "Staff activity", ("source", "staff")

    def build(self, req: Request) -> Report:
        return staff.staff_report(req.period, req.filters)

    def sets(self, req: Request) -> dict[str, list[int]]:
        return staff.staff_sets_for(req.period, req.filters)


REPORT_VIEWS: tuple[type[_ReportView], ...] = (
    IntakeReportView,
    FunnelReportView,
    SpeedReportView,
    ReferralsReportView,
    OnCallReportView,
    FeesReportView,
    StaffReportView,
)
