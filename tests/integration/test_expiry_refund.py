"""Abandoned payments expire, late successes land safely, and refunds happen once."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import Payment, User
from app.payments import lifecycle
from app.payments.errors import DuplicateCharge, Forbidden
from tests.support.api import ApiClient
from tests.support.factory import auth
from tests.support.invariants import check_payment_states
from tests.support.lifecycle import (
    age_payment,
    deliver,
    events,
    provider_event,
    state,
)
from tests.support.locks import Background, PauseHolder, wait_for_lock_waiters
from tests.support.storm import storm

ABANDONED = 31 * 60  # older than the default PAYMENT_PENDING_TTL of 30 minutes


@pytest.fixture
def payment_id(api, patient, consultation):
    return api.new_payment(patient, consultation.id)


@pytest.fixture
def background():
    threads = Background()
    yield threads
    threads.close()


def all_payments(app, consultation_id):
    with app.app_context():
        rows = db.session.execute(
            select(Payment.id, Payment.status)
            .where(Payment.consultation_id == consultation_id)
            .order_by(Payment.id)
        ).all()
        db.session.rollback()
    return [tuple(r) for r in rows]


# --- expiry ---------------------------------------------------------------------------


def test_expire_stale_expires_abandoned_payments_only_and_says_how_many(
    app, api, runner, factory, patient, staff
):
    # given an abandoned payment, a fresh one, and an old one that was paid
    abandoned = api.new_payment(patient, factory.consultation(patient).id)
    fresh = api.new_payment(patient, factory.consultation(patient).id)
    paid = api.new_payment(patient, factory.consultation(patient).id)
    api.confirm(staff, paid, transaction_id="txn_paid")
    for pid in (abandoned, paid):
        age_payment(app, pid, ABANDONED)
    # when
    result = runner.invoke(args=["payments", "expire-stale"])
    again = runner.invoke(args=["payments", "expire-stale"])
    # then
    assert result.exit_code == 0, result.output
    assert result.output.strip() == "Expired 1 stale pending payment."
    assert again.output.strip() == "Expired 0 stale pending payments."
    expired = state(app, abandoned)
    assert (expired["status"], expired["invoice"]) == ("expired", "void")
    assert events(app, abandoned, "expired")[0]["actor"] == "system:expire-stale"
    assert state(app, fresh)["status"] == "pending"
    assert state(app, paid)["status"] == "completed"
    check_payment_states(app)


def test_the_ttl_comes_from_configuration(make_app, factory):
    app = make_app(PAYMENT_PENDING_TTL=60)
    api = ApiClient(app)
    patient = factory.patient()
    pid = api.new_payment(patient, factory.consultation(patient).id)
    age_payment(app, pid, 61)
    with app.app_context():
        assert lifecycle.expire_stale() == 1


def test_a_checkout_expires_an_abandoned_payment_and_starts_a_new_one(
    api, app, patient, consultation, payment_id
):
    age_payment(app, payment_id, ABANDONED)
    response = api.pay(patient, consultation.id)
    assert response.status_code == 201
    new_id = response.json["data"]["payment"]["id"]
    assert all_payments(app, consultation.id) == [(payment_id, "expired"), (new_id, "pending")]
    assert state(app, payment_id)["invoice"] == "void"
    assert events(app, payment_id, "expired")[0]["actor"] == "system:checkout"
    check_payment_states(app)


def test_a_late_success_completes_an_expired_payment_when_nothing_else_is_active(
    app, api, runner, staff, payment_id
):
    age_payment(app, payment_id, ABANDONED)
    runner.invoke(args=["payments", "expire-stale"])
    response = api.confirm(staff, payment_id, transaction_id="txn_late")
    assert response.status_code == 200
    after = state(app, payment_id)
    assert (after["status"], after["invoice"]) == ("completed", "paid")
    assert events(app, payment_id, "confirmed")[0]["previous_status"] == "expired"
    check_payment_states(app)


@pytest.mark.parametrize("via", ["api", "webhook"])
def test_a_late_success_after_the_patient_paid_again_is_a_duplicate_charge(
    api, app, client, patient, staff, consultation, payment_id, via
):
    # given the abandoned payment was replaced by a new one at checkout
    age_payment(app, payment_id, ABANDONED)
    new_id = api.pay(patient, consultation.id).json["data"]["payment"]["id"]
    # when the provider reports the old payment's success after all
    if via == "api":
        response = api.confirm(staff, payment_id, transaction_id="txn_late")
        assert response.status_code == 409
        assert response.json["type"] == "/problems/duplicate-charge"
    else:
        response = deliver(client, app, provider_event(payment_id, transaction_id="txn_late"))
        assert response.status_code == 200
        assert response.json["outcome"] == "duplicate_charge"
    # then the old one stays expired, the new one stays the only active one, staff are told
    assert all_payments(app, consultation.id) == [(payment_id, "expired"), (new_id, "pending")]
    [duplicate] = events(app, payment_id, "duplicate_charge")
    assert duplicate["reason"] == "late_success_after_expired"
    assert duplicate["other_payment_id"] == new_id
    check_payment_states(app)


def test_expiry_waiting_behind_a_confirmation_finds_the_payment_paid(
    app, race, background, database_url, staff, payment_id
):
    # given a confirmation holding the payment's locks
    age_payment(app, payment_id, ABANDONED)
    holder = PauseHolder(race)
    confirming = background.start(
        app, lifecycle.confirm, payment_id, transaction_id="txn_1", actor="gateway:test"
    )
    holder.wait_until_holding()
    # when the expiry job reaches the same locks, and only then the confirmation goes on
    expiring = background.start(app, lifecycle.expire_stale)
    wait_for_lock_waiters(database_url)
    holder.release()
    # then the expiry re-checks under the lock and leaves the paid payment alone
    assert confirming.result().outcome == "confirmed"
    assert expiring.result() == 0
    after = state(app, payment_id)
    assert after["status"] == "completed"
    assert "expired" not in after["events"]
    check_payment_states(app)


def test_a_confirmation_waiting_behind_expiry_completes_the_payment_late(
    app, race, background, database_url, payment_id
):
    age_payment(app, payment_id, ABANDONED)
    holder = PauseHolder(race)
    expiring = background.start(app, lifecycle.expire_stale)
    holder.wait_until_holding()
    confirming = background.start(
        app, lifecycle.confirm, payment_id, transaction_id="txn_1", actor="gateway:test"
    )
    wait_for_lock_waiters(database_url)
    holder.release()
    assert expiring.result() == 1
    assert confirming.result().outcome == "confirmed"
    after = state(app, payment_id)
    assert after["events"] == ["created", "expired", "confirmed"]
    assert (after["status"], after["invoice"]) == ("completed", "paid")
    check_payment_states(app)


def test_a_confirmation_waiting_behind_a_checkout_that_replaced_the_payment_is_a_duplicate(
    api, app, race, background, database_url, patient, consultation, payment_id
):
    # given a checkout that found the abandoned payment and is expiring it under the locks
    age_payment(app, payment_id, ABANDONED)
    holder = PauseHolder(race)
    checkout = background.start(app, api.pay, patient, consultation.id)
    holder.wait_until_holding()
    # when the provider's late success arrives and queues behind it
    confirming = background.start(
        app, lifecycle.confirm, payment_id, transaction_id="txn_late", actor="gateway:test"
    )
    wait_for_lock_waiters(database_url)
    holder.release()
    # then the checkout's new payment stands and the late success is a recorded duplicate
    assert checkout.result().status_code == 201
    with pytest.raises(DuplicateCharge):
        confirming.result()
    [(old, old_status), (_, new_status)] = all_payments(app, consultation.id)
    assert (old, old_status, new_status) == (payment_id, "expired", "pending")
    assert len(events(app, payment_id, "duplicate_charge")) == 1
    check_payment_states(app)


def test_expiry_checkout_and_a_late_success_released_together_always_agree(
    api, app, factory, staff
):
    """Many rounds of a three-way race; whoever wins, the end state is one of two."""
    patient = factory.patient()
    for _ in range(6):
        consultation = factory.consultation(patient)
        old = api.new_payment(patient, consultation.id)
        age_payment(app, old, ABANDONED)

        def racer(i, consultation=consultation, old=old):
            if i == 0:
                return api.confirm(staff, old, transaction_id=f"txn_{old}")
            if i == 1:
                return api.pay(patient, consultation.id)
            with app.app_context():
                return lifecycle.expire_stale()

        storm(3, racer)
        payments = dict(all_payments(app, consultation.id))
        if payments[old] == "completed":
            # the success won: nothing else may be active, no duplicate recorded
            assert list(payments.values()) == ["completed"]
            assert events(app, old, "duplicate_charge") == []
        else:
            # the checkout won: the old payment expired, the success is a duplicate for staff
            assert payments[old] == "expired"
            assert sorted(payments.values()) == ["expired", "pending"]
            assert len(events(app, old, "duplicate_charge")) == 1
        check_payment_states(app)


# --- refunds --------------------------------------------------------------------------


@pytest.fixture
def paid_id(api, staff, payment_id):
    assert api.confirm(staff, payment_id, transaction_id="txn_1").status_code == 200
    return payment_id


def test_a_staff_refund_refunds_the_payment_the_invoice_and_reverses_the_tax(
    app, api, staff, paid_id
):
    before = state(app, paid_id)
    response = api.refund(staff, paid_id, reason="  Doctor unavailable  ")
    assert response.status_code == 200
    assert response.json["changed"] is True
    assert response.json["data"]["tax_record"]["status"] == "reversed"
    after = state(app, paid_id)
    assert (after["status"], after["invoice"], after["tax"]) == ("refunded", "refunded", "reversed")
    assert after["version"] == before["version"] + 1
    [event] = events(app, paid_id, "refunded")
    assert event == {
        "actor": f"user:{staff.id}",
        "reason": "Doctor unavailable",
        "amount": "5000.00",
        "credit_memo": "CM-000001",
        "remaining": "0.00",
    }
    check_payment_states(app)


def test_refunding_again_changes_nothing(app, api, staff, paid_id):
    api.refund(staff, paid_id, reason="Doctor unavailable")
    before = state(app, paid_id)
    again = api.refund(staff, paid_id, reason="Clicked twice")
    assert again.status_code == 200
    assert again.json["changed"] is False
    assert state(app, paid_id) == before


def test_ten_concurrent_refunds_refund_once(api, app, staff, paid_id):
    responses = storm(10, lambda i: api.refund(staff, paid_id, reason=f"r{i}"))
    assert [r.status_code for r in responses] == [200] * 10
    assert sum(r.json["changed"] for r in responses) == 1
    assert state(app, paid_id)["events"].count("refunded") == 1


def test_a_patient_cannot_refund(app, api, patient, paid_id):
    before = state(app, paid_id)
    response = api.refund(patient, paid_id, reason="I want my money back")
    assert response.status_code == 403
    assert response.mimetype == "application/problem+json"
    with app.app_context(), pytest.raises(Forbidden):
        lifecycle.refund(paid_id, "I want my money back", db.session.get(User, patient.id))
    assert state(app, paid_id) == before


def test_the_staff_pages_service_call_refunds(app, staff, paid_id):
    with app.app_context():
        actor = db.session.get(User, staff.id)
        result = lifecycle.refund(paid_id, "Refund at the front desk", actor)
    assert result.changed
    assert state(app, paid_id)["status"] == "refunded"


@pytest.mark.parametrize("setup", ["pending", "failed"])
def test_only_a_completed_payment_can_be_refunded(app, api, staff, payment_id, setup):
    if setup == "failed":
        with app.app_context():
            lifecycle.fail(payment_id, reason="card_declined", actor="gateway:test")
    before = state(app, payment_id)
    response = api.refund(staff, payment_id, reason="Doctor unavailable")
    assert response.status_code == 409
    assert response.json["payment_status"] == setup
    assert state(app, payment_id) == before


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"reason": ""},
        {"reason": "   "},
        {"reason": 5},
        {"reason": "x" * 501},
        {"reason": "bad\x00byte"},
    ],
)
def test_a_refund_needs_a_short_reason(app, client, staff, paid_id, body):
    before = state(app, paid_id)
    response = client.post(f"/api/v1/payments/{paid_id}/refund", json=body, headers=auth(staff))
    assert response.status_code == 422
    assert response.json["errors"]["reason"]
    assert state(app, paid_id) == before


def test_refunding_an_unknown_payment_is_404(api, staff):
    assert api.refund(staff, 424242, reason="Doctor unavailable").status_code == 404
