"""Xendit wired in (``PAYMENT_PROVIDER=xendit``), against the loopback fake.

Exactly once at the provider's edge: one payable session per payment under a storm of
presses, a create that hangs shows no URL and the retry one session, webhooks duplicated,
reversed or replayed complete the payment once, a wrong callback token changes nothing, a
lost webhook is recovered by ``flask payments sync``, a refund retried after a 500 is made
once because every attempt carries the same ``idempotency-key``, and cancel cancels the
session at Xendit. Real PostgreSQL and Redis; only Xendit is the fake.
"""

from __future__ import annotations

import json
import time
from decimal import Decimal

import pytest

from app.gateway.xendit import XenditGateway
from app.models import PaymentStatus
from app.payments.provider import ProviderUnavailable
from tests.support.checkout import (
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
from tests.support.lifecycle import events
from tests.support.outbox import make_due, refund_now, requests_of
from tests.support.paymongo_fake import Delivery, FaultKind
from tests.support.storm import storm
from tests.support.xendit_fake import CALLBACK_TOKEN, SECRET_KEY

WEBHOOK = "/webhooks/xendit"
SESSIONS = "/sessions"


@pytest.fixture
def app(make_app, xendit_fake):
    app = make_app(
        PAYMENT_PROVIDER="xendit",
        XENDIT_SECRET_KEY=SECRET_KEY,
        XENDIT_CALLBACK_TOKEN=CALLBACK_TOKEN,
        XENDIT_API_URL=xendit_fake.base_url,
        XENDIT_TIMEOUT_SECONDS=1.0,
        OUTBOX_RETRY_BASE_SECONDS=0,
    )
    deliver_webhooks(app, xendit_fake, WEBHOOK)
    return app


# --- one payable session however many presses ----------------------------------------------


def test_forty_concurrent_pay_presses_make_one_payment_and_one_session(
    app, api, auth_actions, patient, consultation, xendit_fake
):
    tabs, hosted = pay_presses(api, auth_actions, patient, consultation)
    [payment] = payments_for(app, consultation)
    stored = payment_row(app, payment.id)
    assert set(hosted) == {stored.checkout_url}
    assert xendit_fake.calls("POST", SESSIONS) == 1
    assert list(xendit_fake.sessions) == [stored.checkout_session_id]
    [session] = xendit_fake.sessions.values()
    # What Xendit was asked for: a PAY payment link in pesos, back to the payment's page.
    assert (session["session_type"], session["mode"], session["country"]) == (
        "PAY",
        "PAYMENT_LINK",
        "PH",
    )
    assert Decimal(session["amount"]) == payment.amount and session["currency"] == "PHP"
    assert session["success_return_url"].endswith(f"/payments/{payment.id}")
    assert session["cancel_return_url"] == session["success_return_url"]
    assert shown_on_payment_page(tabs[0], payment.id) == [stored.checkout_url]


def test_a_create_that_hangs_past_the_timeout_shows_no_url_and_the_retry_shows_one_session(
    app, auth_actions, patient, consultation, xendit_fake
):
    client = auth_actions.session_for(patient)
    fields = open_form(client, consultation)
    xendit_fake.hang_seconds = 2.5
    xendit_fake.fail_next("POST", SESSIONS, FaultKind.HANG_AFTER)
    first = submit(client, consultation, fields, method="gcash")
    assert first.status_code == 503
    assert xendit_fake.base_url not in first.get_data(as_text=True)
    [payment] = payments_for(app, consultation)
    assert payment.status == PaymentStatus.PENDING and payment.checkout_url is None
    assert shown_on_payment_page(client, payment.id) == []
    time.sleep(2.0)  # the hung create finishes at the fake: a session nobody was shown
    assert len(xendit_fake.sessions) == 1
    again = submit(client, consultation, fields, method="gcash")
    assert again.status_code == 303, again.get_data(as_text=True)
    shown = {again.headers["Location"], *shown_on_payment_page(client, payment.id)}
    assert shown == {payment_row(app, payment.id).checkout_url}
    assert len(xendit_fake.sessions) == 2  # the lost one, and the one every answer shows


def test_a_session_xendit_expired_is_replaced_by_one_new_payable_session(
    app, auth_actions, patient, consultation, xendit_fake
):
    client, url, payment = pressed_pay(app, auth_actions, patient, consultation)
    xendit_fake.expire(session_id_of(url))  # its expires_at passed; the webhook says so
    assert payment_row(app, payment.id).checkout_state == "expired"
    went = client.get(f"/payments/{payment.id}/continue")
    assert went.status_code == 303
    new_url = went.headers["Location"]
    assert new_url != url and new_url == payment_row(app, payment.id).checkout_url
    assert shown_on_payment_page(client, payment.id) == [new_url]
    xendit_fake.pay(session_id_of(new_url))
    assert payment_row(app, payment.id).status == PaymentStatus.COMPLETED


# --- notifications ---------------------------------------------------------------------------


def test_webhooks_reversed_and_duplicated_complete_the_payment_once(
    app, auth_actions, patient, consultation, xendit_fake
):
    client, url, payment = pressed_pay(app, auth_actions, patient, consultation)
    xendit_fake.delivery = Delivery.REVERSED
    paid = xendit_fake.pay(session_id_of(url))
    xendit_fake.delivery = Delivery.NORMAL
    for note in list(xendit_fake.sent):
        xendit_fake._send(note)  # every body twice more
        xendit_fake._send(note)
    assert all(r.status_code == 200 for r in xendit_fake.receipts)
    outcomes = sorted(r.json["outcome"] for r in xendit_fake.receipts)
    # payment.capture names no payment of ours (the fake's payments carry no metadata).
    assert outcomes == ["already_processed"] * 2 + ["confirmed"] + ["ignored"] * 3
    row = payment_row(app, payment.id)
    assert row.status == PaymentStatus.COMPLETED
    assert row.transaction_id == paid["payment_request_id"]
    assert row.checkout_state == "paid"
    assert len(events(app, payment.id, "confirmed")) == 1
    assert [e.event_id for e in gateway_events(app)] == [
        f"xendit:payment_session.completed:{session_id_of(url)}"
    ]


def test_a_capture_naming_our_payment_stores_its_channel_once(
    app, auth_actions, patient, consultation, xendit_fake
):
    client, url, payment = pressed_pay(app, auth_actions, patient, consultation)
    xendit_fake.pay(session_id_of(url), "PAYMAYA")
    # The capture as if Xendit had carried the session's metadata onto the payment.
    capture = json.loads(next(n for n in xendit_fake.sent if n.kind == "payment.capture").body)
    capture["data"]["metadata"] = {"payment_id": str(payment.id)}
    body = json.dumps(capture).encode()
    headers = xendit_fake.signed_headers(body)
    first, again = (app.test_client().post(WEBHOOK, data=body, headers=headers) for _ in "12")
    assert (first.json["outcome"], again.json["outcome"]) == ("unchanged", "already_processed")
    row = payment_row(app, payment.id)
    assert (row.status, row.provider_method) == (PaymentStatus.COMPLETED, "PAYMAYA")
    assert (row.provider_fee, row.provider_net) == (None, None)
    assert len(events(app, payment.id, "confirmed")) == 1


def test_a_failed_attempt_leaves_the_payment_payable(
    app, auth_actions, patient, consultation, xendit_fake
):
    client, url, payment = pressed_pay(app, auth_actions, patient, consultation)
    xendit_fake.fail_attempt(session_id_of(url))
    # The same failure as if Xendit had carried our metadata onto the payment.
    failure = json.loads(xendit_fake.sent[-1].body)
    failure["data"]["metadata"] = {"payment_id": str(payment.id)}
    body = json.dumps(failure).encode()
    ours = app.test_client().post(WEBHOOK, data=body, headers=xendit_fake.signed_headers(body))
    for receipt in [*xendit_fake.receipts, ours]:
        assert receipt.status_code == 200 and receipt.json["outcome"] == "ignored"
    assert payment_row(app, payment.id).status == PaymentStatus.PENDING
    assert events(app, payment.id, "failed") == []
    xendit_fake.pay(session_id_of(url))  # the same session, paid on the next attempt
    assert payment_row(app, payment.id).status == PaymentStatus.COMPLETED


def test_a_wrong_callback_token_is_refused_and_changes_nothing(
    app, auth_actions, patient, consultation, xendit_fake
):
    client, url, payment = pressed_pay(app, auth_actions, patient, consultation)
    xendit_fake.bad_token = True
    xendit_fake.pay(session_id_of(url))
    missing = app.test_client().post(WEBHOOK, data=xendit_fake.sent[-1].body)
    assert {r.status_code for r in xendit_fake.receipts} == {401}
    assert missing.status_code == 401
    assert payment_row(app, payment.id).status == PaymentStatus.PENDING
    assert gateway_events(app) == []


def test_a_replayed_body_with_the_right_token_is_applied_once(
    app, auth_actions, patient, consultation, xendit_fake
):
    # The static token cannot tell a replay from Xendit's own retry: the event dedupe does.
    client, url, payment = pressed_pay(app, auth_actions, patient, consultation)
    xendit_fake.delivery = Delivery.DUPLICATED  # Xendit's own duplicates first
    xendit_fake.pay(session_id_of(url))
    note = next(n for n in xendit_fake.sent if n.kind == "payment_session.completed")
    replays = storm(
        8, lambda i: app.test_client().post(WEBHOOK, data=note.body, headers=note.headers)
    )
    assert {r.json["outcome"] for r in replays} == {"already_processed"}
    assert sorted(r.json["outcome"] for r in xendit_fake.receipts)[:2] == [
        "already_processed",
        "confirmed",
    ]
    assert len(events(app, payment.id, "confirmed")) == 1


def test_the_xendit_webhook_is_not_served_while_the_sandbox_is_the_provider(make_app):
    sandbox = make_app()
    assert sandbox.test_client().post(WEBHOOK, data=b"{}").status_code == 404


# --- recovery, refunds, cancel ---------------------------------------------------------------


def test_a_lost_webhook_is_recovered_by_payments_sync_once(
    app, runner, auth_actions, patient, consultation, xendit_fake
):
    client, url, payment = pressed_pay(app, auth_actions, patient, consultation)
    xendit_fake.delivery = Delivery.LOST
    paid = xendit_fake.pay(session_id_of(url))
    assert payment_row(app, payment.id).status == PaymentStatus.PENDING
    result = runner.invoke(args=["payments", "sync"])
    assert "applied 1" in result.output, result.output
    row = payment_row(app, payment.id)
    assert row.status == PaymentStatus.COMPLETED
    assert row.transaction_id == paid["payment_request_id"]
    # Again, and the lost webhooks arriving after all: nothing changes twice.
    assert "No open hosted checkouts." in runner.invoke(args=["payments", "sync"]).output
    for note in xendit_fake.lost:
        xendit_fake._send(note)
    assert len(events(app, payment.id, "confirmed")) == 1


def test_a_refund_whose_first_answer_is_a_500_after_acting_refunds_once(
    app, runner, auth_actions, patient, consultation, xendit_fake
):
    client, url, payment = pressed_pay(app, auth_actions, patient, consultation)
    paid = xendit_fake.pay(session_id_of(url))
    refund_now(app, payment.id)
    xendit_fake.delivery = Delivery.LATE  # refund.succeeded comes after the worker's answer
    xendit_fake.fail_next("POST", "/refunds", FaultKind.ERROR_AFTER, status=500)
    # OUTBOX_RETRY_BASE_SECONDS=0: the retry is due at once, so one pass makes both attempts.
    output = runner.invoke(args=["payments", "send-outbox"]).output
    assert (
        "Sent 1 refund to the provider (1 accepted, not yet returned); 1 to retry; 0 refused."
    ) in output, output
    [request] = requests_of(app, payment.id)
    # Xendit answers PENDING: accepted, not returned, until its notification says so.
    assert request["state"] == "pending" and request["attempts"] == 2
    assert xendit_fake.calls("POST", "/refunds") == 2  # sent twice, with one key …
    [refund] = xendit_fake.refunds_of(paid["payment_request_id"])  # … refunded once
    assert request["provider_reference"] == refund["id"]
    assert refund["reference_id"] == request["idempotency_key"]
    assert Decimal(refund["amount"]) == payment.amount
    [late] = xendit_fake.release_late()
    assert late.status_code == 200, late.json
    [settled] = requests_of(app, payment.id)
    assert settled["state"] == "succeeded" and settled["provider_reference"] == refund["id"]


def test_a_refund_xendit_reports_failed_is_kept_for_staff(
    app, runner, auth_actions, patient, staff, consultation, xendit_fake
):
    client, url, payment = pressed_pay(app, auth_actions, patient, consultation)
    xendit_fake.pay(session_id_of(url))
    refund_now(app, payment.id)
    xendit_fake.refund_outcome = "FAILED"
    runner.invoke(args=["payments", "send-outbox"])
    receipt = xendit_fake.receipts[-1]
    assert receipt.status_code == 200 and receipt.json["outcome"] == "refused"
    [refund] = xendit_fake.refunds.values()
    [event] = [e for e in gateway_events(app) if e.event_type == "refund.failed"]
    assert event.outcome == "refused" and refund["id"] in event.note
    assert "INSUFFICIENT_BALANCE" in event.note
    page = auth_actions.session_for(staff).get("/staff/attention")
    assert page.status_code == 200 and refund["id"] in page.get_data(as_text=True)
    [request] = requests_of(app, payment.id)
    assert request["state"] == "failed" and refund["id"] in request["last_error"]


def test_a_pending_refund_is_not_returned_until_xendit_says_so_and_is_asked_about_later(
    app, runner, auth_actions, patient, consultation, xendit_fake
):
    client, url, payment = pressed_pay(app, auth_actions, patient, consultation)
    xendit_fake.pay(session_id_of(url))
    refund_now(app, payment.id)
    xendit_fake.refund_outcome = "PENDING"  # no webhook: Xendit has not settled it
    output = runner.invoke(args=["payments", "send-outbox"]).output
    assert "(1 accepted, not yet returned)" in output, output
    [refund] = xendit_fake.refunds.values()
    [request] = requests_of(app, payment.id)
    assert (request["state"], request["provider_reference"]) == ("pending", refund["id"])
    page = client.get(f"/payments/{payment.id}").get_data(as_text=True)
    assert 'data-refund-state="requested"' in page
    # Not due again before the settle poll: nothing is sent.
    runner.invoke(args=["payments", "send-outbox"])
    assert xendit_fake.calls("POST", "/refunds") == 1
    assert xendit_fake.calls("GET", f"/refunds/{refund['id']}") == 0
    # Settled at Xendit with its webhook lost: the worker asks about that refund, never resends.
    xendit_fake.delivery = Delivery.LOST
    xendit_fake.settle_refund(refund["id"], "SUCCEEDED")
    make_due(app)
    runner.invoke(args=["payments", "send-outbox"])
    assert xendit_fake.calls("GET", f"/refunds/{refund['id']}") == 1
    assert xendit_fake.calls("POST", "/refunds") == 1
    [request] = requests_of(app, payment.id)
    assert request["state"] == "succeeded" and request["provider_reference"] == refund["id"]
    [done] = events(app, payment.id, "refunded_at_provider")
    assert done["actor"] == "system:send-outbox" and done["refund_id"] == refund["id"]


def test_a_pending_refund_that_fails_later_is_failed_for_staff_not_returned(
    app, runner, auth_actions, patient, consultation, xendit_fake
):
    client, url, payment = pressed_pay(app, auth_actions, patient, consultation)
    xendit_fake.pay(session_id_of(url))
    refund_now(app, payment.id)
    xendit_fake.refund_outcome = "PENDING"
    runner.invoke(args=["payments", "send-outbox"])
    [refund] = xendit_fake.refunds.values()
    xendit_fake.settle_refund(refund["id"], "FAILED")
    assert xendit_fake.receipts[-1].json["outcome"] == "refused"
    [request] = requests_of(app, payment.id)
    assert request["state"] == "failed"
    # Failed rows are no longer asked about or sent.
    make_due(app)
    runner.invoke(args=["payments", "send-outbox"])
    assert xendit_fake.calls("GET", f"/refunds/{refund['id']}") == 0
    assert xendit_fake.calls("POST", "/refunds") == 1


def test_a_partial_refund_sent_again_after_a_500_is_made_once_thanks_to_its_key(
    app, auth_actions, patient, consultation, xendit_fake
):
    # Part of the charge, so a second refund without the key would fit and be made.
    client, url, payment = pressed_pay(app, auth_actions, patient, consultation)
    paid = xendit_fake.pay(session_id_of(url))
    row = payment_row(app, payment.id)
    gateway = XenditGateway(SECRET_KEY, CALLBACK_TOKEN, xendit_fake.base_url)
    part, key = Decimal("1000.50"), "refund-payment-1-1-0123456789ab"
    xendit_fake.fail_next("POST", "/refunds", FaultKind.ERROR_AFTER, status=500)
    with pytest.raises(ProviderUnavailable):
        gateway.refund_once(row, part, key, retry=False)
    result = gateway.refund_once(row, part, key, retry=True)
    [refund] = xendit_fake.refunds_of(paid["payment_request_id"])
    assert (result.refund_id, result.amount) == (refund["id"], part)
    assert Decimal(refund["amount"]) == part


def test_cancel_cancels_the_session_at_xendit(
    app, auth_actions, patient, consultation, xendit_fake
):
    client, url, payment = pressed_pay(app, auth_actions, patient, consultation)
    assert client.post(f"/payments/{payment.id}/cancel").status_code == 303
    assert xendit_fake.sessions[session_id_of(url)]["status"] == "CANCELED"
    row = payment_row(app, payment.id)
    assert row.status == PaymentStatus.CANCELLED and row.checkout_state == "expired"
    with pytest.raises(ValueError, match="canceled"):
        xendit_fake.pay(session_id_of(url))


@pytest.mark.parametrize("kind", ["refund.succeeded", "refund.failed"])
def test_a_refund_webhook_for_a_refund_not_ours_is_acknowledged_and_ignored(app, xendit_fake, kind):
    # A refund made in Xendit's dashboard carries none of our metadata, and its event name is
    # also one of the app's own kinds: it names no payment, so nothing is applied or stored.
    data = {
        "id": "rfd-0123",
        "amount": 500,
        "currency": "PHP",
        "status": "SUCCEEDED",
        "created": "2026-12-07T01:00:00Z",
        "metadata": None,
    }
    body = json.dumps({"event": kind, "business_id": "b", "created": "x", "data": data}).encode()
    answer = app.test_client().post(WEBHOOK, data=body, headers=xendit_fake.signed_headers(body))
    assert answer.status_code == 200 and answer.json["outcome"] == "ignored", answer.json
    assert gateway_events(app) == []
