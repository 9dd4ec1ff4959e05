"""The consultation checkout: ``create_app()`` binds everything together."""

from __future__ import annotations

import logging
import warnings

from flask import Flask

from app.config import ROOT, engine_options, load_config, normalize_database_url


def create_app(test_config: dict | None = None) -> Flask:
    """Create the app from the environment, with ``test_config`` taking precedence."""
    app = Flask(
        __name__,
        template_folder=str(ROOT / "templates"),
        static_folder=str(ROOT / "static"),
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
        ),
    )
    _configure_logging(app)
    _init_extensions(app)
    _register_blueprints(app)

    from app import display, errors, security

    display.register(app)

    errors.register(app)
    security.register(app)

    from app.cli import register_cli

    register_cli(app)
    return app


def _configure_logging(app: Flask) -> None:
    if not logging.getLogger().handlers:
        logging.basicConfig(
            level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s"
        )
    # Alembic announces each of its plugins at INFO on every `flask` command.
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)


def _init_extensions(app: Flask) -> None:
    from app.db import install_sqlite_write_serialization
    from app.extensions import csrf, db, limiter, login_manager, migrate
    from app.payments.cache import init_redis

    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        # Numeric(12, 2) round-trips exactly through SQLite's REAL for any fee we accept.
        warnings.filterwarnings("ignore", message=".*does \\*not\\* support Decimal.*")
    db.init_app(app)
    with app.app_context():
        if db.engine.dialect.name == "sqlite":
            install_sqlite_write_serialization(db.engine)
    migrate.init_app(app, db, directory=str(ROOT / "migrations"))
    csrf.init_app(app)
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.login_message = "Please log in to continue."
    init_redis(app)
    _configure_rate_limits(app)
    limiter.init_app(app)


def _configure_rate_limits(app: Flask) -> None:
    redis_url = app.config["REDIS_URL"]
    app.config.setdefault("RATELIMIT_STORAGE_URI", redis_url or "memory://")
    if redis_url:
        # Bounded like every other Redis call (redis-py waits 5 s by default): a paused Redis
        # must not hold each request that long. While Redis is gone the limits are counted
        # in this process's memory, and Redis is probed again with a backoff.
        timeout = app.config["REDIS_TIMEOUT"]
        app.config.setdefault(
            "RATELIMIT_STORAGE_OPTIONS",
            {"socket_timeout": timeout, "socket_connect_timeout": timeout},
        )
        app.config.setdefault("RATELIMIT_IN_MEMORY_FALLBACK_ENABLED", True)
    app.config.setdefault("RATELIMIT_HEADERS_ENABLED", True)
    # Flask-Limiter would put Retry-After on every limited response, 201s included; the
    # 429 handler (app/errors.py) sets the real one.
    app.config.setdefault("RATELIMIT_HEADER_RETRY_AFTER", "X-RateLimit-Retry-After")
    app.config.setdefault("RATELIMIT_SWALLOW_ERRORS", True)


def _register_blueprints(app: Flask) -> None:
    from app.api import bp as api_bp
    from app.auth import bp as auth_bp
    from app.checkout import bp as checkout_bp
    from app.gateway import bp as gateway_bp
    from app.invoices import bp as invoices_bp

    app.register_blueprint(auth_bp)
    app.register_blueprint(checkout_bp)
    app.register_blueprint(gateway_bp)
    app.register_blueprint(api_bp, url_prefix="/api/v1")
    app.register_blueprint(invoices_bp)
