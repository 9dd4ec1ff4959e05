"""Paying through PayMongo in a real browser: Pay → PayMongo's hosted page (the loopback fake)
→ pay → back on the clinic's page, "Payment successful", applied from the signed webhook."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.support.browser import ARTIFACTS, log_in, open_checkout, pay_button, the_one_payment
from tests.support.live import LiveServer
from tests.support.paymongo_fake import SECRET_KEY, WEBHOOK_SECRET, PayMongoFake

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def paymongo():
    fake = PayMongoFake().start()
    yield fake
    fake.stop()


@pytest.fixture(scope="module")
def live_server(live_database_url, live_redis_url, paymongo):
    """The app in gunicorn with PAYMENT_PROVIDER=paymongo, PayMongo's API being the fake,
    and the fake's webhooks going to the server's /webhooks/paymongo."""
    env = {
        "PAYMENT_PROVIDER": "paymongo",
        "PAYMONGO_SECRET_KEY": SECRET_KEY,
        "PAYMONGO_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "PAYMONGO_API_URL": paymongo.base_url,
    }
    server = LiveServer(
        database_url=live_database_url, redis_url=live_redis_url, workers=2, threads=4, env=env
    ).start()
    paymongo.webhook_url = f"{server.url}/webhooks/paymongo"
    yield server
    server.stop()


def test_pay_at_paymongo_and_come_back_to_payment_successful(
    page, live_app, live_server, paymongo, patient, consultation
):
    # given the patient pressed Pay, which went straight to PayMongo's hosted checkout
    log_in(page, patient)
    open_checkout(page, consultation)
    pay_button(page).click()
    expect(page).to_have_url(re.compile(re.escape(paymongo.base_url) + r"/checkout/cs_\w+$"))
    payment = the_one_payment(live_app, consultation)
    assert page.url == payment.checkout_url
    expect(page.get_by_text("Consultation fee: ₱5,000.00")).to_be_visible()
    # when they pay there
    page.get_by_role("button", name="Pay", exact=True).click()
    # then PayMongo sends them back, and its signed webhook has completed the payment
    expect(page).to_have_url(re.compile(rf"/payments/{payment.id}$"))
    expect(page.get_by_role("heading", name="Payment successful")).to_be_visible()
    paid = the_one_payment(live_app, consultation)
    assert paid.status == "completed" and paid.transaction_id.startswith("pay_")
    assert paid.provider_method == "gcash" and paid.provider_fee is not None
    page.screenshot(path=str(ARTIFACTS / "screenshots" / "paid-at-paymongo.png"))


def test_without_javascript_pay_still_reaches_paymongo(
    new_context, live_app, live_server, paymongo, factory
):
    # A plain form post answered 303 to another origin: the page's CSP must allow it.
    patient = factory.patient()
    consultation = factory.consultation(patient, fee="5000")
    page = new_context(base_url=live_server.url, java_script_enabled=False).new_page()
    log_in(page, patient)
    open_checkout(page, consultation)
    pay_button(page).click()
    expect(page).to_have_url(re.compile(re.escape(paymongo.base_url) + r"/checkout/cs_\w+$"))
