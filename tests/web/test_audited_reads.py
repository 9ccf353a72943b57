"""Every page, export and API answer that shows a client's data writes an audit event.

The URL map is crawled: every GET rule, opened with the ids of real records (a referred,
admitted and invoiced client; an open lead flagged for immediate danger with a page and an
overdue reminder about it). Each endpoint is classified, by reading its view, as

* ``CLIENT_DATA``: opening it writes a "view"/"search"/"export"/"download" audit event naming
  the record (or the list) with who, role, address and request id, and never the client's
  name, phone or email; or
* ``NOT_CLIENT_DATA``: an allow-list with the reason; the page is checked not to show either
  client's name, phone, email or lead reference, so the list cannot lie.

An endpoint in neither list fails the test: a new page cannot be forgotten. "Client data"
includes the lead reference: it is the pseudonym that names a client's record (the ledger,
invoices and pages name clients by it and nothing else).
"""

from __future__ import annotations

import html
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from flask_admin.model import BaseModelView
from sqlalchemy import func, select, update
from werkzeug.routing import Rule

from crm import clock
from crm.auth.models import User
from crm.auth.permissions import Permission, has_permission
from crm.extensions import db
from crm.fees import accruals, invoicing
from crm.fees.models import FeeAgreement, Invoice
from crm.health.services import record_heartbeat
from crm.intake import inbox, pipeline
from crm.intake.models import CallbackInbox, Lead
from crm.oncall import calendar, links, paging, reminders
from crm.oncall.models import Closure, Page, Rota
from crm.privacy import access, archive, breaches, requests
from crm.privacy.models import AuditEvent, ProcessingPurpose, SubjectAccessExport
from crm.providers import imports
from crm.providers.models import ProviderLocation
from crm.referrals import referring
from crm.referrals.models import Referral
from crm.reports.admin import read_request
from tests.services.fee_factories import agreement_for, harbour_house, move, uk
from tests.services.intake_factories import actor_for, capture, request_data
from tests.services.oncall_factories import person, policy, rota, rota_step
from tests.services.provider_factories import MANAGER, csv_bytes, sample_rows
from tests.services.referral_factories import STORY_ANSWERS, assessed_lead, present
from tests.web.conftest import admin_view_of, checked_rules, requirement_of
from tests.web.fees_support import FEE_DAY, MONDAY

Clients = Callable[..., FlaskClient]
READ_ACTIONS = frozenset({"view", "search", "export", "download", "report_drill_down"})


@dataclass(frozen=True)
class Person:
    name: str
    phone: str  # as typed
    e164: str
    email: str

    def traces(self) -> tuple[str, ...]:
        """What would give the person away on a page or in an audit row."""
        national = self.phone.replace(" ", "")
        return (self.name, self.email, self.e164, self.phone, national)


REFERRED = Person("Ottoline Quarrington", "07700 900781", "+447700900781", "ottoline.q@example.com")
FLAGGED = Person("Marigold Featherstone", "07700 900456", "+447700900456", "marigold.f@example.com")


@dataclass(frozen=True)
class ClientData:
    """A page that shows client data, and the audit row it must write.

    ``object_id`` is formatted with the ids the crawl used ({lead_id}, {id} for a model
    view's row, ...); None means a list (no single record).
    """

    reason: str
    object_type: str
    object_id: str | None = None
    # The client data is shown only to roles holding this permission (others see none).
    shown_with: Permission | None = None


def _drill(key: str) -> ClientData:
    return ClientData("the leads behind a figure, by reference", "reports", key)


CLIENT_DATA: dict[str, ClientData] = {
    "admin.index": ClientData(
        "the dashboard's safeguarding banner names flagged leads",
        "leads",
        shown_with=Permission.SEE_SAFEGUARDING_FLAGS,
    ),
    "queue.index": ClientData("the queue: first names and references", "leads"),
    "queue.rows": ClientData("the queue's rows, refreshed by queue.js", "leads"),
    "lead_search.index": ClientData("search results: names, phones, emails", "leads"),
    "lead.details": ClientData("the lead page", "leads", "{lead_id}"),
    "lead.assessment": ClientData("the assessment (health data)", "assessments", "{lead_id}"),
    "match.lead": ClientData("the match page for a lead", "leads", "{lead_id}"),
    "referrals.index": ClientData("referrals in progress, by lead reference", "referrals"),
    "referrals.details": ClientData(
        "a referral: the summary sent (name, health)", "referrals", "{referral_id}"
    ),
    "provider_directory.provider": ClientData(
        "the provider's referral record lists leads by reference", "referrals"
    ),
    "oncall.index": ClientData("open pages' summaries name leads; overdue reminders", "pages"),
    "pages.index": ClientData("pages' summaries name leads", "pages"),
    "stuck_requests.index": ClientData(
        "requests the engine could not record: who asked, their phone", "callback_inbox"
    ),
    "pages.details": ClientData("a page about a lead and its messages", "pages", "{page_id}"),
    "ack.acknowledge": ClientData(
        "the acknowledge link shows the page summary", "pages", "{page_id}"
    ),
    "outbox.index_view": ClientData(
        "messages: referral summaries with name, phone, health", "outbound_messages"
    ),
    "outbox.details_view": ClientData("one message", "outbound_messages", "{id}"),
    "fee_ledger.index": ClientData("ledger entries name clients by reference", "ledger_entries"),
    "fee_invoices.details": ClientData(
        "invoice lines name clients by reference", "invoices", "{invoice_id}"
    ),
    "fee_invoices.pdf": ClientData(
        "the invoice PDF (lines by reference)", "invoices", "{invoice_id}"
    ),
    "report_speed.index": ClientData(
        "'The slowest 20' lists leads by reference", "reports", "speed"
    ),
    "report_speed.export": ClientData(
        "the speed report's tables, slowest leads too", "reports", "speed"
    ),
    **{
        f"report_{key}.leads": _drill(key)
        for key in ("intake", "funnel", "speed", "referrals", "oncall", "staff")
    },
    "rights_requests.index": ClientData(
        "rights requests: the requesters' names", "rights_requests"
    ),
    "rights_requests.details": ClientData(
        "a request: the requester and the contacts it concerns", "rights_requests", "{request_id}"
    ),
    "rights_requests.download": ClientData(
        "the subject access ZIP: everything about the person",
        "subject_access_exports",
        "{export_id}",
    ),
}


def _model_view(endpoint: str, reason: str, *, skip: tuple[str, ...] = ()) -> dict[str, str]:
    """The GET endpoints Flask-Admin gives a ModelView, each with the same reason."""
    names = ("index_view", "details_view", "edit_view", "create_view", "export", "ajax_lookup")
    return {f"{endpoint}.{n}": reason for n in names if n not in skip}


AGGREGATES = "aggregate figures, no lead listed (an export is audited all the same)"

NOT_CLIENT_DATA: dict[str, str] = {
    "home": "redirects to the dashboard",
    "auth.login": "the login form",
    "auth.change_password": "the signed-in staff member's own password form",
    "callback.callback": "the public callback form, empty",
    "health.healthz": "engine and server health, counts only",
    "intake_api.openapi": "the intake API's OpenAPI document (the API's only GET)",
    "calendar.rota_feed": "a rota's shifts: staff names only",
    "calendar.person_feed": "a staff member's own shifts",
    "lead.index": "redirects to the queue",
    "match.index": "redirects to the queue",
    "new_enquiry.index": "the empty form for logging an enquiry",
    "engine_health.index": "the engine's queues and timings, counts only",
    "provider_directory.index": "redirects to the provider list",
    "provider_directory.location": "a clinic's page: capacity and contacts, no referral record",
    "provider_capacity.index": "capacity confirmation: clinics only",
    "provider_edit.index": "provider editing: the directory only",
    "provider_edit.new_provider": "the empty provider form",
    "provider_edit.edit_provider": "a provider's form: the directory only",
    "provider_edit.new_location": "the empty location form",
    "provider_edit.edit_location": "a location's form: the directory only",
    "provider_imports.index": "directory imports: files of clinics",
    "provider_imports.job": "one directory import: rows of clinics",
    "provider_imports.progress": "an import's progress counts",
    "provider_imports.template": "the blank directory CSV template",
    "fee_agreements.index": "providers' fee agreements",
    "fee_agreements.new": "the empty agreement form",
    "fee_agreements.edit": "a provider's agreement",
    "fee_invoices.index": "invoice numbers, providers and totals; no lines",
    "fee_invoices.run": "the invoice run form: a count of unbilled fees",
    "fee_payments.index": "payments received from providers",
    "fee_aged_debt.index": "what each provider owes",
    "fee_aged_debt.export": "what each provider owes (an export is audited all the same)",
    "referral_fees.index": "redirects to the ledger (which is audited)",
    # Checked below: if the fees report gains a drill-down figure, this must move.
    "report_fees.leads": "the fees report has no drill-down figure: every set is refused",
    "rotas.index": "rota setup: staff and shifts",
    "rotas.edit": "one rota: staff and shifts",
    "policies.index": "escalation policies: steps naming staff and rotas",
    "policies.edit": "one escalation policy",
    **{
        f"report_{key}.index": "aggregate figures, no lead listed"
        for key in ("intake", "funnel", "referrals", "oncall", "fees", "staff")
    },
    **{
        f"report_{key}.export": AGGREGATES
        for key in ("intake", "funnel", "referrals", "oncall", "fees", "staff")
    },
    **_model_view("staff", "staff accounts"),
    **_model_view("api_keys", "the websites' API keys (hashes and prefixes)"),
    **_model_view("audit", "the audit trail: ids and actions, never client data by design"),
    **_model_view("office_hours", "opening hours"),
    **_model_view("closures", "closure days"),
    **_model_view("contact_methods", "staff members' own contact methods"),
    **_model_view("providers", "the provider directory"),
    **_model_view("provider_locations", "the provider directory's locations"),
    **_model_view(
        "outbox",
        "read-only and export off: create, edit and export redirect; no ajax lookups",
        skip=("index_view", "details_view"),
    ),
}

NOT_CLIENT_DATA.update(
    {
        "rights_requests.new": "the empty form for logging a request",
        "rights_requests.export_progress": "an export's status and percent, no record",
        "retention.index": "retention periods, counts of what a run would do, run reports",
        "purposes.index": "the purposes of processing and their lawful bases",
        "consents.index": "redirects to the queue (withdrawals are posted from the lead page)",
        "breaches.index": "the breach register: incidents and counts of people, no client record",
        "breaches.new": "the empty form for recording an incident",
        "breaches.incident": "one incident: what happened and the decisions, no client record",
    }
)
NOT_CLIENT_DATA.update(
    {
        "auth.second_step": "the second step's form: a code box",
        "auth.enrol": "setting up an authenticator app: the staff member's own QR code",
        "auth.recovery_codes": "the staff member's own recovery codes, shown once",
        "auth.security": "the staff member's own factors",
        "auth.step_up": "the step-up form: a code box",
    }
)
# Endpoints being built are reported, not failed, until classified above (none now).
PENDING_PREFIXES: tuple[str, ...] = ()


def test_the_two_lists_do_not_overlap_and_name_only_real_endpoints(app: Flask) -> None:
    assert not set(CLIENT_DATA) & set(NOT_CLIENT_DATA)
    real = {r.endpoint for r in checked_rules(app) if "GET" in (r.methods or ())}
    stale = (set(CLIENT_DATA) | set(NOT_CLIENT_DATA)) - real
    assert not stale, f"classified but no longer GET endpoints: {sorted(stale)}"


def test_every_get_endpoint_is_classified(app: Flask) -> None:
    unknown, pending = [], []
    for rule in checked_rules(app):
        if "GET" not in (rule.methods or ()):
            continue
        if rule.endpoint in CLIENT_DATA or rule.endpoint in NOT_CLIENT_DATA:
            continue
        (pending if rule.endpoint.startswith(PENDING_PREFIXES) else unknown).append(rule)
    for rule in pending:
        print(f"PENDING audit classification: {rule.endpoint} {rule.rule}")
    assert not unknown, (
        "classify in CLIENT_DATA (and audit it) or NOT_CLIENT_DATA (with the reason): "
        + ", ".join(f"{r.endpoint} ({r.rule})" for r in unknown)
    )


# --- the records the crawl opens -----------------------------------------------------------


@dataclass
class World:
    staff: dict[str, User]
    ids: dict[str, int]
    leads: list[Lead]
    references: list[str]

    def traces(self) -> tuple[str, ...]:
        return (*REFERRED.traces(), *FLAGGED.traces(), *self.references)


def _referred_and_invoiced(staff: dict[str, User]) -> tuple[Lead, Referral, Invoice]:
    """The fee story (tests/web/fees_support.py) for a client with a name of their own."""
    advisor = staff["admissions"]
    clinic = harbour_house()
    agreement_for(clinic, staff["manager"])
    lead = assessed_lead(advisor, phone=REFERRED.phone, name=REFERRED.name, email=REFERRED.email)
    [option_id] = present(lead, advisor, clinic)
    with clock.pinned(uk(MONDAY, 9)):
        referral = referring.refer(option_id, actor_for(advisor))
    move(referral, advisor, "accepted", MONDAY, at_hour=9)
    move(referral, advisor, "admission_planned", MONDAY, at_hour=10)
    move(referral, advisor, "admitted", MONDAY)
    with clock.pinned(uk(FEE_DAY, 10, 1)):
        assert accruals.fire_due_fee_triggers() == 1
    with clock.pinned(uk(FEE_DAY, 14)):
        [invoice] = invoicing.run_invoicing(FEE_DAY, actor_for(staff["manager"])).invoices
        db.session.flush()
    assert invoice.pdf is not None
    return lead, referral, invoice


def _flagged_lead(advisor: User) -> Lead:
    """An open lead with immediate danger reported, a page and an overdue reminder about it."""
    lead = capture(5, name=FLAGGED.name, phone=FLAGGED.phone, email=FLAGGED.email).lead
    actor = actor_for(advisor)
    pipeline.log_call(lead.id, actor, direction="outbound", outcome="connected")
    answers = {**STORY_ANSWERS, "immediate_danger": True}
    pipeline.save_assessment(lead.id, answers, actor, complete=True)
    paging.trigger_page(
        f"lead:{lead.id}", f"Out-of-hours callback request {lead.reference}", lead_id=lead.id
    )
    reminders.create_reminder(
        "callback_due", clock.now() - timedelta(hours=1), owner_id=advisor.id, lead_id=lead.id
    )
    return lead


def _stuck_request() -> None:
    """A callback request from the flagged person that the engine gave up on."""
    data = request_data(name=FLAGGED.name, phone="07700 900457", email=FLAGGED.email)
    answer = inbox.accept(data, source="web_form", channel="web_form", target_minutes=15)
    db.session.execute(
        update(CallbackInbox)
        .where(CallbackInbox.reference == answer.reference)
        .values(status="stuck", attempts=inbox.MAX_ATTEMPTS, last_error="ValueError: test")
    )


def _answered_access_request(admin: User) -> tuple[int, int]:
    """A verified subject access request from the referred client, its ZIP built."""
    actor = actor_for(admin)
    row = requests.log_request(
        requests.NewRequest(
            "access", REFERRED.name, REFERRED.phone, REFERRED.email, "email",
            clock.now() - timedelta(hours=1), "What do you hold about me?", REFERRED.phone,
        ),
        actor,
    )  # fmt: skip
    requests.verify_identity(row.id, "Photo ID by email", actor)
    export = access.start_export(row.id, actor)
    scope = access.scope_of(row.id)
    sections = {key: collect(scope) for key, _, collect in access.STEPS}
    titles = {key: title for key, title, _ in access.STEPS}
    content, records = archive.pack(sections, titles, access.staff_names(), row.id, clock.now())
    access.finish_export(export.id, content, records)
    return row.id, export.id


@pytest.fixture
def world(staff: dict[str, User]) -> World:
    record_heartbeat()
    lead, referral, invoice = _referred_and_invoiced(staff)
    flagged = _flagged_lead(staff["admissions"])
    on_call = person("manager", methods=(("sms", "+447700900999", 0),))
    rota_row = rota([on_call])
    policy_row = policy([rota_step(rota_row, 5)])
    db.session.add(Closure(day=date(2031, 1, 2), name="Test closure"))
    job = imports.start_import("directory.csv", csv_bytes(sample_rows()[:1]), MANAGER)
    request_id, export_id = _answered_access_request(staff["admin"])
    _stuck_request()
    breach = breaches.record_breach(
        breaches.IncidentDetails("Laptop left on a train", clock.now() - timedelta(hours=2)),
        actor_for(staff["admin"]),
    )
    db.session.commit()
    page_id = db.session.scalar(select(Page.id).where(Page.lead_id == flagged.id))
    assert page_id is not None and flagged.safeguarding_flagged_at is not None
    location = db.session.get(ProviderLocation, referral.location_id)
    assert location is not None
    ids = {
        "lead_id": flagged.id,
        "referral_id": referral.id,
        "invoice_id": invoice.id,
        "page_id": page_id,
        "agreement_id": db.session.scalar(select(func.max(FeeAgreement.id))) or 0,
        "provider_id": location.provider_id,
        "location_id": location.id,
        "rota_id": rota_row.id,
        "policy_id": policy_row.id,
        "job_id": job.id,
        "request_id": request_id,
        "export_id": export_id,
        "breach_id": breach.id,
        "purpose_id": db.session.scalar(select(func.min(ProcessingPurpose.id))) or 0,
    }
    return World(staff, ids, [lead, flagged], [lead.reference, flagged.reference])


# --- the crawl -----------------------------------------------------------------------------


def _token(endpoint: str, world: World, user: User) -> str:
    if endpoint == "ack.acknowledge":
        return links.ack_token(world.ids["page_id"], user.id)
    if endpoint == "calendar.person_feed":
        return calendar.person_token(user.id)
    if endpoint == "rights_requests.download":
        export = db.session.get(SubjectAccessExport, world.ids["export_id"])
        assert export is not None
        return access.download_token(export)
    if endpoint == "calendar.rota_feed":
        row = db.session.get(Rota, world.ids["rota_id"])
        assert row is not None
        return str(row.ical_token)
    raise AssertionError(f"{endpoint}: which token?")


def _arguments(rule: Rule, world: World, user: User) -> dict[str, object]:
    values: dict[str, object] = {}
    for name in rule.arguments:
        if name in world.ids:
            values[name] = world.ids[name]
        elif name in ("export_type", "fmt"):
            values[name] = "csv"
        elif name == "token":
            values[name] = _token(rule.endpoint, world, user)
        else:
            raise AssertionError(f"{rule.rule}: give the crawl a real {name}")
    return values


def _query(app: Flask, endpoint: str, world: World) -> dict[str, str]:
    """Query strings some pages need to show anything: a row's id, a search, a figure."""
    view = admin_view_of(app, endpoint)
    if isinstance(view, BaseModelView) and endpoint.endswith(("details_view", "edit_view")):
        first = db.session.scalar(select(func.min(view.model.id)))
        return {} if first is None else {"id": str(first)}
    if endpoint == "lead_search.index":
        return {"q": FLAGGED.name.split()[1]}
    if endpoint.endswith(".leads") and endpoint.startswith("report_"):
        with app.test_request_context("/"):
            report = view.build(read_request(view.filters_allowed))  # type: ignore[union-attr]
        keys = sorted(report.drill_keys())
        assert bool(keys) == (endpoint in CLIENT_DATA), f"{endpoint}: drill keys {keys}"
        return {"set": keys[0]} if keys else {}
    return {}


@pytest.fixture
def crawl(app: Flask, world: World, client_for: Clients) -> Iterator[Callable[[str], list[str]]]:
    def run(role: str) -> list[str]:
        user = world.staff[role]
        client = client_for(role)
        problems: list[str] = []
        for rule in checked_rules(app):
            if "GET" not in (rule.methods or ()) or rule.endpoint.startswith(PENDING_PREFIXES):
                continue
            requirement = requirement_of(app, rule.endpoint)
            assert requirement is not None, rule.endpoint
            if not requirement.allows(role):
                continue
            problem = _open(app, client, rule, world, user)
            if problem:
                problems.append(f"{rule.endpoint} as {role}: {problem}")
        return problems

    yield run


def _open(app: Flask, client: FlaskClient, rule: Rule, world: World, user: User) -> str | None:
    values = _arguments(rule, world, user)
    query = _query(app, rule.endpoint, world)
    path = app.url_map.bind("localhost").build(rule.endpoint, values)
    last = db.session.scalar(select(func.max(AuditEvent.id))) or 0
    response = client.get(path, query_string=query)
    body = html.unescape(response.get_data().decode("utf-8", "replace"))
    events = list(
        db.session.scalars(select(AuditEvent).where(AuditEvent.id > last).order_by(AuditEvent.id))
    )
    entry = CLIENT_DATA.get(rule.endpoint)
    shows = entry is not None and (
        entry.shown_with is None or has_permission(user.role, entry.shown_with)
    )
    if response.status_code >= 500:
        return f"GET {path} answered {response.status_code}"
    if not shows:
        leaked = [t for t in world.traces() if t.lower() in body.lower()]
        return f"GET {path} shows {leaked} but is not audited" if leaked else None
    assert entry is not None
    if response.status_code != 200:
        return f"GET {path} answered {response.status_code}: the crawl's ids should open it"
    expected_id = (
        None
        if entry.object_id is None
        else entry.object_id.format_map({**world.ids, **values, **query})
    )
    reads = [e for e in events if e.action in READ_ACTIONS and e.outcome == "success"]
    if not reads:
        return f"GET {path} wrote no read event ({[e.action for e in events]})"
    searched = tuple(query.values()) if rule.endpoint == "lead_search.index" else ()
    return _event_problem(reads, entry, expected_id, user, (*world.traces(), *searched))


def _event_problem(
    reads: list[AuditEvent],
    entry: ClientData,
    expected_id: str | None,
    user: User,
    secrets: tuple[str, ...],
) -> str | None:
    """None when a read event names the record as ``user`` with no ``secrets`` in it."""
    for event in reads:
        leaked = [t for t in secrets if t.lower() in (event.detail or "").lower()]
        if leaked:
            return f"audit detail {event.detail!r} holds {leaked}"
    matching = [
        e
        for e in reads
        if e.object_type == entry.object_type
        and e.object_id == expected_id
        and e.actor_id == user.id
        and e.actor_role == user.role
        and e.ip
        and e.request_id
    ]
    if not matching:
        seen = [(e.action, e.object_type, e.object_id, e.actor_id, e.actor_role) for e in reads]
        return (
            f"no read event of {entry.object_type}/{expected_id} by {user.id} ({user.role}) "
            f"with ip and request id; saw {seen}"
        )
    return None


@pytest.mark.parametrize("role", ["admin", "admissions"])
def test_every_page_showing_client_data_is_audited(crawl, role: str) -> None:  # type: ignore[no-untyped-def]
    """As an admin (who may open everything) and as admissions staff (the role that works
    leads, so the audit rows carry that role and the pages it sees hold no flags)."""
    problems = crawl(role)
    assert not problems, "\n".join(problems)


def test_the_crawl_really_shows_the_clients(app: Flask, world: World, client_for: Clients) -> None:
    """The allow-list check means something: the audited pages do show the created clients."""
    admin = client_for("admin")
    lead_page = admin.get(f"/admin/leads/{world.ids['lead_id']}/").get_data(as_text=True)
    assert FLAGGED.name in lead_page
    queue = admin.get("/admin/queue/").get_data(as_text=True)
    assert world.references[1] in queue
    ledger = admin.get("/admin/fees/ledger/").get_data(as_text=True)
    assert world.references[0] in ledger
    outbox = admin.get("/admin/outbox/").get_data(as_text=True)
    assert REFERRED.name in html.unescape(outbox)
    provider = admin.get(f"/admin/directory/providers/{world.ids['provider_id']}/")
    assert world.references[0] in provider.get_data(as_text=True)


def test_a_polled_queue_refresh_is_audited_each_time(world: World, client_for: Clients) -> None:
    """queue.js refreshes the rows every 15 s: each answer names people, so each is a read."""
    advisor = client_for("admissions")
    before = db.session.scalar(select(func.count()).select_from(AuditEvent)) or 0
    for _ in range(2):
        assert advisor.get("/admin/queue/rows").status_code == 200
    rows = list(db.session.scalars(select(AuditEvent).order_by(AuditEvent.id.desc()).limit(2)))
    after = db.session.scalar(select(func.count()).select_from(AuditEvent)) or 0
    assert after - before == 2
    assert {(e.action, e.object_type, e.object_id) for e in rows} == {("view", "leads", None)}
    assert all(e.detail and e.detail.startswith("queue refresh, ") for e in rows)


def test_an_unknown_record_writes_no_read(world: World, client_for: Clients) -> None:
    """A 404 shows nothing, so it records no view (the outbox's missing row redirects)."""
    admin = client_for("admin")
    before = db.session.scalar(select(func.count()).select_from(AuditEvent)) or 0
    assert admin.get("/admin/pages/987654/").status_code == 404
    assert admin.get("/admin/fees/invoices/987654/").status_code == 404
    assert admin.get("/admin/outbox/details/?id=987654").status_code == 302
    assert (db.session.scalar(select(func.count()).select_from(AuditEvent)) or 0) == before
