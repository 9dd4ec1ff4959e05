"""The PayMongo adapter against the loopback PayMongo fake (tests/support/paymongo_fake.py)."""

from __future__ import annotations

import json
from decimal import Decimal

import httpx
import pytest

from app.gateway.paymongo import PayMongoGateway
from app.models import Payment
from app.payments.errors import BadSignature, MalformedWebhook
from app.payments.provider import (
    PAYMENT_SUCCEEDED,
    REFUND_SUCCEEDED,
    ChargeStatus,
    CheckoutRequest,
    ProviderRefused,
    ProviderTimeout,
    ProviderUnavailable,
    SessionState,
)
from tests.support.paymongo_fake import Delivery, FaultKind, PayMongoFake

SESSIONS = "/v1/checkout_sessions"
REFUNDS = "/v1/refunds"
SHORT = httpx.Timeout(1.0)


@pytest.fixture
def gateway(paymongo_fake) -> PayMongoGateway:
    return PayMongoGateway(
        paymongo_fake.secret_key,
        paymongo_fake.webhook_secret,
        paymongo_fake.base_url,
        timeout=SHORT,
    )


@pytest.fixture
def received(paymongo_fake) -> list[tuple[bytes, dict[str, str]]]:
    """What the fake sent to our webhook, in order."""
    got: list[tuple[bytes, dict[str, str]]] = []
    paymongo_fake.webhook_sink = lambda body, headers: got.append((body, headers))
    return got


def checkout(payment_id: int = 7, *, amount: str = "5000.00", method: str = "gcash"):
    return CheckoutRequest(
        payment_id=payment_id,
        reference=f"PAY-{payment_id:06d}",
        amount=Decimal(amount),
        currency="PHP",
        method=method,
        success_url=f"https://clinic.example/payments/{payment_id}",
        cancel_url=f"https://clinic.example/payments/{payment_id}?cancelled=1",
    )


def paid_payment(fake: PayMongoFake, gateway: PayMongoGateway, payment_id: int = 7) -> Payment:
    session = gateway.start_checkout(checkout(payment_id))
    charge = fake.pay(session.session_id)
    return Payment(id=payment_id, transaction_id=charge["id"], amount=Decimal("5000.00"))


# --- checkout sessions ----------------------------------------------------------------------


def test_a_session_asks_for_centavos_with_our_reference_and_no_medical_content(
    paymongo_fake, gateway
):
    hosted = gateway.start_checkout(checkout(7, amount="5000.00"))

    attributes = paymongo_fake.sessions[hosted.session_id]["attributes"]
    assert hosted.session_id.startswith("cs_")
    assert hosted.url == attributes["checkout_url"]
    assert attributes["line_items"] == [
        {
            "name": "Consultation fee",
            "description": "PAY-000007",
            "amount": 500000,
            "currency": "PHP",
            "quantity": 1,
        }
    ]
    assert attributes["reference_number"] == "PAY-000007"
    assert attributes["metadata"] == {"payment_id": "7", "reference": "PAY-000007"}
    assert attributes["payment_method_types"] == ["gcash"]
    assert attributes["success_url"] == "https://clinic.example/payments/7"


@pytest.mark.parametrize(
    ("method", "types"),
    [
        ("stripe", ["card"]),
        ("e_wallet", ["paymaya", "grab_pay", "gcash"]),
        ("bank_transfer", ["qrph", "dob", "dob_ubp"]),
    ],
)
def test_the_patients_method_picks_paymongos_method_types(paymongo_fake, gateway, method, types):
    hosted = gateway.start_checkout(checkout(method=method))
    assert paymongo_fake.sessions[hosted.session_id]["attributes"]["payment_method_types"] == types


def test_a_fraction_of_a_centavo_is_refused_before_anything_is_sent(paymongo_fake, gateway):
    with pytest.raises(ProviderRefused, match="whole number of centavos"):
        gateway.start_checkout(checkout(amount="1000.005"))
    assert paymongo_fake.requests == []


def test_a_wrong_secret_key_is_refused_for_good(paymongo_fake):
    stranger = PayMongoGateway("sk_test_wrong", "whsk", paymongo_fake.base_url, timeout=SHORT)
    with pytest.raises(ProviderRefused, match="401"):
        stranger.start_checkout(checkout())


def test_a_create_that_hangs_after_acting_is_a_timeout_with_a_session_made(paymongo_fake, gateway):
    paymongo_fake.hang_seconds = 2.0
    paymongo_fake.fail_next("POST", SESSIONS, FaultKind.HANG_AFTER)
    with pytest.raises(ProviderTimeout):
        gateway.start_checkout(checkout())
    # The outcome was unknown to us: PayMongo made the session all the same.
    assert len(paymongo_fake.sessions) == 1


@pytest.mark.parametrize("status", [500, 502, 503, 429])
def test_a_5xx_or_429_is_worth_trying_again(paymongo_fake, gateway, status):
    paymongo_fake.fail_next("POST", SESSIONS, FaultKind.ERROR_BEFORE, status=status)
    with pytest.raises(ProviderUnavailable, match=str(status)):
        gateway.start_checkout(checkout())


def test_nothing_listening_is_unavailable_not_a_crash():
    gone = PayMongoGateway("sk_test_x", "whsk", "http://127.0.0.1:9", timeout=SHORT)
    with pytest.raises(ProviderUnavailable):
        gone.lookup("cs_abc")


def test_lookup_tells_open_then_paid_with_method_fee_and_net_in_pesos(paymongo_fake, gateway):
    hosted = gateway.start_checkout(checkout(7))
    assert gateway.lookup(hosted.session_id).state is SessionState.OPEN

    paymongo_fake.fail_attempt(hosted.session_id)
    after_decline = gateway.lookup(hosted.session_id)
    charge = paymongo_fake.pay(hosted.session_id, "gcash")
    after_pay = gateway.lookup(hosted.session_id)

    assert after_decline.state is SessionState.OPEN  # a declined attempt leaves it payable
    assert after_pay.state is SessionState.PAID
    assert after_pay.payment_id == 7 and after_pay.reference == "PAY-000007"
    paid = after_pay.paid_charge
    assert paid.charge_id == charge["id"] and paid.status is ChargeStatus.PAID
    assert paid.amount == Decimal("5000.00") and paid.method == "gcash"
    assert paid.fee == Decimal("140.00") and paid.net == Decimal("4860.00")
    assert [c.status for c in after_pay.charges] == [ChargeStatus.FAILED, ChargeStatus.PAID]


def test_expire_makes_the_session_unpayable_and_twice_is_fine(paymongo_fake, gateway):
    hosted = gateway.start_checkout(checkout())
    gateway.expire_checkout(hosted.session_id)
    gateway.expire_checkout(hosted.session_id)

    assert gateway.lookup(hosted.session_id).state is SessionState.EXPIRED
    with pytest.raises(ValueError, match="expired"):
        paymongo_fake.pay(hosted.session_id)


def test_a_paid_session_cannot_be_expired(paymongo_fake, gateway):
    hosted = gateway.start_checkout(checkout())
    paymongo_fake.pay(hosted.session_id)
    with pytest.raises(ProviderRefused, match="paid"):
        gateway.expire_checkout(hosted.session_id)


def test_an_id_that_is_not_paymongos_never_reaches_a_url(paymongo_fake, gateway):
    with pytest.raises(ProviderRefused):
        gateway.lookup("cs_../../v1/refunds")
    assert paymongo_fake.requests == []


# --- refunds --------------------------------------------------------------------------------


def test_a_refund_carries_our_key_and_answers_in_pesos(paymongo_fake, gateway):
    payment = paid_payment(paymongo_fake, gateway)

    result = gateway.refund(payment, Decimal("5000.00"), "refund-payment-7-1-abc")

    [made] = paymongo_fake.refunds_of(payment.transaction_id)
    assert result.refund_id == made["id"] and result.amount == Decimal("5000.00")
    assert made["attributes"]["amount"] == 500000
    assert made["attributes"]["reason"] == "requested_by_customer"
    assert made["attributes"]["metadata"] == {
        "idempotency_key": "refund-payment-7-1-abc",
        "payment_id": "7",
    }


def test_a_500_after_acting_then_a_retry_makes_one_refund(paymongo_fake, gateway):
    payment = paid_payment(paymongo_fake, gateway)
    paymongo_fake.fail_next("POST", REFUNDS, FaultKind.ERROR_AFTER)

    with pytest.raises(ProviderUnavailable):
        gateway.refund_once(payment, Decimal("5000.00"), "key-1", retry=False)
    result = gateway.refund_once(payment, Decimal("5000.00"), "key-1", retry=True)

    [made] = paymongo_fake.refunds_of(payment.transaction_id)
    assert result.refund_id == made["id"]
    assert paymongo_fake.calls("POST", REFUNDS) == 1


def test_without_the_lookup_the_same_retry_refunds_twice(paymongo_fake, gateway):
    # What the lookup prevents: PayMongo has no idempotency key, so a plain resend acts again.
    payment = paid_payment(paymongo_fake, gateway)
    paymongo_fake.fail_next("POST", REFUNDS, FaultKind.ERROR_AFTER)

    with pytest.raises(ProviderUnavailable):
        gateway.refund(payment, Decimal("2000.00"), "key-1")
    gateway.refund(payment, Decimal("2000.00"), "key-1")

    assert len(paymongo_fake.refunds_of(payment.transaction_id)) == 2


def test_a_refund_that_hangs_after_acting_is_found_not_resent(paymongo_fake, gateway):
    payment = paid_payment(paymongo_fake, gateway)
    paymongo_fake.hang_seconds = 2.0
    paymongo_fake.fail_next("POST", REFUNDS, FaultKind.HANG_AFTER)

    with pytest.raises(ProviderTimeout):
        gateway.refund_once(payment, Decimal("5000.00"), "key-1", retry=False)
    gateway.refund_once(payment, Decimal("5000.00"), "key-1", retry=True)

    assert len(paymongo_fake.refunds_of(payment.transaction_id)) == 1


def test_when_the_lookup_fails_nothing_is_sent(paymongo_fake, gateway):
    payment = paid_payment(paymongo_fake, gateway)
    paymongo_fake.fail_next("GET", REFUNDS, FaultKind.ERROR_BEFORE, status=503)

    with pytest.raises(ProviderUnavailable):
        gateway.refund_once(payment, Decimal("5000.00"), "key-1", retry=True)

    assert paymongo_fake.calls("POST", REFUNDS) == 0


def test_another_keys_refund_is_not_taken_for_ours(paymongo_fake, gateway):
    payment = paid_payment(paymongo_fake, gateway)
    gateway.refund(payment, Decimal("1000.00"), "key-1")

    gateway.refund_once(payment, Decimal("1000.00"), "key-2", retry=True)

    assert len(paymongo_fake.refunds_of(payment.transaction_id)) == 2


def test_a_refund_paymongo_answers_as_failed_is_refused(paymongo_fake, gateway):
    payment = paid_payment(paymongo_fake, gateway)
    paymongo_fake.refund_status = "failed"
    with pytest.raises(ProviderRefused, match="failed"):
        gateway.refund(payment, Decimal("5000.00"), "key-1")


def test_a_payment_without_a_paymongo_charge_is_not_sent(paymongo_fake, gateway):
    with pytest.raises(ProviderRefused):
        gateway.refund(Payment(id=7, transaction_id="sbx_txn_7"), Decimal("1"), "key-1")
    assert paymongo_fake.requests == []


# --- notifications --------------------------------------------------------------------------


def test_a_paid_session_notifies_our_payment_with_method_fee_and_net(
    paymongo_fake, gateway, received
):
    hosted = gateway.start_checkout(checkout(7))
    charge = paymongo_fake.pay(hosted.session_id)

    session_event, payment_event = (gateway.read_notification(b, h) for b, h in received)

    assert session_event.kind == PAYMENT_SUCCEEDED and session_event.payment_id == 7
    assert session_event.transaction_id == charge["id"]
    assert (session_event.amount, session_event.currency) == ("5000.00", "PHP")
    assert session_event.method == "gcash"
    assert (session_event.fee, session_event.net) == (Decimal("140.00"), Decimal("4860.00"))
    # The payment's own event names no payment of ours: acknowledged and ignored.
    assert payment_event.kind == "payment.paid" and payment_event.payment_id is None


def test_a_refund_notifies_the_refund_with_our_key(paymongo_fake, gateway, received):
    payment = paid_payment(paymongo_fake, gateway)
    received.clear()
    result = gateway.refund(payment, Decimal("5000.00"), "key-1")

    events = [gateway.read_notification(b, h) for b, h in received]

    assert [e.kind for e in events] == [REFUND_SUCCEEDED, REFUND_SUCCEEDED]
    for event in events:
        assert event.payment_id == 7
        assert event.refund.refund_id == result.refund_id
        assert event.refund.idempotency_key == "key-1"
        assert event.refund.amount == Decimal("5000.00")


def test_a_pending_refund_is_acknowledged_not_applied(paymongo_fake, gateway, received):
    payment = paid_payment(paymongo_fake, gateway)
    received.clear()
    paymongo_fake.refund_status = "pending"
    gateway.refund(payment, Decimal("2000.00"), "key-1")

    [event] = [gateway.read_notification(b, h) for b, h in received]

    assert event.kind == "payment.refund.updated" and event.payment_id is None


def test_duplicated_and_reversed_deliveries_are_the_same_events(paymongo_fake, gateway, received):
    paymongo_fake.delivery = Delivery.DUPLICATED
    paymongo_fake.pay(gateway.start_checkout(checkout(1)).session_id)
    paymongo_fake.delivery = Delivery.REVERSED
    paymongo_fake.pay(gateway.start_checkout(checkout(2)).session_id)

    kinds = [json.loads(b)["data"]["attributes"]["type"] for b, _ in received]
    ids = [json.loads(b)["data"]["id"] for b, _ in received]

    assert kinds == [
        "checkout_session.payment.paid",
        "checkout_session.payment.paid",
        "payment.paid",
        "payment.paid",
        "payment.paid",
        "checkout_session.payment.paid",
    ]
    assert ids[0] == ids[1] and ids[2] == ids[3]


def test_late_events_wait_and_lost_ones_never_come(paymongo_fake, gateway, received):
    paymongo_fake.delivery = Delivery.LATE
    paymongo_fake.pay(gateway.start_checkout(checkout(1)).session_id)
    assert received == []
    paymongo_fake.release_late()
    assert len(received) == 2

    paymongo_fake.delivery = Delivery.LOST
    paymongo_fake.pay(gateway.start_checkout(checkout(2)).session_id)
    assert len(received) == 2 and len(paymongo_fake.lost) == 2


def test_a_forged_signature_is_refused(paymongo_fake, gateway, received):
    paymongo_fake.bad_signature = True
    paymongo_fake.pay(gateway.start_checkout(checkout()).session_id)
    body, headers = received[0]
    with pytest.raises(BadSignature):
        gateway.read_notification(body, headers)


def test_a_live_site_refuses_a_test_event(paymongo_fake, gateway, received):
    live = PayMongoGateway("sk_live_x", paymongo_fake.webhook_secret, paymongo_fake.base_url)
    paymongo_fake.pay(gateway.start_checkout(checkout()).session_id)
    body, headers = received[0]
    with pytest.raises(BadSignature, match="li"):
        live.read_notification(body, headers)


def test_a_signed_event_of_the_other_mode_is_refused(paymongo_fake, gateway):
    body = json.dumps(
        {"data": {"id": "evt_1", "type": "event", "attributes": {"type": "x", "livemode": True}}}
    ).encode()
    with pytest.raises(MalformedWebhook, match="livemode"):
        gateway.read_notification(body, paymongo_fake.signed_headers(body, livemode=False))


def test_an_unknown_event_is_read_for_acknowledging(paymongo_fake, gateway):
    body = json.dumps(
        {
            "data": {
                "id": "evt_1",
                "type": "event",
                "attributes": {"type": "qrph.expired", "livemode": False, "data": {}},
            }
        }
    ).encode()
    event = gateway.read_notification(body, paymongo_fake.signed_headers(body))
    assert (event.event_id, event.kind, event.payment_id) == ("evt_1", "qrph.expired", None)


def test_the_hosted_page_pays_and_returns_to_our_page(paymongo_fake, gateway):
    hosted = gateway.start_checkout(checkout(7))

    page = httpx.get(hosted.url)
    paid = httpx.post(f"{hosted.url}/pay", data={"method": "gcash"})

    assert page.status_code == 200 and "Consultation fee" in page.text
    assert paid.status_code == 303
    assert paid.headers["Location"] == "https://clinic.example/payments/7"
    assert gateway.lookup(hosted.session_id).state is SessionState.PAID
