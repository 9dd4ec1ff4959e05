"""/healthz is liveness (no dependencies); /readyz is readiness (PostgreSQL within a bound)."""

from __future__ import annotations

import socket
import time

import pytest

from app import create_app
from app.extensions import db
from tests.conftest import base_config
from tests.support.services import free_port


@pytest.fixture
def silent_database():
    """A TCP port that completes the handshake and then never says a word (a hung server)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    yield f"postgresql+psycopg://postgres@127.0.0.1:{listener.getsockname()[1]}/x"
    listener.close()


def _app(database_url, redis_url, **overrides):
    return create_app(base_config(database_url, redis_url, **overrides))


def test_ready_with_postgresql_and_redis_answering(client):
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json == {"status": "ready", "database": "ok", "redis": "ok"}


def test_redis_away_is_reported_as_degraded_but_still_ready(database_url):
    app = _app(database_url, f"redis://127.0.0.1:{free_port()}/0")
    try:
        response = app.test_client().get("/readyz")
        assert response.status_code == 200
        assert response.json == {"status": "degraded", "database": "ok", "redis": "degraded"}
    finally:
        with app.app_context():
            db.engine.dispose()


def test_a_refused_database_is_not_ready_but_the_process_is_alive(redis_url):
    app = _app(f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/x", redis_url)
    client = app.test_client()
    assert client.get("/healthz").status_code == 200
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.mimetype == "application/problem+json"
    assert response.json["type"] == "/problems/not-ready"
    assert response.json["database"] == "unavailable"
    assert response.json["redis"] == "ok"


def test_a_hung_database_is_reported_within_the_readiness_bound(silent_database, redis_url):
    app = _app(silent_database, redis_url, READINESS_TIMEOUT=0.5)
    client = app.test_client()
    started = time.monotonic()
    response = client.get("/readyz")
    waited = time.monotonic() - started
    assert response.status_code == 503
    # the driver would wait its 5 s connect_timeout; the probe gives up at 0.5 s
    assert waited < 2, waited
    started = time.monotonic()
    assert client.get("/healthz").status_code == 200
    assert time.monotonic() - started < 0.5
