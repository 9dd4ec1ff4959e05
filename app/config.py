"""Configuration, read from the environment once, when the app is created.

Every setting is documented in docs/operations.md. ``APP_ENV`` picks the class:
``development`` (``make dev``), ``testing`` (the test suite) or ``production``
(the default, so a forgotten variable fails closed rather than open).
"""

from __future__ import annotations

import os
import re
import secrets
from decimal import Decimal, InvalidOperation
from pathlib import Path
from urllib.parse import quote
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

ROOT = Path(__file__).resolve().parent.parent
INSTANCE = ROOT / "instance"
_PACKAGE = Path(__file__).resolve().parent
#: The folder holding ``templates/``, ``static/``, ``translations/`` and ``migrations/``: the
#: repository's top level in a checkout (and an editable install); the package itself in an
#: installed wheel, where the build copies them (setup.py; docs/operations.md).
RESOURCES = _PACKAGE if (_PACKAGE / "templates").is_dir() else ROOT

POOLERS = ("none", "pgbouncer")
PAYMENT_PROVIDERS = ("sandbox", "paymongo", "xendit")


class ConfigError(RuntimeError):
    """The environment does not describe a runnable app."""


def _int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw in (None, ""):
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ConfigError(f"{name} must be a whole number, got {raw!r}") from exc


def _float(name: str, default: float) -> float:
    raw = os.environ.get(name)
    if raw in (None, ""):
        return default
    try:
        return float(raw)
    except ValueError as exc:
        raise ConfigError(f"{name} must be a number, got {raw!r}") from exc


# The values app.gateway.sandbox.REFUND_FAULTS describes ("" behaves).
SANDBOX_REFUND_FAULTS = (
    "",
    "refuse",
    "unavailable_before",
    "timeout_after",
    "unavailable_after",
    "hang_after",
)


def _choice(name: str, allowed: tuple[str, ...]) -> str:
    raw = os.environ.get(name, "")
    if raw not in allowed:
        choices = ", ".join(repr(v) for v in allowed)
        raise ConfigError(f"{name} must be one of {choices}; got {raw!r}")
    return raw


def _tax_rate() -> Decimal:
    raw = os.environ.get("TAX_RATE", "0.12")
    try:
        rate = Decimal(raw)
    except InvalidOperation as exc:
        raise ConfigError(f"TAX_RATE must be a decimal such as 0.12, got {raw!r}") from exc
    if not (Decimal(0) <= rate < Decimal(1)):
        raise ConfigError(f"TAX_RATE must be between 0 and 1, got {raw!r}")
    return rate


def _bool(name: str, default: str) -> bool:
    raw = os.environ.get(name, default)
    if raw not in ("0", "1"):
        raise ConfigError(f"{name} must be 0 or 1, got {raw!r}")
    return raw == "1"


def _branch_code(tin: str) -> str:
    """``CLINIC_BRANCH_CODE``: the BIR branch code printed after the TIN (``00000``: the head
    office). Defaults to a TIN's fourth group (``000-123-456-00000``), else ``00000``."""
    groups = tin.split("-")
    default = groups[3] if len(groups) == 4 else "00000"
    code = os.environ.get("CLINIC_BRANCH_CODE") or default
    if not re.fullmatch(r"[0-9]{3,5}", code):
        raise ConfigError(f"CLINIC_BRANCH_CODE must be 3 to 5 digits such as 00000, got {code!r}")
    return code


def clinic_timezone(name: str) -> ZoneInfo:
    """The IANA zone ``name`` (``Asia/Manila``).

    :raise ConfigError: not a zone name the system's tz database knows.
    """
    try:
        if not name or name != name.strip():
            raise ValueError(name)
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError) as exc:
        raise ConfigError(
            f"CLINIC_TIMEZONE must be an IANA time zone name such as Asia/Manila, got {name!r}"
        ) from exc


# Shown on receipts, invoices and every page's footer. Development gets demo values;
# production must say who is being paid.
CLINIC_SETTINGS = (
    "CLINIC_NAME",
    "CLINIC_ADDRESS",
    "CLINIC_TIN",
    "CLINIC_CONTACT_EMAIL",
    "CLINIC_CONTACT_PHONE",
    # The invoice's fixed lines (docs/invoices.md): the registered business style, and the
    # BIR's acknowledgement (or permit to use) number of this computerized invoicing system.
    "CLINIC_BUSINESS_STYLE",
    "CLINIC_INVOICE_PERMIT",
)
DEMO_CLINIC = {
    "CLINIC_NAME": "Demo Family Clinic",
    "CLINIC_ADDRESS": "123 Demo Street, Barangay Sample, Quezon City 1100, Philippines",
    "CLINIC_TIN": "000-123-456-00000",
    "CLINIC_CONTACT_EMAIL": "billing@clinic.example",
    "CLINIC_CONTACT_PHONE": "+63 2 8123 4567",
    "CLINIC_BUSINESS_STYLE": "Demo Family Clinic Medical Services",
    "CLINIC_INVOICE_PERMIT": "Acknowledgement Certificate No. DEMO-0000-0000000 issued 2026-01-05",
}

#: The clinic's logo on the checkout: a file under static/ (SVG or PNG, shown 40 px high);
#: ``CLINIC_LOGO=""`` shows the clinic's name alone.
DEFAULT_CLINIC_LOGO = "img/clinic-logo.svg"


def clinic_logo(path: str) -> str:
    """``path`` (relative to static/) if that file exists, ``""`` for none.

    :raise ConfigError: a path outside static/ or to no file.
    """
    if not path:
        return ""
    static = (RESOURCES / "static").resolve()
    found = (static / path).resolve()
    if static not in found.parents or not found.is_file():
        raise ConfigError(f"CLINIC_LOGO must name a file under static/, got {path!r}")
    return path


def _serial_prefix(name: str, default: str) -> str:
    """A serial's printed prefix: up to 8 letters, digits or hyphens (no spaces, so a
    printed number is one word)."""
    value = os.environ.get(name, default)
    if not re.fullmatch(r"[A-Za-z0-9-]{0,8}", value):
        raise ConfigError(f"{name} must be at most 8 letters, digits or hyphens; got {value!r}")
    return value


class Config:
    ENV_NAME = "production"
    TESTING = False
    # "1": secure cookies and HSTS unless the environment says otherwise.
    https_default = "1"
    # "1": staff pages need a second factor unless the environment says otherwise.
    two_factor_default = "1"

    def __init__(self) -> None:
        self.SECRET_KEY = os.environ.get("SECRET_KEY") or self.default_secret_key()
        self.SQLALCHEMY_DATABASE_URI = normalize_database_url(
            os.environ.get("DATABASE_URL") or f"sqlite:///{INSTANCE / 'checkout.db'}"
        )
        self.REDIS_URL = os.environ.get("REDIS_URL") or None
        self.DB_POOL_SIZE = _int("DB_POOL_SIZE", 10)
        # What sits between the app and PostgreSQL: "none", or "pgbouncer" in transaction
        # pooling mode (no server-side prepared statements, no startup parameters).
        self.DATABASE_POOLER = os.environ.get("DATABASE_POOLER", "none")
        if self.DATABASE_POOLER not in POOLERS:
            raise ConfigError(
                f"DATABASE_POOLER must be one of {', '.join(POOLERS)}; got {self.DATABASE_POOLER!r}"
            )
        self.STATEMENT_TIMEOUT_MS = _int("STATEMENT_TIMEOUT_MS", 30000)
        # 1: /readyz answers 503, and the app logs an error, while the primary has no
        # synchronous standby (pg_stat_replication); a 201 is then not yet on two servers.
        self.DATABASE_REQUIRE_SYNC_STANDBY = _bool("DATABASE_REQUIRE_SYNC_STANDBY", "0")
        # "text" (one readable line per record) or "json" (one JSON object per line).
        self.LOG_FORMAT = os.environ.get("LOG_FORMAT", "text")
        if self.LOG_FORMAT not in ("text", "json"):
            raise ConfigError(f"LOG_FORMAT must be text or json; got {self.LOG_FORMAT!r}")
        # Seconds /readyz waits for PostgreSQL's answer before reporting 503.
        self.READINESS_TIMEOUT = _float("READINESS_TIMEOUT", 2.0)
        # How many reverse proxies (load balancer, nginx) append to X-Forwarded-For/-Proto.
        # 0: the headers are ignored, so a client cannot choose its own address.
        self.TRUSTED_PROXY_HOPS = _int("TRUSTED_PROXY_HOPS", 0)
        if self.TRUSTED_PROXY_HOPS < 0:
            raise ConfigError("TRUSTED_PROXY_HOPS must be 0 or more")
        # /metrics (Prometheus): off by default; when on, only METRICS_ALLOW networks (client
        # addresses after TRUSTED_PROXY_HOPS) or a request with "Bearer <METRICS_TOKEN>".
        self.METRICS_ENABLED = os.environ.get("METRICS_ENABLED", "0") == "1"
        self.METRICS_ALLOW = os.environ.get("METRICS_ALLOW", "127.0.0.1/8,::1")
        self.METRICS_TOKEN = os.environ.get("METRICS_TOKEN") or None
        # Which guard serializes checkouts; its names live with the guards, which check this
        # value when the app is created (``app.payments.guards.init_app``).
        self.PAYMENT_GUARD = os.environ.get("PAYMENT_GUARD", "hybrid")
        # 1: the benchmark-only "unguarded" guard may be chosen (never in a real deployment).
        self.ALLOW_UNGUARDED_BENCHMARK = os.environ.get("ALLOW_UNGUARDED_BENCHMARK") == "1"
        self.IDEMPOTENCY_TTL = _int("IDEMPOTENCY_TTL", 24 * 3600)
        # Seconds an API token's user id stays cached in Redis (0: never cached). Rotating a
        # token revokes its cached entry at once (app/auth/tokens.py).
        self.API_TOKEN_CACHE_TTL = _int("API_TOKEN_CACHE_TTL", 60)
        # 1: an API create without an idempotency key is refused (400), as the IETF draft allows.
        self.REQUIRE_IDEMPOTENCY_KEY = os.environ.get("REQUIRE_IDEMPOTENCY_KEY", "0") == "1"
        self.PAYMENT_LOCK_TIMEOUT_MS = _int("PAYMENT_LOCK_TIMEOUT_MS", 5000)
        self.REDIS_TIMEOUT = _float("REDIS_TIMEOUT", 0.25)
        self.REDIS_LOCK_TIMEOUT = _float("REDIS_LOCK_TIMEOUT", 5.0)
        self.TAX_RATE = _tax_rate()
        # Philippine prices are quoted VAT-inclusive: the fee is what the patient pays.
        self.PRICES_INCLUDE_VAT = _bool("PRICES_INCLUDE_VAT", "1")
        # The language when neither the user's choice nor the browser's names one we have
        # (checked against app.i18n.LOCALES by app.i18n.init_app).
        self.DEFAULT_LOCALE = os.environ.get("DEFAULT_LOCALE") or "en"
        self.CLINIC_TIMEZONE = os.environ.get("CLINIC_TIMEZONE", "Asia/Manila")
        clinic_timezone(self.CLINIC_TIMEZONE)  # fail at start-up, not on the first page
        self.PAYMENT_PENDING_TTL = _int("PAYMENT_PENDING_TTL", 30 * 60)
        # The serials of sales invoices and credit memos (app/payments/serials.py, docs/invoices.md):
        # one unbroken series per branch (CLINIC_BRANCH_CODE, set with the clinic's TIN below);
        # the prefixes are printed before the digits.
        self.INVOICE_SERIAL_PREFIX = _serial_prefix("INVOICE_SERIAL_PREFIX", "")
        self.CREDIT_MEMO_SERIAL_PREFIX = _serial_prefix("CREDIT_MEMO_SERIAL_PREFIX", "CM-")
        self.GATEWAY_WEBHOOK_SECRET = os.environ.get("GATEWAY_WEBHOOK_SECRET") or (
            self.default_webhook_secret()
        )
        # Which provider takes the money: "sandbox" (inside the app, no money), "paymongo" or
        # "xendit".
        # Checked, with the PayMongo settings below, when the app is created
        # (``app.gateway.provider.init_app``), so a test's overrides are checked too.
        self.PAYMENT_PROVIDER = os.environ.get("PAYMENT_PROVIDER") or "sandbox"
        # PayMongo (docs/operations.md): the secret key's prefix (sk_test_ / sk_live_) sets the
        # mode; the webhook secret is the one PayMongo shows when the webhook is created.
        self.PAYMONGO_SECRET_KEY = os.environ.get("PAYMONGO_SECRET_KEY", "")
        self.PAYMONGO_WEBHOOK_SECRET = os.environ.get("PAYMONGO_WEBHOOK_SECRET", "")
        self.PAYMONGO_API_URL = os.environ.get("PAYMONGO_API_URL") or "https://api.paymongo.com"
        # Seconds to wait for PayMongo's answer before the call's outcome counts as unknown.
        self.PAYMONGO_TIMEOUT_SECONDS = _float("PAYMONGO_TIMEOUT_SECONDS", 20.0)
        # Xendit (docs/operations.md): the secret API key, and the callback verification token
        # Xendit sends as x-callback-token with every webhook.
        self.XENDIT_SECRET_KEY = os.environ.get("XENDIT_SECRET_KEY", "")
        self.XENDIT_CALLBACK_TOKEN = os.environ.get("XENDIT_CALLBACK_TOKEN", "")
        self.XENDIT_API_URL = os.environ.get("XENDIT_API_URL") or "https://api.xendit.co"
        # Seconds to wait for Xendit's answer before the call's outcome counts as unknown.
        self.XENDIT_TIMEOUT_SECONDS = _float("XENDIT_TIMEOUT_SECONDS", 20.0)
        # The sandbox provider approves payments without money: never on by default in production.
        sandbox_default = "0" if self.ENV_NAME == "production" else "1"
        self.GATEWAY_SANDBOX = os.environ.get("GATEWAY_SANDBOX", sandbox_default) == "1"
        # The refund outbox (app/payments/outbox.py, `flask payments send-outbox`).
        self.OUTBOX_LEASE_SECONDS = _int("OUTBOX_LEASE_SECONDS", 120)
        self.OUTBOX_RETRY_BASE_SECONDS = _int("OUTBOX_RETRY_BASE_SECONDS", 10)
        self.OUTBOX_RETRY_MAX_SECONDS = _int("OUTBOX_RETRY_MAX_SECONDS", 3600)
        self.OUTBOX_POLL_SECONDS = _int("OUTBOX_POLL_SECONDS", 5)
        # A refund the provider accepted but has not settled is asked about again this often.
        self.OUTBOX_SETTLE_POLL_SECONDS = _int("OUTBOX_SETTLE_POLL_SECONDS", 900)
        # The sandbox provider's refund behaviour, for tests and demos (docs/operations.md).
        self.SANDBOX_REFUND_FAULT = _choice("SANDBOX_REFUND_FAULT", SANDBOX_REFUND_FAULTS)
        self.SANDBOX_REFUND_HANG_SECONDS = _float("SANDBOX_REFUND_HANG_SECONDS", 30.0)
        self.SANDBOX_HONOUR_IDEMPOTENCY_KEYS = (
            os.environ.get("SANDBOX_HONOUR_IDEMPOTENCY_KEYS", "1") != "0"
        )
        self.MAX_CONTENT_LENGTH = _int("MAX_CONTENT_LENGTH", 64 * 1024)
        self.CHECKOUT_TOKEN_MAX_AGE = _int("CHECKOUT_TOKEN_MAX_AGE", 24 * 3600)
        self.RATELIMIT_ENABLED = os.environ.get("RATELIMIT_ENABLED", "1") != "0"
        # Login POSTs: per account tightly (a guesser), per address loosely (a front desk).
        self.RATELIMIT_LOGIN = os.environ.get("RATELIMIT_LOGIN", "5 per minute")
        self.RATELIMIT_LOGIN_ADDRESS = os.environ.get("RATELIMIT_LOGIN_ADDRESS", "60 per minute")
        self.RATELIMIT_PAYMENTS = os.environ.get("RATELIMIT_PAYMENTS", "60 per minute")
        self._staff_security()
        self.SESSION_COOKIE_HTTPONLY = True
        self.SESSION_COOKIE_SAMESITE = "Lax"
        # Production is served over https only (docs/operations.md): the cookie never travels
        # in clear, and browsers are told to use https for HSTS_MAX_AGE seconds (0: no header).
        # Development and the test suite serve plain http on loopback, so both default off.
        self.SESSION_COOKIE_SECURE = _bool("SESSION_COOKIE_SECURE", self.https_default)
        self.REMEMBER_COOKIE_SECURE = self.SESSION_COOKIE_SECURE
        self.HSTS_MAX_AGE = _int("HSTS_MAX_AGE", 63072000 if self.https_default == "1" else 0)
        if self.HSTS_MAX_AGE < 0:
            raise ConfigError("HSTS_MAX_AGE must be 0 or more (seconds)")
        self.REMEMBER_COOKIE_HTTPONLY = True
        self.REMEMBER_COOKIE_SAMESITE = "Lax"
        self.WTF_CSRF_TIME_LIMIT = _int("WTF_CSRF_TIME_LIMIT", 3600)
        # WTForms ships no Indonesian or Filipino catalog and every message our forms show is
        # our own (translated by Flask-Babel): Flask-WTF's lookup would only load an empty
        # catalog from disk on every form request, and the user with it, to pick a locale.
        self.WTF_I18N_ENABLED = False
        for name in CLINIC_SETTINGS:
            setattr(self, name, os.environ.get(name) or self.default_clinic(name))
        # 0: the clinic is not VAT-registered: no VAT is charged and its invoices say
        # "Non-VAT Reg. TIN" and show no VAT breakdown (app/payments/pricing.py).
        self.CLINIC_VAT_REGISTERED = _bool("CLINIC_VAT_REGISTERED", "1")
        self.CLINIC_BRANCH_CODE = _branch_code(self.CLINIC_TIN)
        self.CLINIC_LOGO = clinic_logo(os.environ.get("CLINIC_LOGO", DEFAULT_CLINIC_LOGO))

    def _staff_security(self) -> None:
        """Second factor, staff sessions, and how long personal data is kept (docs/staff.md)."""
        # 1: a staff account's pages are refused until it has enrolled a TOTP second factor.
        self.STAFF_REQUIRE_2FA = _bool("STAFF_REQUIRE_2FA", self.two_factor_default)
        # Wrong second-factor codes in a row before the account refuses codes for a while.
        self.OTP_MAX_FAILURES = _int("OTP_MAX_FAILURES", 5)
        self.OTP_LOCKOUT_MINUTES = _int("OTP_LOCKOUT_MINUTES", 15)
        # A staff session ends after this many idle minutes, and this many hours after sign-in.
        self.STAFF_IDLE_MINUTES = _int("STAFF_IDLE_MINUTES", 15)
        self.STAFF_MAX_SESSION_HOURS = _int("STAFF_MAX_SESSION_HOURS", 12)
        # Years personal data is kept after the year of the record: NIRC Sec. 235 as amended
        # by RA 11976 (Ease of Paying Taxes Act) keeps books and their invoices 5 years from
        # the day after the return's deadline; `flask privacy purge` adds that year's margin.
        self.DATA_RETENTION_YEARS = _int("DATA_RETENTION_YEARS", 5)
        for name in ("OTP_MAX_FAILURES", "STAFF_IDLE_MINUTES", "STAFF_MAX_SESSION_HOURS"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be 1 or more")
        if self.DATA_RETENTION_YEARS < 5:
            raise ConfigError(
                "DATA_RETENTION_YEARS must be 5 or more: NIRC Sec. 235 (as amended by RA 11976) "
                "keeps books of accounts and invoices at least 5 years"
            )

    def default_secret_key(self) -> str:
        raise ConfigError(
            "SECRET_KEY is required outside development and testing. "
            "Set it to a long random string, e.g. "
            "python -c 'import secrets; print(secrets.token_hex(32))'"
        )

    def default_webhook_secret(self) -> str:
        raise ConfigError("GATEWAY_WEBHOOK_SECRET is required outside development and testing.")

    def default_clinic(self, name: str) -> str:
        raise ConfigError(
            f"{name} is required outside development and testing: receipts and invoices "
            "must say who was paid (see docs/operations.md)."
        )


class DevelopmentConfig(Config):
    ENV_NAME = "development"
    https_default = "0"
    two_factor_default = "0"

    def default_secret_key(self) -> str:
        # Persist a generated key so sessions survive a restart of `make dev`.
        path = INSTANCE / "secret_key"
        if not path.exists():
            INSTANCE.mkdir(parents=True, exist_ok=True)
            path.write_text(secrets.token_hex(32))
            path.chmod(0o600)
        return path.read_text().strip()

    def default_webhook_secret(self) -> str:
        return "dev-webhook-secret"

    def default_clinic(self, name: str) -> str:
        return DEMO_CLINIC[name]


class TestConfig(Config):
    ENV_NAME = "testing"
    TESTING = True
    https_default = "0"
    two_factor_default = "0"

    def default_secret_key(self) -> str:
        return "test-secret-key"

    def default_webhook_secret(self) -> str:
        return "test-webhook-secret"

    def default_clinic(self, name: str) -> str:
        return DEMO_CLINIC[name]


CONFIGS = {"production": Config, "development": DevelopmentConfig, "testing": TestConfig}


def load_config(overrides: dict | None = None) -> Config:
    name = (overrides or {}).get("APP_ENV") or os.environ.get("APP_ENV", "production")
    if name not in CONFIGS:
        raise ConfigError(f"APP_ENV must be one of {', '.join(CONFIGS)}; got {name!r}")
    return CONFIGS[name]()


def normalize_database_url(url: str) -> str:
    """Accept the usual ``postgres://`` spellings and pin the psycopg 3 driver.

    Several hosts the way libpq writes them (``postgresql://u:p@h1:5432,h2:5432/clinic?
    target_session_attrs=read-write``, PostgreSQL's "Connection URIs") become SQLAlchemy's
    spelling of the same list, one ``host=h:port`` query parameter each ("Specifying multiple
    fallback hosts" in SQLAlchemy's PostgreSQL dialect docs): SQLAlchemy's URL parser reads
    the libpq form's ``5432,h2:5432`` as one port and refuses it. libpq then tries the hosts
    in order and keeps the first that satisfies ``target_session_attrs``.

    :raise ConfigError: a host list with an empty entry, an IPv6 literal, or a query
        ``host=`` as well.
    """
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            url = "postgresql+psycopg://" + url[len(prefix) :]
    if url.startswith("postgresql+psycopg://"):
        return _hosts_to_query(url)
    return url


def _hosts_to_query(url: str) -> str:
    scheme, rest = url.split("://", 1)
    netloc, slash, tail = rest.partition("/")
    userinfo, at, hosts = netloc.rpartition("@")
    if "," not in hosts:
        return url
    entries = hosts.split(",")
    if any(not entry for entry in entries):
        raise ConfigError("DATABASE_URL names an empty host in its host list")
    if "[" in hosts:
        # SQLAlchemy's host=... list splits on ":" and cannot carry an IPv6 literal.
        raise ConfigError("DATABASE_URL's host list takes names or IPv4 addresses, not [IPv6]")
    if "host=" in tail:
        raise ConfigError("DATABASE_URL names hosts both before the path and as host=")
    path, question, query = tail.partition("?")
    params = "&".join(f"host={quote(entry, safe=':')}" for entry in entries)
    query = f"{params}&{query}" if query else params
    return f"{scheme}://{userinfo}{at}/{path}?{query}"
