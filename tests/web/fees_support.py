"""Harbour House's fee story built through the real services, for the Fees screen tests.

Every web request in those tests runs with the clock pinned at ``WEB_TIME`` (Thursday 3 December
2026, 15:00 UK): the staff member logs in then, so the session stays fresh for every request,
and "today" is the day the fee was earned.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from datetime import date
from typing import Any

from flask.testing import FlaskClient
from sqlalchemy import func, select
from werkzeug.test import TestResponse

from crm import clock
from crm.auth.models import User
from crm.extensions import db
from crm.fees import accruals, invoicing
from crm.fees.models import FeeAgreement, FeeTrigger, Invoice, InvoiceRun, LedgerEntry, Payment
from crm.privacy.models import AuditEvent
from crm.providers.models import ProviderLocation
from crm.referrals.models import Referral
from tests.services.fee_factories import admitted, agreement_for, harbour_house, uk
from tests.services.intake_factories import actor_for
from tests.support.html import csrf_token

MONDAY = date(2026, 11, 30)  # admitted
FEE_DAY = date(2026, 12, 3)  # Thursday: the third night is over, the fee is earned at 10:00
WEB_TIME = uk(FEE_DAY, 15)
FEE_TABLES = (FeeAgreement, FeeTrigger, LedgerEntry, Invoice, InvoiceRun, Payment, Referral)


@dataclass
class Story:
    clinic: ProviderLocation
    agreement: FeeAgreement
    referral: Referral
    accrual: LedgerEntry
    invoice: Invoice | None = None

    @property
    def provider_id(self) -> int:
        return self.clinic.provider_id


def earned_fee(
    staff: dict[str, User],
    clinic: ProviderLocation | None = None,
    phone: str = "07700 900123",
) -> Story:
    """Harbour House's agreement, a client admitted on Monday and the engine's tick on Thursday
    10:01 that posts the £2,500 accrual; committed (to the test's transaction)."""
    clinic = clinic or harbour_house()
    agreement = agreement_for(clinic, staff["manager"])
    referral = admitted(clinic, staff["admissions"], MONDAY, phone=phone)
    with clock.pinned(uk(FEE_DAY, 10, 1)):
        assert accruals.fire_due_fee_triggers() == 1
        db.session.flush()
    accrual = db.session.scalars(
        select(LedgerEntry).where(
            LedgerEntry.kind == "accrual", LedgerEntry.referral_id == referral.id
        )
    ).one()
    db.session.commit()
    return Story(clinic, agreement, referral, accrual)


def invoiced(staff: dict[str, User]) -> Story:
    """``earned_fee`` plus the invoicing run at 14:00 that issues INV-2026-0001 (£3,000)."""
    story = earned_fee(staff)
    with clock.pinned(uk(FEE_DAY, 14)):
        outcome = invoicing.run_invoicing(FEE_DAY, actor_for(staff["manager"]))
        db.session.flush()
    [story.invoice] = outcome.invoices
    db.session.commit()
    return story


def text_of(response: TestResponse) -> str:
    """The page as a reader sees it (entities such as &#39; turned back into characters)."""
    return html.unescape(response.get_data(as_text=True))


def token_for(client: FlaskClient, path: str = "/admin/") -> str:
    """A CSRF token of the client's session (every logged-in page carries the logout form's)."""
    response = client.get(path)
    assert response.status_code == 200, (path, response.status_code)
    return csrf_token(response.get_data(as_text=True))


def post(
    client: FlaskClient, path: str, data: dict[str, Any], *, follow: bool = True
) -> TestResponse:
    """POST ``data`` with a valid CSRF token, following the redirect unless told not to."""
    return client.post(
        path, data={"csrf_token": token_for(client), **data}, follow_redirects=follow
    )


def count(model: type, *where: Any) -> int:
    query = select(func.count()).select_from(model)
    for condition in where:
        query = query.where(condition)
    return int(db.session.scalar(query) or 0)


def fee_snapshot() -> dict[str, list[tuple[object, ...]]]:
    """Every row of the fee tables (and the referrals they hang off)."""
    db.session.expire_all()
    snapshot = {}
    for model in FEE_TABLES:
        table = model.__table__  # type: ignore[attr-defined]
        rows = db.session.execute(select(table)).all()
        snapshot[table.name] = sorted((tuple(r) for r in rows), key=repr)
    return snapshot


def audit_count(**where: object) -> int:
    return count(AuditEvent, *(getattr(AuditEvent, k) == v for k, v in where.items()))
