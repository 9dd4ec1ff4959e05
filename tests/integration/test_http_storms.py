"""The same storms over HTTP: several gunicorn worker processes, then two app instances,
then with Redis stopped, flushed, unreachable or paused. Real PostgreSQL and Redis."""

from __future__ import annotations

import time

import pytest
import redis as redis_lib

from tests.support.factory import Factory
from tests.support.invariants import check_invariants
from tests.support.live import LiveServer
from tests.support.services import RedisServer, free_port
from tests.support.storm import (
    assert_many_keys_storm,
    assert_one_key_storm,
    http_storm,
    pay_over_http,
    storm,
)

N = 50


@pytest.fixture
def servers(database_url):
    started: list[LiveServer] = []

    def start(redis_url, **kw) -> LiveServer:
        server = LiveServer(database_url=database_url, redis_url=redis_url, **kw).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


def test_storms_against_three_gunicorn_workers_make_one_payment_each(app, servers, redis_url):
    factory = Factory(app)
    patient = factory.patient()
    one, many = factory.consultation(patient), factory.consultation(patient)
    server = servers(redis_url, workers=3)
    assert len(server.worker_pids()) == 3
    assert_one_key_storm(http_storm([server.url], patient, one.id, lambda i: "same-key"))
    assert_many_keys_storm(http_storm([server.url], patient, many.id, lambda i: f"k-{i}"))
    counts = check_invariants(app)
    assert counts["payments"] == 2


def test_two_app_instances_sharing_postgres_and_redis_make_one_payment(app, servers, redis_url):
    factory = Factory(app)
    patient = factory.patient()
    one, many = factory.consultation(patient), factory.consultation(patient)
    a = servers(redis_url, workers=2)
    b = servers(redis_url, workers=2)
    urls = [a.url, b.url]
    assert_one_key_storm(http_storm(urls, patient, one.id, lambda i: "shared"))
    assert_many_keys_storm(http_storm(urls, patient, many.id, lambda i: f"k-{i}"))
    assert check_invariants(app)["payments"] == 2


def test_redis_unreachable_from_the_start_still_one_payment_and_no_5xx(app, servers):
    factory = Factory(app)
    patient = factory.patient()
    one, many = factory.consultation(patient), factory.consultation(patient)
    dead = f"redis://127.0.0.1:{free_port()}/0"
    server = servers(dead, workers=2)
    assert_one_key_storm(http_storm([server.url], patient, one.id, lambda i: "k"))
    assert_many_keys_storm(http_storm([server.url], patient, many.id, lambda i: f"k{i}"))
    assert "redis unavailable" in server.log_path.read_text()
    check_invariants(app)


def test_redis_stopped_mid_storm_and_restarted_still_one_payment(app, servers):
    redis = RedisServer().start()
    try:
        factory = Factory(app)
        patient = factory.patient()
        consultation = factory.consultation(patient)
        server = servers(redis.url, workers=2)

        def call(i):
            if i == N // 2:
                redis.stop()  # dies while the other half of the storm is in flight
            return pay_over_http(
                server.url, patient, consultation.id, key="stop-mid", method="bank_transfer"
            )

        assert_one_key_storm(storm(N, call))
        redis.start()  # same port, empty: every cached answer is gone
        again = http_storm([server.url], patient, consultation.id, lambda i: "stop-mid", n=10)
        assert_one_key_storm(again)
        check_invariants(app)
    finally:
        redis.stop()


def test_redis_flushed_between_storms_replays_from_the_database(app, servers, redis_url):
    factory = Factory(app)
    patient = factory.patient()
    consultation = factory.consultation(patient)
    server = servers(redis_url, workers=2)
    first = http_storm([server.url], patient, consultation.id, lambda i: "flush-me", n=20)
    redis_lib.Redis.from_url(redis_url).flushall()
    second = http_storm([server.url], patient, consultation.id, lambda i: "flush-me", n=20)
    assert_one_key_storm(first + second)
    assert all(r.headers.get("Idempotent-Replayed") == "true" for r in second)
    check_invariants(app)


def test_a_paused_redis_slows_nothing_into_an_error(app, servers):
    redis = RedisServer().start()
    try:
        factory = Factory(app)
        patient = factory.patient()
        one, many = factory.consultation(patient), factory.consultation(patient)
        server = servers(redis.url, workers=2)
        redis.pause()  # accepts connections, answers nothing: every call hits REDIS_TIMEOUT
        assert_one_key_storm(http_storm([server.url], patient, one.id, lambda i: "slow", n=20))
        assert_many_keys_storm(http_storm([server.url], patient, many.id, lambda i: f"s{i}", n=20))
        check_invariants(app)
    finally:
        redis.stop()


def test_a_paused_redis_with_rate_limits_on_still_answers_every_click_promptly(app, servers):
    # production's defaults: limits on, counted in the same Redis that is now unresponsive
    redis = RedisServer().start()
    try:
        factory = Factory(app)
        patient = factory.patient()
        consultation = factory.consultation(patient)
        limits = {"RATELIMIT_ENABLED": "1", "RATELIMIT_PAYMENTS": "1000 per minute"}
        server = servers(redis.url, workers=2, env=limits)
        redis.pause()
        started = time.monotonic()
        results = http_storm([server.url], patient, consultation.id, lambda i: "paused", n=20)
        elapsed = time.monotonic() - started
        assert_one_key_storm(results)
        # each process pays REDIS_TIMEOUT a few times, never redis-py's 5 s per request
        assert elapsed < 8, elapsed
        check_invariants(app)
    finally:
        redis.stop()
