"""Logging out on one device ends the session on the others, also mid-checkout (htmx)."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.support.browser import (
    ARTIFACTS,
    checkout_path,
    log_in,
    open_checkout,
    pay_button,
    payment_count,
)
from tests.support.factory import PASSWORD

pytestmark = pytest.mark.browser


@pytest.mark.parametrize("viewport", [(390, 844), (1280, 800)], ids=["phone", "desktop"])
def test_a_logout_elsewhere_sends_a_pending_checkout_to_the_login_page_and_charges_nothing(
    new_context, live_server, live_app, patient, consultation, viewport
):
    width, height = viewport
    size = {"width": width, "height": height}
    phone = new_context(base_url=live_server.url, viewport=size).new_page()
    laptop = new_context(base_url=live_server.url, viewport=size).new_page()
    # given the patient is logged in on two devices, with the checkout open on one
    log_in(phone, patient)
    log_in(laptop, patient)
    open_checkout(phone, consultation)
    # when they log out on the other, then press Pay on the first
    laptop.get_by_role("button", name="Log out").click()
    expect(laptop).to_have_url(re.compile(r"/login$"))
    pay_button(phone).click()
    # then the whole page goes to the login page (not a login form inside the checkout),
    # saying why, and nothing was charged
    expect(phone).to_have_url(re.compile(r"/login\?next=%2Fconsultations%2F\d+%2Fcheckout$"))
    expect(phone.get_by_text("Please log in to continue.")).to_be_visible()
    expect(phone.get_by_role("heading", name="Checkout")).to_have_count(0)
    phone.screenshot(path=str(ARTIFACTS / f"session-ended-{width}x{height}.png"), full_page=True)
    assert payment_count(live_app, consultation) == 0
    # and logging in again returns to the checkout
    phone.get_by_label("Email").fill(patient.email)
    phone.get_by_label("Password").fill(PASSWORD)
    phone.get_by_role("button", name="Log in").click()
    expect(phone).to_have_url(re.compile(re.escape(checkout_path(consultation)) + "$"))
