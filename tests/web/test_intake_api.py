"""The public intake API: POST /api/v1/callback-requests, end to end through HTTP."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from crm.extensions import db
from crm.intake import rate_limits, wording
from crm.intake.models import ApiKey, CallbackInbox, CallbackRequest
from crm.privacy.models import ConsentRecord, DisclosureRecord
from tests.conftest import login
from tests.support.html import csrf_token
from tests.web.intake_helpers import (
    XSS_MESSAGE,
    XSS_NAME,
    assert_problem,
    body,
    counts,
    error_fields,
    issue_key,
    lead_by_reference,
    post_api,
    secret_in,
    settings_changed,
)


@pytest.fixture
def secret(db_session):
    return issue_key()


def test_created_only_after_commit_with_consent_and_disclosure_records(client, secret):
    before = counts()
    response = post_api(client, body(), secret, idempotency_key="form-1")

    assert response.status_code == 201
    assert response.mimetype == "application/json"
    assert "Idempotent-Replayed" not in response.headers
    answer = response.get_json()
    assert answer["status"] == "received"
    assert answer["requested_again"] is False
    # lead_by_reference() discards anything uncommitted first: the row must have been committed.
    lead = lead_by_reference(answer["reference"])
    assert lead is not None
    assert lead.source == "web_form"
    assert lead.stage == "new"
    assert lead.caller.name == "Marigold Featherstone"
    assert lead.caller.phone == "+447700900123"
    assert lead.caller.email == "marigold@example.com"
    assert lead.callback_due_at - lead.created_at == timedelta(minutes=15)
    request_row = db.session.scalar(
        select(CallbackRequest).where(CallbackRequest.lead_id == lead.id)
    )
    key = db.session.scalar(select(ApiKey).where(ApiKey.prefix == secret.split("_")[1]))
    assert request_row.api_key_id == key.id
    assert key.last_used_at is not None
    consents = {
        c.purpose: c
        for c in db.session.scalars(select(ConsentRecord).where(ConsentRecord.lead_id == lead.id))
    }
    assert consents["contact"].given is True
    assert consents["contact"].wording_version == wording.CONSENT_VERSION
    assert consents["contact"].channel == "web_form"
    assert consents["health_details"].given is False
    disclosure = db.session.scalar(
        select(DisclosureRecord).where(DisclosureRecord.lead_id == lead.id)
    )
    assert disclosure.wording_version == wording.DISCLOSURE_VERSION
    assert disclosure.channel == "web_form"
    after = counts()
    assert after["leads"] == before["leads"] + 1
    assert after["callback_inbox"] == before["callback_inbox"] + 1


def test_replay_with_the_same_key_and_body_answers_the_same_and_writes_nothing(client, secret):
    first = post_api(client, body(), secret, idempotency_key="double-click-7")
    assert first.status_code == 201
    after_first = counts()

    again = post_api(client, body(), secret, idempotency_key="double-click-7")

    assert again.status_code == 201
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.get_json()["reference"] == first.get_json()["reference"]
    assert counts() == after_first  # one lead, one request: the retry added nothing
    assert lead_by_reference(first.get_json()["reference"]).request_count == 1


def test_same_idempotency_key_with_a_different_body_is_409_and_writes_nothing(client, secret):
    first = post_api(client, body(), secret, idempotency_key="k-409")
    assert first.status_code == 201
    before = counts()

    response = post_api(client, body(name="Somebody Else"), secret, idempotency_key="k-409")

    problem = assert_problem(response, 409)
    assert "different request body" in problem["detail"]
    assert counts() == before
    record = db.session.scalar(
        select(CallbackInbox).where(CallbackInbox.idempotency_key == "k-409")
    )
    assert record.reference == first.get_json()["reference"]


def test_an_idempotency_key_belongs_to_one_website(client, secret):
    other = issue_key("second-site.example")
    assert post_api(client, body(), secret, idempotency_key="shared").status_code == 201
    response = post_api(
        client, body(name="Other Person", phone="07700 900456"), other, idempotency_key="shared"
    )
    assert response.status_code == 201
    assert "Idempotent-Replayed" not in response.headers


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "Bearer crm_deadbeef_" + "x" * 43,
        "Bearer not-a-key",
        "Bearer ",
        "Basic dXNlcjpwYXNz",
    ],
    ids=["missing", "unknown", "malformed", "empty", "basic"],
)
def test_a_missing_or_wrong_key_is_401_and_writes_nothing(client, secret, authorization):
    before = counts()
    headers = {"Authorization": authorization} if authorization else {}
    response = post_api(client, body(), None, headers=headers)

    problem = assert_problem(response, 401)
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert "API key" in problem["detail"]
    assert counts() == before


def test_a_right_prefix_with_a_wrong_secret_is_401(client, secret):
    prefix = secret.split("_")[1]
    response = post_api(client, body(), f"crm_{prefix}_{'A' * 43}")
    assert_problem(response, 401)


def test_a_key_revoked_on_the_admin_screen_is_refused_with_401(app, client, staff):
    login(client, staff["admin"])
    page = client.get("/admin/api_keys/")
    issued = client.post(
        "/admin/api_keys/issue",
        data={
            "name": "www.revoke-me.example",
            "csrf_token": csrf_token(page.get_data(as_text=True)),
        },
        follow_redirects=True,
    )
    secret = secret_in(issued.get_data(as_text=True))
    assert secret, "the new key is shown once after issuing"
    website = app.test_client()
    assert post_api(website, body(), secret).status_code == 201
    key = db.session.scalar(select(ApiKey).where(ApiKey.prefix == secret.split("_")[1]))

    listing = client.get("/admin/api_keys/").get_data(as_text=True)
    revoked = client.post(
        f"/admin/api_keys/revoke/{key.id}",
        data={"csrf_token": csrf_token(listing)},
        follow_redirects=True,
    )
    assert "is revoked" in revoked.get_data(as_text=True)
    before = counts()

    response = post_api(website, body(name="After Revocation", phone="07700 900999"), secret)

    assert_problem(response, 401)
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert counts() == before


BAD_REQUESTS = [
    # (id, raw body or JSON-able payload, content type, status, fields named in errors)
    ("malformed-json", b'{"name": "Marigold", ', "application/json", 400, set()),
    ("not-utf8", b"\xff\xfe\x00{", "application/json", 400, set()),
    ("json-array", json.dumps([body()]), "application/json", 400, set()),
    ("json-null", b"null", "application/json", 400, set()),
    (
        "form-encoded",
        "name=Marigold&phone=07700900123",
        "application/x-www-form-urlencoded",
        415,
        set(),
    ),
    ("text-plain", json.dumps(body()), "text/plain", 415, set()),
    (
        "huge",
        json.dumps(body(message="x" * 17_000, consent_to_health_details=True)),
        "application/json",
        413,
        set(),
    ),
    ("unknown-fields", body(admin=True, lead_id=5), "application/json", 422, {"admin", "lead_id"}),
    (
        "wrong-types",
        body(
            name=123,
            phone=447700900123,
            email=["a@b.c"],
            substances="alcohol",
            consent_to_contact="maybe",
        ),
        "application/json",
        422,
        {"name", "phone", "email", "substances", "consent_to_contact"},
    ),
    ("invalid-phone", body(phone="12345"), "application/json", 422, {"phone"}),
    ("invalid-email", body(email="not an email"), "application/json", 422, {"email"}),
    (
        "missing-consent",
        body(consent_to_contact=None),
        "application/json",
        422,
        {"consent_to_contact"},
    ),
    (
        "refused-consent",
        body(consent_to_contact=False),
        "application/json",
        422,
        {"consent_to_contact"},
    ),
    (
        "health-without-consent",
        body(substances=["alcohol"], message="help"),
        "application/json",
        422,
        {"consent_to_health_details"},
    ),
    (
        "unknown-substance",
        body(substances=["chocolate"], consent_to_health_details=True),
        "application/json",
        422,
        {"substances"},
    ),
    (
        "someone-else-without-relationship",
        body(for_whom="someone_else"),
        "application/json",
        422,
        {"relationship"},
    ),
    ("empty-object", {}, "application/json", 422, {"name", "phone", "consent_to_contact"}),
]


@pytest.mark.parametrize(
    ("raw", "content_type", "status", "fields"),
    [case[1:] for case in BAD_REQUESTS],
    ids=[case[0] for case in BAD_REQUESTS],
)
def test_bad_requests_get_a_clear_problem_and_write_nothing(
    client, secret, raw, content_type, status, fields
):
    before = counts()
    response = post_api(
        client, raw, secret, content_type=content_type, idempotency_key="bad-request-1"
    )

    problem = assert_problem(response, status)
    assert problem.get("detail"), "every problem says what to do"
    named = error_fields(problem)
    assert fields <= set(named), named
    if "admin" in fields:
        assert named["admin"] == ["Unknown field."]
    if "phone" in fields and status == 422 and "name" not in fields:
        assert "valid phone number" in named["phone"][0]
    assert counts() == before


def test_a_bad_idempotency_key_header_is_400(client, secret):
    before = counts()
    response = post_api(client, body(), secret, idempotency_key="has spaces in it")
    problem = assert_problem(response, 400)
    assert "Idempotency-Key" in problem["title"]
    assert counts() == before


def test_html_and_script_payloads_are_accepted_and_stored_as_plain_text(client, secret):
    response = post_api(
        client,
        body(name=XSS_NAME, message=XSS_MESSAGE, consent_to_health_details=True),
        secret,
    )
    assert response.status_code == 201
    lead = lead_by_reference(response.get_json()["reference"])
    assert lead.caller.name == XSS_NAME
    request_row = db.session.scalar(
        select(CallbackRequest).where(CallbackRequest.lead_id == lead.id)
    )
    assert request_row.message == XSS_MESSAGE


def test_a_repeat_request_from_the_same_phone_attaches_to_the_open_lead(client, secret):
    first = post_api(client, body(), secret)
    before = counts()

    again = post_api(client, body(name="Marigold F", phone="+44 7700 900123", email=None), secret)

    assert again.status_code == 201
    assert again.get_json() == {
        "reference": first.get_json()["reference"],
        "status": "received",
        "requested_again": True,
    }
    after = counts()
    assert after["leads"] == before["leads"]
    assert after["contacts"] == before["contacts"]
    assert after["callback_requests"] == before["callback_requests"] + 1
    lead = lead_by_reference(first.get_json()["reference"])
    assert lead.request_count == 2
    repeats = db.session.scalars(
        select(CallbackRequest.repeat).where(CallbackRequest.lead_id == lead.id)
    ).all()
    assert sorted(repeats) == [False, True]


def test_per_ip_rate_limit_answers_429_and_writes_nothing(app, client, secret):
    with settings_changed(app, intake_per_ip_per_minute=3):
        for n in range(3):
            ok = post_api(client, body(phone=f"07700 90010{n}"), secret, ip="10.0.0.1")
            assert ok.status_code == 201
        before = counts()
        limited = post_api(client, body(phone="07700 900109"), secret, ip="10.0.0.1")
        problem = assert_problem(limited, 429)
        assert "retry" in problem["detail"].lower()
        assert counts() == before
        # Another address still gets through: the limit is per IP.
        assert (
            post_api(client, body(phone="07700 900110"), secret, ip="10.0.0.2").status_code == 201
        )


def test_global_rate_limit_answers_429_whatever_the_address(app, client, secret):
    with settings_changed(app, intake_per_ip_per_minute=100, intake_global_per_minute=2):
        for n in range(2):
            ok = post_api(client, body(phone=f"07700 90020{n}"), secret, ip=f"10.1.0.{n + 1}")
            assert ok.status_code == 201
        before = counts()
        limited = post_api(client, body(phone="07700 900209"), secret, ip="10.1.0.9")
        assert_problem(limited, 429)
        assert counts() == before


# --- the Website API keys screen ------------------------------------------------------------


def test_an_admin_issues_a_key_that_is_shown_once_and_never_listed(client, staff):
    login(client, staff["admin"])
    page = client.get("/admin/api_keys/").get_data(as_text=True)

    issued = client.post(
        "/admin/api_keys/issue",
        data={"name": "www.example-rehab-help.co.uk", "csrf_token": csrf_token(page)},
        follow_redirects=True,
    )

    html = issued.get_data(as_text=True)
    secret = secret_in(html)
    assert "Copy this key now; it will not be shown again" in html and secret
    key = db.session.scalar(select(ApiKey).where(ApiKey.prefix == secret.split("_")[1]))
    assert key.key_hash != secret and secret not in key.key_hash
    listing = client.get("/admin/api_keys/").get_data(as_text=True)
    assert "www.example-rehab-help.co.uk" in listing and key.prefix in listing
    assert secret_in(listing) is None and key.key_hash not in listing
    assert "Revoke" in listing

    client.post(f"/admin/api_keys/revoke/{key.id}", data={"csrf_token": csrf_token(listing)})
    db.session.rollback()
    assert db.session.get(ApiKey, key.id).revoked_at is not None
    assert "Revoke</button>" not in client.get("/admin/api_keys/").get_data(as_text=True)


def test_issuing_a_key_without_a_name_is_refused(client, staff):
    login(client, staff["admin"])
    page = client.get("/admin/api_keys/").get_data(as_text=True)
    before = db.session.scalar(select(func.count()).select_from(ApiKey))
    html = client.post(
        "/admin/api_keys/issue",
        data={"name": "  ", "csrf_token": csrf_token(page)},
        follow_redirects=True,
    ).get_data(as_text=True)
    assert "Name the website the key is for" in html and secret_in(html) is None
    assert db.session.scalar(select(func.count()).select_from(ApiKey)) == before


@pytest.mark.parametrize("role", ["manager", "admissions"])
def test_only_admins_manage_api_keys(client, staff, secret, role):
    login(client, staff[role])
    token = csrf_token(client.get("/admin/").get_data(as_text=True))
    key = db.session.scalar(select(ApiKey).where(ApiKey.prefix == secret.split("_")[1]))
    before = db.session.scalar(select(func.count()).select_from(ApiKey))

    assert client.get("/admin/api_keys/").status_code == 403
    issue = client.post("/admin/api_keys/issue", data={"name": "x.example", "csrf_token": token})
    revoke = client.post(f"/admin/api_keys/revoke/{key.id}", data={"csrf_token": token})

    assert (issue.status_code, revoke.status_code) == (403, 403)
    assert secret_in(issue.get_data(as_text=True)) is None
    db.session.rollback()
    assert db.session.scalar(select(func.count()).select_from(ApiKey)) == before
    assert db.session.get(ApiKey, key.id).revoked_at is None


def test_both_rate_limit_counters_expire_after_two_windows(app, client, secret):
    """The counting script sets each counter's lifetime when it first counts it, so a
    window's counters go away by themselves (nothing in Redis grows without end)."""
    import redis as redis_lib

    from crm.intake import rate_limits

    assert post_api(client, body(phone="07700 900301"), secret, ip="10.2.0.1").status_code == 201
    assert post_api(client, body(phone="07700 900302"), secret, ip="10.2.0.1").status_code == 201
    store = redis_lib.Redis.from_url(app.config["RATELIMIT_STORAGE_URI"])
    prefix = app.config["RATELIMIT_KEY_PREFIX"]
    mine = [k for k in store.keys(f"{prefix}/intake-ip/10.2.0.1/*")]
    everyone = sorted(store.keys(f"{prefix}/intake-global/*"))
    assert len(mine) == 1 and everyone
    assert int(store.get(mine[0])) == 2
    for key in (mine[0], everyone[-1]):
        assert 0 < store.ttl(key) <= 2 * rate_limits.WINDOW_SECONDS


def _address_counter(app, address: str) -> int:
    import redis as redis_lib

    store = redis_lib.Redis.from_url(app.config["RATELIMIT_STORAGE_URI"])
    try:
        prefix = app.config["RATELIMIT_KEY_PREFIX"]
        (key,) = store.keys(f"{prefix}/intake-ip/{address}/*")
        return int(store.get(key))
    finally:
        store.close()


def test_the_counting_script_is_loaded_again_when_redis_has_forgotten_it(app, client, secret):
    """Redis forgets scripts on a restart or SCRIPT FLUSH: EVALSHA fails with NOSCRIPT, and
    the request is counted by EVAL instead (which loads it again), not waved through."""
    import redis as redis_lib

    assert post_api(client, body(phone="07700 900321"), secret, ip="10.2.0.2").status_code == 201
    store = redis_lib.Redis.from_url(app.config["RATELIMIT_STORAGE_URI"])
    try:
        store.script_flush()
        assert (
            post_api(client, body(phone="07700 900322"), secret, ip="10.2.0.2").status_code == 201
        )
        assert store.script_exists(rate_limits._COUNT_BOTH_SHA) == [True]
    finally:
        store.close()
    assert _address_counter(app, "10.2.0.2") == 2


def test_a_rate_limit_connection_redis_closed_is_replaced_and_the_request_counted(
    app, client, secret
):
    """The limits use a connection of the thread's own: one that Redis closed (a restart, a
    CLIENT KILL) is replaced once, so the request is counted rather than let through."""
    import redis as redis_lib

    assert post_api(client, body(phone="07700 900331"), secret, ip="10.2.0.3").status_code == 201
    mine = rate_limits._connection(app.config["RATELIMIT_STORAGE_URI"])
    host, port = mine._sock.getsockname()[:2]
    address = f"{host}:{port}"
    store = redis_lib.Redis.from_url(app.config["RATELIMIT_STORAGE_URI"])
    try:
        store.client_kill(address)
    finally:
        store.close()
    assert post_api(client, body(phone="07700 900332"), secret, ip="10.2.0.3").status_code == 201
    assert _address_counter(app, "10.2.0.3") == 2
    assert rate_limits._connection(app.config["RATELIMIT_STORAGE_URI"]) is not mine


def test_the_api_never_asks_a_half_signed_in_browser_for_its_second_step(client, secret, staff):
    """A website's key is not a staff session: a browser that has given a manager's password
    but not yet the second factor still reaches the API, not the second-step page."""
    from tests.conftest import PASSWORD

    page = client.get("/login").get_data(as_text=True)
    credentials = {"email": staff["manager"].email, "password": PASSWORD}
    answer = client.post("/login", data=credentials | {"csrf_token": csrf_token(page)})
    assert answer.headers["Location"].startswith("/login/second-step")
    gated = client.get("/admin/")
    assert gated.status_code == 302 and "/login/second-step" in gated.headers["Location"]

    answer = post_api(client, body(phone="07700 900311"), secret)
    assert answer.status_code == 201
    assert answer.get_json()["status"] == "received"
