"""Security headers on every kind of response, a per-request CSP nonce, nothing loaded off-site."""

from __future__ import annotations

import re

import pytest

from crm import clock
from tests.conftest import PASSWORD, next_code
from tests.support.html import csrf_token
from tests.web.conftest import page_csrf_token

NONCE = re.compile(r"'nonce-([A-Za-z0-9_-]{16,})'")
KEYWORD_SOURCES = {"'self'", "'none'", "'unsafe-inline'", "data:"}


def _csp(response) -> dict[str, list[str]]:  # type: ignore[no-untyped-def]
    header = response.headers.get("Content-Security-Policy", "")
    directives = {}
    for part in header.split(";"):
        name, *sources = part.split()
        directives[name] = sources
    return directives


def _nonce(response) -> str:  # type: ignore[no-untyped-def]
    (nonce,) = [m.group(1) for s in _csp(response)["script-src"] if (m := NONCE.fullmatch(s))]
    return nonce


def _assert_security_headers(response, label: str) -> None:  # type: ignore[no-untyped-def]
    csp = _csp(response)
    assert csp.get("default-src") == ["'self'"], label
    script = csp["script-src"]
    assert "'self'" in script and _nonce(response), label
    assert not {"'unsafe-inline'", "'unsafe-eval'", "*"} & set(script), label
    assert csp.get("frame-ancestors") == ["'none'"], label
    assert csp.get("object-src") == ["'none'"], label
    assert csp.get("base-uri") in (["'none'"], ["'self'"]), label
    assert csp.get("form-action") == ["'self'"], label
    # No other origin is allowed anywhere: only keywords, data: images and this request's nonce.
    for name, sources in csp.items():
        extra = [s for s in sources if s not in KEYWORD_SOURCES and not NONCE.fullmatch(s)]
        assert not extra, f"{label}: {name} allows {extra}"
    assert response.headers.get("X-Content-Type-Options") == "nosniff", label
    assert response.headers.get("Referrer-Policy") == "same-origin", label
    assert response.headers.get("X-Frame-Options") == "DENY", label
    assert "Strict-Transport-Security" not in response.headers, f"{label}: HSTS outside production"


def _responses(app, client_for):  # type: ignore[no-untyped-def]
    """One response of each kind: public, authenticated, errors, static files."""
    anonymous, admin, manager = client_for(None), client_for("admin"), client_for("manager")
    token = page_csrf_token(admin, "/admin/")
    cases = {
        "login page": (anonymous.get("/login"), False),
        "healthz": (anonymous.get("/healthz"), False),
        "404": (anonymous.get("/no-such-page"), False),
        "static file": (anonymous.get("/static/css/crm.css"), False),
        "admin static file": (anonymous.get("/admin/static/admin/js/helpers.js"), False),
        "login redirect": (anonymous.get("/admin/staff/"), False),
        "dashboard": (admin.get("/admin/"), True),
        "staff list": (admin.get("/admin/staff/"), True),
        "staff form": (admin.get("/admin/staff/new/"), True),
        "audit list": (admin.get("/admin/audit/"), True),
        "change password": (admin.get("/account/password"), True),
        "403": (manager.get("/admin/staff/"), True),
        "405": (admin.get("/logout"), True),
        "400 (CSRF)": (admin.post("/account/password", data={"csrf_token": token[:-2]}), True),
        "static file, logged in": (admin.get("/static/css/crm.css"), True),
    }
    return cases


def test_every_kind_of_response_carries_the_headers(app, client_for) -> None:  # type: ignore[no-untyped-def]
    cases = _responses(app, client_for)
    assert cases["404"][0].status_code == 404 and cases["403"][0].status_code == 403
    assert cases["405"][0].status_code == 405 and cases["400 (CSRF)"][0].status_code == 400
    assert cases["static file"][0].status_code == 200
    for label, (response, authenticated) in cases.items():
        try:
            _assert_security_headers(response, label)
            if authenticated:
                assert "no-store" in response.headers.get("Cache-Control", ""), label
        finally:
            response.close()


def test_pages_are_not_cached_but_public_static_files_may_be(client_for) -> None:  # type: ignore[no-untyped-def]
    anonymous = client_for(None)
    assert "no-store" in anonymous.get("/login").headers.get("Cache-Control", "")
    static = anonymous.get("/static/css/crm.css")
    try:
        assert "no-store" not in static.headers.get("Cache-Control", "")
    finally:
        static.close()


def test_nonce_is_new_on_every_request(client_for) -> None:  # type: ignore[no-untyped-def]
    admin = client_for("admin")
    nonces = [_nonce(admin.get("/admin/")) for _ in range(3)]
    nonces.append(_nonce(client_for(None).get("/login")))
    assert len(set(nonces)) == len(nonces)


@pytest.mark.parametrize(
    "path",
    ["/admin/", "/admin/staff/", "/admin/staff/new/", "/admin/audit/", "/admin/engine_health/"],
)
def test_every_script_carries_this_requests_nonce(client_for, path) -> None:  # type: ignore[no-untyped-def]
    response = client_for("admin").get(path)
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    nonce = _nonce(response)
    scripts = re.findall(r"<script\b[^>]*>", html)
    assert scripts, "the admin pages load their scripts"
    for tag in scripts:
        assert f'nonce="{nonce}"' in tag, tag
    # Nothing is loaded from another site (no CDN): every script and stylesheet is ours.
    for tag in scripts + re.findall(r"<link\b[^>]*>", html):
        url = re.search(r'\b(?:src|href)="([^"]*)"', tag)
        if url:
            local = url.group(1).startswith("/") and not url.group(1).startswith("//")
            assert local or url.group(1).startswith("data:"), tag
    assert not re.search(r'<(?:script|link)\b[^>]*(?:src|href)="(?:https?:)?//', html)
    # No inline event handlers survive without the script that re-attaches them.
    assert "/static/js/admin-csp.js" in html


def test_login_page_loads_nothing_off_site(client) -> None:  # type: ignore[no-untyped-def]
    html = client.get("/login").get_data(as_text=True)
    assert not re.search(r'(?:src|href)="(?:https?:)?//', html)


def test_hsts_only_in_production(app, production_app, client_for) -> None:  # type: ignore[no-untyped-def]
    for path in ("/login", "/healthz", "/no-such-page"):
        response = production_app.test_client().get(path, base_url="https://localhost")
        hsts = response.headers.get("Strict-Transport-Security", "")
        max_age = re.search(r"max-age=(\d+)", hsts)
        assert max_age and int(max_age.group(1)) >= 31536000, path
        assert _csp(response)["frame-ancestors"] == ["'none'"]
        assert "Strict-Transport-Security" not in app.test_client().get(path).headers


def test_login_works_in_production_over_https(production_app, staff) -> None:  # type: ignore[no-untyped-def]
    """Secure cookies and strict (Referer-checked) CSRF still let staff log in over HTTPS."""
    # Read first: each request to this second app ends the test's session (detaching the user).
    email, name, user_id = staff["admin"].email, staff["admin"].name, staff["admin"].id
    code, at = next_code(user_id)
    client = production_app.test_client()
    base = "https://localhost"
    token = csrf_token(client.get("/login", base_url=base).get_data(as_text=True))
    response = client.post(
        "/login",
        base_url=base,
        headers={"Referer": f"{base}/login"},
        data={"email": email, "password": PASSWORD, "csrf_token": token},
    )
    assert response.status_code == 302 and response.headers["Location"] == "/login/second-step"
    page = f"{base}/login/second-step"
    token = csrf_token(client.get("/login/second-step", base_url=base).get_data(as_text=True))
    with clock.pinned(at):  # type: ignore[arg-type]
        response = client.post(
            "/login/second-step",
            base_url=base,
            headers={"Referer": page},
            data={"code": code, "csrf_token": token},
        )
    assert response.status_code == 302 and response.headers["Location"] == "/admin/"
    dashboard = client.get("/admin/", base_url=base)
    assert dashboard.status_code == 200 and name in dashboard.get_data(as_text=True)
    assert dashboard.headers.get("Strict-Transport-Security")
    assert "no-store" in dashboard.headers["Cache-Control"]
