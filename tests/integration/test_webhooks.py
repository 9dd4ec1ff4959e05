"""The provider's signed webhook: trusted only when signed and fresh, applied once per event."""

from __future__ import annotations

import hashlib
import hmac
import json
import time

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import GatewayEvent
from tests.support.api import ApiClient
from tests.support.invariants import check_payment_states
from tests.support.lifecycle import (
    WEBHOOK_URL,
    deliver,
    events,
    gateway_event_count,
    provider_event,
    signed_headers,
    state,
)
from tests.support.live import LiveServer
from tests.support.storm import storm


@pytest.fixture
def payment_id(api, patient, consultation):
    return api.new_payment(patient, consultation.id)


def everything(app, payment_id):
    """The payment's whole state plus the webhook's own records."""
    return {**state(app, payment_id), "gateway_events": gateway_event_count(app)}


def test_a_signed_success_confirms_the_payment_and_records_the_event(app, client, payment_id):
    body = provider_event(
        payment_id,
        event_id="evt_1",
        transaction_id="txn_1",
        receipt_url="https://provider.example/r/1",
        amount="5000.00",
        currency="PHP",
    )
    response = deliver(client, app, body)
    assert response.status_code == 200
    assert response.json["outcome"] == "confirmed"
    assert response.json["payment_status"] == "completed"
    after = state(app, payment_id)
    assert (after["status"], after["invoice"], after["transaction_id"]) == (
        "completed",
        "paid",
        "txn_1",
    )
    assert after["receipt_url"] == "https://provider.example/r/1"
    assert events(app, payment_id, "confirmed")[0]["actor"] == "gateway:sandbox"
    with app.app_context():
        recorded = db.session.scalars(select(GatewayEvent)).one()
        assert (recorded.event_id, recorded.event_type, recorded.payment_id) == (
            "evt_1",
            "payment.succeeded",
            payment_id,
        )
        assert recorded.body == body
        assert (recorded.outcome, recorded.note) == ("confirmed", None)


def test_a_signature_computed_by_hand_from_the_documented_scheme_is_accepted(
    app, client, payment_id
):
    # given the scheme as a provider's documentation states it, not our sign()
    body = provider_event(payment_id)
    timestamp = int(time.time())
    secret = app.config["GATEWAY_WEBHOOK_SECRET"].encode()
    digest = hmac.new(secret, f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    header = f"t={timestamp},v1={'0' * 64},v1={digest}"  # a rotated-out secret's digest first
    # when
    response = client.post(
        WEBHOOK_URL,
        data=body,
        headers={"Content-Type": "application/json", "Checkout-Signature": header},
    )
    # then
    assert response.status_code == 200
    assert state(app, payment_id)["status"] == "completed"


def test_a_signed_decline_fails_the_payment_voids_the_invoice_and_lets_the_patient_pay_again(
    api, app, client, patient, consultation, payment_id
):
    body = provider_event(payment_id, kind="payment.declined", reason="card_declined")
    response = deliver(client, app, body)
    assert response.status_code == 200
    assert response.json["outcome"] == "failed"
    after = state(app, payment_id)
    assert (after["status"], after["invoice"]) == ("failed", "void")
    assert events(app, payment_id, "failed")[0]["reason"] == "card_declined"
    # a failed payment is not active: a new one may be made
    new_payment = api.new_payment(patient, consultation.id)
    assert new_payment != payment_id
    check_payment_states(app)


def test_the_same_webhook_ten_times_in_sequence_makes_one_transition(app, client, payment_id):
    body = provider_event(payment_id)
    headers = signed_headers(app, body)
    responses = [client.post(WEBHOOK_URL, data=body, headers=headers) for _ in range(10)]
    assert [r.status_code for r in responses] == [200] * 10
    assert [r.json["outcome"] for r in responses] == ["confirmed"] + ["already_processed"] * 9
    after = state(app, payment_id)
    assert after["events"] == ["created", "confirmed"]
    assert after["version"] == 2
    assert gateway_event_count(app) == 1


def test_the_same_webhook_ten_times_concurrently_makes_one_transition(app, payment_id):
    body = provider_event(payment_id)
    headers = signed_headers(app, body)
    responses = storm(10, lambda i: app.test_client().post(WEBHOOK_URL, data=body, headers=headers))
    assert [r.status_code for r in responses] == [200] * 10
    outcomes = sorted(r.json["outcome"] for r in responses)
    assert outcomes == ["already_processed"] * 9 + ["confirmed"]
    after = state(app, payment_id)
    assert after["events"] == ["created", "confirmed"]
    assert after["version"] == 2
    assert gateway_event_count(app) == 1
    check_payment_states(app)


def test_the_same_webhook_ten_times_at_a_multi_process_server_makes_one_transition(
    app, payment_id, database_url, redis_url
):
    # given three gunicorn worker processes, each with its own connection pool
    server = LiveServer(database_url=database_url, redis_url=redis_url).start()
    try:
        body = provider_event(payment_id)
        headers = signed_headers(app, body)
        # when
        responses = storm(10, lambda i: _post_raw(server.url + WEBHOOK_URL, body, headers))
    finally:
        server.stop()
    # then
    assert [status for status, _ in responses] == [200] * 10
    assert sorted(b["outcome"] for _, b in responses) == ["already_processed"] * 9 + ["confirmed"]
    assert state(app, payment_id)["events"] == ["created", "confirmed"]
    assert gateway_event_count(app) == 1


def _post_raw(url, body, headers):
    import urllib.request

    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    with urllib.request.urlopen(request, timeout=30) as response:
        return response.status, json.loads(response.read())


@pytest.mark.parametrize(
    "spoil",
    [
        pytest.param(lambda h, b, app: ({}, b), id="missing-header"),
        pytest.param(lambda h, b, app: ({"Checkout-Signature": ""}, b), id="empty-header"),
        pytest.param(lambda h, b, app: ({"Checkout-Signature": "garbage"}, b), id="garbage"),
        pytest.param(
            lambda h, b, app: ({"Checkout-Signature": h["Checkout-Signature"].split(",")[0]}, b),
            id="no-digest",
        ),
        pytest.param(
            lambda h, b, app: ({"Checkout-Signature": "t=١٧٠٠٠٠٠٠٠٠,v1=" + "a" * 64}, b),
            id="non-ascii-timestamp",
        ),
        pytest.param(
            lambda h, b, app: ({"Checkout-Signature": "t=1,v1=" + "é" * 64}, b),
            id="non-ascii-digest",
        ),
        pytest.param(
            lambda h, b, app: (h, b.replace(b"txn_provider_1", b"txn_provider_2")),
            id="tampered-body",
        ),
        pytest.param(lambda h, b, app: (_resign(b, "not-the-secret"), b), id="wrong-secret"),
        pytest.param(lambda h, b, app: (_resign(b, app, ago=301), b), id="replayed-old"),
        pytest.param(lambda h, b, app: (_resign(b, app, ago=-301), b), id="from-the-future"),
        pytest.param(lambda h, b, app: (_swap_timestamp(h), b), id="timestamp-swapped"),
    ],
)
def test_untrusted_notifications_are_401_and_change_nothing(app, client, payment_id, spoil):
    body = provider_event(payment_id)
    headers, sent = spoil(signed_headers(app, body), body, app)
    before = everything(app, payment_id)
    response = client.post(
        WEBHOOK_URL, data=sent, headers={"Content-Type": "application/json", **headers}
    )
    assert response.status_code == 401
    assert response.mimetype == "application/problem+json"
    assert response.json["type"] == "/problems/bad-signature"
    assert everything(app, payment_id) == before


def test_a_notification_just_inside_the_tolerance_is_accepted(app, client, payment_id):
    body = provider_event(payment_id)
    response = deliver(client, app, body, timestamp=int(time.time()) - 290)
    assert response.status_code == 200


def _resign(body, app_or_secret, ago=0):
    from app.gateway import signing

    secret = (
        app_or_secret
        if isinstance(app_or_secret, str)
        else app_or_secret.config["GATEWAY_WEBHOOK_SECRET"]
    )
    return {"Checkout-Signature": signing.sign(secret, body, timestamp=int(time.time()) - ago)}


def _swap_timestamp(headers):
    # a valid digest moved onto a fresher timestamp: the digest covers the timestamp
    t, v1 = headers["Checkout-Signature"].split(",")
    return {"Checkout-Signature": f"t={int(t[2:]) + 1},{v1}"}


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"{not json",
        b"[1, 2]",
        b'"just a string"',
        b'{"id": "evt_1", "type": "payment.succeeded", "data": {"payment_id": NaN}}',
        b"[" * 30000 + b"]" * 30000,  # deep nesting, under the size limit
        json.dumps({"type": "payment.succeeded", "data": {"payment_id": 1}}).encode(),
        json.dumps({"id": "evt_1", "data": {"payment_id": 1}}).encode(),
        json.dumps({"id": 7, "type": "payment.succeeded", "data": {}}).encode(),
        json.dumps({"id": "evt_1", "type": "payment.succeeded", "data": []}).encode(),
        json.dumps({"id": "evt_1", "type": "payment.succeeded", "data": {}}).encode(),
        json.dumps(
            {"id": "evt_1", "type": "payment.succeeded", "data": {"payment_id": "1"}}
        ).encode(),
        json.dumps(
            {"id": "evt_1", "type": "payment.succeeded", "data": {"payment_id": True}}
        ).encode(),
        json.dumps(
            {"id": "evt_1", "type": "payment.succeeded", "data": {"payment_id": 1}}
        ).encode(),
        json.dumps(
            {
                "id": "e",
                "type": "payment.succeeded",
                "data": {"payment_id": 1, "transaction_id": "has space"},
            }
        ).encode(),
        json.dumps(
            {
                "id": "e",
                "type": "payment.succeeded",
                "data": {"payment_id": 1, "transaction_id": "t1", "receipt_url": "javascript:x"},
            }
        ).encode(),
        json.dumps({"id": "x" * 256, "type": "payment.succeeded", "data": {}}).encode(),
    ],
    ids=lambda b: b[:40].decode(errors="replace"),
)
def test_signed_but_malformed_events_are_400_change_no_payment_and_are_kept_once_for_staff(
    app, client, payment_id, body
):
    # payment_id 1 is the fixture's payment (a fresh database per test)
    assert payment_id == 1
    before = state(app, payment_id)
    for _ in range(2):  # the provider retries the same bytes
        response = deliver(client, app, body)
        assert response.status_code == 400
        assert response.mimetype == "application/problem+json"
    assert state(app, payment_id) == before
    with app.app_context():
        kept = db.session.scalars(select(GatewayEvent)).one()
        assert (kept.body, kept.outcome) == (body, "unreadable")
        assert kept.note == response.json["detail"]


@pytest.mark.parametrize("unknown", [999999, 2**31, 10**30])
def test_an_unknown_payment_id_is_404_and_changes_nothing(app, client, payment_id, unknown):
    before = everything(app, payment_id)
    response = deliver(client, app, provider_event(unknown))
    assert response.status_code == 404
    assert response.mimetype == "application/problem+json"
    assert everything(app, payment_id) == before


def test_an_event_type_we_do_not_use_is_acknowledged_and_changes_nothing(app, client, payment_id):
    before = everything(app, payment_id)
    body = json.dumps({"id": "evt_x", "type": "customer.updated", "data": {}}).encode()
    response = deliver(client, app, body)
    assert response.status_code == 200
    assert response.json["outcome"] == "ignored"
    assert everything(app, payment_id) == before


def test_the_webhook_needs_no_csrf_token_but_stays_signed(make_app, factory):
    # given an app with CSRF protection on, as in production
    app = make_app(WTF_CSRF_ENABLED=True)
    api = ApiClient(app)
    client = app.test_client()
    patient = factory.patient()
    payment_id = api.new_payment(patient, factory.consultation(patient).id)
    # when / then
    assert deliver(client, app, provider_event(payment_id)).status_code == 200
    assert state(app, payment_id)["status"] == "completed"


def test_a_second_charge_reported_by_the_provider_is_recorded_for_staff(app, client, payment_id):
    deliver(client, app, provider_event(payment_id, event_id="evt_1", transaction_id="txn_1"))
    response = deliver(
        client, app, provider_event(payment_id, event_id="evt_2", transaction_id="txn_2")
    )
    # the provider gets a 2xx (retrying cannot help); staff get the record
    assert response.status_code == 200
    assert response.json["outcome"] == "duplicate_charge"
    assert state(app, payment_id)["transaction_id"] == "txn_1"
    [duplicate] = events(app, payment_id, "duplicate_charge")
    assert duplicate["transaction_id"] == "txn_2"
    assert duplicate["actor"] == "gateway:sandbox"
    assert gateway_event_count(app) == 2


def test_a_late_decline_does_not_undo_a_completed_payment(app, client, payment_id):
    deliver(client, app, provider_event(payment_id, event_id="evt_1"))
    before = state(app, payment_id)
    response = deliver(
        client, app, provider_event(payment_id, kind="payment.declined", event_id="evt_2")
    )
    assert response.status_code == 200
    assert response.json["outcome"] == "refused"
    assert "completed" in response.json["detail"]
    assert state(app, payment_id) == before


@pytest.mark.parametrize(
    ("transaction_id", "outcome"),
    [("txn_1", "unchanged"), ("txn_2", "duplicate_charge")],
    ids=["the-refunded-charge-again", "a-new-charge"],
)
def test_a_success_for_a_refunded_payment_never_changes_it_and_a_new_charge_is_flagged(
    api, app, client, factory, payment_id, transaction_id, outcome
):
    staff = factory.staff()
    api.confirm(staff, payment_id, transaction_id="txn_1")
    api.refund(staff, payment_id, reason="Cancelled by the clinic")
    before = state(app, payment_id)
    response = deliver(client, app, provider_event(payment_id, transaction_id=transaction_id))
    assert response.status_code == 200
    assert response.json["outcome"] == outcome
    after = state(app, payment_id)
    flagged = events(app, payment_id, "duplicate_charge")
    if outcome == "unchanged":
        assert after == before and flagged == []
    else:
        assert after["status"] == "refunded"
        assert after["events"] == [*before["events"], "duplicate_charge"]
        assert (flagged[0]["transaction_id"], flagged[0]["amount"]) == ("txn_2", "5000.00")
