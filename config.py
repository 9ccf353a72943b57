"""All settings, parsed strictly from the environment; a bad value stops start-up."""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent
INSTANCE_DIR = ROOT / "instance"
ENVIRONMENTS = ("development", "test", "production")
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


class ConfigError(Exception):
    """A setting is missing or malformed; the message names the variable."""


def _raw(env: Mapping[str, str], name: str) -> str | None:
    """Read NAME, or the file named by NAME_FILE (for secrets mounted by the platform)."""
    file_name = env.get(f"{name}_FILE")
    if file_name:
        try:
            return Path(file_name).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigError(f"{name}_FILE: cannot read {file_name!r}: {exc.strerror}") from exc
    value = env.get(name)
    return value.strip() if value is not None else None


def _bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    value = _raw(env, name)
    if value is None or value == "":
        return default
    if value.lower() in _TRUE:
        return True
    if value.lower() in _FALSE:
        return False
    raise ConfigError(f"{name}: expected true/false (1/0, yes/no, on/off), got {value!r}")


def _int(env: Mapping[str, str], name: str, default: int, minimum: int = 0) -> int:
    value = _raw(env, name)
    if value is None or value == "":
        return default
    try:
        number = int(value)
    except ValueError:
        raise ConfigError(f"{name}: expected a whole number, got {value!r}") from None
    if number < minimum:
        raise ConfigError(f"{name}: must be at least {minimum}, got {number}")
    return number


def _choice(env: Mapping[str, str], name: str, default: str, choices: tuple[str, ...]) -> str:
    value = _raw(env, name) or default
    if value not in choices:
        raise ConfigError(f"{name}: expected one of {', '.join(choices)}, got {value!r}")
    return value


def _url(env: Mapping[str, str], name: str, default: str, schemes: tuple[str, ...]) -> str:
    value = _raw(env, name) or default
    scheme = value.split(":", 1)[0].split("+", 1)[0]
    if ":" not in value or scheme not in schemes:
        raise ConfigError(f"{name}: expected a URL starting with {' or '.join(schemes)}")
    return value


def _dev_secret_key() -> str:
    """A development key kept under instance/ so restarts keep staff logged in."""
    INSTANCE_DIR.mkdir(exist_ok=True)
    path = INSTANCE_DIR / "dev-secret-key"
    if not path.exists():
        path.write_text(secrets.token_hex(32), encoding="utf-8")
        path.chmod(0o600)
    return path.read_text(encoding="utf-8").strip()


@dataclass(frozen=True)
class Settings:
    """Every setting the processes read. Build one with ``load_settings``."""

    env: str
    secret_key: str
    database_url: str
    redis_url: str
    session_cookie_secure: bool
    session_idle_minutes: int
    session_max_hours: int
    login_failures_per_account: int
    login_failures_per_ip: int
    login_failure_window_minutes: int
    heartbeat_stale_seconds: int
    engine_tick_seconds: int
    trusted_proxies: int
    log_level: str
    callback_target_minutes: int = 15
    # Managers and admins always need a second factor; admissions staff by this setting.
    admissions_second_factor: str = "optional"
    step_up_minutes: int = 15  # exports and downloads ask again after this long
    capacity_stale_days: int = 7
    intake_per_ip_per_minute: int = 20
    intake_global_per_minute: int = 600
    callback_frame_ancestors: str = "'self'"
    public_base_url: str = "http://127.0.0.1:5000"
    ack_link_hours: int = 24
    notify_delivery: str = "dev_outbox"
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 1025
    smtp_from: str = "admissions-crm@localhost"
    smtp_username: str | None = None
    smtp_password: str | None = None
    smtp_starttls: bool = False
    sms_provider: str = "none"
    twilio_account_sid: str = ""
    twilio_auth_token: str = ""
    twilio_from: str = ""
    twilio_api_base: str = "https://api.twilio.com"
    allow_http_webhooks: bool = False
    # Who invoices are from (crm.fees): printed on every invoice and credit note.
    service_legal_name: str = "Admissions Referral Services Ltd"
    service_address: str = "1 Example Street\nLeeds\nLS1 1AA"
    service_vat_number: str = ""
    invoice_payment_details: str = "Bank transfer: see your agreement for our account details."
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def is_development(self) -> bool:
        return self.env == "development"

    def flask_config(self) -> dict[str, Any]:
        """The Flask ``app.config`` mapping for these settings."""
        return {
            "CRM_SETTINGS": self,
            "SECRET_KEY": self.secret_key,
            "SQLALCHEMY_DATABASE_URI": self.database_url,
            "SQLALCHEMY_ENGINE_OPTIONS": _engine_options(self.database_url),
            "SESSION_COOKIE_SECURE": self.session_cookie_secure,
            "SESSION_COOKIE_HTTPONLY": True,
            "SESSION_COOKIE_SAMESITE": "Lax",
            "SESSION_COOKIE_NAME": "crm_session",
            "REMEMBER_COOKIE_DURATION": 0,
            "WTF_CSRF_TIME_LIMIT": 8 * 3600,
            "RATELIMIT_STORAGE_URI": self.redis_url,
            "RATELIMIT_KEY_PREFIX": "crm-limits",
            "RATELIMIT_HEADERS_ENABLED": False,
            "RATELIMIT_SWALLOW_ERRORS": True,
            "TESTING": self.env == "test",
            # Nothing staff or the public send is anywhere near this; bigger bodies are refused.
            "MAX_CONTENT_LENGTH": 1024 * 1024,
            **self.extra,
        }


NEVER_AUTOMATICALLY = 2**62  # executions of one statement before psycopg would prepare it


def _engine_options(database_url: str) -> dict[str, Any]:
    options: dict[str, Any] = {"pool_pre_ping": True}
    if database_url.startswith("postgresql"):
        # No automatic server-side prepared statements: after five runs of one statement
        # PostgreSQL may plan it once for any parameters, and a search then ignores how rare
        # its term is. (None would also refuse the one statement that asks to be prepared,
        # the intake's look-up, crm.intake.inbox: a threshold never reached allows it.)
        options["connect_args"] = {"prepare_threshold": NEVER_AUTOMATICALLY}
    return options


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Parse the environment; raise ConfigError naming the first bad variable."""
    env = os.environ if env is None else env
    app_env = _choice(env, "CRM_ENV", "development", ENVIRONMENTS)
    production = app_env == "production"
    secret_key = _raw(env, "SECRET_KEY")
    if not secret_key:
        if production:
            raise ConfigError("SECRET_KEY: required in production (or SECRET_KEY_FILE)")
        secret_key = _dev_secret_key() if app_env == "development" else secrets.token_hex(32)
    elif production and len(secret_key) < 32:
        raise ConfigError("SECRET_KEY: must be at least 32 characters in production")
    default_db = f"sqlite:///{INSTANCE_DIR / 'crm.sqlite3'}"
    database_url = _url(env, "DATABASE_URL", default_db, ("sqlite", "postgresql"))
    if database_url.startswith("postgresql://"):
        database_url = "postgresql+psycopg://" + database_url.removeprefix("postgresql://")
    if production and not _raw(env, "DATABASE_URL"):
        raise ConfigError("DATABASE_URL: required in production")
    redis_url = _url(env, "REDIS_URL", "redis://127.0.0.1:6379/0", ("redis", "rediss", "unix"))
    if production and not _raw(env, "REDIS_URL"):
        raise ConfigError("REDIS_URL: required in production")
    return Settings(
        env=app_env,
        secret_key=secret_key,
        database_url=database_url,
        redis_url=redis_url,
        session_cookie_secure=_bool(env, "SESSION_COOKIE_SECURE", app_env == "production"),
        session_idle_minutes=_int(env, "SESSION_IDLE_MINUTES", 60, minimum=1),
        session_max_hours=_int(env, "SESSION_MAX_HOURS", 12, minimum=1),
        login_failures_per_account=_int(env, "LOGIN_FAILURES_PER_ACCOUNT", 5, minimum=1),
        login_failures_per_ip=_int(env, "LOGIN_FAILURES_PER_IP", 20, minimum=1),
        login_failure_window_minutes=_int(env, "LOGIN_FAILURE_WINDOW_MINUTES", 15, minimum=1),
        heartbeat_stale_seconds=_int(env, "HEARTBEAT_STALE_SECONDS", 60, minimum=5),
        engine_tick_seconds=_int(env, "ENGINE_TICK_SECONDS", 5, minimum=1),
        trusted_proxies=_int(env, "TRUSTED_PROXIES", 0),
        log_level=_choice(env, "LOG_LEVEL", "INFO", ("DEBUG", "INFO", "WARNING", "ERROR")),
        callback_target_minutes=_int(env, "CALLBACK_TARGET_MINUTES", 15, minimum=1),
        admissions_second_factor=_choice(
            env, "ADMISSIONS_SECOND_FACTOR", "optional", ("optional", "required")
        ),
        step_up_minutes=_int(env, "STEP_UP_MINUTES", 15, minimum=1),
        capacity_stale_days=_int(env, "CAPACITY_STALE_DAYS", 7, minimum=1),
        intake_per_ip_per_minute=_int(env, "INTAKE_PER_IP_PER_MINUTE", 20, minimum=1),
        intake_global_per_minute=_int(env, "INTAKE_GLOBAL_PER_MINUTE", 600, minimum=1),
        callback_frame_ancestors=_frame_ancestors(env),
        **_notification_settings(env, app_env),
        **_invoicing_settings(env, production),
    )


def _notification_settings(env: Mapping[str, str], app_env: str) -> dict[str, Any]:
    """Where messages go: the dev outbox in development, real channels elsewhere."""
    default_delivery = "dev_outbox" if app_env == "development" else "live"
    delivery = _choice(env, "NOTIFY_DELIVERY", default_delivery, ("dev_outbox", "live"))
    sms = _choice(env, "SMS_PROVIDER", "none", ("none", "twilio"))
    twilio = {
        "twilio_account_sid": _raw(env, "TWILIO_ACCOUNT_SID") or "",
        "twilio_auth_token": _raw(env, "TWILIO_AUTH_TOKEN") or "",
        "twilio_from": _raw(env, "TWILIO_FROM") or "",
        "twilio_api_base": _url(
            env, "TWILIO_API_BASE", "https://api.twilio.com", ("https", "http")
        ),
    }
    if sms == "twilio" and not all(
        twilio[k] for k in ("twilio_account_sid", "twilio_auth_token", "twilio_from")
    ):
        raise ConfigError(
            "TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN and TWILIO_FROM: all required "
            "when SMS_PROVIDER=twilio"
        )
    return {
        "public_base_url": _url(env, "PUBLIC_BASE_URL", "http://127.0.0.1:5000", ("https", "http")),
        "ack_link_hours": _int(env, "ACK_LINK_HOURS", 24, minimum=1),
        "notify_delivery": delivery,
        "smtp_host": _raw(env, "SMTP_HOST") or "127.0.0.1",
        "smtp_port": _int(env, "SMTP_PORT", 1025, minimum=1),
        "smtp_from": _raw(env, "SMTP_FROM") or "admissions-crm@localhost",
        "smtp_username": _raw(env, "SMTP_USERNAME") or None,
        "smtp_password": _raw(env, "SMTP_PASSWORD") or None,
        "smtp_starttls": _bool(env, "SMTP_STARTTLS", False),
        "sms_provider": sms,
        **twilio,
        # Chat webhooks must be https outside development (they carry page links).
        "allow_http_webhooks": _bool(env, "ALLOW_HTTP_WEBHOOKS", app_env == "development"),
    }


def _lines(value: str) -> str:
    """A multi-line setting written on one line with " | " between lines."""
    return "\n".join(part.strip() for part in value.split("|") if part.strip())


def _invoicing_settings(env: Mapping[str, str], production: bool) -> dict[str, Any]:
    """The biller on invoices; in production the legal name, address and VAT number are
    required (an invoice without them is not a valid VAT invoice)."""
    values = {
        "service_legal_name": _raw(env, "SERVICE_LEGAL_NAME") or "",
        "service_address": _lines(_raw(env, "SERVICE_ADDRESS") or ""),
        "service_vat_number": _raw(env, "SERVICE_VAT_NUMBER") or "",
        "invoice_payment_details": _lines(_raw(env, "INVOICE_PAYMENT_DETAILS") or ""),
    }
    if production:
        for name in ("service_legal_name", "service_address", "service_vat_number"):
            if not values[name]:
                raise ConfigError(f"{name.upper()}: required in production (printed on invoices)")
    defaults = Settings.__dataclass_fields__
    return {name: value or defaults[name].default for name, value in values.items()}


def _frame_ancestors(env: Mapping[str, str]) -> str:
    """Origins allowed to frame the hosted callback form (the service's own website)."""
    value = _raw(env, "CALLBACK_FRAME_ANCESTORS") or "'self'"
    for origin in value.split():
        if origin not in ("'self'", "'none'") and not origin.startswith("https://"):
            raise ConfigError(
                f"CALLBACK_FRAME_ANCESTORS: {origin!r} is not 'self', 'none' or an https origin"
            )
        if any(ch in origin for ch in ';,"\n'):
            raise ConfigError(f"CALLBACK_FRAME_ANCESTORS: {origin!r} contains ; , or quotes")
    return value
