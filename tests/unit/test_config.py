"""config.load_settings: defaults, strict parsing, production requirements, start-up refusal."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import config
from config import ConfigError, load_settings

REPO_ROOT = Path(__file__).resolve().parents[2]
GOOD_KEY = "k" * 40
PRODUCTION = {
    "CRM_ENV": "production",
    "SECRET_KEY": GOOD_KEY,
    "DATABASE_URL": "postgresql://crm:pw@db.internal:5432/crm",
    "REDIS_URL": "redis://redis.internal:6379/0",
    "SERVICE_LEGAL_NAME": "Example Referral Services Ltd",
    "SERVICE_ADDRESS": "1 Example Street | Leeds | LS1 1AA",
    "SERVICE_VAT_NUMBER": "GB123456789",
}


@pytest.fixture
def instance_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Keep the development key and default database out of the real instance/ folder."""
    monkeypatch.setattr(config, "INSTANCE_DIR", tmp_path / "instance")
    return tmp_path / "instance"


def test_development_defaults(instance_dir: Path) -> None:
    settings = load_settings({})
    assert settings.env == "development"
    assert settings.is_development
    assert settings.database_url == f"sqlite:///{instance_dir / 'crm.sqlite3'}"
    assert settings.redis_url == "redis://127.0.0.1:6379/0"
    assert settings.session_cookie_secure is False
    assert settings.session_idle_minutes == 60
    assert settings.session_max_hours == 12
    assert settings.login_failures_per_account == 5
    assert settings.login_failures_per_ip == 20
    assert settings.login_failure_window_minutes == 15
    assert settings.heartbeat_stale_seconds == 60
    assert settings.engine_tick_seconds == 5
    assert settings.trusted_proxies == 0
    assert settings.log_level == "INFO"
    flask = settings.flask_config()
    assert flask["SESSION_COOKIE_HTTPONLY"] is True
    assert flask["SESSION_COOKIE_SAMESITE"] == "Lax"
    assert flask["TESTING"] is False


def test_development_key_is_generated_once_and_kept_private(instance_dir: Path) -> None:
    first = load_settings({}).secret_key
    key_file = instance_dir / "dev-secret-key"
    assert key_file.read_text(encoding="utf-8").strip() == first
    assert len(first) >= 32
    assert key_file.stat().st_mode & 0o777 == 0o600
    assert load_settings({}).secret_key == first  # a restart keeps staff logged in


def test_test_environment_gets_a_random_key_without_touching_disk(instance_dir: Path) -> None:
    one = load_settings({"CRM_ENV": "test"}).secret_key
    two = load_settings({"CRM_ENV": "test"}).secret_key
    assert one != two
    assert not (instance_dir / "dev-secret-key").exists()


def test_production_defaults_to_secure_cookies() -> None:
    settings = load_settings(PRODUCTION)
    assert settings.session_cookie_secure is True
    assert settings.secret_key == GOOD_KEY


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("1", True),
        ("true", True),
        ("YES", True),
        (" on ", True),
        ("0", False),
        ("False", False),
        ("no", False),
        ("off", False),
        ("", False),
    ],
)
def test_booleans_accept_the_usual_spellings(raw: str, expected: bool) -> None:
    env = {"CRM_ENV": "test", "SESSION_COOKIE_SECURE": raw}
    assert load_settings(env).session_cookie_secure is expected


def test_unknown_boolean_names_the_variable() -> None:
    with pytest.raises(ConfigError, match="SESSION_COOKIE_SECURE") as excinfo:
        load_settings({"CRM_ENV": "test", "SESSION_COOKIE_SECURE": "maybe"})
    assert "'maybe'" in str(excinfo.value)


def test_integers_are_parsed_with_whitespace_trimmed() -> None:
    settings = load_settings({"CRM_ENV": "test", "SESSION_IDLE_MINUTES": " 30 "})
    assert settings.session_idle_minutes == 30


@pytest.mark.parametrize("raw", ["ten", "1.5", "0x10", "30m"])
def test_non_integer_names_the_variable(raw: str) -> None:
    with pytest.raises(ConfigError, match="SESSION_IDLE_MINUTES: expected a whole number"):
        load_settings({"CRM_ENV": "test", "SESSION_IDLE_MINUTES": raw})


@pytest.mark.parametrize(
    ("name", "raw", "minimum"),
    [
        ("SESSION_IDLE_MINUTES", "0", 1),
        ("SESSION_MAX_HOURS", "-3", 1),
        ("HEARTBEAT_STALE_SECONDS", "4", 5),
        ("TRUSTED_PROXIES", "-1", 0),
    ],
)
def test_integer_below_minimum_names_the_variable(name: str, raw: str, minimum: int) -> None:
    with pytest.raises(ConfigError, match=f"{name}: must be at least {minimum}"):
        load_settings({"CRM_ENV": "test", name: raw})


def test_unknown_environment_is_refused() -> None:
    with pytest.raises(ConfigError, match="CRM_ENV") as excinfo:
        load_settings({"CRM_ENV": "staging"})
    assert "development, test, production" in str(excinfo.value)


def test_unknown_log_level_is_refused() -> None:
    with pytest.raises(ConfigError, match="LOG_LEVEL"):
        load_settings({"CRM_ENV": "test", "LOG_LEVEL": "CHATTY"})


def test_production_requires_a_secret_key() -> None:
    env = {k: v for k, v in PRODUCTION.items() if k != "SECRET_KEY"}
    with pytest.raises(ConfigError, match="SECRET_KEY: required in production"):
        load_settings(env)


def test_production_refuses_a_short_secret_key() -> None:
    with pytest.raises(ConfigError, match="SECRET_KEY: must be at least 32"):
        load_settings({**PRODUCTION, "SECRET_KEY": "k" * 31})
    assert load_settings({**PRODUCTION, "SECRET_KEY": "k" * 32}).secret_key == "k" * 32


@pytest.mark.parametrize("name", ["DATABASE_URL", "REDIS_URL"])
def test_production_requires_explicit_servers(name: str) -> None:
    env = {k: v for k, v in PRODUCTION.items() if k != name}
    with pytest.raises(ConfigError, match=f"{name}: required in production"):
        load_settings(env)


def test_secret_key_file_is_read_and_trimmed(tmp_path: Path) -> None:
    key_file = tmp_path / "secret"
    key_file.write_text("s" * 48 + "\n", encoding="utf-8")
    env = {k: v for k, v in PRODUCTION.items() if k != "SECRET_KEY"}
    settings = load_settings({**env, "SECRET_KEY_FILE": str(key_file)})
    assert settings.secret_key == "s" * 48


@pytest.mark.parametrize("kind", ["missing", "directory"])
def test_unreadable_secret_key_file_names_the_variable(tmp_path: Path, kind: str) -> None:
    path = tmp_path / "absent" if kind == "missing" else tmp_path
    with pytest.raises(ConfigError, match="SECRET_KEY_FILE: cannot read") as excinfo:
        load_settings({**PRODUCTION, "SECRET_KEY_FILE": str(path)})
    assert str(path) in str(excinfo.value)


@pytest.mark.parametrize(
    "url", ["mysql://crm:pw@db/crm", "oracle+cx://db/crm", "not a url", "/var/lib/crm.db"]
)
def test_unsupported_database_url_is_refused(url: str) -> None:
    with pytest.raises(ConfigError, match="DATABASE_URL: expected a URL starting with"):
        load_settings({"CRM_ENV": "test", "DATABASE_URL": url})


def test_unsupported_redis_url_is_refused() -> None:
    with pytest.raises(ConfigError, match="REDIS_URL"):
        load_settings({"CRM_ENV": "test", "REDIS_URL": "http://127.0.0.1:6379"})


def test_postgresql_url_uses_the_psycopg_driver() -> None:
    settings = load_settings(PRODUCTION)
    assert settings.database_url == "postgresql+psycopg://crm:pw@db.internal:5432/crm"
    explicit = "postgresql+psycopg://crm@db/crm"
    assert load_settings({**PRODUCTION, "DATABASE_URL": explicit}).database_url == explicit


def test_sqlite_url_is_kept() -> None:
    url = "sqlite:////srv/crm/crm.sqlite3"
    assert load_settings({"CRM_ENV": "test", "DATABASE_URL": url}).database_url == url


def test_a_bad_variable_stops_the_web_process_starting() -> None:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("CRM_", "SECRET_KEY", "DATABASE_URL", "REDIS_URL", "SESSION_"))
    }
    env.update({"CRM_ENV": "test", "SESSION_COOKIE_SECURE": "maybe"})
    result = subprocess.run(
        [sys.executable, "-c", "import wsgi"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode != 0
    assert "ConfigError" in result.stderr
    assert "SESSION_COOKIE_SECURE" in result.stderr


@pytest.mark.parametrize("name", ["SERVICE_LEGAL_NAME", "SERVICE_ADDRESS", "SERVICE_VAT_NUMBER"])
def test_production_requires_the_biller_printed_on_invoices(name: str) -> None:
    env = {k: v for k, v in PRODUCTION.items() if k != name}
    with pytest.raises(ConfigError, match=f"{name}: required in production"):
        load_settings(env)


def test_multi_line_invoice_settings_are_split_on_bars(instance_dir: Path) -> None:
    settings = load_settings(PRODUCTION | {"INVOICE_PAYMENT_DETAILS": "Sort code 01-02-03 | Acc 1"})
    assert settings.service_address == "1 Example Street\nLeeds\nLS1 1AA"
    assert settings.invoice_payment_details == "Sort code 01-02-03\nAcc 1"
    assert load_settings({"CRM_ENV": "test"}).service_legal_name  # a default outside production
