"""The consultation checkout: ``create_app()`` binds everything together."""

from __future__ import annotations

import logging
import warnings

from flask import Flask
from flask_babel import gettext
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.routing import IntegerConverter

from app import (
    assets,
    auth,
    cli,
    formatting,
    health,
    htmx,
    http_errors,
    i18n,
    metrics,
    redis_client,
    security,
)
from app.api import bp as api_bp
from app.api.problem_pages import bp as problems_bp
from app.books import bp as books_bp
from app.checkout import bp as checkout_bp
from app.config import RESOURCES, ROOT, load_config, normalize_database_url
from app.db import (
    discard_sessions_of_a_lost_server,
    engine_options,
    install_failover_invalidation,
    install_sqlite_write_serialization,
    install_transaction_timeouts,
)
from app.discounts import bp as discounts_bp
from app.extensions import csrf, db, limiter, login_manager, migrate
from app.gateway import bp as gateway_bp
from app.gateway import provider as gateway_provider
from app.i18n import N_
from app.invoices import bp as invoices_bp
from app.payments import guards
from app.payments.requests import MAX_ID
from app.staff import bp as staff_bp


def create_app(test_config: dict | None = None) -> Flask:
    """Create the app from the environment, with ``test_config`` taking precedence."""
    app = Flask(
        __name__,
        template_folder=str(RESOURCES / "templates"),
        static_folder=str(RESOURCES / "static"),
        instance_path=str(ROOT / "instance"),
    )
    config = load_config(test_config)
    app.config.from_object(config)
    app.config["APP_ENV"] = config.ENV_NAME
    app.config.update(test_config or {})
    # Derived last, so a test's URL or lock timeout shapes the engine too.
    app.config["SQLALCHEMY_DATABASE_URI"] = normalize_database_url(
        app.config["SQLALCHEMY_DATABASE_URI"]
    )
    app.config.setdefault(
        "SQLALCHEMY_ENGINE_OPTIONS",
        engine_options(
            app.config["SQLALCHEMY_DATABASE_URI"],
            lock_timeout_ms=app.config["PAYMENT_LOCK_TIMEOUT_MS"],
            pool_size=app.config["DB_POOL_SIZE"],
            pooler=app.config["DATABASE_POOLER"],
        ),
    )
    _configure_logging(app)
    _trust_proxies(app)
    guards.init_app(app)
    gateway_provider.init_app(app)
    _init_extensions(app)
    _register_blueprints(app)
    metrics.init_app(app)
    formatting.init_app(app)
    assets.init_app(app)
    http_errors.register(app)
    security.init_app(app)
    cli.init_app(app)
    return app


LOG_FIELDS = "%(asctime)s %(levelname)s %(name)s %(message)s"


def json_log_formatter() -> logging.Formatter:
    """One JSON object per record: time, level, logger, message and any ``extra`` fields
    (python-json-logger). It adds nothing the text lines do not carry, so the no-secrets
    rule holds for both (tests/integration/test_logs.py)."""
    from pythonjsonlogger.json import JsonFormatter

    return JsonFormatter(
        LOG_FIELDS, rename_fields={"asctime": "time", "levelname": "level", "name": "logger"}
    )


def _configure_logging(app: Flask) -> None:
    # Only when nobody configured logging before us (gunicorn and `flask run` do not; a test
    # runner does, and keeps its own handlers).
    if not logging.getLogger().handlers:
        handler = logging.StreamHandler()
        json_logs = app.config["LOG_FORMAT"] == "json"
        handler.setFormatter(json_log_formatter() if json_logs else logging.Formatter(LOG_FIELDS))
        logging.basicConfig(level=logging.INFO, handlers=[handler])
    # Alembic announces each of its plugins at INFO on every `flask` command.
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)


def _trust_proxies(app: Flask) -> None:
    """Behind ``TRUSTED_PROXY_HOPS`` proxies, take the client's address and scheme from the
    X-Forwarded-For/-Proto entries those proxies appended (Werkzeug's ProxyFix), so the login
    limit counts clients, not the load balancer. With 0 the headers are ignored."""
    hops = app.config["TRUSTED_PROXY_HOPS"]
    if hops:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops)  # type: ignore[method-assign]


def _init_extensions(app: Flask) -> None:
    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        # Numeric(12, 2) round-trips exactly through SQLite's REAL for any fee we accept.
        warnings.filterwarnings("ignore", message=".*does \\*not\\* support Decimal.*")
    db.init_app(app)
    discard_sessions_of_a_lost_server(app)
    with app.app_context():
        if db.engine.dialect.name == "sqlite":
            install_sqlite_write_serialization(db.engine)
        else:
            install_transaction_timeouts(
                db.engine,
                lock_timeout_ms=app.config["PAYMENT_LOCK_TIMEOUT_MS"],
                statement_timeout_ms=app.config["STATEMENT_TIMEOUT_MS"],
                pooler=app.config["DATABASE_POOLER"],
            )
            install_failover_invalidation(db.engine)
    migrate.init_app(app, db, directory=str(RESOURCES / "migrations"))
    csrf.init_app(app)
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    # Flashed as text in the page's language (a lazy string cannot go into the session).
    login_manager.login_message = N_("Please log in to continue.")
    login_manager.localize_callback = gettext
    htmx.init_app(app)
    i18n.init_app(app)
    redis_client.init_app(app)
    _configure_rate_limits(app)
    limiter.init_app(app)


def _configure_rate_limits(app: Flask) -> None:
    redis_url = app.config["REDIS_URL"]
    if not redis_url:
        app.config.setdefault("RATELIMIT_STORAGE_URI", "memory://")
    else:
        # Bounded like every other Redis call (redis-py waits 5 s by default): a paused Redis
        # must not hold each request that long. While Redis is gone the limits are counted
        # in this process's memory, and Redis is probed again with a backoff.
        uri, options = redis_client.limiter_storage(redis_url, app.config["REDIS_TIMEOUT"])
        app.config.setdefault("RATELIMIT_STORAGE_URI", uri)
        app.config.setdefault("RATELIMIT_STORAGE_OPTIONS", options)
        app.config.setdefault("RATELIMIT_IN_MEMORY_FALLBACK_ENABLED", True)
    app.config.setdefault("RATELIMIT_HEADERS_ENABLED", True)
    # Flask-Limiter would put Retry-After on every limited response, 201s included; the
    # 429 handler (app/http_errors.py) sets the real one.
    app.config.setdefault("RATELIMIT_HEADER_RETRY_AFTER", "X-RateLimit-Retry-After")
    app.config.setdefault("RATELIMIT_SWALLOW_ERRORS", True)


class RowIdConverter(IntegerConverter):
    """``<int:...>`` bounded to the ids a row can have (1 to ``MAX_ID``)."""

    def __init__(self, url_map, fixed_digits=0, min=1, max=MAX_ID, signed=False):
        super().__init__(url_map, fixed_digits, min, max, signed)


def _register_blueprints(app: Flask) -> None:
    # Every <int:...> in a route is a row id: past PostgreSQL's INTEGER it is a 404 at
    # routing, never a query (SQLite raises OverflowError past 2**63, a 500).
    app.url_map.converters["int"] = RowIdConverter
    auth.init_app(app)
    app.register_blueprint(checkout_bp)
    app.register_blueprint(gateway_bp)
    app.register_blueprint(api_bp, url_prefix="/api/v1")
    app.register_blueprint(problems_bp)
    app.register_blueprint(invoices_bp)
    app.register_blueprint(staff_bp)
    app.register_blueprint(discounts_bp)
    app.register_blueprint(books_bp)
    health.init_app(app)
