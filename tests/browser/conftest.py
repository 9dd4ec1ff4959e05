"""Playwright against the app in gunicorn, on PostgreSQL and Redis.

One server per test module (starting gunicorn costs a second or two); each
test makes its own patient and consultation, so tests sharing a server share
nothing else, and each checks the database for exactly one payment.
"""

from __future__ import annotations

import uuid

import pytest
import redis as redis_lib

from app import create_app
from app.extensions import db
from tests.conftest import base_config
from tests.support.factory import Factory
from tests.support.live import LiveServer

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",  # the tests run as root
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    """Debian's Chromium, not a downloaded one."""
    return {**browser_type_launch_args, "executable_path": CHROMIUM, "args": CHROMIUM_ARGS}


@pytest.fixture(scope="module")
def live_database_url(postgres):
    """Like ``database_url``, but for a module: a fresh copy of the migrated template."""
    name = f"b_{uuid.uuid4().hex[:12]}"
    url = postgres.create(name)
    yield url
    postgres.drop(name)


@pytest.fixture(scope="module")
def live_redis_url(redis_server):
    client = redis_lib.Redis.from_url(redis_server.url)
    client.flushall()
    client.close()
    return redis_server.url


@pytest.fixture(scope="module")
def live_server(live_database_url, live_redis_url):
    server = LiveServer(
        database_url=live_database_url, redis_url=live_redis_url, workers=2, threads=4
    ).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def live_app(live_database_url, live_redis_url):
    """The app on the server's database: for test data and for checking the database."""
    app = create_app(base_config(live_database_url, live_redis_url))
    yield app
    with app.app_context():
        db.engine.dispose()


@pytest.fixture
def factory(live_app):
    return Factory(live_app)


@pytest.fixture
def context(new_context, live_server):
    return new_context(base_url=live_server.url)


@pytest.fixture
def patient(factory):
    return factory.patient()


@pytest.fixture
def consultation(factory, patient):
    return factory.consultation(patient, fee="5000", doctor="Dr. Ana Cruz")
