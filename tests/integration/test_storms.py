"""Storms on real PostgreSQL and Redis: many requests released at one instant.

Each guard strategy must keep the guarantee on its own, and the harness proves
it can see a duplicate when the guards are removed.
"""

from __future__ import annotations

import dataclasses
from collections import Counter

import pytest
from sqlalchemy import text

from app.config import POOLERS
from app.extensions import db
from app.payments.guards import GUARDS
from tests.support.api import ApiClient
from tests.support.factory import Factory
from tests.support.invariants import check_invariants
from tests.support.storm import storm

N = 50
STRATEGIES = ["hybrid", "pessimistic", "optimistic", "redis_lock"]


def _api_storm(app, patient, consultation_id, key_for):
    """N concurrent API calls from N test clients; returns (status, json, headers) per call."""

    api = ApiClient(app)

    def call(i):
        r = api.pay(patient, consultation_id, key=key_for(i))
        return r.status_code, r.get_json(), dict(r.headers)

    return storm(N, call)


def _payments_for(app, consultation_id) -> int:
    with app.app_context():
        n = db.session.execute(
            text("SELECT count(*) FROM payments WHERE consultation_id = :c"), {"c": consultation_id}
        ).scalar_one()
        db.session.rollback()
        return n


@pytest.mark.parametrize("guard", STRATEGIES)
@pytest.mark.parametrize("pooler", POOLERS)
def test_fifty_threads_with_one_key_make_one_payment_and_the_same_201(make_app, guard):
    # given
    app = make_app(PAYMENT_GUARD=guard)
    factory = Factory(app)
    patient = factory.patient()
    consultation = factory.consultation(patient)
    # when
    results = _api_storm(app, patient, consultation.id, lambda i: "one-key")
    # then
    statuses = Counter(status for status, _, _ in results)
    assert statuses == {201: N}, statuses
    payment_ids = {body["data"]["payment"]["id"] for _, body, _ in results}
    assert len(payment_ids) == 1
    replayed = sum(1 for _, _, h in results if h.get("Idempotent-Replayed") == "true")
    assert replayed == N - 1
    assert _payments_for(app, consultation.id) == 1
    check_invariants(app)


@pytest.mark.parametrize("guard", STRATEGIES)
@pytest.mark.parametrize("pooler", POOLERS)
def test_fifty_threads_with_fifty_keys_make_one_payment_and_49_conflicts(make_app, guard):
    app = make_app(PAYMENT_GUARD=guard)
    factory = Factory(app)
    patient = factory.patient()
    consultation = factory.consultation(patient)
    results = _api_storm(app, patient, consultation.id, lambda i: f"key-{i}")
    statuses = Counter(status for status, _, _ in results)
    assert statuses == {201: 1, 409: N - 1}, statuses
    winner = next(body["data"]["payment"]["id"] for s, body, _ in results if s == 201)
    named = {body["existing_payment_id"] for s, body, _ in results if s == 409}
    assert named == {winner}
    assert _payments_for(app, consultation.id) == 1
    check_invariants(app)


@pytest.mark.parametrize("pooler", POOLERS)
def test_fifty_threads_without_keys_make_one_payment(make_app):
    app = make_app()
    factory = Factory(app)
    patient = factory.patient()
    consultation = factory.consultation(patient)
    results = _api_storm(app, patient, consultation.id, lambda i: None)
    assert Counter(s for s, _, _ in results) == {201: 1, 409: N - 1}
    assert _payments_for(app, consultation.id) == 1


def test_the_storm_harness_sees_duplicates_when_the_guards_are_removed(make_app, monkeypatch):
    """Sensitivity: the same storm, with a no-op guard and the partial index dropped."""
    # given a guard that claims no key, takes no lock and checks nothing
    app = make_app(PAYMENT_GUARD="unguarded", ALLOW_UNGUARDED_BENCHMARK=True)
    assert GUARDS["unguarded"].check_active is False
    with app.app_context():
        db.session.execute(text("DROP INDEX uq_payments_one_active_per_consultation"))
        db.session.commit()
    factory = Factory(app)
    patient = factory.patient()
    consultation = factory.consultation(patient)
    # when
    results = _api_storm(app, patient, consultation.id, lambda i: f"key-{i}")
    # then the duplicates the guards exist to prevent appear
    assert _payments_for(app, consultation.id) > 1
    assert Counter(s for s, _, _ in results)[201] > 1
    with pytest.raises(AssertionError, match="more than one active payment"):
        check_invariants(app)


def test_the_partial_index_alone_turns_a_lost_race_into_409(make_app, monkeypatch):
    """Optimistic has no lock: when both pass the check, the index decides."""
    app = make_app(PAYMENT_GUARD="optimistic")
    factory = Factory(app)
    patient = factory.patient()
    consultation = factory.consultation(patient)
    # the guard without its active-payment check: every request goes on to insert,
    # so only the unique index stands between them and a duplicate
    blind = dataclasses.replace(GUARDS["optimistic"], check_active=False)
    monkeypatch.setitem(GUARDS, "optimistic", blind)
    results = _api_storm(app, patient, consultation.id, lambda i: f"k{i}")
    statuses = Counter(s for s, _, _ in results)
    assert statuses == {201: 1, 409: N - 1}, statuses
    assert _payments_for(app, consultation.id) == 1
    check_invariants(app)


def test_storm_on_sqlite_with_the_in_process_redis_stand_in_makes_one_payment(sqlite_app):
    factory = Factory(sqlite_app)
    patient = factory.patient()
    consultation = factory.consultation(patient)
    one_key = _api_storm(sqlite_app, patient, consultation.id, lambda i: "same")
    assert Counter(s for s, _, _ in one_key) == {201: N}
    other = factory.consultation(patient)
    many_keys = _api_storm(sqlite_app, patient, other.id, lambda i: f"k{i}")
    assert Counter(s for s, _, _ in many_keys) == {201: 1, 409: N - 1}
    check_invariants(sqlite_app)


def test_sqlite_keeps_the_partial_unique_index(sqlite_app):
    with sqlite_app.app_context():
        sql = db.session.execute(
            text(
                "SELECT sql FROM sqlite_master WHERE name = 'uq_payments_one_active_per_consultation'"
            )
        ).scalar_one()
    assert "UNIQUE" in sql.upper()
    assert "WHERE" in sql.upper()


def test_the_redis_lock_guard_releases_its_lock_with_the_in_process_stand_in(tmp_path):
    """fakeredis needs Lua (lupa) for redis-py's token-checked release; without it every
    later checkout of the consultation waited out the lock's lifetime."""
    from app import create_app
    from tests.conftest import base_config, migrate_database

    url = f"sqlite:///{tmp_path / 'lock.db'}"
    migrate_database(url)
    app = create_app(base_config(url, None, PAYMENT_GUARD="redis_lock"))
    try:
        factory = Factory(app)
        patient = factory.patient()
        consultation = factory.consultation(patient)
        with app.app_context():
            lock_name = f"lock:v1:consultation:{consultation.id}"
            client = app.extensions["redis"]
            first = _api_storm(app, patient, consultation.id, lambda i: f"k{i}")
            assert Counter(s for s, _, _ in first) == {201: 1, 409: N - 1}
            assert client.get(lock_name) is None  # released, not left to expire
    finally:
        with app.app_context():
            db.engine.dispose()
