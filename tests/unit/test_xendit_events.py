"""Reading Xendit's webhooks: only the right x-callback-token, bodies read as its pages show them
(https://docs.xendit.co/apidocs/webhook-notification-sent-defined-webhook-url-updates-payment-session,
https://docs.xendit.co/apidocs/refund-webhook-notification), the rest a clear MalformedWebhook."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from app.gateway.xendit import CALLBACK_TOKEN_HEADER, XenditGateway
from app.payments.errors import BadSignature, MalformedWebhook
from app.payments.provider import (
    CHECKOUT_EXPIRED,
    PAYMENT_SUCCEEDED,
    REFUND_FAILED,
    REFUND_SUCCEEDED,
)

TOKEN = "unit-callback-token"
gateway = XenditGateway("xnd_development_unit", TOKEN, "http://127.0.0.1:9")
HEADERS = {CALLBACK_TOKEN_HEADER: TOKEN}


def session(status: str = "COMPLETED", **extra) -> dict:
    return {
        "payment_session_id": "ps-661f87c614802d6c402cd82d",
        "reference_id": "INV-000042",
        "currency": "PHP",
        "amount": Decimal("1120.50"),
        "status": status,
        "payment_request_id": "pr-661f87c614802d6c402cd82d" if status == "COMPLETED" else None,
        "payment_id": "py-661f87c614802d6c402cd82d",
        "metadata": {"payment_id": "42"},
        **extra,
    }


def refund(**extra) -> dict:
    return {
        "id": "rfd-6f4a377d-a201-437f-9119-f8b00cbbe857",
        "amount": 1120.5,
        "currency": "PHP",
        "status": "SUCCEEDED",
        "reference_id": "refund-payment-42-1-0123456789ab",
        "failure_code": None,
        "created": "2020-08-30T09:12:33.001Z",
        "metadata": {"payment_id": "42", "idempotency_key": "refund-payment-42-1-0123456789ab"},
        **extra,
    }


def body(event: str, data: dict) -> bytes:
    payload = {"event": event, "business_id": "b", "created": "2026-12-31T23:59:59Z", "data": data}
    return json.dumps(payload, default=float).encode()


def test_a_capture_naming_our_payment_reads_as_it_succeeding_with_its_channel():
    data = {
        "payment_id": "py-1",
        "payment_request_id": "pr-1",
        "status": "SUCCEEDED",
        "request_amount": 5000,
        "currency": "PHP",
        "channel_code": "GCASH",
        "metadata": {"payment_id": "42"},
    }
    event = gateway.read_notification(body("payment.capture", data), HEADERS)
    assert (event.kind, event.payment_id, event.transaction_id) == (PAYMENT_SUCCEEDED, 42, "pr-1")
    assert (Decimal(event.amount), event.method) == (Decimal("5000.00"), "GCASH")
    assert (event.fee, event.net) == (None, None)  # Xendit's pages report neither here


def test_a_completed_session_reads_as_our_payment_succeeding_in_exact_pesos():
    event = gateway.read_notification(body("payment_session.completed", session()), HEADERS)
    assert (event.kind, event.payment_id) == (PAYMENT_SUCCEEDED, 42)
    assert event.transaction_id == "pr-661f87c614802d6c402cd82d"
    assert Decimal(event.amount) == Decimal("1120.50") and event.currency == "PHP"
    assert event.event_id == "xendit:payment_session.completed:ps-661f87c614802d6c402cd82d"


def test_every_delivery_of_one_event_has_the_same_id():
    first = body("payment_session.completed", session())
    later = body("payment_session.completed", session(updated="2027-01-01T00:00:00Z"))
    ids = {gateway.read_notification(b, HEADERS).event_id for b in (first, later)}
    assert len(ids) == 1


def test_an_expired_session_reads_as_its_checkout_expired():
    event = gateway.read_notification(body("payment_session.expired", session("EXPIRED")), HEADERS)
    assert (event.kind, event.payment_id) == (CHECKOUT_EXPIRED, 42)
    assert event.session_id == "ps-661f87c614802d6c402cd82d"


@pytest.mark.parametrize("nested", [False, True], ids=["flat", "nested-as-the-page-shows"])
def test_refund_webhooks_read_flat_or_nested(nested):
    data = {"event": "refund.succeeded", "data": refund()} if nested else refund()
    event = gateway.read_notification(body("refund.succeeded", data), HEADERS)
    assert (event.kind, event.payment_id) == (REFUND_SUCCEEDED, 42)
    assert event.refund.idempotency_key == "refund-payment-42-1-0123456789ab"
    assert event.refund.amount == Decimal("1120.50")


def test_a_failed_refund_reads_as_refund_failed_with_its_code():
    data = refund(status="FAILED", failure_code="DUPLICATE_ERROR")
    event = gateway.read_notification(body("refund.failed", data), HEADERS)
    assert (event.kind, event.reason) == (REFUND_FAILED, "DUPLICATE_ERROR")


@pytest.mark.parametrize(
    ("event", "data"),
    [
        (
            "payment.failure",
            {
                "payment_id": "py-1",
                "payment_request_id": "pr-1",
                "status": "FAILED",
                "metadata": {"payment_id": "42"},
            },
        ),
        (
            "payment.capture",
            {
                "payment_id": "py-1",
                "payment_request_id": "pr-1",
                "status": "SUCCEEDED",
                "request_amount": 5000,
                "currency": "PHP",
            },
        ),
        ("payment_session.completed", session(metadata=None)),
        ("payment.failure", {"status": "FAILED", "metadata": {"payment_id": "42"}}),
        ("invoice.paid", {"id": "x"}),
    ],
    ids=[
        "a-failed-attempt",
        "a-capture-naming-no-payment-of-ours",
        "no-metadata",
        "a-failure-without-ids",
        "other",
    ],
)
def test_what_names_no_payment_to_change_is_acknowledged_and_ignored(event, data):
    read = gateway.read_notification(body(event, data), HEADERS)
    assert read.payment_id is None and read.kind == event


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {CALLBACK_TOKEN_HEADER: ""},
        {CALLBACK_TOKEN_HEADER: TOKEN + "x"},
        {CALLBACK_TOKEN_HEADER: TOKEN.upper()},
        {CALLBACK_TOKEN_HEADER: "é" * 600},
    ],
    ids=["missing", "empty", "longer", "other-case", "long-non-ascii"],
)
def test_anything_but_the_exact_token_is_refused(headers):
    with pytest.raises(BadSignature):
        gateway.read_notification(body("payment_session.completed", session()), headers)


@pytest.mark.parametrize(
    "raw",
    [
        b"not json",
        b"[]",
        b'{"event": "payment_session.completed"}',
        body("payment_session.completed", session(amount=Decimal("1000.005"))),
        body("payment_session.completed", session(currency="IDR")),
        body("payment_session.completed", session(status="PAID")),
        body("payment_session.completed", {**session(), "payment_request_id": None}),
        body("refund.succeeded", refund(created="yesterday")),
        b'{"event": "payment_session.completed", "data": {"amount": NaN}}',
    ],
    ids=[
        "not-json",
        "not-object",
        "no-data",
        "fraction-of-centavo",
        "not-php",
        "unknown-status",
        "completed-without-request",
        "bad-time",
        "nan",
    ],
)
def test_a_body_with_the_right_token_that_we_cannot_read_is_malformed(raw):
    with pytest.raises(MalformedWebhook):
        gateway.read_notification(raw, HEADERS)
