"""The day's books and a sale with a credit memo, as staff see them on a phone (390 × 844)
and on a desktop (1280 × 800), and as printed on A4: the figures visible, nothing scrolls
sideways on the phone, axe clean. Screenshots go to test-artifacts/screenshots/."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from app.extensions import db
from app.models import Payment
from tests.support.api import ApiClient
from tests.support.axe import assert_accessible
from tests.support.browser import VIEWPORTS, fits_the_viewport, log_in, shoot

pytestmark = pytest.mark.browser

# A4 at 96 CSS pixels per inch: 210 × 297 mm.
A4 = {"width": 794, "height": 1123}


def _sale_with_credit_memo(app, factory, manager) -> tuple[str, str]:
    """A ₱1,120.00 sale with ₱320.00 refunded: its invoice number and its memo's serial."""
    patient = factory.patient(name="Remedios Cruz")
    consultation = factory.consultation(patient, fee="1120", doctor="Dr. Ana Cruz")
    api = ApiClient(app)
    payment_id = api.new_payment(patient, consultation)
    assert (
        api.confirm(manager, payment_id, transaction_id=f"txn_books_{payment_id}").status_code
        == 200
    )
    answer = api.refund(manager, payment_id, reason="Shortened visit", amount="320.00")
    assert answer.status_code == 200, answer.json
    with app.app_context():
        invoice = db.session.get(Payment, payment_id).invoice
        return invoice.invoice_number, invoice.credit_memos[-1].serial_number


@pytest.mark.parametrize("viewport", ["phone", "desktop", "a4"])
def test_the_days_books_and_a_credit_memo(new_context, live_server, live_app, factory, viewport):
    manager = factory.staff(name="Maria Santos")
    number, memo = _sale_with_credit_memo(live_app, factory, manager)
    base = live_server.url
    size = A4 if viewport == "a4" else VIEWPORTS[viewport]
    page = new_context(base_url=base, viewport=size).new_page()
    log_in(page, manager, lands_on="/staff/invoices", base=base)

    page.get_by_role("link", name="The day's books").click()
    sheet = page.locator("article.books-sheet")
    for text in ("Invoices issued", "Gross sales", "VATable sales", "VAT-exempt sales",
                 "Senior citizen and PWD discounts", "Net sales by payment method",
                 "Credit memos issued", memo, "Still pending", "Open"):  # fmt: skip
        expect(sheet).to_contain_text(text)
    _check(page, size, viewport, "books")

    page.goto(f"{base}/staff/invoices/{number}")
    expect(page.locator("article.invoice-sheet")).to_contain_text(f"Credit memo {memo}")
    expect(page.locator("article.invoice-sheet")).to_contain_text("−₱320.00")
    _check(page, size, viewport, "credit-memo-invoice")
    page.context.close()


def _check(page, size, viewport: str, name: str) -> None:
    if viewport == "a4":
        page.emulate_media(media="print")
        expect(page.locator(".site-header")).to_be_hidden()
        shoot(page, f"{name}-a4")
        page.emulate_media(media="screen")
        return
    if viewport == "phone":
        fits_the_viewport(page, size["width"])
    assert_accessible(page, f"{name} on a {viewport}")
    shoot(page, f"{name}-{viewport}")
