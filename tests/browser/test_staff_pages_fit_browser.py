"""Every staff page fits a 390 px phone in English, Indonesian and Filipino, with the data that
widens it (a recorded discount card, a long history, a refund and a deletion to confirm), and
a cashier's pages offer no manager's form.

The pages are the staff routes of the URL map (``requires_role``, GET, not a download): a new
staff page fails ``test_the_walk_covers_every_staff_page`` until it is added here. Screenshots
of each page at 390x844 and 1280x800 go to test-artifacts/screenshots/staff-fit-*.png.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from playwright.sync_api import Page

from app.auth.roles import required_role
from app.discounts.cards import parse_card, record_card
from tests.support.browser import ARTIFACTS, log_in
from tests.support.invoices import InvoiceSpec, add_event, add_invoices

pytestmark = pytest.mark.browser

LOCALES = {"en": "en-PH", "id": "id-ID", "fil": "fil-PH"}
SIZES = {"phone": (390, 844), "desktop": (1280, 800)}
SHOTS = ARTIFACTS / "screenshots"
DOWNLOADS = (".csv", ".pdf")


LONG_WORD = "Patient" + "x" * 493


@pytest.fixture(scope="module")
def clinic(live_app):
    """A manager and a cashier; paid, refunded and failed invoices, one with a long history;
    a patient with a senior citizen card recorded."""
    from tests.support.factory import Factory

    factory = Factory(live_app)
    manager = factory.staff(name="Clinic Manager", email="fit.manager@clinic.test")
    cashier = factory.cashier(name="Clinic Cashier", email="fit.cashier@clinic.test")
    patient = factory.patient(
        name="Maria Consolacion Santos-Villanueva", email="fit.maria@example.test"
    )
    when = datetime(2026, 11, 3, 1, 30, tzinfo=UTC)
    numbers = add_invoices(
        live_app,
        patient,
        [
            InvoiceSpec(status="paid", fee="12500.50", issued_at=when, transaction_id="tx_fit_1"),
            InvoiceSpec(status="void", issued_at=when),
            InvoiceSpec(status="refunded", issued_at=when, transaction_id="tx_fit_3"),
        ],
    )
    add_event(
        live_app,
        numbers[0],
        "duplicate_charge",
        actor="gateway:sandbox",
        transaction_id="tx_" + "9f86d081884c7d65" * 6,
        amount="12500.50",
        reason="already_completed",
        action="refund this charge at the provider",
    )
    # A reason typed as one unbroken 500-character word must wrap, not widen the page.
    add_event(live_app, numbers[2], "refunded", actor=f"user:{manager.id}", reason=LONG_WORD)
    with live_app.app_context():
        card = parse_card("senior_citizen", "OSCA-2026-000123456", patient.name)
        record_card(patient.email, card, actor=f"user:{manager.id}")
    return {"manager": manager, "cashier": cashier, "patient": patient, "numbers": numbers}


def pages(clinic) -> dict[str, str]:
    """Each staff page (its endpoint) and an address that shows it with data."""
    paid, failed, _ = clinic["numbers"]
    return {
        "invoices.list_invoices": "/staff/invoices",
        "invoices.show_invoice": f"/staff/invoices/{paid}",
        "invoices.attention": "/staff/attention",
        "staff.staff_accounts": "/staff/accounts",
        "staff.confirm_two_factor_reset": f"/staff/accounts/{clinic['cashier'].id}/reset-2fa",
        "staff.audit_trail": "/staff/audit",
        "discounts.cards": "/staff/discounts",
        "discounts.log": "/staff/discounts/log",
        "books.day_books": "/staff/books",
        # reached through their forms (post, then redirect): see ``_to_confirm``
        "invoices.show_refund_confirmation": f"/staff/invoices/{paid}#refund",
        "invoices.show_delete_confirmation": f"/staff/invoices/{failed}#delete",
    }


def _to_confirm(page: Page, endpoint: str) -> None:
    if endpoint.endswith("_confirmation"):
        page.locator("main form[action$='/confirm'] input[name=reason]").fill(LONG_WORD)
        page.locator("main form[action$='/confirm'] button[type=submit]").click()
        page.wait_for_url("**/confirm")


def test_the_walk_covers_every_staff_page(live_app, clinic):
    staff_pages = {
        rule.endpoint
        for rule in live_app.url_map.iter_rules()
        if "GET" in rule.methods
        and required_role(live_app.view_functions[rule.endpoint]) is not None
        and not rule.rule.endswith(DOWNLOADS)
    }
    assert staff_pages == set(pages(clinic))


def _width(page: Page) -> tuple[int, int]:
    return page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")


# The innermost elements that end past the window's right edge, to name in a failure.
PAST_THE_EDGE = """() => [...document.querySelectorAll('main *')]
  .filter(e => e.getBoundingClientRect().right > window.innerWidth + 0.5
    && ![...e.children].some(c => c.getBoundingClientRect().right > window.innerWidth + 0.5))
  .slice(0, 3)
  .map(e => `${e.tagName.toLowerCase()}.${e.className} "${e.textContent.trim().slice(0, 30)}"`
    + ` ends at ${Math.round(e.getBoundingClientRect().right)}px`)"""


@pytest.mark.parametrize("locale", LOCALES)
def test_every_staff_page_fits_a_phone_in_each_language(new_context, live_server, clinic, locale):
    context = new_context(
        base_url=live_server.url, viewport={"width": 390, "height": 844}, locale=LOCALES[locale]
    )
    page = context.new_page()
    log_in(page, clinic["manager"], "/staff/invoices")
    wide = []
    for endpoint, path in pages(clinic).items():
        page.set_viewport_size({"width": 390, "height": 844})
        page.goto(path)
        _to_confirm(page, endpoint)
        scroll, inner = _width(page)
        if scroll > inner:
            wide.append(f"{endpoint}: {scroll}px in {inner}px: {page.evaluate(PAST_THE_EDGE)}")
        name = endpoint.split(".")[1]
        for size, (width, height) in SIZES.items():
            page.set_viewport_size({"width": width, "height": height})
            page.screenshot(
                path=str(SHOTS / f"staff-fit-{name}-{locale}-{size}.png"), full_page=True
            )
    assert wide == [], f"{locale}: pages that scroll sideways at 390 px: {wide}"
