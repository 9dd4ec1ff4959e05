"""The staff invoice list as a cashier reads it by eye, in English and Filipino, on a phone
and a desktop: a void invoice's amount is set apart from money collected, a badge stays on
one line, staff read staff words, and the attention page never scrolls sideways.

Screenshots go to test-artifacts/screenshots/staff-list-<language>-<size>.png.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from playwright.sync_api import expect

from tests.support.axe import assert_accessible
from tests.support.browser import SHOTS, log_in
from tests.support.invoices import InvoiceSpec, add_invoices

pytestmark = pytest.mark.browser

NOV = datetime(2026, 11, 2, 1, 30, tzinfo=UTC)
LANGUAGES = {"en": "en-US", "fil": "fil-PH"}
SIZES = {"phone": {"width": 390, "height": 844}, "desktop": {"width": 1280, "height": 800}}


@pytest.mark.parametrize("language", LANGUAGES)
def test_void_amounts_are_set_apart_and_badges_stay_on_one_line(
    new_context, live_server, live_app, factory, language
):
    # given a paid and a void invoice
    staff = factory.staff(name="Rosa Reyes")
    paid, void = add_invoices(
        live_app,
        factory.patient(name="Maria Santos"),
        [
            InvoiceSpec(status="paid", issued_at=NOV),
            InvoiceSpec(status="void", issued_at=NOV + timedelta(hours=1)),
        ],
    )
    page = new_context(
        base_url=live_server.url, locale=LANGUAGES[language], viewport=SIZES["phone"]
    ).new_page()
    log_in(page, staff, "/staff/invoices")
    page.goto("/staff/invoices?patient=Maria+Santos&issued_from=2026-11-02&issued_to=2026-11-02")
    for size, viewport in SIZES.items():
        page.set_viewport_size(viewport)
        # then the void amount is not bold like money collected, and reads struck through
        paid_amount = page.locator(f"tr[data-invoice-number='{paid}'] .amount")
        void_amount = page.locator(f"tr[data-invoice-number='{void}'] .amount")
        assert paid_amount.evaluate("e => getComputedStyle(e).fontWeight") == "700"
        assert void_amount.evaluate("e => getComputedStyle(e).fontWeight") == "400"
        assert "line-through" in void_amount.evaluate("e => getComputedStyle(e).textDecorationLine")
        # and each badge ("walang bisa" in Filipino) is one line high
        for badge in page.locator("tbody .badge").all():
            lines = badge.evaluate(
                "e => Math.round(e.getBoundingClientRect().height / parseFloat(getComputedStyle(e).lineHeight))"
            )
            assert lines == 1, badge.inner_text()
        assert page.evaluate("document.documentElement.scrollWidth") <= viewport["width"]
        page.screenshot(path=str(SHOTS / f"staff-list-{language}-{size}.png"), full_page=True)
    # staff read no patient invitation in the footer
    expect(page.locator(".site-footer")).not_to_contain_text("billing@clinic.example")
    assert_accessible(page, f"the staff list ({language})")
    # and the attention page fits a phone
    page.set_viewport_size(SIZES["phone"])
    page.goto("/staff/attention")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    page.screenshot(path=str(SHOTS / f"staff-attention-{language}-phone.png"), full_page=True)
