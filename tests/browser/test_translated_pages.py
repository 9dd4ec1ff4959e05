"""The pages read Indonesian and Filipino in a real Chromium, with no English sentence left.

Each page is read as the browser shows it (visible text nodes, button values, the title)
and checked by tests/support/i18n.py's ``english_leftovers``: no node may be one of our
English msgids or read as an English sentence. Names and numbers pass. Phase 2 adds the
checkout, payment and staff pages to ``PAGES`` once their templates are wrapped.

Screenshots of the login and sandbox pages in each language, at a phone's and a desktop's
size, go to test-artifacts/screenshots/ (docs/screenshots/ with UPDATE_DOCS_SCREENSHOTS=1).
"""

from __future__ import annotations

import os
import shutil

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import ARTIFACTS
from tests.support.factory import PASSWORD
from tests.support.i18n import VISIBLE_TEXT_JS, english_leftovers
from tests.support.lifecycle import create_payment
from tests.support.live import ROOT

pytestmark = pytest.mark.browser

# The browser's language (Playwright sends it as Accept-Language) and a word the page must show.
LOCALES = {"id": ("id-ID", "Masuk"), "fil": ("fil-PH", "Mag-log in")}
VIEWPORTS = {"phone": {"width": 390, "height": 844}, "desktop": {"width": 1280, "height": 800}}
SHOTS = ARTIFACTS / "screenshots"
DOCS = ROOT / "docs" / "screenshots"
# Shown as they are in every language: the language names in the switch.
ALLOWED = {"English", "Bahasa Indonesia", "Filipino"}


def leftovers(page: Page) -> list[str]:
    return english_leftovers(page.evaluate(VISIBLE_TEXT_JS), ALLOWED)


def shoot(page: Page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    if os.environ.get("UPDATE_DOCS_SCREENSHOTS") == "1":
        DOCS.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, DOCS / path.name)


def log_in_by_form(page: Page, user) -> None:
    """Log in through the form whatever its language (fields by id, the form's own button)."""
    page.goto("/login")
    page.locator("#email").fill(user.email)
    page.locator("#password").fill(PASSWORD)
    page.locator("main form button[type=submit]").click()
    page.wait_for_url(lambda url: "/login" not in url)


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
    log_in_by_form(page, factory.patient())
    assert page.goto("/staff/invoices").status == 403
    assert leftovers(page) == []


def test_the_sandbox_page_reads_in_the_language(localized: Page, locale, factory, live_app):
    page = localized
    patient = factory.patient()
    consultation = factory.consultation(patient, fee="1250", doctor="Dr. Ana Cruz")
    payment_id = create_payment(live_app.test_client(), patient, consultation.id)
    log_in_by_form(page, patient)
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
    log_in_by_form(page, factory.patient())
    page.goto("/")
    page.get_by_label("Language").select_option("fil")
    page.get_by_role("button", name="Change").click()
    expect(page.locator("html")).to_have_attribute("lang", "fil")
    expect(page.get_by_role("button", name="Mag-log out")).to_be_visible()
    # Saved on the account: the choice holds on the next page too.
    page.goto("/no-such-page")
    expect(page.locator("html")).to_have_attribute("lang", "fil")
