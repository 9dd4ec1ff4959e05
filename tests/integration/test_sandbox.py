"""The sandbox provider's pages: a provider's checkout, notifying us exactly as a provider would."""

from __future__ import annotations

import hashlib
import hmac
import re

import pytest

from app.gateway import webhooks
from tests.support.api import ApiClient
from tests.support.auth import AuthActions
from tests.support.lifecycle import WEBHOOK_URL, events, gateway_event_count, state


@pytest.fixture
def payment_id(api, factory, patient):
    return api.new_payment(patient, factory.consultation(patient, fee="5000").id)


def csrf_token(html: str) -> str:
    return re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html).group(1)


def page(payment_id: int) -> str:
    return f"/gateway/sandbox/{payment_id}"


def flashes(client) -> list[tuple[str, str]]:
    with client.session_transaction() as session:
        return list(session.get("_flashes", []))


def test_the_owner_sees_a_provider_page_with_the_amount_and_three_buttons(
    auth_actions, client, patient, payment_id
):
    auth_actions.log_in(client, patient)
    response = client.get(page(payment_id))
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "SandboxPay" in html
    assert "₱5,000.00" in html
    for button in ('value="Approve"', 'value="Decline"', 'value="Approve twice"'):
        assert button in html
    # the CSP allows no inline script or style: this page has neither
    assert "<script" not in html and "<style" not in html and "style=" not in html
    assert "script-src 'self'" in response.headers["Content-Security-Policy"]


def test_staff_may_open_it_strangers_and_unknown_payments_get_404(
    auth_actions, client, factory, payment_id
):
    assert client.get(page(payment_id)).status_code == 302  # to the login page
    auth_actions.log_in(client, factory.staff())
    assert client.get(page(payment_id)).status_code == 200
    client.post("/logout")
    auth_actions.log_in(client, factory.patient())
    assert client.get(page(payment_id)).status_code == 404
    assert client.post(page(payment_id), data={"approve": "Approve"}).status_code == 404
    assert client.get(page(999999)).status_code == 404
    assert client.get(page(2**40)).status_code == 404


def test_approve_confirms_through_the_webhook_and_returns_to_the_payment_page(
    auth_actions, app, client, patient, payment_id
):
    auth_actions.log_in(client, patient)
    response = client.post(page(payment_id), data={"approve": "Approve"})
    assert response.status_code == 303
    assert response.headers["Location"] == f"/payments/{payment_id}"
    after = state(app, payment_id)
    assert (after["status"], after["invoice"]) == ("completed", "paid")
    assert after["transaction_id"] == f"sbx_txn_{payment_id}"
    assert events(app, payment_id, "confirmed")[0]["actor"] == "gateway:sandbox"
    assert gateway_event_count(app) == 1
    # no flash: the payment page's own panel says it, once
    assert flashes(client) == []
    assert "Payment successful" in client.get(f"/payments/{payment_id}").get_data(as_text=True)
    # the page now says there is nothing left to pay
    html = client.get(page(payment_id)).get_data(as_text=True)
    assert "This payment's status: paid. There is nothing to pay here." in html
    assert 'value="Approve"' not in html
    # and it says who is being paid, with the patient's one reference: the invoice number
    assert "Pay Demo Family Clinic" in html and "TIN 000-123-456-00000" in html
    assert "Invoice INV-" in html and "Payment #" not in html


def test_decline_fails_the_payment_and_voids_its_invoice(
    auth_actions, app, client, patient, payment_id
):
    auth_actions.log_in(client, patient)
    response = client.post(page(payment_id), data={"decline": "Decline"})
    assert response.status_code == 303
    after = state(app, payment_id)
    assert (after["status"], after["invoice"]) == ("failed", "void")
    assert events(app, payment_id, "failed")[0]["reason"] == "card_declined"
    assert flashes(client) == []  # the payment page says it: declined, nothing charged
    html = client.get(f"/payments/{payment_id}").get_data(as_text=True)
    assert "Nothing was charged" in html
    assert "The payment provider declined this payment." in html


def test_approve_twice_delivers_one_notification_twice_and_pays_once(
    auth_actions, app, client, patient, payment_id, monkeypatch
):
    deliveries = []
    original = webhooks.receive

    def spy(body, headers, **kwargs):
        deliveries.append((body, dict(headers)))
        return original(body, headers, **kwargs)

    monkeypatch.setattr(webhooks, "receive", spy)
    auth_actions.log_in(client, patient)
    response = client.post(page(payment_id), data={"approve_twice": "Approve twice"})
    assert response.status_code == 303
    assert len(deliveries) == 2 and deliveries[0] == deliveries[1]
    after = state(app, payment_id)
    assert after["events"] == ["created", "confirmed"]
    assert after["version"] == 2
    assert gateway_event_count(app) == 1
    [(_, message)] = flashes(client)
    assert "twice" in message and "ignored" in message


def test_the_sandbox_sends_exactly_what_a_provider_sends(
    auth_actions, app, client, patient, payment_id, monkeypatch
):
    # given a notification captured on its way from the sandbox
    captured = []
    original = webhooks.receive
    monkeypatch.setattr(
        webhooks, "receive", lambda b, h, **kw: captured.append((b, h)) or original(b, h, **kw)
    )
    auth_actions.log_in(client, patient)
    client.post(page(payment_id), data={"approve": "Approve"})
    [(body, headers)] = captured
    # then its signature is the documented HMAC-SHA256 over "<t>.<body>"
    t, v1 = re.fullmatch(r"t=(\d+),v1=([0-9a-f]{64})", headers["Checkout-Signature"]).groups()
    secret = app.config["GATEWAY_WEBHOOK_SECRET"].encode()
    assert v1 == hmac.new(secret, f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    # and replaying it at the public webhook is recognised as the same event
    replay = client.post(WEBHOOK_URL, data=body, headers=headers)
    assert replay.status_code == 200
    assert replay.json["outcome"] == "already_processed"


def test_approving_again_after_approval_changes_nothing(
    auth_actions, app, client, patient, payment_id
):
    auth_actions.log_in(client, patient)
    client.post(page(payment_id), data={"approve": "Approve"})
    before = state(app, payment_id)
    client.post(page(payment_id), data={"approve": "Approve"})
    assert state(app, payment_id) == before


def test_a_post_without_a_button_is_400(auth_actions, client, patient, payment_id):
    auth_actions.log_in(client, patient)
    assert client.post(page(payment_id), data={}).status_code == 400


def test_the_buttons_need_the_csrf_token(make_app, factory):
    # given CSRF protection on, as in production
    app = make_app(WTF_CSRF_ENABLED=True)
    api = ApiClient(app)
    client = app.test_client()
    patient = factory.patient()
    payment_id = api.new_payment(patient, factory.consultation(patient).id)
    AuthActions(app).log_in(client, patient)
    # when a form is posted without the page's token (another site's form, say)
    forged = client.post(page(payment_id), data={"approve": "Approve"})
    # then nothing happens; with the token it works
    assert forged.status_code == 400
    assert state(app, payment_id)["status"] == "pending"
    token = csrf_token(client.get(page(payment_id)).get_data(as_text=True))
    real = client.post(page(payment_id), data={"approve": "Approve", "csrf_token": token})
    assert real.status_code == 303
    assert state(app, payment_id)["status"] == "completed"


def test_the_sandbox_is_off_when_configured_off(make_app, factory):
    app = make_app(GATEWAY_SANDBOX=False)
    api = ApiClient(app)
    client = app.test_client()
    patient = factory.patient()
    payment_id = api.new_payment(patient, factory.consultation(patient).id)
    AuthActions(app).log_in(client, patient)
    assert client.get(page(payment_id)).status_code == 404
    assert client.post(page(payment_id), data={"approve": "Approve"}).status_code == 404
    assert state(app, payment_id)["status"] == "pending"
