"""init_admin(app): the Admin is built inside the factory, the whole menu in one place."""

from __future__ import annotations

from flask import Flask
from flask_admin import Admin
from flask_admin.menu import MenuLink
from flask_admin.theme import Bootstrap4Theme

from crm.admin.secure import SecureIndexView
from crm.auth.admin import StaffView
from crm.fees.admin import (
    AgedDebtView,
    FeeAgreementView,
    InvoiceView,
    LedgerView,
    PaymentView,
    ReferralFeesView,
)
from crm.health.admin import EngineHealthView
from crm.intake.admin import ApiKeyView, NewEnquiryView, QueueView, SearchView
from crm.intake.inbox_admin import StuckRequestsView
from crm.intake.lead_admin import LeadView
from crm.oncall.admin import DevOutboxView, OnCallView, PagesView
from crm.oncall.setup_admin import (
    ClosureView,
    ContactMethodView,
    OfficeHoursView,
    PolicySetupView,
    RotaSetupView,
)
from crm.privacy.admin import AuditTrailView
from crm.privacy.breach_admin import BreachRegisterView
from crm.privacy.consent_admin import ConsentView
from crm.privacy.rights_admin import RightsRequestView
from crm.privacy.settings_admin import PurposesView, RetentionView
from crm.providers.admin import CapacityView, DirectoryView, LocationListView, ProviderListView
from crm.providers.edit_admin import ProviderEditView
from crm.providers.import_admin import ProviderImportView, allow_directory_uploads
from crm.referrals.admin import MatchView, ReferralView
from crm.reports.admin import REPORT_VIEWS
from crm.security import csp_nonce


class _AccountLink(MenuLink):  # type: ignore[misc]
    def is_accessible(self) -> bool:
        from flask_login import current_user

        return bool(current_user.is_authenticated)


def init_admin(app: Flask) -> Admin:
    admin = Admin(
        app,
        name="Admissions CRM",
        url="/admin",
        index_view=SecureIndexView(name="Dashboard", url="/admin", endpoint="admin"),
        theme=Bootstrap4Theme(base_template="admin/crm_base.html", fluid=True),
        csp_nonce_generator=csp_nonce,
    )
    # Intake
    admin.add_view(QueueView())
    admin.add_view(SearchView())
    admin.add_view(NewEnquiryView())
    admin.add_view(LeadView())
    admin.add_view(MatchView())
    admin.add_view(ReferralView())
    # Providers
    admin.add_view(ProviderListView())
    admin.add_view(LocationListView())
    admin.add_view(ProviderImportView())
    admin.add_view(DirectoryView())
    admin.add_view(CapacityView())
    admin.add_view(ProviderEditView())
    allow_directory_uploads(app)
    # Fees (managers and admins)
    admin.add_view(AgedDebtView())
    admin.add_view(InvoiceView())
    admin.add_view(PaymentView())
    admin.add_view(LedgerView())
    admin.add_view(FeeAgreementView())
    admin.add_view(ReferralFeesView())
    # Reports (managers and admins)
    for report_view in REPORT_VIEWS:
        admin.add_view(report_view())
    # Operations
    admin.add_view(OnCallView())
    admin.add_view(PagesView())
    admin.add_view(RotaSetupView())
    admin.add_view(PolicySetupView())
    admin.add_view(ContactMethodView())
    admin.add_view(DevOutboxView())
    admin.add_view(EngineHealthView())
    admin.add_view(StuckRequestsView())
    # Administration
    admin.add_view(StaffView())
    admin.add_view(ApiKeyView())
    admin.add_view(OfficeHoursView())
    admin.add_view(ClosureView())
    admin.add_view(AuditTrailView())
    # Data protection (admins); consent withdrawal is posted from the lead page
    admin.add_view(RightsRequestView())
    admin.add_view(RetentionView())
    admin.add_view(PurposesView())
    admin.add_view(ConsentView())
    admin.add_view(BreachRegisterView())
    admin.add_link(
        _AccountLink(name="Change password", endpoint="auth.change_password", category="My account")
    )
    admin.add_link(
        _AccountLink(name="Sign-in security", endpoint="auth.security", category="My account")
    )
    return admin
