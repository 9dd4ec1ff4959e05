"""PayMongo wired in (``PAYMENT_PROVIDER=paymongo``), against the loopback fake.

Exactly once at the provider's edge: one hosted checkout per payment however many presses,
a create that hangs shows no URL, paid events duplicated or reversed complete the payment
once, forged and stale signatures change nothing, a lost webhook is recovered by
``flask payments sync``, a refund retried after a 500 refunds once, and cancel expires the
session at the provider. Real PostgreSQL and Redis; only PayMongo is the fake.
"""

from __future__ import annotations

import json
import time
from decimal import Decimal

import pytest

from app.gateway.paymongo_signing import MAX_AGE_SECONDS
from app.models import PaymentStatus
from tests.support.checkout import (
    PAYMENT_LINK,
    deliver_webhooks,
    gateway_events,
    open_form,
    pay_presses,
    payment_row,
    payments_for,
    pressed_pay,
    session_id_of,
    shown_on_payment_page,
    submit,
)
from tests.support.lifecycle import age_payment, events
from tests.support.outbox import make_due, refund_now, requests_of
from tests.support.paymongo_fake import SECRET_KEY, WEBHOOK_SECRET, Delivery, FaultKind
from tests.support.storm import storm

WEBHOOK = "/webhooks/paymongo"
SESSIONS = "/v1/checkout_sessions"


@pytest.fixture
def app(make_app, paymongo_fake):
    app = make_app(
        PAYMENT_PROVIDER="paymongo",
        PAYMONGO_SECRET_KEY=SECRET_KEY,
        PAYMONGO_WEBHOOK_SECRET=WEBHOOK_SECRET,
        PAYMONGO_API_URL=paymongo_fake.base_url,
        PAYMONGO_TIMEOUT_SECONDS=1.0,
        OUTBOX_RETRY_BASE_SECONDS=0,
    )
    deliver_webhooks(app, paymongo_fake, WEBHOOK)
    return app


# --- one hosted checkout however many presses ----------------------------------------------


def test_forty_concurrent_pay_presses_make_one_payment_and_one_hosted_checkout(
    app, api, auth_actions, patient, consultation, paymongo_fake
):
    tabs, hosted = pay_presses(api, auth_actions, patient, consultation)
    [payment] = payments_for(app, consultation)
    stored = payment_row(app, payment.id)
    assert set(hosted) == {stored.checkout_url}
    assert paymongo_fake.calls("POST", SESSIONS) == 1
    assert list(paymongo_fake.sessions) == [stored.checkout_session_id]
    assert stored.checkout_state == "open"
    # Every later look shows the same session too.
    assert shown_on_payment_page(tabs[0], payment.id) == [stored.checkout_url]
    again = tabs[1].get(f"/payments/{payment.id}/continue")
    assert again.headers["Location"] == stored.checkout_url
    assert paymongo_fake.calls("POST", SESSIONS) == 1


def test_concurrent_api_repeats_of_one_key_all_link_the_same_hosted_checkout(
    app, api, patient, consultation, paymongo_fake
):
    answers = storm(12, lambda i: api.pay(patient, consultation, key="client-retry"))
    # A repeat that arrives while the checkout is being created is told to come back in a
    # second (not held); the repeat then links the same checkout.
    preparing = [r for r in answers if r.status_code == 503]
    assert all(r.headers["Retry-After"] == "1" and "Link" not in r.headers for r in preparing)
    answers = [r for r in answers if r.status_code != 503]
    answers += [api.pay(patient, consultation, key="client-retry") for _ in preparing]
    assert {r.status_code for r in answers} == {201}
    links = {PAYMENT_LINK.match(r.headers["Link"])["url"] for r in answers}
    [payment] = payments_for(app, consultation)
    assert links == {payment_row(app, payment.id).checkout_url}
    assert paymongo_fake.calls("POST", SESSIONS) == 1


def test_a_create_refused_with_a_5xx_is_answered_try_again_and_the_next_try_makes_one(
    app, api, auth_actions, patient, consultation, paymongo_fake
):
    paymongo_fake.fail_next("POST", SESSIONS, FaultKind.ERROR_BEFORE, status=502)
    first = api.pay(patient, consultation, key="k")
    assert first.status_code == 503 and first.headers["Retry-After"]
    assert "Link" not in first.headers
    [payment] = payments_for(app, consultation)
    client = auth_actions.session_for(patient)
    assert shown_on_payment_page(client, payment.id) == []
    # The payment page's "Continue to payment" makes it now; the API's repeat links the same.
    went = client.get(f"/payments/{payment.id}/continue")
    again = api.pay(patient, consultation, key="k")
    assert again.status_code == 201
    assert went.headers["Location"] == PAYMENT_LINK.match(again.headers["Link"])["url"]
    assert went.headers["Location"] == payment_row(app, payment.id).checkout_url
    assert len(paymongo_fake.sessions) == 1


def test_a_create_that_hangs_past_the_timeout_shows_no_url_and_the_retry_shows_one_session(
    app, auth_actions, patient, consultation, paymongo_fake
):
    client = auth_actions.session_for(patient)
    fields = open_form(client, consultation)
    paymongo_fake.hang_seconds = 2.5
    paymongo_fake.fail_next("POST", SESSIONS, FaultKind.HANG_AFTER)
    first = submit(client, consultation, fields, method="gcash")
    assert first.status_code == 503
    assert "nothing was charged" in first.get_data(as_text=True)
    assert paymongo_fake.base_url not in first.get_data(as_text=True)
    [payment] = payments_for(app, consultation)
    assert payment.status == PaymentStatus.PENDING and payment.checkout_url is None
    assert shown_on_payment_page(client, payment.id) == []  # no URL until one is stored
    time.sleep(2.0)  # the hung create finishes at the fake: a session nobody was shown
    assert len(paymongo_fake.sessions) == 1
    again = submit(client, consultation, fields, method="gcash")  # "try again, it is safe"
    assert again.status_code == 303, again.get_data(as_text=True)
    shown = {again.headers["Location"], *shown_on_payment_page(client, payment.id)}
    stored = payment_row(app, payment.id)
    assert shown == {stored.checkout_url}
    assert len(paymongo_fake.sessions) == 2  # the lost one, and the one every answer shows
    assert payments_for(app, consultation)[0].id == payment.id


# --- notifications ---------------------------------------------------------------------------


def test_paid_events_reversed_and_duplicated_complete_the_payment_once(
    app, auth_actions, patient, consultation, paymongo_fake
):
    client, url, payment = pressed_pay(app, auth_actions, patient, consultation)
    paymongo_fake.delivery = Delivery.REVERSED
    paid = paymongo_fake.pay(session_id_of(url), "gcash")
    paymongo_fake.delivery = Delivery.NORMAL
    for note in list(paymongo_fake.sent):
        paymongo_fake._send(note)  # every event again, in the order it was first sent
    outcomes = [r.json["outcome"] for r in paymongo_fake.receipts]
    assert all(r.status_code == 200 for r in paymongo_fake.receipts)
    # payment.paid names no payment of ours (its resource has no metadata): acknowledged.
    assert sorted(outcomes) == ["already_processed", "confirmed", "ignored", "ignored"]
    row = payment_row(app, payment.id)
    assert row.status == PaymentStatus.COMPLETED
    assert row.transaction_id == paid["id"]
    attributes = paid["attributes"]
    assert row.provider_method == "gcash"
    assert row.provider_fee == Decimal(attributes["fee"]) / 100
    assert row.provider_net == Decimal(attributes["net_amount"]) / 100
    assert row.checkout_state == "paid"
    assert len(events(app, payment.id, "confirmed")) == 1
    # A late payment.failed for the same payment (named by our metadata) is a no-op.
    failed = json.loads(paymongo_fake.sent[0].body)
    failed["data"]["id"] = "evt_latefailure0000000000"
    resource = json.loads(json.dumps(paid))
    resource["attributes"].update(status="failed", metadata={"payment_id": str(payment.id)})
    failed["data"]["attributes"].update(type="payment.failed", data=resource)
    body = json.dumps(failed).encode()
    late = app.test_client().post(WEBHOOK, data=body, headers=paymongo_fake.signed_headers(body))
    assert late.status_code == 200, late.json
    assert payment_row(app, payment.id).status == PaymentStatus.COMPLETED
    assert events(app, payment.id, "failed") == []


@pytest.mark.parametrize("forgery", ["wrong_secret", "stale"])
def test_forged_and_stale_signatures_are_refused_and_change_nothing(
    app, auth_actions, patient, consultation, paymongo_fake, forgery
):
    client, url, payment = pressed_pay(app, auth_actions, patient, consultation)
    paymongo_fake.delivery = Delivery.LOST
    paymongo_fake.pay(session_id_of(url))
    note = next(n for n in paymongo_fake.lost if n.kind == "checkout_session.payment.paid")
    if forgery == "wrong_secret":
        paymongo_fake.bad_signature = True
        headers = paymongo_fake.signed_headers(note.body)
    else:
        headers = paymongo_fake.signed_headers(
            note.body, timestamp=int(time.time()) - MAX_AGE_SECONDS - 60
        )
    response = app.test_client().post(WEBHOOK, data=note.body, headers=headers)
    assert response.status_code == 401, response.get_data(as_text=True)
    assert payment_row(app, payment.id).status == PaymentStatus.PENDING
    assert gateway_events(app) == []


def test_the_paymongo_webhook_is_not_served_while_the_sandbox_is_the_provider(make_app):
    sandbox = make_app()
    response = sandbox.test_client().post(WEBHOOK, data=b"{}")
    assert response.status_code == 404


# --- recovery, refunds, cancel ---------------------------------------------------------------


def test_a_lost_webhook_is_recovered_by_payments_sync_once(
    app, runner, auth_actions, patient, consultation, paymongo_fake
):
    client, url, payment = pressed_pay(app, auth_actions, patient, consultation)
    paymongo_fake.delivery = Delivery.LOST
    paid = paymongo_fake.pay(session_id_of(url), "gcash")
    assert payment_row(app, payment.id).status == PaymentStatus.PENDING
    result = runner.invoke(args=["payments", "sync"])
    assert result.exit_code == 0, result.output
    assert "applied 1" in result.output
    row = payment_row(app, payment.id)
    assert row.status == PaymentStatus.COMPLETED and row.transaction_id == paid["id"]
    assert row.provider_method == "gcash" and row.provider_fee is not None
    # Again, and the lost events arriving after all: nothing changes twice.
    assert "No open hosted checkouts." in runner.invoke(args=["payments", "sync"]).output
    for note in paymongo_fake.lost:
        paymongo_fake._send(note)
    assert len(events(app, payment.id, "confirmed")) == 1
    assert payment_row(app, payment.id).status == PaymentStatus.COMPLETED


def test_a_refund_whose_first_answer_is_a_500_after_acting_refunds_once(
    app, runner, auth_actions, patient, consultation, paymongo_fake
):
    client, url, payment = pressed_pay(app, auth_actions, patient, consultation)
    paid = paymongo_fake.pay(session_id_of(url))
    assert payment_row(app, payment.id).status == PaymentStatus.COMPLETED
    refund_now(app, payment.id)
    paymongo_fake.delivery = Delivery.LOST  # only the worker's own calls tell us
    paymongo_fake.fail_next("POST", "/v1/refunds", FaultKind.ERROR_AFTER, status=500)
    # OUTBOX_RETRY_BASE_SECONDS=0: the retry is due at once, so one pass makes both attempts.
    output = runner.invoke(args=["payments", "send-outbox"]).output
    assert "Sent 1 refund to the provider; 1 to retry; 0 refused." in output, output
    [request] = requests_of(app, payment.id)
    assert request["state"] == "succeeded" and request["attempts"] == 2
    [refund] = paymongo_fake.refunds_of(paid["id"])
    assert request["provider_reference"] == refund["id"]
    assert len(paymongo_fake.refunds_of(paid["id"])) == 1
    assert paymongo_fake.calls("POST", "/v1/refunds") == 1


@pytest.mark.parametrize("delivered", [True, False], ids=["by-webhook", "by-asking"])
def test_a_pending_refund_is_returned_only_when_paymongo_says_it_succeeded(
    app, runner, auth_actions, patient, consultation, paymongo_fake, delivered
):
    client, url, payment = pressed_pay(app, auth_actions, patient, consultation)
    paymongo_fake.pay(session_id_of(url))
    refund_now(app, payment.id)
    paymongo_fake.refund_status = "pending"
    output = runner.invoke(args=["payments", "send-outbox"]).output
    assert "(1 accepted, not yet returned)" in output, output
    [refund] = paymongo_fake.refunds.values()
    [request] = requests_of(app, payment.id)
    assert (request["state"], request["provider_reference"]) == ("pending", refund["id"])
    if not delivered:
        paymongo_fake.delivery = Delivery.LOST
    paymongo_fake.settle_refund(refund["id"], "succeeded")
    make_due(app)
    runner.invoke(args=["payments", "send-outbox"])
    [request] = requests_of(app, payment.id)
    assert request["state"] == "succeeded" and request["provider_reference"] == refund["id"]
    assert paymongo_fake.calls("POST", "/v1/refunds") == 1  # asked about, never sent again


def test_a_pending_refund_paymongo_later_fails_is_failed_for_staff(
    app, runner, auth_actions, patient, staff, consultation, paymongo_fake
):
    client, url, payment = pressed_pay(app, auth_actions, patient, consultation)
    paymongo_fake.pay(session_id_of(url))
    refund_now(app, payment.id)
    paymongo_fake.refund_status = "processing"
    runner.invoke(args=["payments", "send-outbox"])
    [refund] = paymongo_fake.refunds.values()
    paymongo_fake.settle_refund(refund["id"], "failed")
    assert paymongo_fake.receipts[-1].json["outcome"] == "refused"
    [request] = requests_of(app, payment.id)
    assert request["state"] == "failed" and refund["id"] in request["last_error"]
    page = auth_actions.session_for(staff).get("/staff/attention")
    assert refund["id"] in page.get_data(as_text=True)
    make_due(app)
    runner.invoke(args=["payments", "send-outbox"])
    assert paymongo_fake.calls("POST", "/v1/refunds") == 1


def test_cancel_expires_the_hosted_checkout_at_the_provider(
    app, auth_actions, patient, consultation, paymongo_fake
):
    client, url, payment = pressed_pay(app, auth_actions, patient, consultation)
    response = client.post(f"/payments/{payment.id}/cancel")
    assert response.status_code == 303
    session = paymongo_fake.sessions[session_id_of(url)]
    assert session["attributes"]["status"] == "expired"
    row = payment_row(app, payment.id)
    assert row.status == PaymentStatus.CANCELLED and row.checkout_state == "expired"
    with pytest.raises(ValueError, match="expired"):
        paymongo_fake.pay(session_id_of(url))


def test_expiring_a_stale_payment_expires_its_hosted_checkout(
    app, runner, auth_actions, patient, consultation, paymongo_fake
):
    client, url, payment = pressed_pay(app, auth_actions, patient, consultation)
    age_payment(app, payment.id, app.config["PAYMENT_PENDING_TTL"] + 60)
    result = runner.invoke(args=["payments", "expire-stale"])
    assert "Expired 1 stale pending payment." in result.output, result.output
    assert paymongo_fake.sessions[session_id_of(url)]["attributes"]["status"] == "expired"
    assert payment_row(app, payment.id).checkout_state == "expired"


def test_money_taken_on_a_session_we_could_not_expire_completes_the_payment_on_sync(
    app, runner, auth_actions, patient, consultation, paymongo_fake
):
    client, url, payment = pressed_pay(app, auth_actions, patient, consultation)
    paymongo_fake.fail_next("POST", rf"{SESSIONS}/cs_\w+/expire", FaultKind.ERROR_BEFORE)
    assert client.post(f"/payments/{payment.id}/cancel").status_code == 303
    row = payment_row(app, payment.id)
    assert row.status == PaymentStatus.CANCELLED and row.checkout_state == "open"
    paymongo_fake.delivery = Delivery.LOST  # paid anyway, and its webhook lost
    paid = paymongo_fake.pay(session_id_of(url))
    output = runner.invoke(args=["payments", "sync"]).output
    assert "applied 1" in output, output
    # The money-truth rule: a success after cancel completes the payment, never dropped.
    row = payment_row(app, payment.id)
    assert row.status == PaymentStatus.COMPLETED and row.transaction_id == paid["id"]
