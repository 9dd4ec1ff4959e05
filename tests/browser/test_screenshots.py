"""The checkout, payment and receipt pages fit a phone and a desktop; screenshots are kept.

Screenshots go to test-artifacts/screenshots/ (ignored by git). With
UPDATE_DOCS_SCREENSHOTS=1 the checkout and payment pages are also copied to
docs/screenshots/ for the README and docs/.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Route, expect

from app.models import PaymentStatus
from app.payments import lifecycle
from tests.support.axe import assert_accessible
from tests.support.browser import (
    VIEWPORTS,
    at_the_provider,
    fits_the_viewport,
    log_in,
    open_checkout,
    pay_button,
    shoot,
    the_one_payment,
    wait_until,
)
from tests.support.lifecycle import age_payment
from tests.support.payments import set_status

pytestmark = pytest.mark.browser


@pytest.mark.parametrize("viewport", VIEWPORTS)
def test_checkout_payment_and_receipt_pages_look_right(
    new_context, live_server, live_app, factory, viewport
):
    # given a patient on a phone or a desktop
    size = VIEWPORTS[viewport]
    patient = factory.patient(name="Maria Santos")
    consultation = factory.consultation(patient, fee="5000", doctor="Dr. Ana Cruz")
    page = new_context(base_url=live_server.url, viewport=size).new_page()
    log_in(page, patient)
    fits_the_viewport(page, size["width"])
    shoot(page, f"consultations-{viewport}")
    # the checkout page
    open_checkout(page, consultation, method="GCash")
    expect(page.get_by_text("Includes VAT (12%) of ₱535.71.")).to_be_visible()
    expect(page.get_by_text("VATable amount")).to_have_count(0)
    expect(pay_button(page)).to_be_in_viewport()
    fits_the_viewport(page, size["width"])
    shoot(page, f"checkout-{viewport}")
    # the moment after Pay, with the POST held back
    held: list[Route] = []
    page.route(re.compile(r"/checkout$"), lambda route: held.append(route))
    pay_button(page).click()
    expect(page.get_by_text("Taking you to the payment provider...")).to_be_visible()
    expect(pay_button(page)).to_be_disabled()
    shoot(page, f"checkout-processing-{viewport}")
    wait_until(page, lambda: len(held) == 1, "the POST is held")
    held[0].continue_()
    # straight to the provider's page, which sends the patient back to the payment page
    payment = at_the_provider(page, live_app, consultation)
    fits_the_viewport(page, size["width"])
    shoot(page, f"provider-{viewport}")
    page.get_by_role("link", name=re.compile("^Return to")).click()
    expect(page.get_by_role("link", name="Continue to payment")).to_be_visible()
    fits_the_viewport(page, size["width"])
    shoot(page, f"payment-{viewport}")
    # the receipt, on screen and as printed
    set_status(live_app, payment.id, PaymentStatus.COMPLETED)
    page.reload()
    receipt = page.get_by_role("region", name="Official receipt")
    expect(receipt).to_contain_text("Maria Santos")
    expect(page.get_by_role("button", name="Print receipt")).to_be_visible()
    fits_the_viewport(page, size["width"])
    shoot(page, f"receipt-{viewport}")
    page.emulate_media(media="print")
    expect(page.locator(".site-header")).to_be_hidden()
    expect(page.get_by_role("region", name="Payment successful")).to_be_hidden()
    expect(receipt).to_be_visible()
    expect(
        page.get_by_role("heading", name=re.compile(r"^Consultation with Dr\. Ana Cruz"))
    ).to_be_visible()
    shoot(page, f"receipt-print-{viewport}")
    the_one_payment(live_app, consultation)


# The money words of each state: what a worried patient reads, on a phone and a desktop.
MONEY_PAGES = {
    "pending": ("Payment pending", ["Amount due", "₱1,250.00", "Nothing has been charged yet"]),
    "declined": ("Payment declined", ["Nothing was charged", "Amount tried", "Pay again"]),
    "expired": ("Payment expired", ["Nothing was charged", "not completed in time", "Start again"]),
    "paid": ("Paid", ["Amount charged", "₱1,116.07", "₱133.93", "Official receipt"]),
    "refunded": (
        "Refunded",
        ["Amount charged", "−₱1,250.00", "Net paid", "Reason: Doctor unavailable"],
    ),
}


@pytest.mark.parametrize("viewport", VIEWPORTS)
@pytest.mark.parametrize("state", MONEY_PAGES)
def test_money_words_on_the_pending_declined_paid_and_refunded_pages(
    new_context, live_server, live_app, factory, viewport, state
):
    size = VIEWPORTS[viewport]
    patient = factory.patient(name="Maria Santos")
    consultation = factory.consultation(patient, fee="1250", doctor="Dr. Ana Cruz")
    page = new_context(base_url=live_server.url, viewport=size).new_page()
    log_in(page, patient)
    open_checkout(page, consultation, method="GCash")
    pay_button(page).click()
    payment = at_the_provider(page, live_app, consultation)
    page.goto(f"/payments/{payment.id}")
    with live_app.app_context():
        if state == "expired":
            age_payment(live_app, payment.id, live_app.config["PAYMENT_PENDING_TTL"] + 60)
        if state == "declined":
            lifecycle.fail(payment.id, reason="card_declined", actor="gateway:sandbox")
        elif state in ("paid", "refunded"):
            lifecycle.confirm(
                payment.id, transaction_id=f"sbx_txn_{payment.id}", actor="gateway:sandbox"
            )
        if state == "refunded":
            lifecycle.refund(payment.id, "Doctor unavailable; clinic cancelled", "system:test")
    page.reload()
    badge, words = MONEY_PAGES[state]
    heading = page.get_by_role("heading", level=1)
    expect(heading).to_contain_text("Consultation with Dr. Ana Cruz")
    expect(heading.locator(".badge")).to_have_text(badge)
    main = page.locator("main")
    for word in words:
        expect(main).to_contain_text(word)
    if state not in ("paid", "refunded"):
        expect(main).not_to_contain_text("Amount charged")
    if state == "refunded":
        expect(main).to_contain_text(
            re.compile(
                r"The clinic refunded this payment on \d{1,2} \w{3} \d{4}, \d\d:\d\d\. "
                r"The money is on its way back to your GCash"
            )
        )
        expect(main).not_to_contain_text("nothing was charged")
    expect(page.locator(".site-footer")).to_contain_text("billing@clinic.example")
    fits_the_viewport(page, size["width"])
    assert_accessible(page, f"the {state} payment page")
    shoot(page, f"money-{state}-{viewport}")
