"""The pages read Indonesian and Filipino in a real Chromium, with no English sentence left.

Each page is read as the browser shows it (visible text nodes, button values, the title)
and checked by tests/support/i18n.py's ``english_leftovers``: no node may be one of our
English msgids or read as an English sentence. Names and numbers pass.

The pages: login and its errors, error pages, the provider's sandbox page, the checkout
(and the flash after a cancel), the payment page while pending and
after it is paid (with the receipt), and the staff invoice list, invoice detail, refund
confirmation and attention page. axe-core checks the translated checkout and invoice.

Screenshots of the login, sandbox and checkout pages in each language, at a phone's and a
desktop's size, go to test-artifacts/screenshots/ (docs/screenshots/ with
UPDATE_DOCS_SCREENSHOTS=1; docs/translations.md shows the checkout ones).
"""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from app.extensions import db
from app.models import Invoice
from tests.support.api import ApiClient
from tests.support.axe import assert_accessible
from tests.support.browser import ARTIFACTS, keep_for_docs, log_in
from tests.support.i18n import VISIBLE_TEXT_JS, english_leftovers

pytestmark = pytest.mark.browser

# The browser's language (Playwright sends it as Accept-Language) and a word the page must show.
LOCALES = {"id": ("id-ID", "Masuk"), "fil": ("fil-PH", "Mag-log in")}
VIEWPORTS = {"phone": {"width": 390, "height": 844}, "desktop": {"width": 1280, "height": 800}}
SHOTS = ARTIFACTS / "screenshots"
# Shown as they are in every language: the language names in the switch.
ALLOWED = {"English", "Bahasa Indonesia", "Filipino"}


def leftovers(page: Page) -> list[str]:
    return english_leftovers(page.evaluate(VISIBLE_TEXT_JS), ALLOWED)


def shoot(page: Page, name: str, *, for_docs: bool = True) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    if for_docs:
        keep_for_docs(path)


@pytest.fixture(params=sorted(LOCALES))
def locale(request) -> str:
    return request.param


@pytest.fixture
def localized(new_context, live_server, locale):
    """A browser context whose language is ``locale``, at a phone's size."""
    context = new_context(
        base_url=live_server.url, locale=LOCALES[locale][0], viewport=VIEWPORTS["phone"]
    )
    return context.new_page()


def test_the_login_page_and_its_errors_read_in_the_language(localized: Page, locale):
    page = localized
    page.goto("/login")
    expect(page.locator("html")).to_have_attribute("lang", locale)
    expect(page.get_by_role("heading", level=1)).to_have_text(LOCALES[locale][1])
    assert leftovers(page) == []
    for size, viewport in VIEWPORTS.items():
        page.set_viewport_size(viewport)
        shoot(page, f"login-{locale}-{size}")
    page.locator("main form button[type=submit]").click()  # empty: the form's own errors
    expect(page.locator(".field-error").first).to_be_visible()
    assert leftovers(page) == []
    page.locator("#email").fill("nobody@example.test")
    page.locator("#password").fill("wrong")
    page.locator("main form button[type=submit]").click()
    expect(page.locator(".flash-error")).to_be_visible()
    assert leftovers(page) == []


def test_error_pages_read_in_the_language(localized: Page, locale, factory):
    page = localized
    response = page.goto("/no-such-page")
    assert response.status == 404
    expect(page.locator("html")).to_have_attribute("lang", locale)
    assert leftovers(page) == []
    log_in(page, factory.patient(), "/")
    assert page.goto("/staff/invoices").status == 403
    assert leftovers(page) == []


def test_the_sandbox_page_reads_in_the_language(localized: Page, locale, factory, live_app):
    page = localized
    patient = factory.patient()
    consultation = factory.consultation(patient, fee="1250", doctor="Dr. Ana Cruz")
    payment_id = ApiClient(live_app).new_payment(patient, consultation, method="stripe")
    log_in(page, patient, "/")
    page.goto(f"/gateway/sandbox/{payment_id}")
    expect(page.locator("html")).to_have_attribute("lang", locale)
    # Pesos in every language; Indonesian groups the digits its own way.
    expect(page.locator(".amount")).to_have_text("₱1.250,00" if locale == "id" else "₱1,250.00")
    assert leftovers(page) == []
    for size, viewport in VIEWPORTS.items():
        page.set_viewport_size(viewport)
        shoot(page, f"sandbox-{locale}-{size}")


def test_the_english_page_is_flagged_so_the_check_can_fail(page: Page):
    """The same check on the English login page finds its sentences: it is not blind."""
    page.goto("/login")
    flagged = leftovers(page)
    assert "Log in" in flagged  # a msgid, left as it is
    assert any(text.startswith("Questions about a payment?") for text in flagged), flagged


def test_the_switch_changes_the_language_without_javascript(new_context, live_server, factory):
    context = new_context(base_url=live_server.url, java_script_enabled=False, locale="en-US")
    page = context.new_page()
    log_in(page, factory.patient(), "/")
    page.goto("/")
    page.get_by_label("Language").select_option("fil")
    page.get_by_role("button", name="Change").click()
    expect(page.locator("html")).to_have_attribute("lang", "fil")
    expect(page.get_by_role("button", name="Mag-log out")).to_be_visible()
    # Saved on the account: the choice holds on the next page too.
    page.goto("/no-such-page")
    expect(page.locator("html")).to_have_attribute("lang", "fil")


# --- phase 2: the checkout, the payment and the staff pages ----------------------------------

#: The Pay button in each language: the amount in pesos, grouped the language's way.
PAY_BUTTON = {
    "en": "Continue to payment · ₱1,250.00",
    "id": "Lanjut ke pembayaran · ₱1.250,00",
    "fil": "Magpatuloy sa pagbabayad · ₱1,250.00",
}


def read_in(page: Page, locale: str, what: str) -> None:
    """The page is in ``locale`` and has no English sentence left."""
    expect(page.locator("html")).to_have_attribute("lang", locale)
    assert leftovers(page) == [], what


def invoice_number(live_app, payment_id: int) -> str:
    with live_app.app_context():
        number = db.session.scalar(
            db.select(Invoice.invoice_number).where(Invoice.payment_id == payment_id)
        )
        db.session.rollback()
    return number


def test_the_checkout_and_payment_pages_read_in_the_language(
    localized: Page, locale, factory, live_app
):
    page = localized
    patient = factory.patient()
    log_in(page, patient, "/")

    to_pay = factory.consultation(patient, fee="1250", doctor="Dr. Ana Cruz")
    page.goto(f"/consultations/{to_pay.id}/checkout")
    expect(page.locator(".pay-button")).to_have_text(PAY_BUTTON[locale])
    read_in(page, locale, "checkout")
    assert_accessible(page, f"checkout ({locale})")

    # Pending: the payment page offers the provider and a cancel; cancelling flashes.
    pending = factory.consultation(patient, fee="1250", doctor="Dr. Ben Reyes")
    pending_id = ApiClient(live_app).new_payment(patient, pending, method="stripe")
    page.goto(f"/payments/{pending_id}")
    expect(page.locator(".cancel-form button")).to_be_visible()
    read_in(page, locale, "payment, pending")
    page.locator(".cancel-form button").click()
    expect(page.locator(".flash-notice")).to_be_visible()
    read_in(page, locale, "checkout after a cancel")
    page.goto(f"/payments/{pending_id}")  # cancelled: nothing was charged, pay again
    read_in(page, locale, "payment, cancelled")
    shoot(page, f"cancelled-{locale}-phone", for_docs=False)

    # Paid: the success panel and the official receipt.
    paid = factory.consultation(patient, fee="1250", doctor="Dr. Carla Lim")
    paid_id = ApiClient(live_app).new_payment(patient, paid, method="stripe")
    page.goto(f"/gateway/sandbox/{paid_id}")
    read_in(page, locale, "provider")
    staff = factory.staff()
    assert ApiClient(live_app).confirm(staff, paid_id, f"t_{paid_id}").status_code == 200
    page.goto(f"/payments/{paid_id}")
    expect(page.locator("#receipt")).to_be_visible()
    read_in(page, locale, "payment, paid, with the receipt")
    shoot(page, f"paid-{locale}-phone", for_docs=False)
    page.goto("/")
    read_in(page, locale, "my consultations")


def test_the_staff_pages_read_in_the_language(localized: Page, locale, factory, live_app):
    page = localized
    patient = factory.patient()
    paid = factory.consultation(patient, fee="1250", doctor="Dr. Ana Cruz")
    paid_id = ApiClient(live_app).new_payment(patient, paid, method="stripe")
    staff = factory.staff()
    assert ApiClient(live_app).confirm(staff, paid_id, f"t_{paid_id}").status_code == 200
    number = invoice_number(live_app, paid_id)

    page.set_viewport_size(VIEWPORTS["desktop"])
    log_in(page, staff, "/staff/invoices")
    page.goto(f"/staff/invoices?number={number}")
    expect(page.locator(f"tr[data-invoice-number='{number}']")).to_be_visible()
    read_in(page, locale, "invoice list")
    shoot(page, f"staff-list-{locale}-desktop", for_docs=False)
    page.goto("/staff/invoices?issued_from=2026-13-01")  # a bad filter: its message
    expect(page.locator(".filter-errors")).to_be_visible()
    read_in(page, locale, "invoice list, bad filter")

    page.goto(f"/staff/invoices/{number}")
    read_in(page, locale, "invoice detail")
    assert_accessible(page, f"invoice detail ({locale})")
    page.locator("#reason").fill("Dr. Ana Cruz")  # a name: passes in any language
    page.locator("form .danger").click()
    read_in(page, locale, "refund confirmation")
    page.locator("form.confirm-actions .danger").click()
    expect(page.locator(".refund-sentence")).to_be_visible()
    read_in(page, locale, "invoice detail, refunded")
    shoot(page, f"staff-refunded-{locale}-desktop", for_docs=False)
    page.goto("/staff/attention")
    read_in(page, locale, "needs attention")


@pytest.mark.parametrize("language", ["en", "id", "fil"])
def test_checkout_screenshots_in_each_language(new_context, live_server, factory, language):
    """The checkout as a patient reading English, Indonesian or Filipino sees it."""
    accept = {"en": "en-PH", **{code: tag for code, (tag, _) in LOCALES.items()}}[language]
    context = new_context(base_url=live_server.url, locale=accept, viewport=VIEWPORTS["phone"])
    page = context.new_page()
    patient = factory.patient()
    consultation = factory.consultation(patient, fee="1250", doctor="Dr. Ana Cruz")
    log_in(page, patient, "/")
    page.goto(f"/consultations/{consultation.id}/checkout")
    expect(page.locator(".pay-button")).to_have_text(PAY_BUTTON[language])
    for size, viewport in VIEWPORTS.items():
        page.set_viewport_size(viewport)
        shoot(page, f"checkout-{language}-{size}")
