"""Bounded waiting, in-flight repeats, failures mid-transaction and expired keys (PostgreSQL)."""

from __future__ import annotations

import logging
import threading
import time
from datetime import timedelta

import pytest
import redis as redis_lib
from sqlalchemy import text

from app.config import POOLERS
from app.extensions import db
from app.models import IdempotencyKey, utcnow
from app.payments import hooks, idempotency
from tests.support.api import ApiClient
from tests.support.factory import Factory
from tests.support.invariants import check_invariants
from tests.support.pg import hold_claim, raw_connection, wait_until_blocked_on_a_lock


@pytest.fixture
def setup(app):
    factory = Factory(app)
    patient = factory.patient()
    return factory, patient, factory.consultation(patient)


@pytest.mark.parametrize("pooler", POOLERS)
def test_a_repeat_arriving_while_the_first_runs_waits_and_gets_its_response(
    api, app, setup, database_url, race
):
    # given the first request is held inside its transaction, after claiming the key
    _, patient, consultation = setup
    release, reached = threading.Event(), threading.Event()
    first_thread = {}

    def held(consultation_id):
        if threading.current_thread() is first_thread.get("t"):
            reached.set()
            release.wait(10)

    race.at(hooks.AFTER_CLAIM, held)
    results = {}
    t1 = threading.Thread(
        target=lambda: results.update(first=api.pay(patient, consultation.id, key="k"))
    )
    first_thread["t"] = t1
    t1.start()
    assert reached.wait(10)
    # when a repeat arrives and blocks on the first one's uncommitted claim
    t2 = threading.Thread(
        target=lambda: results.update(second=api.pay(patient, consultation.id, key="k"))
    )
    t2.start()
    wait_until_blocked_on_a_lock(database_url)
    release.set()
    t1.join(10)
    t2.join(10)
    # then the repeat received the first request's response
    first, second = results["first"], results["second"]
    assert first.status_code == second.status_code == 201
    assert second.headers["Idempotent-Replayed"] == "true"
    assert second.json == first.json
    check_invariants(app)


@pytest.mark.parametrize("pooler", POOLERS)
def test_a_repeat_waiting_past_the_bound_gets_409_with_retry_after(make_app, database_url):
    app = make_app(PAYMENT_LOCK_TIMEOUT_MS=300)
    api = ApiClient(app)
    factory = Factory(app)
    patient = factory.patient()
    consultation = factory.consultation(patient)
    # given another transaction holds an uncommitted claim on the same key
    with raw_connection(database_url) as conn:
        hold_claim(conn, patient.id, "busy-key")
        # when the same key arrives
        started = time.monotonic()
        response = api.pay(patient, consultation.id, key="busy-key")
        waited = time.monotonic() - started
        conn.rollback()
    # then it is told to retry within the bound (300 ms, plus the request's own work),
    # and nothing was written
    assert waited < 2.5, waited
    assert response.status_code == 409
    assert response.json["type"] == "/problems/payment-in-progress"
    assert int(response.headers["Retry-After"]) >= 1
    assert check_invariants(app)["payments"] == 0
    # and once the other claimer gave up, the key works
    assert api.pay(patient, consultation.id, key="busy-key").status_code == 201


@pytest.mark.parametrize("pooler", POOLERS)
def test_a_locked_consultation_past_the_lock_timeout_gives_503_and_writes_nothing(
    make_app, database_url
):
    app = make_app(PAYMENT_LOCK_TIMEOUT_MS=300)
    api = ApiClient(app)
    factory = Factory(app)
    patient = factory.patient()
    consultation = factory.consultation(patient)
    with raw_connection(database_url) as conn:
        conn.execute("SELECT id FROM consultations WHERE id = %s FOR UPDATE", (consultation.id,))
        response = api.pay(patient, consultation.id, key="locked")
        conn.rollback()
    assert response.status_code == 503
    assert response.mimetype == "application/problem+json"
    assert response.headers["Retry-After"]
    assert "try again" in response.json["detail"]
    assert check_invariants(app) == {
        "payments": 0,
        "invoices": 0,
        "tax_records": 0,
        "idempotency_keys": 0,
    }
    # the same key is free to succeed afterwards: nothing was left stuck
    assert api.pay(patient, consultation.id, key="locked").status_code == 201


def test_a_crash_after_the_claim_leaves_nothing_half_written_and_the_key_free(api, app, setup):
    _, patient, consultation = setup

    def boom(**context):
        raise RuntimeError("disk on fire")

    with hooks.run_at(hooks.BEFORE_INSERT, boom):
        response = api.pay(patient, consultation.id, key="crash")
    assert response.status_code == 500
    assert response.mimetype == "application/problem+json"
    assert "disk on fire" not in response.get_data(as_text=True)
    assert check_invariants(app)["idempotency_keys"] == 0
    assert api.pay(patient, consultation.id, key="crash").status_code == 201
    assert check_invariants(app)["payments"] == 1


def test_an_expired_key_is_forgotten_and_may_be_used_for_a_new_request(api, app, setup, redis_url):
    factory, patient, consultation = setup
    assert api.pay(patient, consultation.id, key="old").status_code == 201
    # both copies of the key expire: Redis by its TTL, the row by expires_at
    redis_lib.Redis.from_url(redis_url).flushall()
    with app.app_context():
        db.session.execute(
            text("UPDATE idempotency_keys SET expires_at = :t"), {"t": utcnow() - timedelta(1)}
        )
        db.session.commit()
    other = factory.consultation(patient, fee="1500")
    response = api.pay(patient, other.id, key="old", method="stripe")
    assert response.status_code == 201
    with app.app_context():
        assert db.session.query(IdempotencyKey).count() == 1
    # and the key taken over stores its new answer: a repeat (from the database) replays it
    redis_lib.Redis.from_url(redis_url).flushall()
    again = api.pay(patient, other.id, key="old", method="stripe")
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.get_data() == response.get_data()


def test_each_outcome_logs_one_line_with_a_key_hash_and_never_the_key(api, app, setup, caplog):
    _, patient, consultation = setup
    caplog.set_level(logging.INFO, logger="app.payments")
    secret_key = "very-secret-idempotency-key"
    api.pay(patient, consultation.id, key=secret_key)
    api.pay(patient, consultation.id, key=secret_key)
    api.pay(patient, consultation.id, key="another")
    lines = [r.getMessage() for r in caplog.records if r.name == "app.payments"]
    outcomes = [line.split("outcome=")[1].split()[0] for line in lines]
    assert outcomes == ["created", "replayed", "conflict"]
    assert all(secret_key not in line for line in lines)
    assert idempotency.hash_key(secret_key)[:16] in lines[0]
    assert all("duration_ms=" in line and f"user_id={patient.id}" in line for line in lines)
    assert patient.email not in caplog.text


def test_a_deadlock_is_retried_and_the_retry_creates_the_payment(api, app, setup, race, caplog):
    import psycopg.errors
    from sqlalchemy.exc import OperationalError

    _, patient, consultation = setup
    calls = {"n": 0}

    def deadlock_once(**context):
        calls["n"] += 1
        if calls["n"] == 1:
            raise OperationalError("INSERT", {}, psycopg.errors.DeadlockDetected("deadlock"))

    race.at(hooks.BEFORE_INSERT, deadlock_once)
    caplog.set_level(logging.WARNING, logger="app.payments")
    response = api.pay(patient, consultation.id, key="dl")
    assert response.status_code == 201
    assert calls["n"] == 2
    assert "payment.retry sqlstate=40P01 attempt=1" in caplog.text
    assert check_invariants(app)["payments"] == 1


def test_purge_keys_deletes_only_expired_keys_and_a_purged_key_starts_afresh(
    api, app, setup, runner, redis_url
):
    factory, patient, consultation = setup
    assert api.pay(patient, consultation.id, key="old").status_code == 201
    assert api.pay(patient, consultation.id, key="fresh").status_code == 409
    with app.app_context():
        db.session.execute(
            text("UPDATE idempotency_keys SET expires_at = :t WHERE id = 1"),
            {"t": utcnow() - timedelta(seconds=1)},
        )
        db.session.commit()
    result = runner.invoke(args=["payments", "purge-keys"])
    assert result.exit_code == 0, result.output
    assert "Deleted 1 expired idempotency key." in result.output
    with app.app_context():
        assert db.session.query(IdempotencyKey).count() == 1
    redis_lib.Redis.from_url(redis_url).flushall()  # its Redis copy expires with it
    other = factory.consultation(patient, fee="1500")
    assert api.pay(patient, other.id, key="old", method="stripe").status_code == 201


def test_a_key_purged_between_the_claim_and_the_read_is_claimed_again(
    api, app, setup, race, redis_url
):
    _, patient, consultation = setup
    calls = {"n": 0}

    def purged_once(session, **context):
        # what `flask payments purge-keys` does to an expired row at that moment
        calls["n"] += 1
        if calls["n"] == 1:
            session.execute(text("DELETE FROM idempotency_keys"))

    assert api.pay(patient, consultation.id, key="k").status_code == 201
    redis_lib.Redis.from_url(redis_url).flushall()  # reach the database path
    race.at(hooks.KEY_TAKEN, purged_once)
    response = api.pay(patient, consultation.id, key="k")
    # the row was gone, so the repeat claimed the key afresh and met the active payment
    assert calls["n"] == 1
    assert response.status_code == 409
    assert check_invariants(app)["payments"] == 1
