"""Configuration fails fast and closed."""

from __future__ import annotations

import pytest
from flask import Flask
from sqlalchemy.dialects.postgresql.psycopg import dialect as psycopg_dialect
from sqlalchemy.engine import make_url

from app.config import (
    CLINIC_SETTINGS,
    DEMO_CLINIC,
    ConfigError,
    load_config,
    normalize_database_url,
)
from app.db import engine_options
from app.gateway import provider
from app.gateway.paymongo import PayMongoGateway
from app.gateway.sandbox import SandboxGateway
from app.gateway.xendit import XenditGateway
from app.payments import guards


@pytest.fixture
def env(monkeypatch):
    for name in (
        "SECRET_KEY",
        "APP_ENV",
        "PAYMENT_GUARD",
        "ALLOW_UNGUARDED_BENCHMARK",
        "GATEWAY_WEBHOOK_SECRET",
        "TAX_RATE",
        "DATABASE_URL",
        "PRICES_INCLUDE_VAT",
        "CLINIC_TIMEZONE",
        *CLINIC_SETTINGS,
        "DATABASE_POOLER",
        "DATABASE_REQUIRE_SYNC_STANDBY",
    ):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_production_refuses_to_start_without_a_secret_key(env):
    with pytest.raises(ConfigError, match="SECRET_KEY is required"):
        load_config()


def test_production_needs_the_webhook_secret_too(env):
    env.setenv("SECRET_KEY", "s" * 32)
    with pytest.raises(ConfigError, match="GATEWAY_WEBHOOK_SECRET"):
        load_config()


def test_production_must_say_who_is_being_paid(env):
    env.setenv("SECRET_KEY", "s" * 32)
    env.setenv("GATEWAY_WEBHOOK_SECRET", "w" * 32)
    with pytest.raises(ConfigError, match="CLINIC_NAME is required"):
        load_config()


def test_production_starts_with_its_secrets(env):
    env.setenv("SECRET_KEY", "s" * 32)
    env.setenv("GATEWAY_WEBHOOK_SECRET", "w" * 32)
    for name in CLINIC_SETTINGS:
        env.setenv(name, f"real {name}")
    config = load_config()
    assert config.PAYMENT_GUARD == "hybrid"
    assert config.IDEMPOTENCY_TTL == 86400
    assert str(config.TAX_RATE) == "0.12"
    assert config.PRICES_INCLUDE_VAT is True
    assert config.CLINIC_TIMEZONE == "Asia/Manila"
    assert config.CLINIC_TIN == "real CLINIC_TIN"


def test_development_has_demo_clinic_details(env):
    config = load_config({"APP_ENV": "development"})
    assert DEMO_CLINIC["CLINIC_NAME"] == config.CLINIC_NAME


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("CLINIC_TIMEZONE", "Asia/Manilla"),
        ("CLINIC_TIMEZONE", "+08:00"),
        ("PRICES_INCLUDE_VAT", "yes"),
    ],
)
def test_a_bad_vat_or_time_zone_setting_stops_the_start(env, name, value):
    env.setenv(name, value)
    with pytest.raises(ConfigError, match=name):
        load_config({"APP_ENV": "testing"})


def test_testing_needs_no_secret(env):
    assert load_config({"APP_ENV": "testing"}).SECRET_KEY


def _check_guard() -> str:
    """The environment's PAYMENT_GUARD as the app's start-up check sees it."""
    app = Flask(__name__)
    app.config.from_object(load_config())
    guards.init_app(app)
    return app.config["PAYMENT_GUARD"]


def test_an_unknown_guard_is_refused(env):
    env.setenv("APP_ENV", "testing")
    env.setenv("PAYMENT_GUARD", "yolo")
    with pytest.raises(ConfigError, match="PAYMENT_GUARD"):
        _check_guard()


def test_the_unguarded_benchmark_path_needs_its_explicit_flag(env):
    env.setenv("APP_ENV", "testing")
    env.setenv("PAYMENT_GUARD", "unguarded")
    with pytest.raises(ConfigError):
        _check_guard()
    env.setenv("ALLOW_UNGUARDED_BENCHMARK", "1")
    assert _check_guard() == "unguarded"


@pytest.mark.parametrize("rate", ["abc", "1.5", "-0.1"])
def test_a_bad_tax_rate_is_refused(env, rate):
    env.setenv("APP_ENV", "testing")
    env.setenv("TAX_RATE", rate)
    with pytest.raises(ConfigError, match="TAX_RATE"):
        load_config()


def test_postgres_urls_use_psycopg_3():
    assert normalize_database_url("postgres://u@h/d") == "postgresql+psycopg://u@h/d"
    assert normalize_database_url("postgresql://u@h/d") == "postgresql+psycopg://u@h/d"
    assert normalize_database_url("sqlite:///x.db") == "sqlite:///x.db"


def test_libpq_host_lists_become_sqlalchemys_host_parameters_that_libpq_receives_whole():
    # given libpq's URI form with two hosts (PostgreSQL's "Connection URIs")
    url = "postgresql://app:s%40crt@db1:5432,db2:5433/clinic?target_session_attrs=read-write"
    # when
    normalized = normalize_database_url(url)
    # then SQLAlchemy's form, which its psycopg dialect hands libpq as one host list
    assert normalized == (
        "postgresql+psycopg://app:s%40crt@/clinic"
        "?host=db1:5432&host=db2:5433&target_session_attrs=read-write"
    )
    _, params = psycopg_dialect().create_connect_args(make_url(normalized))
    assert params == {
        "dbname": "clinic",
        "user": "app",
        "password": "s@crt",
        "host": "db1,db2",
        "port": "5432,5433",
        "target_session_attrs": "read-write",
    }
    # one host stays as it was
    assert normalize_database_url("postgres://u@h:5432/d") == "postgresql+psycopg://u@h:5432/d"


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://u@h1,,h2/d",
        "postgresql://u@[::1]:5432,h2/d",
        "postgresql://u@h1,h2/d?host=h3",
    ],
    ids=["empty-entry", "ipv6", "hosts-twice"],
)
def test_host_lists_sqlalchemy_cannot_carry_are_refused_at_start(url):
    with pytest.raises(ConfigError, match="DATABASE_URL"):
        normalize_database_url(url)


def test_require_sync_standby_is_off_unless_set_to_one(env):
    env.setenv("APP_ENV", "testing")
    assert load_config().DATABASE_REQUIRE_SYNC_STANDBY is False
    env.setenv("DATABASE_REQUIRE_SYNC_STANDBY", "1")
    assert load_config().DATABASE_REQUIRE_SYNC_STANDBY is True
    env.setenv("DATABASE_REQUIRE_SYNC_STANDBY", "yes")
    with pytest.raises(ConfigError, match="DATABASE_REQUIRE_SYNC_STANDBY must be 0 or 1"):
        load_config()


def test_database_pooler_accepts_none_and_pgbouncer_and_refuses_anything_else(env):
    env.setenv("APP_ENV", "testing")
    assert load_config().DATABASE_POOLER == "none"
    env.setenv("DATABASE_POOLER", "pgbouncer")
    assert load_config().DATABASE_POOLER == "pgbouncer"
    env.setenv("DATABASE_POOLER", "pgpool")
    with pytest.raises(ConfigError, match="DATABASE_POOLER must be one of none, pgbouncer"):
        load_config()


def test_postgresql_connections_carry_no_startup_options_for_any_pooler():
    url = "postgresql+psycopg://u@h/db"
    direct = engine_options(url, lock_timeout_ms=5000, pool_size=5)["connect_args"]
    pooled = engine_options(url, lock_timeout_ms=5000, pool_size=5, pooler="pgbouncer")
    assert "options" not in direct and "prepare_threshold" not in direct
    assert "options" not in pooled["connect_args"]
    assert pooled["connect_args"]["prepare_threshold"] is None


def test_an_unknown_sandbox_refund_fault_is_refused_and_the_known_ones_load(env):
    env.setenv("APP_ENV", "testing")
    env.setenv("SANDBOX_REFUND_FAULT", "explode")
    with pytest.raises(ConfigError, match="SANDBOX_REFUND_FAULT must be one of"):
        load_config()
    env.setenv("SANDBOX_REFUND_FAULT", "timeout_after")
    assert load_config().SANDBOX_REFUND_FAULT == "timeout_after"


def _provider_app(**config) -> Flask:
    app = Flask(__name__)
    app.config.update(
        PAYMENT_PROVIDER="paymongo",
        PAYMONGO_SECRET_KEY="sk_test_abc",
        PAYMONGO_WEBHOOK_SECRET="whsk_abc",
        PAYMONGO_API_URL="https://api.paymongo.com",
        GATEWAY_WEBHOOK_SECRET="w",
    )
    app.config.update(config)
    return app


def test_the_provider_defaults_to_the_sandbox_and_paymongo_reads_its_settings(env):
    for name in ("PAYMENT_PROVIDER", "PAYMONGO_SECRET_KEY", "PAYMONGO_API_URL"):
        env.delenv(name, raising=False)
    env.setenv("APP_ENV", "testing")
    config = load_config()
    assert config.PAYMENT_PROVIDER == "sandbox"
    assert config.PAYMONGO_API_URL == "https://api.paymongo.com"
    env.setenv("PAYMENT_PROVIDER", "paymongo")
    env.setenv("PAYMONGO_SECRET_KEY", "sk_live_x")
    env.setenv("PAYMONGO_API_URL", "http://127.0.0.1:9")
    config = load_config()
    assert (config.PAYMENT_PROVIDER, config.PAYMONGO_SECRET_KEY) == ("paymongo", "sk_live_x")
    assert config.PAYMONGO_API_URL == "http://127.0.0.1:9"


@pytest.mark.parametrize(
    ("setting", "value", "message"),
    [
        ("PAYMENT_PROVIDER", "stripe", "PAYMENT_PROVIDER must be one of sandbox, paymongo"),
        ("PAYMONGO_SECRET_KEY", "", "needs PAYMONGO_SECRET_KEY"),
        ("PAYMONGO_SECRET_KEY", "pk_test_public", "must start with sk_test_ or sk_live_"),
        ("PAYMONGO_WEBHOOK_SECRET", "", "needs PAYMONGO_WEBHOOK_SECRET"),
        ("PAYMONGO_API_URL", "api.paymongo.com", "PAYMONGO_API_URL must be an http"),
    ],
)
def test_a_missing_or_invalid_provider_setting_stops_the_app_at_start(setting, value, message):
    with pytest.raises(ConfigError, match=message):
        provider.init_app(_provider_app(**{setting: value}))


def test_current_gateway_is_the_one_payment_provider_names():
    app = _provider_app()
    provider.init_app(app)
    # The Pay form's 303 goes to PayMongo's hosted checkout: the pages' CSP allows its origin.
    assert app.config["CHECKOUT_ORIGINS"] == ("https://checkout.paymongo.com",)
    with app.app_context():
        assert isinstance(provider.current_gateway(), PayMongoGateway)
        app.config["PAYMENT_PROVIDER"] = "sandbox"
        assert isinstance(provider.current_gateway(), SandboxGateway)


def _xendit_app(**config) -> Flask:
    settings = {
        "PAYMENT_PROVIDER": "xendit",
        "XENDIT_SECRET_KEY": "xnd_development_abc",
        "XENDIT_CALLBACK_TOKEN": "token",
        "XENDIT_API_URL": "https://api.xendit.co",
    }
    return _provider_app(**{**settings, **config})


@pytest.mark.parametrize(
    ("setting", "value", "message"),
    [
        ("XENDIT_SECRET_KEY", "", "needs XENDIT_SECRET_KEY"),
        ("XENDIT_CALLBACK_TOKEN", "", "needs XENDIT_CALLBACK_TOKEN"),
        ("XENDIT_API_URL", "api.xendit.co", "XENDIT_API_URL must be an http"),
    ],
)
def test_a_missing_or_invalid_xendit_setting_stops_the_app_at_start(setting, value, message):
    with pytest.raises(ConfigError, match=message):
        provider.init_app(_xendit_app(**{setting: value}))


def test_xendit_is_the_gateway_and_its_payment_link_origins_are_form_targets():
    app = _xendit_app()
    provider.init_app(app)
    assert app.config["CHECKOUT_ORIGINS"] == ("https://xen.to", "https://dev.xen.to")
    with app.app_context():
        assert isinstance(provider.current_gateway(), XenditGateway)
