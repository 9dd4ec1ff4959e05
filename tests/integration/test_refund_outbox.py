"""A refund is queued in its own transaction and sent to the provider by the worker, once."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from app.extensions import db
from app.gateway.sandbox import SandboxGateway
from app.invoices.attention import needs_attention
from app.models import Payment
from app.payments import refund_worker
from tests.support.invariants import check_payment_states
from tests.support.lifecycle import deliver, events
from tests.support.outbox import ledger, make_due, paid_payment, refund_now, requests_of


@pytest.fixture
def refunded(app, factory):
    payment_id = paid_payment(app, factory)
    refund_now(app, payment_id)
    return payment_id


def send(runner) -> str:
    result = runner.invoke(args=["payments", "send-outbox"])
    assert result.exit_code == 0, result.output
    return result.output


def test_a_refund_queues_one_pending_request_with_a_key_and_sends_nothing(app, refunded):
    [request] = requests_of(app, refunded)
    assert request["kind"] == "refund"
    assert request["state"] == "pending"
    assert request["amount"] == 5000
    assert request["reason"] == "Doctor unavailable"
    assert re.fullmatch(rf"refund-payment-{refunded}-1-[0-9a-f]{{12}}", request["idempotency_key"])
    assert request["attempts"] == 0
    assert ledger(app) == []  # nothing reached the provider inside the refund
    refund_now(app, refunded, "again")  # refunding again changes nothing
    assert len(requests_of(app, refunded)) == 1
    check_payment_states(app)


def test_the_worker_sends_it_once_and_records_when_the_provider_refunded(app, runner, refunded):
    output = send(runner)
    assert "Sent 1 refund to the provider; 0 to retry; 0 refused." in output
    [refund] = ledger(app, refunded)
    [request] = requests_of(app, refunded)
    assert request["state"] == "succeeded"
    assert request["provider_reference"] == refund["refund_id"]
    # The provider's time, to the second (its notification's "created" got here first).
    assert request["completed_at"] == refund["created_at"].replace(microsecond=0)
    assert request["leased_until"] is None and request["attempts"] == 1
    # The provider's signed refund.succeeded notification went through the webhook too.
    [recorded] = events(app, refunded, "refunded_at_provider")
    assert recorded["refund_id"] == refund["refund_id"]
    assert recorded["actor"] == "gateway:sandbox"
    assert "Sent 0 refunds" in send(runner)  # nothing left
    assert len(ledger(app)) == 1 and ledger(app)[0]["calls"] == 1


def test_a_timeout_after_the_provider_acted_is_retried_later_with_the_same_key(
    app, runner, refunded
):
    # given a provider that refunds, then never answers
    app.config["SANDBOX_REFUND_FAULT"] = "timeout_after"
    assert "1 to retry" in send(runner)
    [request] = requests_of(app, refunded)
    assert request["state"] == "pending" and request["attempts"] == 1
    assert "did not answer" in request["last_error"]
    wait = request["next_attempt_at"] - request["updated_at"]
    assert timedelta(seconds=9) < wait <= timedelta(seconds=11)  # OUTBOX_RETRY_BASE_SECONDS
    assert "Sent 0 refunds" in send(runner)  # not due yet: nothing is sent
    # when it answers again
    app.config["SANDBOX_REFUND_FAULT"] = ""
    make_due(app)
    send(runner)
    # then: one refund at the provider, asked for twice
    [refund] = ledger(app, refunded)
    assert refund["calls"] == 2
    [request] = requests_of(app, refunded)
    assert request["state"] == "succeeded" and request["attempts"] == 2
    assert request["provider_reference"] == refund["refund_id"]


def test_5xx_is_retried_with_exponential_backoff(app, runner, refunded):
    app.config["SANDBOX_REFUND_FAULT"] = "unavailable_before"
    waits = []
    for _ in range(4):
        make_due(app)
        assert "1 to retry" in send(runner)
        [request] = requests_of(app, refunded)
        waits.append(round((request["next_attempt_at"] - request["updated_at"]).total_seconds()))
    assert waits == [10, 20, 40, 80]
    assert ledger(app) == []
    app.config.update(OUTBOX_RETRY_MAX_SECONDS=60)
    make_due(app)
    send(runner)
    [request] = requests_of(app, refunded)
    assert round((request["next_attempt_at"] - request["updated_at"]).total_seconds()) == 60


def test_a_refusal_is_final_and_shown_to_staff(app, runner, refunded, staff):
    app.config["SANDBOX_REFUND_FAULT"] = "refuse"
    assert "1 refused" in send(runner)
    [request] = requests_of(app, refunded)
    assert request["state"] == "failed" and "refused" in request["last_error"]
    [event] = events(app, refunded, "refund_refused")
    assert event["request_id"] == request["id"]
    make_due(app)
    assert "Sent 0 refunds" in send(runner)  # never sent again
    assert ledger(app) == []


def test_without_the_sandbox_a_refund_is_refused_for_staff_to_do_by_hand(app, runner, refunded):
    app.config["GATEWAY_SANDBOX"] = False
    assert "1 refused" in send(runner)
    [request] = requests_of(app, refunded)
    assert request["state"] == "failed" and "No payment provider" in request["last_error"]
    assert ledger(app) == []


def test_a_key_reused_for_another_amount_is_refused_by_the_provider(app, refunded):
    with app.app_context():
        payment = db.session.get(Payment, refunded)
        gateway = SandboxGateway(app.config["GATEWAY_WEBHOOK_SECRET"])
        first = gateway.refund(payment, payment.amount, "key-1")
        assert gateway.refund(payment, payment.amount, "key-1") == first
        with pytest.raises(Exception, match="already used"):
            gateway.refund(payment, payment.amount - 1, "key-1")
    assert len(ledger(app)) == 1


def test_a_refund_notice_matching_no_request_goes_to_the_attention_page(app, client, refunded):
    body = (
        b'{"id":"evt_rf_x","type":"refund.succeeded","created":1700000000,"data":'
        b'{"payment_id":%d,"refund_id":"rf_other","amount":"5000.00","currency":"PHP",'
        b'"idempotency_key":"made-up"}}' % refunded
    )
    response = deliver(client, app, body)
    assert response.status_code == 200
    assert response.json["outcome"] == "refund_unmatched"
    assert requests_of(app, refunded)[0]["state"] == "pending"
    with app.app_context():
        unapplied = needs_attention(app.config["PAYMENT_PENDING_TTL"]).unapplied_events
    assert [item.action for item in unapplied] == ["Check the refund at the payment provider."]
    assert "rf_other" in unapplied[0].what


@pytest.mark.parametrize(
    "data",
    [
        '"refund_id":"rf_1","amount":"5000.00"',
        '"refund_id":"rf_1","idempotency_key":"k","amount":"lots"',
        '"refund_id":"rf_1","idempotency_key":"k","amount":"-1"',
        '"idempotency_key":"k","amount":"5000.00"',
    ],
)
def test_a_malformed_refund_notice_is_a_400_and_changes_nothing(app, client, refunded, data):
    body = (
        b'{"id":"evt_rf_bad","type":"refund.succeeded","created":1700000000,"data":'
        b'{"payment_id":%d,%s}}' % (refunded, data.encode())
    )
    response = deliver(client, app, body)
    assert response.status_code == 400
    assert requests_of(app, refunded)[0]["state"] == "pending"


def test_the_provider_is_never_called_inside_a_transaction(app, refunded):
    seen = []

    class Spy(SandboxGateway):
        def refund(self, payment, amount, idempotency_key):
            seen.append(db.session().in_transaction())
            return super().refund(payment, amount, idempotency_key)

    with app.app_context():
        report = refund_worker.send_pending(Spy(app.config["GATEWAY_WEBHOOK_SECRET"]))
    assert report.total == 1
    assert seen == [False]
