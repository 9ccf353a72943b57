"""Two-factor sign-in through HTTP: enrolment forced on managers and admins, the code and its
replay rule, recovery codes, passkeys (a software authenticator makes real WebAuthn answers),
the per-account limit, an admin's reset, step-up before exports; bad input refused, audited."""

from __future__ import annotations

import json
import re
from datetime import timedelta

from flask.testing import FlaskClient
from sqlalchemy import select

from crm import clock
from crm.auth import factors, totp
from crm.auth.models import Passkey, RecoveryCode, StaffSession, TotpFactor
from crm.extensions import db
from tests.conftest import PASSWORD, TOTP_SECRETS, create_staff, login, next_code
from tests.support.html import csrf_token
from tests.support.soft_authenticator import SoftAuthenticator
from tests.web.conftest import audit_events, location_of, page_csrf_token, post_login

BASE = "http://127.0.0.1:5000"  # the test settings' PUBLIC_BASE_URL: the passkeys' origin


def _password(client: FlaskClient, user) -> str:  # type: ignore[no-untyped-def]
    response = post_login(client, user.email, PASSWORD)
    assert response.status_code == 302
    return location_of(response)


def _post(client: FlaskClient, path: str, data: dict[str, str]):  # type: ignore[no-untyped-def]
    token = csrf_token(client.get(path).get_data(as_text=True))
    return client.post(path, data={"csrf_token": token, **data})


def _flashes(response) -> str:  # type: ignore[no-untyped-def]
    return response.get_data(as_text=True)


def test_a_new_manager_must_enrol_and_can_open_nothing_else(client: FlaskClient) -> None:
    manager = create_staff("manager", second_factor=False)
    assert _password(client, manager) == "/login/enrol"
    for path in ("/admin/", "/admin/queue/", "/admin/reports/intake/", "/account/security"):
        response = client.get(path)
        assert response.status_code == 302 and location_of(response).startswith("/login/enrol"), (
            path
        )
    page = client.get("/login/enrol").get_data(as_text=True)
    secret = re.search(r'data-testid="totp-secret">([A-Z2-7]+)<', page).group(1)  # type: ignore[union-attr]
    token = re.search(r'name="token" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
    assert 'src="data:image/svg+xml' in page  # the QR code, drawn on the server
    form = csrf_token(page)
    # A missing or forged token, or a wrong code: refused, nothing enrolled.
    for data, message in [
        ({"code": "123456"}, "enrolment token is missing"),
        ({"token": token[:-4] + "abcd", "code": "123456"}, "enrolment token is not valid"),
        ({"token": token, "code": "12345"}, "6-digit code"),
    ]:
        body = client.post("/login/enrol", data={"csrf_token": form, **data}).get_data(as_text=True)
        assert message in body, message
        assert (
            db.session.scalar(
                select(TotpFactor.confirmed_at).where(TotpFactor.user_id == manager.id)
            )
            is None
        )
    # The page was drawn again by each refusal: its newest secret and token are the live ones.
    page = client.get("/login/enrol").get_data(as_text=True)
    secret = re.search(r'data-testid="totp-secret">([A-Z2-7]+)<', page).group(1)  # type: ignore[union-attr]
    token = re.search(r'name="token" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
    code = totp.code_at(secret, totp.step_at(clock.now()))
    response = client.post("/login/enrol", data={"csrf_token": form, "token": token, "code": code})
    assert location_of(response) == "/login/recovery-codes"
    codes = re.findall(
        r"<li>([a-z0-9]{5}-[a-z0-9]{5})</li>",
        client.get("/login/recovery-codes").get_data(as_text=True),
    )
    assert len(codes) == 10
    assert client.get("/login/recovery-codes").status_code == 302, "shown once"
    assert client.get("/admin/").status_code == 200
    stored = db.session.scalars(
        select(RecoveryCode.code_hash).where(RecoveryCode.user_id == manager.id)
    ).all()
    assert len(stored) == 10 and all(h.startswith("$argon2") for h in stored)
    assert not any(c.replace("-", "") in h for c in codes for h in stored)
    assert {e.action for e in audit_events(actor_id=manager.id)} >= {
        "factor_added",
        "recovery_codes_created",
    }


def test_the_second_step_accepts_a_code_once(client: FlaskClient, staff) -> None:  # type: ignore[no-untyped-def]
    admin = staff["admin"]
    assert _password(client, admin) == "/login/second-step"
    assert location_of(client.get("/admin/")).startswith("/login/second-step")
    code, at = next_code(admin.id)
    with clock.pinned(at):  # type: ignore[arg-type]
        body = _flashes(
            _post(
                client, "/login/second-step", {"code": "000000" if code != "000000" else "111111"}
            )
        )
        assert "wrong or has expired" in body
        body = _flashes(_post(client, "/login/second-step", {"code": "12ab56"}))
        assert "6-digit code" in body
        assert client.get("/admin/").status_code == 302
        response = _post(client, "/login/second-step", {"code": code})
        assert location_of(response) == "/admin/"
    assert client.get("/admin/").status_code == 200
    row = db.session.scalar(
        select(StaffSession).where(
            StaffSession.user_id == admin.id, StaffSession.second_factor == "totp"
        )
    )
    assert row is not None and row.second_factor_at == at
    # The same code in the same 30 seconds, on another login: refused (replay).
    other = client.application.test_client()
    _password(other, admin)
    with clock.pinned(at + timedelta(seconds=5)):  # type: ignore[operator]
        body = _flashes(_post(other, "/login/second-step", {"code": code}))
    assert "already been used" in body
    outcomes = [e.outcome for e in audit_events(action="second_factor", object_id=str(admin.id))]
    assert outcomes.count("failure") == 3 and outcomes.count("success") == 1


def test_a_recovery_code_works_once_and_says_how_many_are_left(client: FlaskClient) -> None:
    manager = create_staff("manager", second_factor=False)
    secret = _enrol(manager)
    codes = _new_codes(manager)
    _password(client, manager)
    response = _post(client, "/login/second-step", {"recovery_code": codes[0].upper()})
    assert location_of(response) == "/account/security"
    page = client.get("/account/security").get_data(as_text=True)
    assert "You have 9 left: make new ones now" in page and "9 of 10 unused" in page
    other = client.application.test_client()
    _password(other, manager)
    body = _flashes(_post(other, "/login/second-step", {"recovery_code": codes[0]}))
    assert "wrong or was already used" in body
    assert location_of(other.get("/admin/")).startswith("/login/second-step")
    assert secret and [e.outcome for e in audit_events(action="recovery_code_used")] == [
        "success",
        "failure",
    ]


def _enrol(user) -> str:  # type: ignore[no-untyped-def]
    from tests.conftest import enrol_authenticator

    return enrol_authenticator(user)


def _new_codes(user) -> list[str]:  # type: ignore[no-untyped-def]
    from crm.privacy.services import Actor

    codes = factors.new_recovery_codes(user.id, Actor.system("tests"))
    db.session.commit()
    return codes


def test_the_second_step_is_limited_per_account(client: FlaskClient, staff, app) -> None:  # type: ignore[no-untyped-def]
    admin = staff["admin"]
    _password(client, admin)
    limit = app.config["CRM_SETTINGS"].login_failures_per_account
    for attempt in range(limit):
        assert _post(client, "/login/second-step", {"code": "000001"}).status_code == 200, attempt
    blocked = _post(client, "/login/second-step", {"code": next_code(admin.id)[0]})
    assert blocked.status_code == 429 and "Too many wrong codes" in blocked.get_data(as_text=True)
    assert location_of(client.get("/admin/")).startswith("/login/second-step")
    assert audit_events(action="second_factor", outcome="rate_limited")


def test_optional_for_admissions_until_they_enrol(client: FlaskClient, staff) -> None:  # type: ignore[no-untyped-def]
    advisor = staff["admissions"]
    assert _password(client, advisor) == "/admin/"
    _enrol(advisor)
    fresh = client.application.test_client()
    assert _password(fresh, advisor) == "/login/second-step"


def test_passkeys_register_sign_in_and_bad_answers(client: FlaskClient, staff) -> None:  # type: ignore[no-untyped-def]
    admin = staff["admin"]
    login(client, admin)
    key = SoftAuthenticator("127.0.0.1", BASE)
    csrf = page_csrf_token(client, "/account/security")
    headers = {"X-CSRFToken": csrf}
    options = client.post("/account/passkeys/options", headers=headers).get_json()
    # An answer for another origin, or to another challenge: refused, nothing stored.
    bad = client.post(
        "/account/passkeys",
        headers=headers,
        json={"credential": key.create(options, origin="https://evil.example"), "name": "Laptop"},
    )
    assert bad.status_code == 400 and "not accepted" in bad.get_json()["message"]
    options = client.post("/account/passkeys/options", headers=headers).get_json()
    stale = dict(options, challenge=options["challenge"][::-1])
    assert (
        client.post(
            "/account/passkeys", headers=headers, json={"credential": key.create(stale)}
        ).status_code
        == 400
    )
    assert db.session.scalar(select(Passkey.id)) is None
    options = client.post("/account/passkeys/options", headers=headers).get_json()
    ok = client.post(
        "/account/passkeys",
        headers=headers,
        json={"credential": key.create(options), "name": "Laptop"},
    )
    assert ok.get_json() == {"ok": True, "next": "/account/security"}
    assert [p.name for p in db.session.scalars(select(Passkey))] == ["Laptop"]

    # Signing in with it.
    fresh = client.application.test_client()
    _password(fresh, admin)
    token = page_csrf_token(fresh, "/login/second-step")
    options = fresh.post("/login/passkey/options", headers={"X-CSRFToken": token}).get_json()
    other_user_key = SoftAuthenticator("127.0.0.1", BASE)
    refused = fresh.post(
        "/login/passkey",
        headers={"X-CSRFToken": token},
        json={"credential": other_user_key.get(options)},
    )
    assert refused.status_code == 400 and "not registered to you" in refused.get_json()["message"]
    options = fresh.post("/login/passkey/options", headers={"X-CSRFToken": token}).get_json()
    answer = fresh.post(
        "/login/passkey", headers={"X-CSRFToken": token}, json={"credential": key.get(options)}
    )
    assert answer.get_json()["ok"] is True
    assert fresh.get("/admin/").status_code == 200
    # The same signed answer again (its challenge is spent): refused.
    again = fresh.post(
        "/login/passkey", headers={"X-CSRFToken": token}, json={"credential": key.get(options)}
    )
    assert again.status_code == 400
    assert json.loads(json.dumps(answer.get_json()))["next"] == "/admin/"


def test_an_admin_resets_another_persons_factors_never_their_own(client_for, staff) -> None:  # type: ignore[no-untyped-def]
    admin, manager = staff["admin"], staff["manager"]
    client = client_for("admin")
    token = page_csrf_token(client, "/admin/staff/")
    own = client.post(f"/admin/staff/{admin.id}/reset-factors", data={"csrf_token": token})
    assert "ask another admin" in client.get(location_of(own)).get_data(as_text=True)
    assert db.session.scalar(select(TotpFactor.id).where(TotpFactor.user_id == admin.id))
    done = client.post(f"/admin/staff/{manager.id}/reset-factors", data={"csrf_token": token})
    assert "second factors were reset" in client.get(location_of(done)).get_data(as_text=True)
    assert db.session.scalar(select(TotpFactor.id).where(TotpFactor.user_id == manager.id)) is None
    TOTP_SECRETS.pop(manager.id, None)
    fresh = client.application.test_client()
    assert _password(fresh, manager) == "/login/enrol"
    assert [e.outcome for e in audit_events(action="factors_reset")] == ["denied", "success"]


def test_exports_ask_for_a_fresh_second_factor(client_for, staff) -> None:  # type: ignore[no-untyped-def]
    manager = client_for("manager")
    path = "/admin/reports/intake/export.csv"
    assert manager.get(path).status_code == 200
    with clock.pinned(clock.now() + timedelta(minutes=16)):
        response = manager.get(path)
        assert response.status_code == 302 and location_of(response).startswith("/login/step-up")
        _, at = next_code(staff["manager"].id)
    with clock.pinned(max(at, clock.now() + timedelta(minutes=16))):  # type: ignore[type-var]
        step_up = location_of(response)
        token = csrf_token(manager.get(step_up).get_data(as_text=True))
        back = manager.post(
            step_up,
            data={
                "code": totp.code_at(TOTP_SECRETS[staff["manager"].id], totp.step_at(clock.now())),
                "csrf_token": token,
            },
        )
        assert location_of(back) == path
        assert manager.get(path).status_code == 200
