"""Text PostgreSQL cannot store (NUL, a lone surrogate) from outside: applied, refused, or kept
safely, and never a 500.

PostgreSQL text and jsonb refuse U+0000 (SQLSTATE 22P05 for jsonb), and UTF-8 has no form
for a lone surrogate, which JSON's "\\ud800" escape makes. Each test walks one door through
which outside text reaches the database.
"""

from __future__ import annotations

import hashlib
import json

import pytest
from sqlalchemy import select

from app.extensions import db
from app.gateway.sandbox import SandboxGateway
from app.models import GatewayEvent, Payment, User
from app.payments.provider import ProviderRefused
from tests.support.factory import PASSWORD
from tests.support.invariants import check_payment_states
from tests.support.lifecycle import deliver, provider_event, state
from tests.support.outbox import paid_payment, refund_now, requests_of

UNSTORABLE = ["\x00", "\ud800"]


def login(app, user):
    client = app.test_client()
    response = client.post("/login", data={"email": user.email, "password": PASSWORD})
    assert response.status_code == 302
    return client


def stored_event(app, event_id: str) -> GatewayEvent:
    with app.app_context():
        found = db.session.scalars(
            select(GatewayEvent).where(GatewayEvent.event_id == event_id)
        ).one()
        db.session.expunge(found)
        return found


@pytest.fixture
def pending(api, patient, consultation):
    return api.new_payment(patient, consultation)


@pytest.mark.parametrize("bad", UNSTORABLE)
def test_a_signed_success_with_unstorable_text_in_a_field_we_do_not_use_is_applied(
    app, client, pending, bad
):
    # given a correctly signed payment.succeeded whose "meta" holds \u0000 (or \ud800)
    body = provider_event(pending, event_id="evt_meta", amount="5000.00", meta=bad)
    assert b"\\u" in body
    # when the provider delivers it, and again
    first, again = deliver(client, app, body), deliver(client, app, body)
    # then the payment is paid, once, and the event is kept as the bytes that were signed
    assert (first.status_code, first.json["outcome"]) == (200, "confirmed")
    assert (again.status_code, again.json["outcome"]) == (200, "already_processed")
    assert state(app, pending)["status"] == "completed"
    assert stored_event(app, "evt_meta").body == body
    check_payment_states(app)


@pytest.mark.parametrize("bad", UNSTORABLE)
@pytest.mark.parametrize("field", ["currency", "amount", "receipt_url"])
def test_a_signed_success_with_unstorable_text_in_a_used_field_is_a_400_staff_can_see(
    app, client, pending, staff, bad, field
):
    body = provider_event(pending, event_id="evt_used", **{field: "x" + bad})
    response = deliver(client, app, body)
    assert response.status_code == 400
    assert f"data.{field}" in response.json["detail"]
    assert state(app, pending)["status"] == "pending"
    kept = stored_event(app, "evt_used")
    assert (kept.body, kept.outcome, kept.payment_id) == (body, "unreadable", pending)
    # the provider's retry is refused the same way, and kept once
    assert deliver(client, app, body).status_code == 400
    page = login(app, staff).get("/staff/attention").get_data(as_text=True)
    assert "signed notification we could not read" in page
    assert f"data.{field}" in page


@pytest.mark.parametrize("bad", UNSTORABLE)
def test_a_signed_event_whose_id_is_unstorable_is_kept_under_its_body_digest(
    app, client, pending, bad
):
    body = json.dumps({"id": "evt" + bad, "type": "payment.succeeded", "data": {}}).encode()
    assert deliver(client, app, body).status_code == 400
    kept = stored_event(app, f"sha256:{hashlib.sha256(body).hexdigest()}")
    assert (kept.body, kept.outcome, kept.payment_id) == (body, "unreadable", None)


@pytest.mark.parametrize("bad", UNSTORABLE)
@pytest.mark.parametrize("field", ["refund_id", "idempotency_key"])
def test_a_refund_notice_with_unstorable_text_is_a_400_staff_can_see(
    app, client, factory, bad, field
):
    payment_id = paid_payment(app, factory)
    refund_now(app, payment_id)
    data = {"refund_id": "rf_1", "idempotency_key": "k", "amount": "5000.00", field: "x" + bad}
    body = provider_event(payment_id, kind="refund.succeeded", event_id="evt_rf", **data)
    response = deliver(client, app, body)
    assert response.status_code == 400
    assert requests_of(app, payment_id)[0]["state"] == "pending"
    assert stored_event(app, "evt_rf").outcome == "unreadable"


@pytest.mark.parametrize("bad", UNSTORABLE)
def test_the_api_refuses_unstorable_text_in_every_text_field(app, api, factory, bad):
    patient, staff = factory.patient(), factory.staff()
    paid = paid_payment(app, factory)
    pending = api.new_payment(patient, factory.consultation(patient))
    refund = api.refund(staff, paid, reason="Doctor" + bad)
    assert refund.status_code == 422 and "reason" in refund.json["errors"]
    confirm = api.confirm(staff, pending, transaction_id="txn" + bad)
    assert confirm.status_code == 422 and "transaction_id" in confirm.json["errors"]
    create = api.pay(patient, factory.consultation(patient), idempotency_key="k" + bad)
    assert create.status_code == 422 and "idempotency_key" in create.json["errors"]
    method = api.pay(patient, factory.consultation(patient), method="gcash" + bad)
    assert method.status_code == 422 and "payment_method" in method.json["errors"]
    assert (state(app, paid)["status"], state(app, pending)["status"]) == ("completed", "pending")


def test_the_pages_refuse_a_nul_in_every_text_field(app, factory, staff):
    # Form and query-string values arrive as UTF-8 (a lone surrogate cannot), but %00 can.
    paid = paid_payment(app, factory)
    anonymous = app.test_client()
    login_form = anonymous.post("/login", data={"email": "a\x00@example.test", "password": "x"})
    assert login_form.status_code == 422
    pages = login(app, staff)
    assert pages.get("/staff/invoices", query_string={"patient": "a\x00"}).status_code == 400
    assert pages.get("/staff/invoices/INV\x00").status_code == 404
    with app.app_context():
        number = db.session.get(Payment, paid).invoice.invoice_number
    refund = pages.post(
        f"/staff/invoices/{number}/refund", data={"reason": "late\x00"}, follow_redirects=True
    )
    assert refund.status_code == 422
    assert state(app, paid)["status"] == "completed"


@pytest.mark.parametrize("option", ["--name", "--email"])
def test_the_cli_refuses_a_name_or_email_that_is_not_utf8(app, runner, option):
    # Bytes that are not UTF-8 on a command line reach Python as lone surrogates.
    values = {"--email": "ana@example.test", "--name": "Ana"}
    values[option] = values[option].replace("a", "\udcff", 1)
    args = ["users", "create", "--password", "long-enough"]
    result = runner.invoke(args=[*args, "--email", values["--email"], "--name", values["--name"]])
    assert result.exit_code == 2 and "not valid UTF-8" in result.output
    with app.app_context():
        assert db.session.scalars(select(User).where(User.name == "Ana")).all() == []


def test_a_provider_refusal_with_unstorable_text_is_kept_readably(
    app, runner, factory, monkeypatch
):
    payment_id = paid_payment(app, factory)
    refund_now(app, payment_id)

    def refuse(self, payment, amount, key):
        raise ProviderRefused("Refused:\x00 card \ud800 closed.")

    monkeypatch.setattr(SandboxGateway, "refund", refuse)
    result = runner.invoke(args=["payments", "send-outbox"])
    assert result.exit_code == 0, result.output
    [request] = requests_of(app, payment_id)
    assert (request["state"], request["last_error"]) == (
        "failed",
        "Refused:\ufffd card \ufffd closed.",
    )
