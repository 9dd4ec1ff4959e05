"""Fixtures: a real PostgreSQL and Redis for the session, a fresh database per test.

``TEST_DATABASE_URL`` / ``TEST_REDIS_URL`` point at running servers instead
(the database user must be allowed to CREATE DATABASE).
"""

from __future__ import annotations

import os
import uuid
from contextlib import ExitStack

import psycopg
import pytest
import redis as redis_lib
from flask import Flask
from flask_migrate import upgrade
from hypothesis import HealthCheck, settings
from sqlalchemy.engine import make_url

from app import create_app
from app.config import ROOT
from app.extensions import db
from app.payments import hooks
from tests.support.api import ApiClient
from tests.support.auth import AuthActions
from tests.support.factory import Factory
from tests.support.fuzz import CASES
from tests.support.openapi import CHECKED, CheckedClient
from tests.support.services import PgBouncerServer, PostgresServer, RedisServer

# Every app's test client checks API answers against the OpenAPI document.
Flask.test_client_class = CheckedClient

# The paymongo_fake and xendit_fake fixtures: each provider on loopback HTTP.
pytest_plugins = ["tests.support.paymongo_fake", "tests.support.xendit_fake"]

TEMPLATE_DB = "checkout_template"

# CI runs the same examples every time (derandomized, no example database), so a red
# build is reproducible; HYPOTHESIS_PROFILE=explore draws fresh random cases on each run
# (and keeps failures in .hypothesis/) on a workstation.
settings.register_profile(
    "ci",
    derandomize=True,
    database=None,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile("explore", deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


def pytest_configure(config):
    """The app reads compiled catalogs (.mo, not committed): build any older than its .po,
    as `make translations` does, so a bare `pytest` tests the catalogs as they are."""
    from tests.support.i18n import compile_if_stale

    compile_if_stale()


def pytest_terminal_summary(terminalreporter):
    """Report how many generated bad-input cases ran (docs/testing.md quotes this number),
    and how many API answers were checked against the OpenAPI document."""
    if CHECKED:
        terminalreporter.write_sep(
            "-", f"API answers checked against OpenAPI: {sum(CHECKED.values())}"
        )
    if not CASES:
        return
    by_suite = ", ".join(f"{name} {n}" for name, n in sorted(CASES.items()))
    terminalreporter.write_sep("-", f"fuzz cases run: {sum(CASES.values())}")
    terminalreporter.write_line(by_suite)


class Postgres:
    """Creates and drops per-test databases on one server."""

    def __init__(self, admin_url: str, server: PostgresServer | None = None) -> None:
        self.admin_url = admin_url
        self.server = server

    def _admin(self):
        url = make_url(self.admin_url).set(drivername="postgresql")
        return psycopg.connect(url.render_as_string(hide_password=False), autocommit=True)

    def url_for(self, name: str) -> str:
        return make_url(self.admin_url).set(database=name).render_as_string(hide_password=False)

    def execute(self, sql: str) -> None:
        with self._admin() as conn:
            conn.execute(sql)

    def create(self, name: str, template: str | None = TEMPLATE_DB) -> str:
        suffix = f' TEMPLATE "{template}"' if template else ""
        self.execute(f'CREATE DATABASE "{name}"{suffix}')
        return self.url_for(name)

    def drop(self, name: str) -> None:
        self.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def base_config(database_url: str, redis_url: str | None, **overrides) -> dict:
    config = {
        "APP_ENV": "testing",
        "SQLALCHEMY_DATABASE_URI": database_url,
        "REDIS_URL": redis_url,
        "WTF_CSRF_ENABLED": False,
        "RATELIMIT_ENABLED": False,
        "PAYMENT_LOCK_TIMEOUT_MS": 5000,
        "DB_POOL_SIZE": 30,
        "DATABASE_POOLER": "none",
    }
    config.update(overrides)
    return config


def migrate_database(url: str) -> None:
    app = create_app(base_config(url, None))
    with app.app_context():
        upgrade(directory=str(ROOT / "migrations"))
        db.engine.dispose()


@pytest.fixture(scope="session")
def postgres():
    external = os.environ.get("TEST_DATABASE_URL")
    server = None
    if external:
        pg = Postgres(external)
    else:
        server = PostgresServer().start()
        pg = Postgres(server.url, server)
    pg.drop(TEMPLATE_DB)
    migrate_database(pg.create(TEMPLATE_DB, template=None))
    yield pg
    if server is not None:
        server.destroy()


@pytest.fixture(scope="session")
def redis_server():
    external = os.environ.get("TEST_REDIS_URL")
    if external:
        yield type("External", (), {"url": external})()
        return
    server = RedisServer().start()
    yield server
    server.stop()


@pytest.fixture
def redis_url(redis_server):
    client = redis_lib.Redis.from_url(redis_server.url)
    client.flushall()
    client.close()
    return redis_server.url


@pytest.fixture(scope="session")
def pgbouncer(postgres):
    """A real PgBouncer in transaction pooling mode in front of the session's PostgreSQL."""
    backend = make_url(postgres.admin_url)
    server = PgBouncerServer(
        host=backend.host or "127.0.0.1", port=backend.port or 5432, user=backend.username
    ).start()
    yield server
    server.stop()


@pytest.fixture
def pooler() -> str:
    """How the app reaches PostgreSQL: "none" (directly) or "pgbouncer".

    A test runs both ways with ``@pytest.mark.parametrize("pooler", POOLERS)``.
    """
    return "none"


@pytest.fixture
def database_url(postgres, pooler, request):
    name = f"t_{uuid.uuid4().hex[:12]}"
    url = postgres.create(name)
    if pooler == "pgbouncer":
        url = request.getfixturevalue("pgbouncer").url_for(name)
    yield url
    postgres.drop(name)


@pytest.fixture
def make_app(database_url, redis_url, pooler):
    """Build an app on this test's database; several (guards, instances) may share it."""
    apps = []

    def build(**overrides):
        overrides.setdefault("DATABASE_POOLER", pooler)
        app = create_app(base_config(database_url, redis_url, **overrides))
        apps.append(app)
        return app

    yield build
    for app in apps:
        with app.app_context():
            db.engine.dispose()


@pytest.fixture
def app(make_app):
    return make_app()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


@pytest.fixture
def auth_actions(app):
    """Log people in to ``app``: ``auth_actions.client_for(staff)`` (tests/support/auth.py)."""
    return AuthActions(app)


@pytest.fixture
def api(app):
    """The JSON API as a test reads it: ``api.pay(patient, consultation, key="k1")``."""
    return ApiClient(app)


@pytest.fixture
def factory(app):
    return Factory(app)


@pytest.fixture
def patient(factory):
    return factory.patient()


@pytest.fixture
def staff(factory):
    return factory.staff()


@pytest.fixture
def consultation(factory, patient):
    """The patient's consultation, fee ₱5,000.00."""
    return factory.consultation(patient, fee="5000")


class RaceHooks:
    """Register callbacks at ``app.payments.hooks`` points for one test."""

    def __init__(self, stack: ExitStack) -> None:
        self._stack = stack

    def at(self, point: str, callback) -> None:
        self._stack.enter_context(hooks.run_at(point, callback))


@pytest.fixture
def race():
    """``race.at(hooks.BEFORE_LOCK, callback)``: inject a competing request at a named point."""
    with ExitStack() as stack:
        yield RaceHooks(stack)


@pytest.fixture
def sqlite_app(tmp_path):
    """The embedded default: a SQLite file and the in-process Redis stand-in."""
    url = f"sqlite:///{tmp_path / 'checkout.db'}"
    migrate_database(url)
    app = create_app(base_config(url, None))
    yield app
    with app.app_context():
        db.engine.dispose()
