"""Reading PayMongo's events: signed but unreadable bodies are a clear MalformedWebhook, never a crash."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.gateway import paymongo_signing as signing
from app.gateway.paymongo import PayMongoGateway, mode_of
from app.payments.errors import MalformedWebhook
from app.payments.provider import PAYMENT_DECLINED, PAYMENT_SUCCEEDED, ProviderEvent
from tests.support.fuzz import json_values

SECRET = "whsk_unit"
gateway = PayMongoGateway("sk_test_unit", SECRET, "http://127.0.0.1:9")


def delivered(payload) -> bytes:
    return payload if isinstance(payload, bytes) else json.dumps(payload).encode()


def read(payload) -> ProviderEvent:
    body = delivered(payload)
    header = signing.sign(SECRET, body, mode=signing.Mode.TEST)
    return gateway.read_notification(body, {signing.HEADER: header})


def event(kind: str, data, livemode=False) -> dict:
    attributes = {"type": kind, "livemode": livemode, "created_at": 1, "data": data}
    return {"data": {"id": "evt_1", "type": "event", "attributes": attributes}}


def payment(status="paid", amount=500000, **attributes) -> dict:
    base = {"amount": amount, "currency": "PHP", "status": status, "source": {"type": "card"}}
    return {"id": "pay_1", "type": "payment", "attributes": {**base, **attributes}}


def session(payments, metadata=None) -> dict:
    attributes = {"status": "active", "payments": payments, "metadata": metadata or {}}
    return {"id": "cs_1", "type": "checkout_session", "attributes": attributes}


OUR_REFUND = {"status": "succeeded", "metadata": {"idempotency_key": "k", "payment_id": "1"}}


def test_a_paid_payment_carrying_our_metadata_is_our_success():
    found = read(event("payment.paid", payment(metadata={"payment_id": "12"}, fee=1850)))
    assert (found.kind, found.payment_id, found.transaction_id) == (PAYMENT_SUCCEEDED, 12, "pay_1")
    assert found.fee == Decimal("18.50") and found.net is None and found.method == "card"


def test_a_failed_payment_carrying_our_metadata_is_our_decline_with_its_code():
    data = payment("failed", metadata={"payment_id": "12"}, failed_code="card_expired")
    found = read(event("payment.failed", data))
    assert (found.kind, found.reason) == (PAYMENT_DECLINED, "card_expired")


def test_a_paid_session_without_our_metadata_is_acknowledged_only():
    found = read(event("checkout_session.payment.paid", session([payment()])))
    assert (found.kind, found.payment_id) == ("checkout_session.payment.paid", None)


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[]",
        b'{"data": NaN}',
        {"data": None},
        {"data": {"id": "evt_1", "type": "payment"}},  # not an event
        {"data": {"id": 5, "type": "event", "attributes": {"livemode": False}}},
        event("", {}),
        event("checkout_session.payment.paid", session([])),  # paid, but no paid payment
        event("checkout_session.payment.paid", session([payment(amount=1.5)])),
        event("checkout_session.payment.paid", session([payment(amount="500000")])),
        event("checkout_session.payment.paid", session([payment(currency="USD")])),
        event("payment.paid", payment(amount=-1)),
        event("payment.paid", {"id": "pay_1", "type": "payment", "attributes": []}),
        event("payment.refund.updated", {"type": "refund", "attributes": OUR_REFUND}),  # no id
        event("payment.paid", payment(), livemode=True),  # a live event at a test key
        event("payment.paid", payment(), livemode="false"),
    ],
)
def test_a_signed_body_we_cannot_read_is_malformed(body):
    with pytest.raises(MalformedWebhook):
        read(body)


@given(
    kind=st.sampled_from(
        [
            "checkout_session.payment.paid",
            "payment.paid",
            "payment.failed",
            "payment.refunded",
            "payment.refund.updated",
            "other",
        ]
    ),
    data=json_values,
)
def test_any_signed_event_is_read_or_refused_as_malformed(kind, data):
    try:
        found = read(event(kind, data))
    except MalformedWebhook:
        return
    assert isinstance(found, ProviderEvent) and found.event_id == "evt_1"


@pytest.mark.parametrize("key", ["pk_test_abc", "sk_abc", "", "SK_TEST_abc"])
def test_only_secret_keys_of_either_mode_are_taken(key):
    with pytest.raises(ValueError, match="sk_test_ or sk_live_"):
        mode_of(key)
