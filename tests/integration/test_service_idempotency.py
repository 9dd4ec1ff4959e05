"""The service layer: ``create_payment`` called directly on PostgreSQL, no HTTP.

When one of these fails, the payment service is wrong; when only the HTTP tests
fail, the API or the pages are.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
import redis as redis_lib
from sqlalchemy import update

from app.extensions import db
from app.models import IdempotencyKey, User, utcnow
from app.payments.errors import KeyReuseMismatch, PaymentInProgress
from app.payments.guards import GUARD_NAMES
from app.payments.requests import parse_payment_request
from app.payments.service import create_payment
from tests.support.factory import Factory
from tests.support.invariants import check_invariants
from tests.support.pg import hold_claim, raw_connection


def create(app, patient, consultation, key, method="gcash"):
    """One service call in its own app context, as a request would make it."""
    with app.app_context():
        req = parse_payment_request(
            consultation_id=consultation.id, payment_method=method, idempotency_key=key
        )
        return create_payment(db.session.get(User, patient.id), req)


@pytest.fixture(params=GUARD_NAMES)
def guarded(request, make_app):
    app = make_app(PAYMENT_GUARD=request.param, PAYMENT_LOCK_TIMEOUT_MS=300)
    factory = Factory(app)
    patient = factory.patient()
    return app, factory, patient, factory.consultation(patient)


def test_the_same_key_replays_the_first_outcome(guarded):
    app, _, patient, consultation = guarded
    first = create(app, patient, consultation, "k1")
    again = create(app, patient, consultation, "k1")
    assert first.status == 201 and not first.replayed
    assert again.replayed and (again.status, again.body) == (first.status, first.body)
    assert check_invariants(app)["payments"] == 1


def test_a_new_key_for_a_paid_consultation_is_refused_with_the_existing_payment(guarded):
    app, _, patient, consultation = guarded
    first = create(app, patient, consultation, "k1")
    second = create(app, patient, consultation, "k2")
    assert second.status == 409 and not second.replayed
    assert second.payment_id == first.payment_id
    assert check_invariants(app)["payments"] == 1


def test_the_same_key_with_a_different_payload_is_refused_and_writes_nothing(guarded):
    app, _, patient, consultation = guarded
    create(app, patient, consultation, "k1", method="gcash")
    with pytest.raises(KeyReuseMismatch):
        create(app, patient, consultation, "k1", method="stripe")
    assert check_invariants(app)["payments"] == 1


def test_a_repeat_while_the_first_is_in_flight_is_told_to_retry(guarded, database_url):
    app, _, patient, consultation = guarded
    # given another transaction holds an uncommitted claim on the key
    with raw_connection(database_url) as conn:
        hold_claim(conn, patient.id, "k1")
        with pytest.raises(PaymentInProgress) as info:
            create(app, patient, consultation, "k1")
        conn.rollback()
    assert info.value.retry_after >= 1
    assert check_invariants(app)["payments"] == 0


def test_an_expired_key_starts_a_new_request(guarded, redis_url):
    app, factory, patient, consultation = guarded
    create(app, patient, consultation, "k1")
    with app.app_context():
        db.session.execute(update(IdempotencyKey).values(expires_at=utcnow() - timedelta(1)))
        db.session.commit()
    redis_lib.Redis.from_url(redis_url).flushall()
    other = factory.consultation(patient, fee="1500")
    outcome = create(app, patient, other, "k1", method="stripe")
    assert outcome.status == 201 and not outcome.replayed
    assert check_invariants(app)["payments"] == 2
