"""Paying through Xendit in a real browser: Pay → Xendit's payment link (the loopback fake)
→ pay → back on the clinic's page, "Payment successful", applied from the webhook that
carried the right x-callback-token."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.support.browser import ARTIFACTS, log_in, open_checkout, pay_button, the_one_payment
from tests.support.live import LiveServer
from tests.support.xendit_fake import CALLBACK_TOKEN, SECRET_KEY, XenditFake

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def xendit():
    fake = XenditFake().start()
    yield fake
    fake.stop()


@pytest.fixture(scope="module")
def live_server(live_database_url, live_redis_url, xendit):
    """The app in gunicorn with PAYMENT_PROVIDER=xendit, Xendit's API being the fake, and
    the fake's webhooks going to the server's /webhooks/xendit."""
    env = {
        "PAYMENT_PROVIDER": "xendit",
        "XENDIT_SECRET_KEY": SECRET_KEY,
        "XENDIT_CALLBACK_TOKEN": CALLBACK_TOKEN,
        "XENDIT_API_URL": xendit.base_url,
    }
    server = LiveServer(
        database_url=live_database_url, redis_url=live_redis_url, workers=2, threads=4, env=env
    ).start()
    xendit.webhook_url = f"{server.url}/webhooks/xendit"
    yield server
    server.stop()


def test_pay_at_xendit_and_come_back_to_payment_successful(
    page, live_app, live_server, xendit, patient, consultation
):
    # given the patient pressed Pay, which went straight to Xendit's payment link
    log_in(page, patient)
    open_checkout(page, consultation)
    pay_button(page).click()
    expect(page).to_have_url(re.compile(re.escape(xendit.base_url) + r"/checkout/ps-\w+$"))
    payment = the_one_payment(live_app, consultation)
    assert page.url == payment.checkout_url
    expect(page.get_by_text("₱5,000.00")).to_be_visible()
    # when they pay there
    page.get_by_role("button", name="Pay", exact=True).click()
    # then Xendit sends them back, and its webhook has completed the payment
    expect(page).to_have_url(re.compile(rf"/payments/{payment.id}$"))
    expect(page.get_by_role("heading", name="Payment successful")).to_be_visible()
    paid = the_one_payment(live_app, consultation)
    assert paid.status == "completed" and paid.transaction_id.startswith("pr-")
    page.screenshot(path=str(ARTIFACTS / "screenshots" / "paid-at-xendit.png"))
