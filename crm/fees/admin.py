"""The Fees menu: agreements, the ledger, invoices and credit notes, payments, aged debt.

Managers and admins only (Permission.VIEW_FEES to read, MANAGE_FEES to change): admissions
staff get 403 on every URL here and see no fee figure anywhere else either.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from flask import Response, abort, flash, redirect, request, url_for
from flask_admin import expose
from flask_login import current_user
from sqlalchemy import select

from crm.admin.secure import SecureBaseView
from crm.auth.mfa_views import fresh_second_factor
from crm.auth.permissions import Permission, has_permission
from crm.database import unit_of_work
from crm.errors import DomainError, ErrorKind
from crm.extensions import db
from crm.fees import (
    accruals,
    agreements,
    balances,
    credits,
    exports,
    forms,
    invoicing,
    payments,
    queries,
)
from crm.fees.arithmetic import format_tiers
from crm.fees.models import FeeAgreement, Invoice, Payment
from crm.fees.vocabulary import (
    AGE_BUCKET_LABELS,
    AGE_BUCKETS,
    BASES,
    CURRENCIES,
    DOCUMENT_KINDS,
    INVOICE_STATUSES,
    LEDGER_KINDS,
    PAYMENT_METHODS,
    VAT_TREATMENTS,
)
from crm.privacy.services import record_audit_event
from crm.providers.models import Provider, ProviderLocation
from crm.referrals.corrections import correct_dates
from crm.requestctx import current_actor

CATEGORY = "Fees"
VOCABULARY = {
    "bases": BASES,
    "currencies": CURRENCIES,
    "vat_treatments": VAT_TREATMENTS,
    "ledger_kinds": LEDGER_KINDS,
    "statuses": INVOICE_STATUSES,
    "document_kinds": DOCUMENT_KINDS,
    "methods": PAYMENT_METHODS,
    "buckets": AGE_BUCKETS,
    "bucket_labels": AGE_BUCKET_LABELS,
}


def _require_manage() -> None:
    if not has_permission(current_user.role, Permission.MANAGE_FEES):
        abort(403)


def _flash(exc: DomainError) -> None:
    if exc.kind == ErrorKind.NOT_FOUND:
        abort(404)
    flash(exc.message, "error")


def _providers() -> list[tuple[int, str]]:
    return [
        (p_id, name)
        for p_id, name in db.session.execute(
            select(Provider.id, Provider.name).order_by(Provider.name)
        )
    ]


class _FeesView(SecureBaseView):
    permission = Permission.VIEW_FEES

    def render(self, template: str, **kwargs: Any) -> Any:
        return super().render(template, v=VOCABULARY, **kwargs)


class FeeAgreementView(_FeesView):
    """``/admin/fees/agreements/``: every provider's agreement versions; add and edit them."""

    def __init__(self) -> None:
        super().__init__(
            name="Agreements",
            endpoint="fee_agreements",
            url="/admin/fees/agreements",
            category=CATEGORY,
        )

    @expose("/")
    def index(self) -> Any:
        rows = list(
            db.session.scalars(
                select(FeeAgreement).order_by(
                    FeeAgreement.provider_id, FeeAgreement.effective_from.desc()
                )
            )
        )
        names = queries.provider_names({a.provider_id for a in rows})
        return self.render("fees/agreements.html", agreements=rows, names=names)

    @expose("/new", methods=("GET", "POST"))
    def new(self) -> Any:
        form: dict[str, str] = (
            dict(request.form)
            if request.method == "POST"
            else {
                "provider_id": request.args.get("provider_id", ""),
                "currency": "GBP",
                "vat_treatment": "standard",
                "basis": "flat_per_admission",
                "payment_terms_days": "30",
                "trigger_nights": "0",
            }
        )
        if request.method == "POST":
            _require_manage()
            try:
                provider_id = forms.read_int(form.get("provider_id"), "Provider")
                if provider_id is None or db.session.get(Provider, provider_id) is None:
                    raise DomainError("Choose the provider the agreement is with.")
                details = forms.agreement_details(form)
                with unit_of_work():
                    agreement = agreements.create_agreement(provider_id, details, current_actor())
                    agreement_id = agreement.id
            except DomainError as exc:
                _flash(exc)
            else:
                flash("Agreement saved.", "success")
                return redirect(url_for(".edit", agreement_id=agreement_id))
        return self.render(
            "fees/agreement_form.html", form=form, agreement=None, providers=_providers()
        )

    @expose("/<int:agreement_id>/", methods=("GET", "POST"))
    def edit(self, agreement_id: int) -> Any:
        agreement = db.session.get(FeeAgreement, agreement_id)
        if agreement is None:
            abort(404)
        form = dict(request.form) if request.method == "POST" else _agreement_form(agreement)
        if request.method == "POST":
            _require_manage()
            try:
                details = forms.agreement_details(form)
                with unit_of_work():
                    agreements.update_agreement(agreement_id, details, current_actor())
            except DomainError as exc:
                _flash(exc)
            else:
                flash("Agreement saved.", "success")
                return redirect(url_for(".edit", agreement_id=agreement_id))
        return self.render(
            "fees/agreement_form.html",
            form=form,
            agreement=agreement,
            providers=_providers(),
            frozen=agreements.has_governed_fees(agreement_id),
        )


def _agreement_form(agreement: FeeAgreement) -> dict[str, str]:
    terms = agreements.terms_of(agreement)

    def text(value: Any) -> str:
        return "" if value is None else str(value)

    return {
        "provider_id": str(agreement.provider_id),
        "basis": agreement.basis,
        "amount": text(agreement.amount),
        "rate": text(agreement.rate),
        "cap": text(agreement.cap_amount),
        "currency": agreement.currency,
        "vat_treatment": agreement.vat_treatment,
        "trigger_nights": str(agreement.trigger_nights),
        "clawback_tiers": format_tiers(terms.clawback_tiers),
        "payment_terms_days": str(agreement.payment_terms_days),
        "effective_from": text(agreement.effective_from),
        "effective_to": text(agreement.effective_to),
        "billing_name": agreement.billing_name,
        "billing_address": agreement.billing_address,
        "accounts_email": agreement.accounts_email,
        "po_reference": agreement.po_reference or "",
    }


class LedgerView(_FeesView):
    """``/admin/fees/ledger/``: every entry, newest first, filtered; reversing a mistake."""

    def __init__(self) -> None:
        super().__init__(
            name="Ledger", endpoint="fee_ledger", url="/admin/fees/ledger", category=CATEGORY
        )

    @expose("/")
    def index(self) -> Any:
        try:
            filters = forms.ledger_filters(request.args)
        except DomainError as exc:
            flash(exc.message, "error")
            filters = queries.LedgerFilters()
        entries = queries.ledger_page(filters)
        numbers = queries.document_numbers(
            {e.invoice_id for e in entries if e.invoice_id}
            | {e.document_id for e in entries if e.document_id}
        )
        args = {k: v for k, v in request.args.items() if k != "before" and v}
        with unit_of_work():
            # Entries name clients by lead reference: an audited read.
            record_audit_event(
                current_actor(),
                "view",
                object_type="ledger_entries",
                detail=f"ledger, {len(entries)} rows",
            )
            # Rendered before the commit, which would expire the rows and reload each one.
            return self.render(
                "fees/ledger.html",
                entries=entries,
                numbers=numbers,
                names=queries.provider_names({e.provider_id for e in entries}),
                reversed=queries.reversed_ids({e.id for e in entries}),
                providers=_providers(),
                args=args,
                next_before=entries[-1].id if len(entries) == queries.LEDGER_PAGE else None,
            )

    @expose("/<int:entry_id>/reverse", methods=("POST",))
    def reverse(self, entry_id: int) -> Any:
        _require_manage()
        try:
            with unit_of_work():
                payments.reverse_entry(entry_id, request.form.get("reason"), current_actor())
        except DomainError as exc:
            _flash(exc)
        else:
            flash("Entry reversed: a reversal naming it was posted.", "success")
        return redirect(request.referrer or url_for(".index"))


class InvoiceView(_FeesView):
    """``/admin/fees/invoices/``: invoices and credit notes, each with its PDF and actions."""

    def __init__(self) -> None:
        super().__init__(
            name="Invoices",
            endpoint="fee_invoices",
            url="/admin/fees/invoices",
            category=CATEGORY,
        )

    @expose("/")
    def index(self) -> Any:
        status = request.args.get("status") or None
        kind = request.args.get("kind") or None
        if status is not None and status not in INVOICE_STATUSES:
            flash(f"Unknown status {status!r}.", "error")
            status = None
        if kind is not None and kind not in DOCUMENT_KINDS:
            flash(f"Unknown document kind {kind!r}.", "error")
            kind = None
        try:
            provider_id = forms.read_int(request.args.get("provider_id"), "Provider")
        except DomainError as exc:
            flash(exc.message, "error")
            provider_id = None
        docs = queries.documents(status=status, provider_id=provider_id, kind=kind)
        return self.render(
            "fees/invoices.html",
            documents=docs,
            money=balances.money_of({d.id for d in docs if d.kind == "invoice"}),
            names=queries.provider_names({d.provider_id for d in docs}),
            providers=_providers(),
            status=status,
            kind=kind,
            provider_id=provider_id,
            unbilled=invoicing.unbilled_count(invoicing.london_today()),
            today=invoicing.london_today(),
        )

    @expose("/<int:invoice_id>/")
    def details(self, invoice_id: int) -> Any:
        invoice = db.session.get(Invoice, invoice_id)
        if invoice is None:
            abort(404)
        with unit_of_work():
            # Its lines name clients by lead reference: an audited read.
            record_audit_event(
                current_actor(), "view", object_type="invoices", object_id=invoice_id
            )
        money = balances.money_of([invoice.id])[invoice.id]
        entries = queries.document_entries(invoice.id)
        credited = (
            db.session.get(Invoice, invoice.credits_invoice_id)
            if (invoice.credits_invoice_id)
            else None
        )
        return self.render(
            "fees/invoice.html",
            invoice=invoice,
            money=money,
            lines=invoicing.lines_of(invoice.id),
            entries=entries,
            reversed=queries.reversed_ids({e.id for e in entries}),
            notes=queries.credit_notes_for(invoice.id),
            credited=credited,
            provider=db.session.get(Provider, invoice.provider_id),
            credit=payments.credit_balance(invoice.provider_id, invoice.currency),
            age=queries.age_of(invoice, invoicing.london_today()),
            can_manage=has_permission(_role(), Permission.MANAGE_FEES),
        )

    @expose("/<int:invoice_id>/pdf")
    def pdf(self, invoice_id: int) -> Any:
        invoice = db.session.get(Invoice, invoice_id)
        if invoice is None or invoice.pdf is None or invoice.number is None:
            abort(404)
        with unit_of_work():
            record_audit_event(
                current_actor(),
                "download",
                object_type="invoices",
                object_id=invoice.id,
                detail=f"{invoice.number}.pdf",
            )
        return Response(
            invoice.pdf,
            mimetype="application/pdf",
            headers={
                "Content-Disposition": f'inline; filename="{invoice.number}.pdf"',
                "Cache-Control": "no-store",
            },
        )

    def _act(self, invoice_id: int, action: Any, done: str) -> Any:
        _require_manage()
        try:
            with unit_of_work():
                action()
        except DomainError as exc:
            _flash(exc)
        else:
            flash(done, "success")
        return redirect(url_for(".details", invoice_id=invoice_id))

    @expose("/<int:invoice_id>/issue", methods=("POST",))
    def issue(self, invoice_id: int) -> Any:
        return self._act(
            invoice_id,
            lambda: invoicing.issue_invoice(invoice_id, current_actor()),
            "Invoice issued and emailed to the provider's accounts contact.",
        )

    @expose("/<int:invoice_id>/void", methods=("POST",))
    def void(self, invoice_id: int) -> Any:
        return self._act(
            invoice_id,
            lambda: credits.void_invoice(invoice_id, request.form.get("reason"), current_actor()),
            "Invoice void; its fees go on the next invoice run.",
        )

    @expose("/<int:invoice_id>/write-off", methods=("POST",))
    def write_off(self, invoice_id: int) -> Any:
        return self._act(
            invoice_id,
            lambda: payments.write_off(invoice_id, request.form.get("reason"), current_actor()),
            "The rest of the invoice was written off.",
        )

    @expose("/<int:invoice_id>/apply-credit", methods=("POST",))
    def apply_credit(self, invoice_id: int) -> Any:
        return self._act(
            invoice_id,
            lambda: payments.apply_credit(invoice_id, current_actor()),
            "The provider's credit was used on this invoice.",
        )

    @expose("/run", methods=("GET", "POST"))
    def run(self) -> Any:
        today = invoicing.london_today()
        if request.method == "POST":
            _require_manage()
            try:
                up_to = forms.read_date(request.form.get("up_to"), "Fees up to") or today
                with unit_of_work():
                    outcome = invoicing.run_invoicing(
                        up_to, current_actor(), issue=request.form.get("issue") == "yes"
                    )
                    made = [i.number or f"draft {i.id}" for i in outcome.invoices]
            except DomainError as exc:
                _flash(exc)
            else:
                flash(
                    f"{len(made)} invoice(s): {', '.join(made)}."
                    if made
                    else "Nothing to invoice: nothing is left to bill up to that date.",
                    "success",
                )
                return redirect(url_for(".index"))
        return self.render("fees/run.html", today=today, unbilled=invoicing.unbilled_count(today))


def _role() -> str:
    return str(current_user.role)


class PaymentView(_FeesView):
    """``/admin/fees/payments/``: money received, and recording a payment."""

    def __init__(self) -> None:
        super().__init__(
            name="Payments",
            endpoint="fee_payments",
            url="/admin/fees/payments",
            category=CATEGORY,
        )

    @expose("/", methods=("GET", "POST"))
    def index(self) -> Any:
        form = (
            dict(request.form)
            if request.method == "POST"
            else {
                "provider_id": request.args.get("provider_id", ""),
                "invoice_id": request.args.get("invoice_id", ""),
                "currency": request.args.get("currency", "GBP"),
                "method": "bank_transfer",
                "received_on": invoicing.london_today().isoformat(),
            }
        )
        if request.method == "POST":
            _require_manage()
            try:
                details = forms.payment_details(form)
                with unit_of_work():
                    payments.record_payment(details, current_actor())
            except DomainError as exc:
                _flash(exc)
            else:
                flash("Payment recorded.", "success")
                if details.allocations:  # recorded from an invoice's page: back to it
                    invoice_id = details.allocations[0][0]
                    return redirect(url_for("fee_invoices.details", invoice_id=invoice_id))
                return redirect(url_for(".index"))
        recent = list(db.session.scalars(select(Payment).order_by(Payment.id.desc()).limit(100)))
        return self.render(
            "fees/payments.html",
            form=form,
            payments=recent,
            names=queries.provider_names({p.provider_id for p in recent}),
            providers=_providers(),
            open_invoices=queries.open_invoices(),
        )


class AgedDebtView(_FeesView):
    """``/admin/fees/aged-debt/``: what each provider owes, by how late; CSV and XLSX."""

    def __init__(self) -> None:
        super().__init__(
            name="Aged debt",
            endpoint="fee_aged_debt",
            url="/admin/fees/aged-debt",
            category=CATEGORY,
        )

    def _read(self) -> tuple[date, str | None]:
        as_of = forms.read_date(request.args.get("as_of"), "As of") or invoicing.london_today()
        currency = request.args.get("currency") or None
        if currency is not None and currency not in CURRENCIES:
            raise DomainError(f"Unknown currency {currency!r}.")
        if as_of > invoicing.london_today():
            raise DomainError("Aged debt is shown as of today or an earlier day.")
        return as_of, currency

    @expose("/")
    def index(self) -> Any:
        try:
            as_of, currency = self._read()
        except DomainError as exc:
            flash(exc.message, "error")
            as_of, currency = invoicing.london_today(), None
        rows = queries.aged_debt(as_of, currency)
        return self.render(
            "fees/aged_debt.html",
            rows=rows,
            totals=queries.aged_totals(rows),
            as_of=as_of,
            currency=currency,
        )

    @expose("/export.<fmt>")
    @fresh_second_factor
    def export(self, fmt: str) -> Any:
        if fmt not in ("csv", "xlsx"):
            abort(404)
        try:
            as_of, currency = self._read()
        except DomainError as exc:
            flash(exc.message, "error")
            return redirect(url_for(".index"))
        rows = queries.aged_debt(as_of, currency)
        title = [
            "Aged debt",
            f"As of {as_of.isoformat()}",
            f"Currency: {currency or 'all'}",
        ]
        header = ["Provider", "Currency", *(AGE_BUCKET_LABELS[b] for b in AGE_BUCKETS)]
        header += ["Total owed", "Unallocated credit"]
        table: list[list[exports.Cell]] = [
            [r.provider, r.currency, *(r.buckets[b] for b in AGE_BUCKETS), r.total, r.credit]
            for r in rows
        ]
        with unit_of_work():
            record_audit_event(
                current_actor(),
                "export",
                object_type="aged_debt",
                detail=f"{fmt}; as of {as_of.isoformat()}; currency {currency or 'all'}; "
                f"{len(table)} row(s)",
            )
        name = f"aged-debt-{as_of.isoformat()}"
        if fmt == "csv":
            body, mimetype = exports.to_csv(title, header, table), "text/csv"
        else:
            body = exports.to_xlsx("Aged debt", title, header, table)
            mimetype = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
        return Response(
            body,
            mimetype=mimetype,
            headers={
                "Content-Disposition": f'attachment; filename="{name}.{fmt}"',
                "Cache-Control": "no-store",
            },
        )


class ReferralFeesView(_FeesView):
    """The fee panel's actions on a referral's page: correcting its dates, its treatment value."""

    def __init__(self) -> None:
        super().__init__(
            name="Referral fees", endpoint="referral_fees", url="/admin/fees/referrals"
        )

    def is_visible(self) -> bool:
        return False

    @expose("/")
    def index(self) -> Any:
        return redirect(url_for("fee_ledger.index"))

    @expose("/<int:referral_id>/dates", methods=("POST",))
    def dates(self, referral_id: int) -> Any:
        _require_manage()
        form = request.form
        try:
            admitted_on = forms.read_date(form.get("admitted_on"), "Admitted on")
            discharged_on = forms.read_date(form.get("discharged_on"), "Discharged on")
            with unit_of_work():
                correct_dates(
                    referral_id, admitted_on, discharged_on, form.get("reason"), current_actor()
                )
        except DomainError as exc:
            _flash(exc)
        else:
            flash("Dates corrected: the fees were reversed and posted again.", "success")
        return redirect(url_for("referrals.details", referral_id=referral_id) + "#fees")

    @expose("/<int:referral_id>/treatment-value", methods=("POST",))
    def treatment_value(self, referral_id: int) -> Any:
        _require_manage()
        try:
            value = forms.read_money(request.form.get("treatment_value"), "The treatment value")
            if value is None:
                raise DomainError("Enter the treatment value the clinic invoiced.")
            with unit_of_work():
                accruals.set_treatment_value(referral_id, value, current_actor())
        except DomainError as exc:
            _flash(exc)
        else:
            flash("Treatment value saved.", "success")
        return redirect(url_for("referrals.details", referral_id=referral_id) + "#fees")


def can_see_fees() -> bool:
    """Whether the signed-in person may see fee figures (the referral and provider pages ask)."""
    return bool(
        current_user.is_authenticated and has_permission(current_user.role, Permission.VIEW_FEES)
    )


def provider_fee_section(provider_id: int) -> dict[str, Any] | None:
    """The provider page's fee section, or None for someone who may not see fees."""
    if not can_see_fees():
        return None
    return {
        "balances": queries.provider_balances(provider_id),
        "agreements": agreements.agreements_of(provider_id),
        "bases": BASES,
    }


def referral_fee_panel(referral: Any) -> dict[str, Any] | None:
    """The referral page's fee panel, or None for someone who may not see fees."""
    if not can_see_fees():
        return None
    location = db.session.get(ProviderLocation, referral.location_id)
    in_force = (
        agreements.agreement_in_force(location.provider_id, referral.admitted_on)
        if location is not None and referral.admitted_on
        else None
    )
    return {
        "entries": queries.referral_entries(referral.id),
        "triggers": queries.referral_triggers(referral.id),
        "kinds": LEDGER_KINDS,
        "percent_basis": in_force is not None and in_force.basis == "percent_of_treatment_value",
        "can_manage": has_permission(_role(), Permission.MANAGE_FEES),
    }
