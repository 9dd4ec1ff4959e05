"""The whole lifecycle in a real browser: pay, the sandbox provider, a signed webhook, paid."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.support.browser import (
    ARTIFACTS,
    at_the_provider,
    log_in,
    open_checkout,
    pay_button,
    the_one_payment,
)
from tests.support.invariants import check_invariants

pytestmark = pytest.mark.browser


@pytest.mark.parametrize("button", ["Approve", "Approve twice"])
def test_pay_continue_to_the_sandbox_approve_and_see_paid_with_the_invoice(
    page, live_app, patient, consultation, button
):
    # given the patient pressed Pay, which went straight to the provider's page
    log_in(page, patient)
    open_checkout(page, consultation)
    pay_button(page).click()
    at_the_provider(page, live_app, consultation)
    # when they approve (once, or as a provider that notifies twice)
    page.get_by_role("button", name=button, exact=True).click()
    # then they are back on the payment page, paid, with the receipt
    expect(page).to_have_url(re.compile(r"/payments/\d+$"))
    expect(page.get_by_role("heading", name="Payment successful")).to_be_visible()
    expect(page.get_by_text("this consultation is paid")).to_be_visible()
    expect(page.locator("#receipt")).to_be_visible()
    expect(page.get_by_role("heading", level=1).locator(".badge")).to_have_text("Paid")
    payment = the_one_payment(live_app, consultation)
    assert payment.status == "completed"
    assert payment.transaction_id
    page.screenshot(path=str(ARTIFACTS / "screenshots" / f"paid-{button.replace(' ', '-')}.png"))


def test_a_declined_payment_lets_the_patient_pay_again(page, live_app, patient, consultation):
    log_in(page, patient)
    open_checkout(page, consultation)
    pay_button(page).click()
    at_the_provider(page, live_app, consultation)
    page.get_by_role("button", name="Decline", exact=True).click()
    expect(page.get_by_text("The payment provider declined this payment.")).to_be_visible()
    expect(page.get_by_role("heading", name="Nothing was charged")).to_be_visible()
    page.get_by_role("link", name="Pay again").click()
    page.get_by_label("GCash").check()
    pay_button(page).click()
    expect(page).to_have_url(re.compile(r"/gateway/sandbox/\d+$"))
    statuses = sorted(p.status for p in payments_of(live_app, consultation))
    assert statuses == ["failed", "pending"]
    check_invariants(live_app)


def payments_of(app, consultation):
    from sqlalchemy import select

    from app.extensions import db
    from app.models import Payment

    with app.app_context():
        rows = db.session.scalars(
            select(Payment).where(Payment.consultation_id == consultation.id)
        ).all()
        db.session.expunge_all()
        db.session.rollback()
        return rows
