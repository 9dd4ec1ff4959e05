"""Confirming a payment on PostgreSQL: once, whoever asks and however often."""

from __future__ import annotations

import pytest
from sqlalchemy import update

from app.extensions import db
from app.models import Payment, User
from app.payments import lifecycle
from app.payments.errors import Forbidden, InvalidTransition
from tests.support.api import ApiClient
from tests.support.factory import auth
from tests.support.invariants import check_payment_states
from tests.support.lifecycle import events, state
from tests.support.locks import Background, PauseHolder
from tests.support.storm import storm


@pytest.fixture
def payment_id(api, factory, patient):
    return api.new_payment(patient, factory.consultation(patient, fee="5000").id)


def test_payment_confirmation_is_atomic(app, api, staff, payment_id):
    """The seed's test, ported. The seed confirmed as the patient; here a staff token
    confirms, because a patient may not mark their own payment paid (FLAWS.md #8)."""
    # when
    response = api.confirm(staff, payment_id, transaction_id="txn_12345")
    # then
    assert response.status_code == 200
    after = state(app, payment_id)
    assert after["status"] == "completed"
    assert after["transaction_id"] == "txn_12345"


def test_confirm_completes_the_payment_pays_its_invoice_bumps_the_version_and_records_it(
    app, api, staff, payment_id
):
    before = state(app, payment_id)
    response = api.confirm(
        staff,
        payment_id,
        transaction_id="txn_1",
        receipt_url="https://provider.example/r/1",
    )
    assert response.status_code == 200
    assert response.json["changed"] is True
    assert response.json["data"]["payment"]["status"] == "completed"
    assert response.json["data"]["invoice"]["status"] == "paid"
    after = state(app, payment_id)
    assert after["receipt_url"] == "https://provider.example/r/1"
    assert after["completed_at"] is not None
    assert after["paid_at"] == after["completed_at"]
    assert after["invoice"] == "paid"
    assert after["version"] == before["version"] + 1
    assert response.json["data"]["payment"]["version"] == after["version"]
    assert after["events"] == ["created", "confirmed"]
    assert events(app, payment_id, "confirmed")[0]["actor"] == f"user:{staff.id}"


def test_the_same_transaction_id_again_answers_200_and_changes_nothing(app, api, staff, payment_id):
    first = api.confirm(staff, payment_id, transaction_id="txn_1")
    before = state(app, payment_id)
    # when
    again = api.confirm(staff, payment_id, transaction_id="txn_1")
    # then
    assert again.status_code == 200
    assert again.json["changed"] is False
    assert again.json["data"] == first.json["data"]
    assert state(app, payment_id) == before


def test_a_different_transaction_id_on_a_completed_payment_is_409_and_a_duplicate_charge(
    app, api, staff, payment_id
):
    api.confirm(staff, payment_id, transaction_id="txn_1")
    before = state(app, payment_id)
    # when the provider reports a second charge, twice
    response = api.confirm(staff, payment_id, transaction_id="txn_2")
    repeat = api.confirm(staff, payment_id, transaction_id="txn_2")
    # then the payment is untouched and staff see one duplicate charge to refund
    assert response.status_code == repeat.status_code == 409
    assert response.mimetype == "application/problem+json"
    assert response.json["type"] == "/problems/duplicate-charge"
    assert response.json["payment_status"] == "completed"
    after = state(app, payment_id)
    assert {k: v for k, v in after.items() if k != "events"} == {
        k: v for k, v in before.items() if k != "events"
    }
    duplicates = events(app, payment_id, "duplicate_charge")
    assert len(duplicates) == 1
    assert duplicates[0]["transaction_id"] == "txn_2"
    assert duplicates[0]["completed_transaction_id"] == "txn_1"
    assert duplicates[0]["reason"] == "already_completed"


def test_a_stale_expected_version_is_409_and_changes_nothing(app, api, staff, payment_id):
    before = state(app, payment_id)
    response = api.confirm(
        staff, payment_id, transaction_id="txn_1", expected_version=before["version"] + 1
    )
    assert response.status_code == 409
    assert response.json["type"] == "/problems/stale-version"
    assert response.json["current_version"] == before["version"]
    assert state(app, payment_id) == before


def test_the_current_expected_version_confirms(app, api, staff, payment_id):
    version = state(app, payment_id)["version"]
    response = api.confirm(staff, payment_id, transaction_id="txn_1", expected_version=version)
    assert response.status_code == 200
    assert state(app, payment_id)["status"] == "completed"


def test_a_staff_confirmation_of_a_declined_payment_is_a_late_success(app, api, staff, payment_id):
    # given the provider declined, then staff see the money was taken after all
    with app.app_context():
        lifecycle.fail(payment_id, reason="card_declined", actor="gateway:test")
    # when
    response = api.confirm(staff, payment_id, transaction_id="txn_9")
    # then the charge completes the payment: nothing else holds the consultation
    assert response.status_code == 200, response.json
    after = state(app, payment_id)
    assert (after["status"], after["invoice"], after["transaction_id"]) == (
        "completed",
        "paid",
        "txn_9",
    )


def test_a_new_charge_for_a_refunded_payment_is_a_duplicate_charge(app, api, staff, payment_id):
    api.confirm(staff, payment_id, transaction_id="txn_1")
    api.refund(staff, payment_id, reason="Patient cancelled")
    before = state(app, payment_id)
    response = api.confirm(staff, payment_id, transaction_id="txn_9")
    assert response.status_code == 409
    assert response.json["type"] == "/problems/duplicate-charge"
    assert response.json["payment_status"] == "refunded"
    after = state(app, payment_id)
    assert after["events"] == [*before["events"], "duplicate_charge"]
    assert {k: v for k, v in after.items() if k not in ("events", "version")} == {
        k: v for k, v in before.items() if k not in ("events", "version")
    }


def test_a_patient_cannot_confirm_even_their_own_payment(app, api, patient, payment_id):
    before = state(app, payment_id)
    response = api.confirm(patient, payment_id, transaction_id="txn_1")
    assert response.status_code == 403
    assert response.mimetype == "application/problem+json"
    assert state(app, payment_id) == before


def test_the_service_itself_refuses_patients_and_changes_nothing(app, patient, payment_id):
    before = state(app, payment_id)
    with app.app_context(), pytest.raises(Forbidden):
        lifecycle.confirm(
            payment_id, transaction_id="txn_1", actor=db.session.get(User, patient.id)
        )
    assert state(app, payment_id) == before


def test_an_unknown_payment_is_404(api, staff):
    for payment_id in (999999, 2**31, 10**20):
        response = api.confirm(staff, payment_id, transaction_id="txn_1")
        assert response.status_code == 404
        assert response.mimetype == "application/problem+json"


def test_a_transaction_id_that_confirmed_another_payment_is_409(
    app, api, factory, patient, staff, payment_id
):
    other = api.new_payment(patient, factory.consultation(patient).id)
    api.confirm(staff, payment_id, transaction_id="txn_shared")
    before = state(app, other)
    response = api.confirm(staff, other, transaction_id="txn_shared")
    assert response.status_code == 409
    assert response.json["type"] == "/problems/transaction-id-in-use"
    assert state(app, other) == before


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"transaction_id": ""},
        {"transaction_id": 12345},
        {"transaction_id": "x" * 256},
        {"transaction_id": "txn with spaces"},
        {"transaction_id": "<script>"},
        {"transaction_id": "txn_1", "receipt_url": "javascript:alert(1)"},
        {"transaction_id": "txn_1", "receipt_url": "https://"},
        {"transaction_id": "txn_1", "receipt_url": "https://x.example/" + "a" * 2048},
        {"transaction_id": "txn_1", "expected_version": True},
        {"transaction_id": "txn_1", "expected_version": 0},
        {"transaction_id": "txn_1", "expected_version": "1"},
        {"transaction_id": "txn_1", "expected_version": 1.5},
        {"transaction_id": "txn_1", "expected_version": 10**30},
    ],
)
def test_bad_confirm_bodies_are_422_and_change_nothing(app, client, staff, payment_id, body):
    before = state(app, payment_id)
    response = client.post(f"/api/v1/payments/{payment_id}/confirm", json=body, headers=auth(staff))
    assert response.status_code == 422
    assert response.mimetype == "application/problem+json"
    assert response.json["errors"]
    assert state(app, payment_id) == before


@pytest.mark.parametrize(
    ("data", "content_type", "status"),
    [
        ("{not json", "application/json", 400),
        ("[1]", "application/json", 400),
        ("[" * 30000 + "]" * 30000, "application/json", 400),
        ("transaction_id=txn_1", "application/x-www-form-urlencoded", 415),
    ],
)
def test_malformed_confirm_bodies_are_refused(
    app, client, staff, payment_id, data, content_type, status
):
    before = state(app, payment_id)
    response = client.post(
        f"/api/v1/payments/{payment_id}/confirm",
        data=data,
        content_type=content_type,
        headers=auth(staff),
    )
    assert response.status_code == status
    assert state(app, payment_id) == before


def test_twenty_concurrent_confirms_with_one_transaction_id_make_one_transition(
    api, app, staff, payment_id
):
    # when twenty staff clicks (or provider retries) arrive at the same instant
    responses = storm(20, lambda i: api.confirm(staff, payment_id, transaction_id="txn_storm"))
    # then every one answers 200 with the same payment, and exactly one changed it
    assert [r.status_code for r in responses] == [200] * 20
    assert sum(r.json["changed"] for r in responses) == 1
    assert len({r.json["data"]["payment"]["completed_at"] for r in responses}) == 1
    assert len({r.json["data"]["invoice"]["paid_at"] for r in responses}) == 1
    after = state(app, payment_id)
    assert after["events"].count("confirmed") == 1
    assert after["version"] == 2
    assert after["invoice"] == "paid"
    check_payment_states(app)


def test_twenty_concurrent_confirms_with_different_transaction_ids_complete_once(
    api, app, staff, payment_id
):
    responses = storm(20, lambda i: api.confirm(staff, payment_id, transaction_id=f"txn_{i}"))
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200] + [409] * 19
    winner = next(r for r in responses if r.status_code == 200)
    txn = winner.json["data"]["payment"]["transaction_id"]
    assert {r.json["type"] for r in responses if r.status_code == 409} == {
        "/problems/duplicate-charge"
    }
    after = state(app, payment_id)
    assert after["transaction_id"] == txn
    assert after["events"].count("confirmed") == 1
    duplicates = events(app, payment_id, "duplicate_charge")
    assert sorted(d["transaction_id"] for d in duplicates) == sorted(
        f"txn_{i}" for i in range(20) if f"txn_{i}" != txn
    )
    check_payment_states(app)


def test_a_processing_payment_can_be_confirmed(app, api, staff, payment_id):
    with app.app_context():
        db.session.execute(
            update(Payment).where(Payment.id == payment_id).values(status="processing")
        )
        db.session.commit()
    response = api.confirm(staff, payment_id, transaction_id="txn_1")
    assert response.status_code == 200
    assert events(app, payment_id, "confirmed")[0]["previous_status"] == "processing"


def test_a_confirm_that_waits_too_long_for_the_lock_is_503_and_changes_nothing(
    make_app, factory, race
):
    # given a short lock bound and a transition holding the payment's locks
    app = make_app(PAYMENT_LOCK_TIMEOUT_MS=300)
    api = ApiClient(app)
    patient, staff = factory.patient(), factory.staff()
    payment_id = api.new_payment(patient, factory.consultation(patient).id)
    holder = PauseHolder(race)
    threads = Background()
    try:
        holding = threads.start(app, lifecycle.refund, payment_id, "r", "system:test")
        holder.wait_until_holding()
        # when
        response = api.confirm(staff, payment_id, transaction_id="txn_1")
    finally:
        holder.release()
        threads.close()
    # then: a clear "try again", and the holder's own refusal (pending cannot be refunded)
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "2"
    assert response.json["type"] == "/problems/busy"
    with pytest.raises(InvalidTransition):
        holding.result()
    assert state(app, payment_id)["status"] == "pending"
